/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * cmd-smime.c - "p11 smime sign|verify|encrypt|decrypt|show": a thin
 * front-end over client/smime. It finds keys (through the p11agent
 * provider's store, or a key file for software keys), certificates (the
 * certificate directory, one ADDRESS.pem each) and trust anchors, then
 * calls the library. Output is written only when complete; exit 0 good,
 * 1 bad or untrusted (reason on stderr), 2 usage or environment.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include <p11agent/client.h>

#include "cli.h"
#include "mime.h"
#include "smime.h"
#ifdef P11AGENT_HAVE_PROVIDER
#include "provider.h"
#endif


#define MAX_FILES	32	/* --chain / --recipient files */

struct opts {
	const char	*in;
	const char	*out;
	const char	*key;
	const char	*cert;
	const char	*certdir;
	const char	*cafile;
	const char	*capath;
	const char	*digest;
	const char	*cipher;
	const char	*chain[MAX_FILES];
	size_t		 nchain;
	const char	*recip[MAX_FILES];
	size_t		 nrecip;
	int		 opaque, oaep, sign, allow_sha1, verbose, no_verify;
	char		 certdirbuf[4096];
};

static const char *sub;		/* the running subcommand */

static void
err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
err(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "p11: smime %s: ", sub);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The OpenSSL reason, for a "why" after a failed call. */
static const char *
ossl_reason(void)
{
	static char buf[256];
	unsigned long e, last = 0;

	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last == 0)
		return "unknown error";
	ERR_error_string_n(last, buf, sizeof(buf));
	return buf;
}

/* ------------------------------------------------------------------ */
/* Subcommand table */

struct subcmd {
	const char	*name;
	int		(*fn)(struct opts *, int, char **);
	const char	*usage;
	const char	*help;
};

static int do_sign(struct opts *, int, char **);
static int do_verify(struct opts *, int, char **);
static int do_encrypt(struct opts *, int, char **);
static int do_decrypt(struct opts *, int, char **);
static int do_show(struct opts *, int, char **);

#define H_IO \
	"  -i, --in FILE        the message (default: standard input)\n" \
	"  -o, --out FILE       where to write (default: standard output)\n"
#define H_SIGNKEY \
	"  -k, --key KEYREF     signing key: key id, e-mail address, label or\n" \
	"                       pkcs11: URI of a key in the agent, or a key\n" \
	"                       file (a path with a '/', or file:PATH);\n" \
	"                       default: the From: address\n" \
	"  -c, --cert FILE      the signer's certificate (default: from the\n" \
	"                       agent, else CERTDIR/ADDRESS.pem)\n" \
	"      --chain FILE     intermediate certificates (repeatable; CA\n" \
	"                       certificates in CERTDIR are used too)\n" \
	"  -d, --digest ALG     sha256, sha384 or sha512 (default: sha256;\n" \
	"                       for EC keys the curve's size)\n" \
	"      --opaque         signed-data (application/pkcs7-mime) instead\n" \
	"                       of multipart/signed\n"
#define H_CERTDIR \
	"      --certs DIR      certificate directory, one ADDRESS.pem per\n" \
	"                       address (default: $XDG_DATA_HOME/p11agent/certs)\n"
#define H_TRUST \
	"      --CAfile FILE    trust anchors (PEM); default: the system store\n" \
	"      --CApath DIR     trust anchors (hashed directory)\n" \
	"      --allow-sha1     accept SHA-1 signatures\n" \
	"  -v, --verbose        details: signer, chain, algorithms\n"

static const struct subcmd subcmds[] = {
	{ "sign", do_sign,
	    "[--in FILE] [--out FILE] [--key KEYREF] [--cert FILE] "
	    "[--chain FILE]... [--certs DIR] [--digest ALG] [--opaque]",
	    "Signs an RFC 5322 message (S/MIME, RFC 8551). The body is made "
	    "7-bit safe\nand CRLF canonical first; From, To, Subject and the "
	    "other header fields\nstay outside, Bcc is removed.\n\n"
	    H_IO H_SIGNKEY H_CERTDIR },
	{ "verify", do_verify,
	    "[--in FILE] [--out FILE] [--CAfile FILE] [--CApath DIR] "
	    "[--certs DIR] [--allow-sha1] [--verbose]",
	    "Verifies a signed message: the signature, the chain to the trust "
	    "anchors at\nthe signing time and now, key usage, and that the "
	    "certificate is for the\nFrom: address. Prints one line; exit 0 "
	    "only when good, trusted and\nmatching, 1 otherwise.\n\n"
	    "  -i, --in FILE        the message (default: standard input)\n"
	    "  -o, --out FILE       write the signed content there (\"-\": "
	    "standard output)\n"
	    H_TRUST H_CERTDIR },
	{ "encrypt", do_encrypt,
	    "[--in FILE] [--out FILE] [--certs DIR] [--recipient FILE]... "
	    "[--cipher C] [--oaep] [--sign [signing options]]",
	    "Encrypts a message to every To/Cc/Bcc address and to the sender, "
	    "with the\ncertificates in the certificate directory. The "
	    "Subject and the other header\nfields are not encrypted.\n\n"
	    H_IO H_CERTDIR
	    "  -r, --recipient FILE a recipient's certificate, instead of the "
	    "addresses\n"
	    "                       (repeatable; the sender is still added)\n"
	    "      --cipher C       aes256-cbc (default, widest reach), "
	    "aes128-cbc,\n"
	    "                       aes256-gcm or aes128-gcm (authenticated, "
	    "RFC 5083)\n"
	    "      --oaep           RSA-OAEP (SHA-256) instead of PKCS#1 v1.5\n"
	    "  -s, --sign           sign first, then encrypt; takes the "
	    "options of sign:\n" H_SIGNKEY },
	{ "decrypt", do_decrypt,
	    "[--in FILE] [--out FILE] [--key KEYREF [--cert FILE]] "
	    "[--CAfile FILE] [--CApath DIR] [--no-verify] [--verbose]",
	    "Decrypts a message with the agent's key that it is encrypted for; "
	    "a signature\ninside is verified too. Nothing is written unless "
	    "everything succeeded.\n\n" H_IO
	    "  -k, --key KEYREF     the key (default: any of the agent's keys "
	    "the message\n"
	    "                       names); a path is a key file\n"
	    "  -c, --cert FILE      its certificate (for a key file)\n"
	    "      --no-verify      do not check a signature inside\n"
	    H_TRUST H_CERTDIR },
	{ "show", do_show, "[--in FILE]",
	    "Shows the MIME tree of a message with its S/MIME layers.\n\n"
	    "  -i, --in FILE        the message (default: standard input)\n" },
};

#define NSUBCMDS	(sizeof(subcmds) / sizeof(subcmds[0]))

static void
smime_usage(FILE *f)
{
	size_t i;

	for (i = 0; i < NSUBCMDS; i++)
		fprintf(f, "%s p11 smime %s %s\n", i == 0 ? "usage:" :
		    "      ", subcmds[i].name, subcmds[i].usage);
	fprintf(f, "Run \"p11 smime COMMAND --help\" for its options.\n");
}

enum {
	OPT_CHAIN = 256, OPT_CERTS, OPT_CAFILE, OPT_CAPATH, OPT_OPAQUE,
	OPT_OAEP, OPT_CIPHER, OPT_ALLOW_SHA1, OPT_NO_VERIFY, OPT_SOCKET,
};

static const struct option longopts[] = {
	{ "in", required_argument, NULL, 'i' },
	{ "out", required_argument, NULL, 'o' },
	{ "key", required_argument, NULL, 'k' },
	{ "cert", required_argument, NULL, 'c' },
	{ "chain", required_argument, NULL, OPT_CHAIN },
	{ "certs", required_argument, NULL, OPT_CERTS },
	{ "CAfile", required_argument, NULL, OPT_CAFILE },
	{ "CApath", required_argument, NULL, OPT_CAPATH },
	{ "digest", required_argument, NULL, 'd' },
	{ "opaque", no_argument, NULL, OPT_OPAQUE },
	{ "recipient", required_argument, NULL, 'r' },
	{ "cipher", required_argument, NULL, OPT_CIPHER },
	{ "oaep", no_argument, NULL, OPT_OAEP },
	{ "sign", no_argument, NULL, 's' },
	{ "allow-sha1", no_argument, NULL, OPT_ALLOW_SHA1 },
	{ "no-verify", no_argument, NULL, OPT_NO_VERIFY },
	{ "verbose", no_argument, NULL, 'v' },
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

/* Which options each subcommand takes; encrypt takes the signing
 * options only with --sign. */
static int
allowed(const char *name, int ch, const struct opts *o)
{
	int signing = strcmp(name, "sign") == 0 ||
	    (strcmp(name, "encrypt") == 0 && o->sign);

	switch (ch) {
	case 'i': case 'h': case OPT_SOCKET:
		return 1;
	case 'o':
		return strcmp(name, "show") != 0;
	case 'k': case 'c':
		return signing || strcmp(name, "decrypt") == 0;
	case OPT_CHAIN: case 'd': case OPT_OPAQUE:
		return signing;
	case OPT_CERTS:
		return strcmp(name, "show") != 0;
	case OPT_CAFILE: case OPT_CAPATH: case OPT_ALLOW_SHA1: case 'v':
		return strcmp(name, "verify") == 0 ||
		    strcmp(name, "decrypt") == 0;
	case 'r': case OPT_CIPHER: case OPT_OAEP: case 's':
		return strcmp(name, "encrypt") == 0;
	case OPT_NO_VERIFY:
		return strcmp(name, "decrypt") == 0;
	default:
		return 0;
	}
}

static int
parse_opts(const struct subcmd *sc, struct opts *o, int argc, char **argv)
{
	int ch, li = -1;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":i:o:k:c:d:r:svh", longopts,
	    &li)) != -1) {
		if (ch == ':') {
			err("option %s needs an argument", argv[optind - 1]);
			return CLI_USAGE;
		}
		if (ch == '?') {
			err("unknown option %s (see p11 smime %s --help)",
			    argv[optind - 1], sc->name);
			return CLI_USAGE;
		}
		if (!allowed(sc->name, ch, o)) {
			int enc = strcmp(sc->name, "encrypt") == 0;
			char opt[32];

			if (li >= 0)
				snprintf(opt, sizeof(opt), "--%s",
				    longopts[li].name);
			else
				snprintf(opt, sizeof(opt), "-%c", ch);
			err("option %s does not apply%s (see p11 smime %s "
			    "--help)", opt, enc ? " without --sign" : "",
			    sc->name);
			return CLI_USAGE;
		}
		li = -1;
		switch (ch) {
		case 'h':
			printf("usage: p11 smime %s %s\n\n%s", sc->name,
			    sc->usage, sc->help);
			printf("      --socket PATH    the agent's socket "
			    "(default $P11AGENT_SOCK)\n"
			    "  -h, --help           show this help\n");
			return -1;
		case 'i': o->in = optarg; break;
		case 'o': o->out = optarg; break;
		case 'k': o->key = optarg; break;
		case 'c': o->cert = optarg; break;
		case 'd': o->digest = optarg; break;
		case OPT_CERTS: o->certdir = optarg; break;
		case OPT_CAFILE: o->cafile = optarg; break;
		case OPT_CAPATH: o->capath = optarg; break;
		case OPT_OPAQUE: o->opaque = 1; break;
		case OPT_CIPHER: o->cipher = optarg; break;
		case OPT_OAEP: o->oaep = 1; break;
		case 's': o->sign = 1; break;
		case OPT_ALLOW_SHA1: o->allow_sha1 = 1; break;
		case OPT_NO_VERIFY: o->no_verify = 1; break;
		case 'v': o->verbose = 1; break;
		case OPT_SOCKET: cli_socket_opt = optarg; break;
		case OPT_CHAIN:
		case 'r':
			if ((ch == 'r' ? o->nrecip : o->nchain) >= MAX_FILES) {
				err("too many --%s options", ch == 'r' ?
				    "recipient" : "chain");
				return CLI_USAGE;
			}
			if (ch == 'r')
				o->recip[o->nrecip++] = optarg;
			else
				o->chain[o->nchain++] = optarg;
			break;
		}
	}
	if (optind < argc) {
		err("unexpected argument \"%s\"", argv[optind]);
		return CLI_USAGE;
	}
	if (o->digest != NULL && strcmp(o->digest, "sha256") != 0 &&
	    strcmp(o->digest, "sha384") != 0 &&
	    strcmp(o->digest, "sha512") != 0) {
		err("--digest must be sha256, sha384 or sha512");
		return CLI_USAGE;
	}
	if (o->cipher != NULL && strcmp(o->cipher, "aes256-cbc") != 0 &&
	    strcmp(o->cipher, "aes128-cbc") != 0 &&
	    strcmp(o->cipher, "aes256-gcm") != 0 &&
	    strcmp(o->cipher, "aes128-gcm") != 0) {
		err("--cipher must be aes256-cbc, aes128-cbc, aes256-gcm or "
		    "aes128-gcm");
		return CLI_USAGE;
	}
	if (o->certdir == NULL) {
		if (smime_default_certdir(o->certdirbuf,
		    sizeof(o->certdirbuf)) == 0)
			o->certdir = o->certdirbuf;
		else
			o->certdir = ".";
	}
	return CLI_OK;
}

/* ------------------------------------------------------------------ */
/* Input and output */

/*
 * The message is mapped, not read: a regular file directly, anything
 * else (a pipe) copied to an unlinked temporary file first. The library
 * releases the mapping's pages as it works through them, so a large
 * message does not make a large process.
 */
struct input {
	struct smime_msg	m;
	int			fd;
};

static int
read_input(const char *path, struct input *in)
{
	struct stat st;
	uint8_t buf[65536];
	ssize_t n;
	off_t total = 0;
	int fd = STDIN_FILENO, tfd = -1, r;

	memset(in, 0, sizeof(*in));
	in->fd = -1;
	if (path != NULL && strcmp(path, "-") != 0 &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		err("cannot open %s: %s", path, strerror(errno));
		return CLI_USAGE;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    lseek(fd, 0, SEEK_CUR) != 0) {
		/* A pipe (or a file read from the middle): copy it. */
		if ((tfd = smime_tmpfd()) < 0) {
			err("cannot create a temporary file in %s: %s",
			    getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
			    strerror(errno));
			goto bad;
		}
		for (;;) {
			if ((n = read(fd, buf, sizeof(buf))) < 0) {
				if (errno == EINTR)
					continue;
				err("cannot read %s: %s", path ? path :
				    "standard input", strerror(errno));
				goto bad;
			}
			if (n == 0)
				break;
			if ((total += n) > (off_t)MIME_MAX_MESSAGE) {
				err("the message is larger than %zu MiB",
				    MIME_MAX_MESSAGE >> 20);
				goto bad;
			}
			if (write(tfd, buf, (size_t)n) != n) {
				err("cannot write a temporary file: %s",
				    strerror(errno));
				goto bad;
			}
		}
		if (fd != STDIN_FILENO)
			close(fd);
		fd = tfd;
		tfd = -1;
	} else if (st.st_size > (off_t)MIME_MAX_MESSAGE) {
		err("the message is larger than %zu MiB",
		    MIME_MAX_MESSAGE >> 20);
		goto bad;
	}
	if ((r = smime_map_fd(fd, &in->m)) != 0) {
		err("cannot map %s: %s", path ? path : "standard input",
		    strerror(errno));
		goto bad;
	}
	in->fd = fd;
	return CLI_OK;
 bad:
	if (tfd >= 0)
		close(tfd);
	if (fd != STDIN_FILENO)
		close(fd);
	return CLI_USAGE;
}

static void
input_free(struct input *in)
{
	smime_unmap(&in->m);
	if (in->fd > STDIN_FILENO)
		close(in->fd);
	in->fd = -1;
}

/*
 * Output streams into a temporary file beside --out (0600 for secrets),
 * renamed only when complete; standard output gets it directly, since
 * the library writes nothing before the operation succeeded.
 */
struct output {
	BIO	*bio;
	char	*tmp;
	int	 fd;
};

static int
open_output(const char *path, int secret, struct output *o)
{
	const char *slash;
	size_t dirlen;
	mode_t mask;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	if (path == NULL || strcmp(path, "-") == 0) {
		fflush(stdout);
		if ((o->bio = BIO_new_fd(STDOUT_FILENO, BIO_NOCLOSE)) == NULL)
			goto nomem;
		return CLI_OK;
	}
	slash = strrchr(path, '/');
	dirlen = slash != NULL ? (size_t)(slash - path) + 1 : 0;
	if (asprintf(&o->tmp, "%.*s.p11-out.XXXXXX", (int)dirlen, path) < 0) {
		o->tmp = NULL;
		goto nomem;
	}
	if ((o->fd = mkstemp(o->tmp)) < 0) {
		err("cannot write %s: %s", path, strerror(errno));
		free(o->tmp);
		o->tmp = NULL;
		return CLI_USAGE;
	}
	if (!secret) {
		mask = umask(0);
		umask(mask);
		(void)fchmod(o->fd, 0666 & ~mask);
	}
	if ((o->bio = BIO_new_fd(o->fd, BIO_NOCLOSE)) == NULL)
		goto nomem;
	return CLI_OK;
 nomem:
	err("out of memory");
	return CLI_USAGE;
}

/* Discards an unfinished output (the temporary file is removed). */
static void
abort_output(struct output *o)
{
	BIO_free(o->bio);
	if (o->fd >= 0)
		close(o->fd);
	if (o->tmp != NULL) {
		(void)unlink(o->tmp);
		free(o->tmp);
	}
	memset(o, 0, sizeof(*o));
	o->fd = -1;
}

static int
commit_output(const char *path, struct output *o)
{
	int e;

	if (BIO_flush(o->bio) <= 0)
		goto bad;
	if (o->tmp == NULL) {
		abort_output(o);
		return CLI_OK;
	}
	if (fsync(o->fd) != 0 || close(o->fd) != 0) {
		o->fd = -1;
		goto bad;
	}
	o->fd = -1;
	if (rename(o->tmp, path) != 0)
		goto bad;
	free(o->tmp);
	o->tmp = NULL;
	abort_output(o);
	return CLI_OK;
 bad:
	e = errno;
	err("cannot write %s: %s", path ? path : "standard output",
	    strerror(e));
	abort_output(o);
	return CLI_USAGE;
}

/* Maps a library error to a message and an exit code. */
static int
lib_error(int r, const char *what)
{
	switch (r) {
	case P11AGENT_ERR_INVALID_FORMAT:
		err("malformed message: %s", what);
		return CLI_FAIL;
	case P11AGENT_ERR_MAX_SIZE:
		err("the message exceeds a limit (size, header or nesting): %s",
		    what);
		return CLI_FAIL;
	case P11AGENT_ERR_LIBCRYPTO:
		err("%s: %s", what, ossl_reason());
		return CLI_FAIL;
	default:
		err("%s: %s", what, p11agent_strerror(r));
		return CLI_USAGE;
	}
}

/* ------------------------------------------------------------------ */
/* Keys and certificates */

static int
is_file_ref(const char *ref)
{
	return strncmp(ref, "file:", 5) == 0 || strchr(ref, '/') != NULL;
}

#ifdef P11AGENT_HAVE_PROVIDER
/*
 * The agent, reached once per process: one connection, which the
 * in-process provider borrows for its operations, and one key list,
 * from which keys are made directly (no store, no decoders).
 */
static struct {
	OSSL_PROVIDER		*prov;
	struct p11agent_client	*cl;
	struct p11agent_keylist	*list;
	int			 failed;	/* tried and failed: r */
} agent;

static int
agent_open(int quiet)
{
	int r;

	if (agent.list != NULL)
		return CLI_OK;
	if (agent.failed != 0)
		return agent.failed;
	if (!p11agent_provider_load(NULL, &agent.prov)) {
		if (!quiet)
			err("cannot load the p11agent provider: %s",
			    ossl_reason());
		return agent.failed = CLI_USAGE;
	}
	if (quiet) {
		/* No agent just means nothing from there; say nothing. */
		if (p11agent_client_connect_ex(&agent.cl, cli_socket_path(),
		    NULL, NULL, "p11") != 0)
			return agent.failed = CLI_USAGE;
	} else if ((r = cli_connect(&agent.cl)) != CLI_OK)
		return agent.failed = r;
	if ((r = p11agent_client_list_keys(agent.cl, &agent.list)) != 0) {
		agent.failed = quiet ? CLI_FAIL : cli_report(agent.cl, r,
		    "list keys");
		return agent.failed;
	}
	if (p11agent_provider_use_client(agent.prov, agent.cl) != 0) {
		if (!quiet)
			err("the p11agent provider is not the built-in one");
		return agent.failed = CLI_USAGE;
	}
	return CLI_OK;
}

static void
agent_close(void)
{
	if (agent.prov != NULL) {
		(void)p11agent_provider_use_client(agent.prov, NULL);
		OSSL_PROVIDER_unload(agent.prov);
	}
	p11agent_keylist_free(agent.list);
	p11agent_client_free(agent.cl);
	memset(&agent, 0, sizeof(agent));
}

/* The agent's key ref (and its certificate, if any and certp). */
static int
load_agent_key(const char *ref, EVP_PKEY **keyp, X509 **certp, int quiet)
{
	const struct p11agent_key *k;
	const uint8_t *der;
	size_t len;
	int r;

	if ((r = agent_open(quiet)) != CLI_OK)
		return r;
	if ((r = p11agent_keylist_find(agent.list, ref, &k)) != 0) {
		if (!quiet)
			err("key \"%s\": %s", ref, p11agent_strerror(r));
		return CLI_USAGE;
	}
	if ((r = p11agent_provider_key(NULL, k, keyp)) != 0) {
		if (!quiet)
			err("key \"%s\": %s%s%s", ref, p11agent_strerror(r),
			    r == P11AGENT_ERR_LIBCRYPTO ? ": " : "",
			    r == P11AGENT_ERR_LIBCRYPTO ? ossl_reason() : "");
		ERR_clear_error();
		return CLI_USAGE;
	}
	if (certp != NULL && (der = p11agent_key_cert(k, &len)) != NULL &&
	    (*certp = d2i_X509(NULL, &der, (long)len)) == NULL)
		ERR_clear_error();	/* unreadable: as if there were none */
	return CLI_OK;
}
#endif

/* A key file, through OpenSSL's store (file: URI or a path). */
static int
load_file_key(const char *ref, EVP_PKEY **keyp, X509 **certp, int quiet)
{
	OSSL_STORE_CTX *st;
	OSSL_STORE_INFO *info;

	if ((st = OSSL_STORE_open_ex(ref, NULL, NULL, NULL, NULL, NULL, NULL,
	    NULL)) == NULL) {
		if (quiet)
			ERR_clear_error();
		else
			err("key \"%s\": %s", ref, ossl_reason());
		return CLI_USAGE;
	}
	while (!OSSL_STORE_eof(st) && (info = OSSL_STORE_load(st)) != NULL) {
		switch (OSSL_STORE_INFO_get_type(info)) {
		case OSSL_STORE_INFO_PKEY:
			if (*keyp == NULL)
				*keyp = OSSL_STORE_INFO_get1_PKEY(info);
			break;
		case OSSL_STORE_INFO_CERT:
			if (certp != NULL && *certp == NULL)
				*certp = OSSL_STORE_INFO_get1_CERT(info);
			break;
		default:
			break;
		}
		OSSL_STORE_INFO_free(info);
	}
	OSSL_STORE_close(st);
	if (*keyp == NULL) {
		if (!quiet)
			err("key \"%s\" not found%s%s", ref,
			    ERR_peek_error() ? ": " : "",
			    ERR_peek_error() ? ossl_reason() : "");
		ERR_clear_error();
		if (certp != NULL) {
			X509_free(*certp);
			*certp = NULL;
		}
		return CLI_USAGE;
	}
	ERR_clear_error();
	return CLI_OK;
}

/*
 * Loads a key (and the certificate next to it, if any) from the agent or
 * from a key file.
 */
static int
load_key(const char *ref, EVP_PKEY **keyp, X509 **certp, int quiet)
{
	*keyp = NULL;
	if (certp != NULL)
		*certp = NULL;
	if (is_file_ref(ref))
		return load_file_key(ref, keyp, certp, quiet);
#ifdef P11AGENT_HAVE_PROVIDER
	return load_agent_key(ref, keyp, certp, quiet);
#else
	err("key \"%s\": this p11 is built without the p11agent provider; "
	    "give a key file", ref);
	return CLI_USAGE;
#endif
}

/* The first certificate of a file, the rest appended to *extrap. */
static int
load_cert_file(const char *path, X509 **certp, STACK_OF(X509) **extrap)
{
	STACK_OF(X509) *sk = NULL;

	*certp = NULL;
	if (smime_read_certs(path, &sk) != 0 || sk_X509_num(sk) < 1) {
		ERR_clear_error();
		sk_X509_pop_free(sk, X509_free);
		err("cannot read a certificate from %s", path);
		return CLI_USAGE;
	}
	*certp = sk_X509_shift(sk);
	while (extrap != NULL && sk_X509_num(sk) > 0) {
		if (*extrap == NULL)
			*extrap = sk_X509_new_null();
		if (*extrap == NULL || !sk_X509_push(*extrap,
		    sk_X509_value(sk, 0)))
			break;
		(void)sk_X509_shift(sk);
	}
	sk_X509_pop_free(sk, X509_free);
	return CLI_OK;
}

/* The first From: address of the message, or NULL (static storage). */
static const char *
from_address(const struct smime_msg *m)
{
	static char buf[512];
	struct mime_entity *e = NULL;
	struct mime_addr *a = NULL;
	size_t n = 0;

	buf[0] = '\0';
	if (mime_parse_ex(m->p, m->len, m->release, m->arg, &e) == 0 &&
	    mime_addrs_of(e, "From", &a, &n) == 0 && n > 0)
		snprintf(buf, sizeof(buf), "%s", a[0].addr);
	mime_addrs_free(a, n);
	mime_free(e);
	return buf[0] ? buf : NULL;
}

struct signer_state {
	struct smime_signer	 s;
	STACK_OF(X509)		*pool;
};

static void
signer_free(struct signer_state *ss)
{
	EVP_PKEY_free(ss->s.key);
	X509_free(ss->s.cert);
	sk_X509_pop_free(ss->s.chain, X509_free);
	sk_X509_pop_free(ss->pool, X509_free);
	memset(ss, 0, sizeof(*ss));
}

static int
setup_signer(struct opts *o, const struct smime_msg *m,
    struct signer_state *ss)
{
	const char *ref = o->key, *from = from_address(m);
	X509 *scert = NULL;
	size_t i;
	int r;

	memset(ss, 0, sizeof(*ss));
	if (ref == NULL && (ref = from) == NULL) {
		err("the message has no From: address; give --key");
		return CLI_USAGE;
	}
	if ((r = load_key(ref, &ss->s.key, &scert, 0)) != CLI_OK)
		return r;
	if (o->cert != NULL) {
		X509_free(scert);
		scert = NULL;
		if ((r = load_cert_file(o->cert, &ss->s.cert,
		    &ss->pool)) != CLI_OK)
			return r;
	} else if (scert != NULL) {
		ss->s.cert = scert;
	} else if (from != NULL && smime_certdir_find(o->certdir, from,
	    &ss->s.cert, &ss->pool) == 0) {
		/* found in the certificate directory */
	} else {
		err("no certificate for the key \"%s\": give --cert, or put "
		    "it in %s/%s.pem", ref, o->certdir, from ? from :
		    "ADDRESS");
		return CLI_USAGE;
	}
	if (EVP_PKEY_eq(X509_get0_pubkey(ss->s.cert), ss->s.key) != 1) {
		ERR_clear_error();
		err("the certificate does not belong to the key \"%s\"", ref);
		return CLI_USAGE;
	}
	for (i = 0; i < o->nchain; i++)
		if (smime_read_certs(o->chain[i], &ss->pool) != 0) {
			err("cannot read certificates from %s", o->chain[i]);
			return CLI_USAGE;
		}
	if (smime_certdir_cas(o->certdir, &ss->pool) != 0 ||
	    smime_build_chain(ss->s.cert, ss->pool, &ss->s.chain) != 0) {
		err("out of memory");
		return CLI_USAGE;
	}
	ss->s.digest = o->digest;
	ss->s.opaque = o->opaque;
	return CLI_OK;
}

static int
sign_error(int r, X509 *cert)
{
	if (r == P11AGENT_ERR_DENIED) {
		char n[256];

		smime_name(X509_get_subject_name(cert), n, sizeof(n));
		err("the certificate of \"%s\" is expired or not yet valid; "
		    "nobody could verify this signature", n);
		return CLI_FAIL;
	}
	return lib_error(r, "cannot sign");
}

/* ------------------------------------------------------------------ */
/* Subcommands */

static int
do_sign(struct opts *o, int argc, char **argv)
{
	struct signer_state ss;
	struct output out;
	struct input in;
	int r;

	memset(&ss, 0, sizeof(ss));
	memset(&out, 0, sizeof(out));
	out.fd = -1;
	if ((r = read_input(o->in, &in)) != CLI_OK)
		return r;
	if ((r = setup_signer(o, &in.m, &ss)) != CLI_OK ||
	    (r = open_output(o->out, 0, &out)) != CLI_OK)
		goto out;
	if ((r = smime_sign(&ss.s, &in.m, out.bio)) != 0) {
		r = sign_error(r, ss.s.cert);
		goto out;
	}
	r = commit_output(o->out, &out);
 out:
	abort_output(&out);
	signer_free(&ss);
	input_free(&in);
	return r;
}

static int
setup_trust(struct opts *o, struct smime_trust *t)
{
	memset(t, 0, sizeof(*t));
	if (smime_trust_store(o->cafile, o->capath, &t->store) != 0) {
		err("cannot load the trust anchors%s%s%s%s: %s",
		    o->cafile ? " " : "", o->cafile ? o->cafile : "",
		    o->capath ? " " : "", o->capath ? o->capath : "",
		    ossl_reason());
		return CLI_USAGE;
	}
	/* Intermediates from the certificate directory help messages that
	 * lack them; they are never trust anchors. */
	(void)smime_certdir_cas(o->certdir, &t->untrusted);
	ERR_clear_error();
	t->allow_sha1 = o->allow_sha1;
	return CLI_OK;
}

static void
trust_free(struct smime_trust *t)
{
	X509_STORE_free(t->store);
	sk_X509_pop_free(t->untrusted, X509_free);
}

static int
do_verify(struct opts *o, int argc, char **argv)
{
	struct smime_report rep;
	struct smime_trust t;
	struct output out;
	struct input in;
	int r;

	memset(&rep, 0, sizeof(rep));
	memset(&t, 0, sizeof(t));
	memset(&out, 0, sizeof(out));
	out.fd = -1;
	if ((r = read_input(o->in, &in)) != CLI_OK)
		return r;
	if ((r = setup_trust(o, &t)) != CLI_OK)
		goto out;
	if (o->verbose)
		rep.details = BIO_new_fp(stderr, BIO_NOCLOSE);
	if (o->out != NULL && (r = open_output(o->out, 0, &out)) != CLI_OK)
		goto out;
	if ((r = smime_verify(&t, &in.m, out.bio, &rep)) != 0) {
		r = lib_error(r, "cannot verify");
		goto out;
	}
	if (rep.bad) {
		err("%s", rep.line);
		r = CLI_FAIL;
		goto out;
	}
	if (rep.warning[0] != '\0')
		err("warning: %s", rep.warning);
	fprintf(stderr, "%s\n", rep.line);
	r = out.bio != NULL ? commit_output(o->out, &out) : CLI_OK;
 out:
	abort_output(&out);
	BIO_free(rep.details);
	trust_free(&t);
	input_free(&in);
	return r;
}

/* Appends one recipient certificate unless the same one is there. */
static int
add_recipient(STACK_OF(X509) *sk, X509 *x)
{
	int i;

	for (i = 0; i < sk_X509_num(sk); i++)
		if (X509_cmp(sk_X509_value(sk, i), x) == 0) {
			X509_free(x);
			return 1;
		}
	return sk_X509_push(sk, x);
}

/* The sender's own certificate: the signer's, the directory's, or the
 * agent's key for that address. */
static X509 *
sender_cert(struct opts *o, const char *from, const struct signer_state *ss)
{
	EVP_PKEY *k = NULL;
	X509 *x = NULL;

	if (ss->s.cert != NULL && smime_cert_has_addr(ss->s.cert, from)) {
		X509_up_ref(ss->s.cert);
		return ss->s.cert;
	}
	if (smime_certdir_find(o->certdir, from, &x, NULL) == 0)
		return x;
#ifdef P11AGENT_HAVE_PROVIDER
	/* Quietly: no agent just means no certificate from there. */
	if (load_key(from, &k, &x, 1) != CLI_OK)
		x = NULL;
#endif
	EVP_PKEY_free(k);
	ERR_clear_error();
	return x;
}

static int
do_encrypt(struct opts *o, int argc, char **argv)
{
	static const char *fields[] = { "To", "Cc", "Bcc" };
	struct smime_encrypt_params p;
	struct signer_state ss;
	struct mime_entity *e = NULL;
	struct mime_addr *addrs = NULL;
	STACK_OF(X509) *rcpts = NULL;
	char missing[2048] = "";
	const char *from, *subj;
	size_t naddrs = 0, i, j, nmissing = 0;
	struct output out;
	struct input in;
	X509 *x;
	int r;

	memset(&ss, 0, sizeof(ss));
	memset(&p, 0, sizeof(p));
	memset(&out, 0, sizeof(out));
	out.fd = -1;
	if ((r = read_input(o->in, &in)) != CLI_OK)
		return r;
	if ((r = mime_parse_ex(in.m.p, in.m.len, in.m.release, in.m.arg,
	    &e)) != 0) {
		r = lib_error(r, "cannot parse the header");
		goto out;
	}
	if (o->sign && (r = setup_signer(o, &in.m, &ss)) != CLI_OK)
		goto out;
	if ((rcpts = sk_X509_new_null()) == NULL) {
		r = lib_error(P11AGENT_ERR_NO_MEMORY, "cannot encrypt");
		goto out;
	}
	if (o->nrecip == 0) {
		for (i = 0; i < sizeof(fields) / sizeof(*fields); i++)
			if ((r = mime_addrs_of(e, fields[i], &addrs,
			    &naddrs)) != 0) {
				r = lib_error(r, "cannot read the addresses");
				goto out;
			}
	}
	for (i = 0; i < o->nrecip; i++) {
		if ((r = load_cert_file(o->recip[i], &x, NULL)) != CLI_OK)
			goto out;
		add_recipient(rcpts, x);
	}
	if ((from = from_address(&in.m)) == NULL) {
		err("the message has no From: address (the sender is always "
		    "a recipient)");
		r = CLI_USAGE;
		goto out;
	}
	for (i = 0; i < naddrs; i++) {
		/* Each address once. */
		for (j = 0; j < i; j++)
			if (mime_addr_equal(addrs[i].addr, addrs[j].addr))
				break;
		if (j < i || mime_addr_equal(addrs[i].addr, from))
			continue;
		if (smime_certdir_find(o->certdir, addrs[i].addr, &x,
		    NULL) != 0) {
			snprintf(missing + strlen(missing), sizeof(missing) -
			    strlen(missing), "%s%s", nmissing ? ", " : "",
			    cli_vis(addrs[i].addr));
			nmissing++;
			continue;
		}
		add_recipient(rcpts, x);
	}
	if ((x = sender_cert(o, from, &ss)) != NULL)
		add_recipient(rcpts, x);
	else {
		snprintf(missing + strlen(missing), sizeof(missing) -
		    strlen(missing), "%s%s (the sender)", nmissing ? ", " : "",
		    cli_vis(from));
		nmissing++;
	}
	if (nmissing > 0) {
		err("no certificate for %s (looked in %s)", missing,
		    o->certdir);
		r = CLI_FAIL;
		goto out;
	}
	if (sk_X509_num(rcpts) < 2 && naddrs + o->nrecip == 0) {
		err("the message has no To:, Cc: or Bcc: recipient; give "
		    "--recipient");
		r = CLI_USAGE;
		goto out;
	}
	p.recipients = rcpts;
	p.cipher = o->cipher;
	p.oaep = o->oaep;
	p.sign = o->sign ? &ss.s : NULL;
	if ((r = open_output(o->out, 0, &out)) != CLI_OK)
		goto out;
	if ((r = smime_encrypt(&p, &in.m, out.bio)) != 0) {
		if (r == P11AGENT_ERR_DENIED) {
			err("a recipient's certificate is expired or not for "
			    "encryption (key usage)");
			r = CLI_FAIL;
		} else
			r = lib_error(r, o->sign ? "cannot sign and encrypt" :
			    "cannot encrypt");
		goto out;
	}
	if ((subj = mime_get(e, "Subject")) != NULL && *subj != '\0')
		fprintf(stderr, "p11: smime encrypt: warning: the Subject is "
		    "not encrypted and stays readable: \"%s\"\n",
		    cli_vis(subj));
	r = commit_output(o->out, &out);
 out:
	abort_output(&out);
	sk_X509_pop_free(rcpts, X509_free);
	mime_addrs_free(addrs, naddrs);
	mime_free(e);
	signer_free(&ss);
	input_free(&in);
	return r;
}

/* Decryption candidates: --key, or every agent key with a certificate. */
struct candidates {
	X509		**certs;
	char		**refs;
	EVP_PKEY	 *key;	/* --key, loaded up front */
	size_t		  n;
};

static int
get_key(void *arg, size_t i, EVP_PKEY **keyp)
{
	struct candidates *c = arg;

	*keyp = NULL;
	if (c->key != NULL) {
		*keyp = c->key;
		c->key = NULL;
		return 0;
	}
	if (load_key(c->refs[i], keyp, NULL, 0) != CLI_OK)
		return P11AGENT_ERR_KEY_NOT_FOUND;
	return 0;
}

static int
agent_candidates(struct candidates *c)
{
#ifdef P11AGENT_HAVE_PROVIDER
	size_t i, n;
	int r;

	if ((r = agent_open(0)) != CLI_OK)
		return r;
	n = p11agent_keylist_count(agent.list);
	c->certs = calloc(n + 1, sizeof(*c->certs));
	c->refs = calloc(n + 1, sizeof(*c->refs));
	if (c->certs == NULL || c->refs == NULL) {
		err("out of memory");
		return CLI_USAGE;
	}
	for (i = 0; i < n; i++) {
		const struct p11agent_key *k =
		    p11agent_keylist_get(agent.list, i);
		const uint8_t *der;
		size_t dlen;
		X509 *x;

		if (!(p11agent_key_operations(k) &
		    (P11AGENT_OP_DECRYPT | P11AGENT_OP_DERIVE)) ||
		    (der = p11agent_key_cert(k, &dlen)) == NULL)
			continue;
		if ((x = d2i_X509(NULL, &der, (long)dlen)) == NULL) {
			ERR_clear_error();
			continue;
		}
		if ((c->refs[c->n] = strdup(p11agent_key_id_hex(k))) == NULL) {
			X509_free(x);
			continue;
		}
		c->certs[c->n++] = x;
	}
	return CLI_OK;
#else
	err("this p11 is built without the p11agent provider; give --key "
	    "with a key file");
	return CLI_USAGE;
#endif
}

static int
do_decrypt(struct opts *o, int argc, char **argv)
{
	struct smime_decrypt_params p;
	struct smime_report rep;
	struct smime_trust t;
	struct candidates c;
	struct output out;
	struct input in;
	size_t i;
	X509 *x = NULL;
	int r;

	memset(&p, 0, sizeof(p));
	memset(&rep, 0, sizeof(rep));
	memset(&t, 0, sizeof(t));
	memset(&c, 0, sizeof(c));
	memset(&out, 0, sizeof(out));
	out.fd = -1;
	if ((r = read_input(o->in, &in)) != CLI_OK)
		return r;
	if ((r = setup_trust(o, &t)) != CLI_OK)
		goto out;
	if (o->key != NULL) {
		if ((r = load_key(o->key, &c.key, &x, 0)) != CLI_OK)
			goto out;
		if (o->cert != NULL) {
			X509_free(x);
			if ((r = load_cert_file(o->cert, &x, NULL)) != CLI_OK)
				goto out;
		}
		if (x == NULL) {
			err("no certificate for the key \"%s\": give --cert",
			    o->key);
			r = CLI_USAGE;
			goto out;
		}
		if ((c.certs = calloc(1, sizeof(*c.certs))) == NULL) {
			X509_free(x);
			r = lib_error(P11AGENT_ERR_NO_MEMORY, "cannot decrypt");
			goto out;
		}
		c.certs[0] = x;
		c.n = 1;
	} else if ((r = agent_candidates(&c)) != CLI_OK)
		goto out;
	if (o->verbose)
		rep.details = BIO_new_fp(stderr, BIO_NOCLOSE);
	p.certs = c.certs;
	p.ncerts = c.n;
	p.get_key = get_key;
	p.arg = &c;
	p.trust = &t;
	p.no_verify = o->no_verify;
	if ((r = open_output(o->out, 1, &out)) != CLI_OK)
		goto out;
	if ((r = smime_decrypt(&p, &in.m, out.bio, &rep)) != 0) {
		r = lib_error(r, "cannot decrypt");
		goto out;
	}
	if (rep.bad) {
		if (rep.inner_bad) {
			fprintf(stderr, "%s\n", rep.line);
			err("the signature inside is not good: %s", rep.inner);
		} else
			err("%s", rep.line);
		r = CLI_FAIL;
		goto out;
	}
	fprintf(stderr, "%s\n", rep.line);
	if (rep.inner[0] != '\0')
		fprintf(stderr, "%s\n", rep.inner);
	else
		fprintf(stderr, "not signed\n");
	if (rep.warning[0] != '\0')
		err("warning: %s", rep.warning);
	r = commit_output(o->out, &out);
 out:
	abort_output(&out);
	BIO_free(rep.details);
	for (i = 0; i < c.n; i++) {
		X509_free(c.certs[i]);
		if (c.refs != NULL)
			free(c.refs[i]);
	}
	free(c.certs);
	free(c.refs);
	EVP_PKEY_free(c.key);
	trust_free(&t);
	input_free(&in);
	return r;
}

static int
do_show(struct opts *o, int argc, char **argv)
{
	struct input in;
	BIO *out;
	int r;

	if ((r = read_input(o->in, &in)) != CLI_OK)
		return r;
	if ((out = BIO_new_fp(stdout, BIO_NOCLOSE)) == NULL) {
		input_free(&in);
		return lib_error(P11AGENT_ERR_NO_MEMORY, "cannot show");
	}
	if ((r = smime_show(in.m.p, in.m.len, out)) != 0)
		r = lib_error(r, "cannot show");
	BIO_free(out);
	input_free(&in);
	return r;
}

int
cmd_smime(int argc, char **argv)
{
	struct opts o;
	size_t i;
	int r;

	sub = "";
	if (argc < 2) {
		smime_usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		smime_usage(stdout);
		return CLI_OK;
	}
	for (i = 0; i < NSUBCMDS; i++)
		if (strcmp(subcmds[i].name, argv[1]) == 0)
			break;
	if (i == NSUBCMDS) {
		fprintf(stderr, "p11: smime: unknown command \"%s\"\n",
		    argv[1]);
		smime_usage(stderr);
		return CLI_USAGE;
	}
	sub = subcmds[i].name;
	memset(&o, 0, sizeof(o));
	/* "encrypt --sign" accepts the signing options wherever they are. */
	for (int a = 2; a < argc; a++)
		if (strcmp(argv[a], "--sign") == 0 || strcmp(argv[a], "-s") == 0)
			o.sign = 1;
	if ((r = parse_opts(&subcmds[i], &o, argc - 1, argv + 1)) != CLI_OK)
		return r < 0 ? CLI_OK : r;
	r = subcmds[i].fn(&o, argc - 1, argv + 1);
#ifdef P11AGENT_HAVE_PROVIDER
	agent_close();
#endif
	return r;
}
