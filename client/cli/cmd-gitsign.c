/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * cmd-gitsign.c - "p11 gitsign" (also run as p11-gitsign): git's x509
 * signing program. git runs it as it runs gpgsm, "--status-fd=2 -bsau KEY"
 * to sign the payload on stdin and "--status-fd=1 --verify FILE -" to
 * check one; it reads "[GNUPG:]" status lines, not our words. Signing
 * needs the agent (the key stays on the token); verifying needs only the
 * trust anchors. Exit 0 good, 1 bad or untrusted, 2 usage or environment.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include <p11agent/client.h>
#include <p11agent/err.h>

#include "cli.h"
#include "smime.h"
#ifdef P11AGENT_HAVE_PROVIDER
#include "provider.h"
#endif

#define GITSIGN_MAX_PAYLOAD	(64u << 20)	/* bytes, a commit or tag */
#define GITSIGN_MAX_SIG		(1u << 20)	/* bytes, a signature file */
#define GITSIGN_MAX_CONFIG	4096		/* bytes, one git config value */

struct opts {
	int		 status_fd;	/* -1: no status lines */
	int		 sign, verify, armor;
	const char	*key;
	const char	*cafile;
	const char	*capath;
	const char	*certdir;
	const char	*digest;
	char		 certdirbuf[4096];
	char		 cafilebuf[GITSIGN_MAX_CONFIG];
	char		 capathbuf[GITSIGN_MAX_CONFIG];
	char		 emailbuf[GITSIGN_MAX_CONFIG];
};

/* ------------------------------------------------------------------ */
/* Status lines, the part of the output git reads */

static int status_fd = -1;

static void
status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
status(const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	size_t len, off = 0;
	ssize_t n;
	int r;

	if (status_fd < 0)
		return;
	memcpy(line, "[GNUPG:] ", 9);
	va_start(ap, fmt);
	r = vsnprintf(line + 9, sizeof(line) - 10, fmt, ap);
	va_end(ap);
	if (r < 0)
		return;
	len = 9 + ((size_t)r < sizeof(line) - 10 ? (size_t)r :
	    sizeof(line) - 11);
	line[len++] = '\n';
	/* Our own words and the signature go through stdio; keep order. */
	fflush(stdout);
	fflush(stderr);
	while (off < len) {
		n = write(status_fd, line + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		off += (size_t)n;
	}
}

/* OpenPGP's numbers (RFC 4880 9.1, 9.4), which status lines carry. */
static int
pgp_pk_algo(int nid)
{
	switch (nid) {
	case NID_rsaEncryption:
		return 1;
	case NID_X9_62_id_ecPublicKey:
		return 19;
	default:
		return 0;
	}
}

static int
pgp_md_algo(int nid)
{
	switch (nid) {
	case NID_sha1:
		return 2;
	case NID_sha256:
		return 8;
	case NID_sha384:
		return 9;
	case NID_sha512:
		return 10;
	case NID_sha224:
		return 11;
	default:
		return 0;
	}
}

/* ------------------------------------------------------------------ */
/* Error output that the user sees even when git swallows it */

/*
 * git (up to 2.40 at least) reads our stderr when signing and shows only
 * "gpg failed to sign the data". While signing, stderr goes to a memory
 * file; at the end it is copied to the real stderr and, after a failure
 * with nobody's terminal on stderr, to /dev/tty as gpg's prompts go.
 */
static int saved_stderr = -1;
static int captured = -1;

static void
capture_stderr(void)
{
	if (isatty(STDERR_FILENO) || status_fd != STDERR_FILENO)
		return;
	if ((captured = memfd_create("p11-gitsign", MFD_CLOEXEC)) < 0)
		return;
	fflush(stderr);
	if ((saved_stderr = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3)) < 0 ||
	    dup2(captured, STDERR_FILENO) < 0) {
		if (saved_stderr >= 0)
			close(saved_stderr);
		close(captured);
		saved_stderr = captured = -1;
		return;
	}
	status_fd = saved_stderr;
}

static void
copy_fd(int from, int to)
{
	char buf[4096];
	ssize_t n, w, off;

	if (lseek(from, 0, SEEK_SET) < 0)
		return;
	while ((n = read(from, buf, sizeof(buf))) > 0)
		for (off = 0; off < n; off += w)
			if ((w = write(to, buf + off, (size_t)(n - off))) <= 0)
				return;
}

static void
release_stderr(int failed)
{
	int tty;

	if (captured < 0)
		return;
	fflush(stderr);
	dup2(saved_stderr, STDERR_FILENO);
	status_fd = STDERR_FILENO;
	copy_fd(captured, STDERR_FILENO);
	if (failed && (tty = open("/dev/tty", O_WRONLY | O_NOCTTY |
	    O_CLOEXEC)) >= 0) {
		copy_fd(captured, tty);
		close(tty);
	}
	close(captured);
	close(saved_stderr);
	captured = saved_stderr = -1;
}

/* ------------------------------------------------------------------ */
/* git configuration and input */

/*
 * "git config --get KEY" (--type=path expands ~), run without a shell in
 * the directory git runs us in, so repository, global and "git -c"
 * settings all count. 0 with the value in buf, -1 when unset or no git.
 */
static int
git_config(const char *key, int path, char *buf, size_t len)
{
	char *argv[6];
	size_t off = 0;
	ssize_t n;
	pid_t pid;
	int p[2], st, fd, i = 0;

	buf[0] = '\0';
	argv[i++] = "git";
	argv[i++] = "config";
	if (path)
		argv[i++] = "--type=path";
	argv[i++] = "--get";
	argv[i++] = (char *)key;
	argv[i] = NULL;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		if ((fd = open("/dev/null", O_RDWR)) >= 0) {
			dup2(fd, STDIN_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		dup2(p[1], STDOUT_FILENO);
		execvp("git", argv);
		_exit(127);
	}
	close(p[1]);
	while (off < len - 1) {
		n = read(p[0], buf + off, len - 1 - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(p[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	buf[off] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || buf[0] == '\0') {
		buf[0] = '\0';
		return -1;
	}
	return 0;
}

/* All of stdin, up to GITSIGN_MAX_PAYLOAD bytes. */
static int
read_stdin(uint8_t **datap, size_t *lenp)
{
	uint8_t *buf = NULL, *nb;
	size_t len = 0, cap = 0;
	ssize_t n;

	*datap = NULL;
	*lenp = 0;
	for (;;) {
		if (cap - len < 4096) {
			if (cap >= GITSIGN_MAX_PAYLOAD) {
				cli_err("the data to sign or verify is larger "
				    "than %u MiB", GITSIGN_MAX_PAYLOAD >> 20);
				free(buf);
				return CLI_USAGE;
			}
			cap = cap ? cap * 2 : 65536;
			if ((nb = realloc(buf, cap)) == NULL) {
				cli_err("out of memory");
				free(buf);
				return CLI_USAGE;
			}
			buf = nb;
		}
		n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			cli_err("cannot read standard input: %s",
			    strerror(errno));
			free(buf);
			return CLI_USAGE;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*datap = buf;
	*lenp = len;
	return CLI_OK;
}

/* ------------------------------------------------------------------ */
/* Trust anchors and intermediates */

/* --CAfile, else $P11AGENT_CAFILE, else git config p11.cafile. */
static void
find_trust(struct opts *o)
{
	const char *env;

	if (o->cafile == NULL && o->capath == NULL) {
		if ((env = getenv("P11AGENT_CAFILE")) != NULL && *env != '\0')
			o->cafile = env;
		else if (git_config("p11.cafile", 1, o->cafilebuf,
		    sizeof(o->cafilebuf)) == 0)
			o->cafile = o->cafilebuf;
		if (o->cafile == NULL && git_config("p11.capath", 1,
		    o->capathbuf, sizeof(o->capathbuf)) == 0)
			o->capath = o->capathbuf;
	}
	if (o->certdir == NULL) {
		if (smime_default_certdir(o->certdirbuf,
		    sizeof(o->certdirbuf)) == 0)
			o->certdir = o->certdirbuf;
	}
}

/* ------------------------------------------------------------------ */
/* Signing */

/* "Alice Example <alice@example.org>" (git's default) -> the address. */
static const char *
keyref_of(const char *u, char *buf, size_t len)
{
	const char *lt = strrchr(u, '<'), *gt;

	if (lt != NULL && (gt = strchr(lt, '>')) != NULL && gt > lt + 1 &&
	    (size_t)(gt - lt - 1) < len) {
		memcpy(buf, lt + 1, (size_t)(gt - lt - 1));
		buf[gt - lt - 1] = '\0';
		return buf;
	}
	return u;
}

/* 40 hex digits, "0x" allowed: a certificate's SHA-1 fingerprint, the
 * id gpgsm and smimesign list. */
static int
is_fingerprint(const char *ref, unsigned char fpr[20])
{
	size_t i;

	if (strncasecmp(ref, "0x", 2) == 0)
		ref += 2;
	if (strlen(ref) != 40)
		return 0;
	for (i = 0; i < 20; i++) {
		unsigned int b;

		if (sscanf(ref + 2 * i, "%2x", &b) != 1 ||
		    strchr("0123456789abcdefABCDEF", ref[2 * i]) == NULL ||
		    strchr("0123456789abcdefABCDEF", ref[2 * i + 1]) == NULL)
			return 0;
		fpr[i] = (unsigned char)b;
	}
	return 1;
}

static X509 *
key_cert(const struct p11agent_key *k)
{
	const uint8_t *der;
	size_t len;
	X509 *x;

	if ((der = p11agent_key_cert(k, &len)) == NULL || len > INT32_MAX)
		return NULL;
	if ((x = d2i_X509(NULL, &der, (long)len)) == NULL)
		ERR_clear_error();
	return x;
}

/*
 * The agent connection and key list of one run, kept for the provider:
 * it signs over the same connection (one handshake, one key list).
 */
struct agent_key {
	struct p11agent_client		*c;
	struct p11agent_keylist		*l;
	const struct p11agent_key	*k;	/* in l */
};

static void
agent_key_free(struct agent_key *a)
{
	p11agent_keylist_free(a->l);
	p11agent_client_free(a->c);
	memset(a, 0, sizeof(*a));
}

/*
 * Finds the signing key: a certificate fingerprint, else any KEYREF p11
 * takes. Prints the error; returns CLI_OK with the key in *a (release
 * it with agent_key_free()) and its certificate (NULL if the token has
 * none).
 */
static int
find_signing_key(const char *ref, struct agent_key *a, X509 **certp)
{
	struct p11agent_client *c = NULL;
	struct p11agent_keylist *l = NULL;
	const struct p11agent_key *k = NULL;
	unsigned char want[20], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	size_t i;
	X509 *x;
	int r;

	*certp = NULL;
	if ((r = cli_connect(&c)) != CLI_OK)
		return r;
	if (is_fingerprint(ref, want)) {
		if ((r = p11agent_client_list_keys(c, &l)) != 0) {
			r = cli_report(c, r, "cannot list keys");
			goto out;
		}
		for (i = 0; i < p11agent_keylist_count(l) && k == NULL; i++) {
			const struct p11agent_key *kk = p11agent_keylist_get(l,
			    i);

			if ((x = key_cert(kk)) == NULL)
				continue;
			if (X509_digest(x, EVP_sha1(), md, &mdlen) &&
			    mdlen == 20 && memcmp(md, want, 20) == 0)
				k = kk;
			X509_free(x);
		}
		if (k != NULL && !(p11agent_key_operations(k) &
		    P11AGENT_OP_SIGN)) {
			cli_err("the key of certificate %s cannot sign; run "
			    "p11 keys", ref);
			r = CLI_FAIL;
			goto out;
		}
		if (k == NULL) {
			p11agent_keylist_free(l);
			l = NULL;
		}
	}
	if (k == NULL && (r = cli_find_key(c, ref, P11AGENT_OP_SIGN, &l,
	    &k)) != CLI_OK)
		goto out;
	*certp = key_cert(k);
	a->c = c;
	a->l = l;
	a->k = k;
	c = NULL;
	l = NULL;
	r = CLI_OK;
 out:
	p11agent_keylist_free(l);
	p11agent_client_free(c);
	return r;
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

#ifdef P11AGENT_HAVE_PROVIDER
/* The agent's key, made by the in-process provider, which signs over
 * a's connection. */
static int
load_agent_key(OSSL_PROVIDER **provp, const struct agent_key *a,
    EVP_PKEY **keyp)
{
	int r;

	*keyp = NULL;
	if (*provp == NULL && !p11agent_provider_load(NULL, provp)) {
		cli_err("cannot load the p11agent provider: %s",
		    ossl_reason());
		return CLI_USAGE;
	}
	if (p11agent_provider_use_client(*provp, a->c) != 0) {
		cli_err("the p11agent provider is not the built-in one");
		return CLI_USAGE;
	}
	if ((r = p11agent_provider_key(NULL, a->k, keyp)) != 0) {
		cli_err("cannot load the key %.16s from the agent: %s",
		    p11agent_key_id_hex(a->k), r == P11AGENT_ERR_LIBCRYPTO ?
		    ossl_reason() : p11agent_strerror(r));
		ERR_clear_error();
		return CLI_USAGE;
	}
	return CLI_OK;
}
#endif

static int
do_sign(struct opts *o)
{
	struct smime_signer s;
	struct smime_sigcheck info;
	STACK_OF(X509) *pool = NULL;
	OSSL_PROVIDER *prov = NULL;
	struct agent_key ak;
	const char *ref;
	char refbuf[512];
	uint8_t *data = NULL;
	size_t len;
	BIO *out = NULL;
	char *p;
	long n;
	int r;

	memset(&s, 0, sizeof(s));
	memset(&ak, 0, sizeof(ak));
	if ((r = read_stdin(&data, &len)) != CLI_OK)
		goto out;
	ref = o->key;
	if (ref == NULL || *ref == '\0') {
		if (git_config("user.email", 0, o->emailbuf,
		    sizeof(o->emailbuf)) != 0) {
			r = cli_usage("no signing key: give -u KEYREF, or set "
			    "git config user.signingkey or user.email");
			goto out;
		}
		ref = o->emailbuf;
	}
	ref = keyref_of(ref, refbuf, sizeof(refbuf));
	if ((r = find_signing_key(ref, &ak, &s.cert)) != CLI_OK) {
		status("INV_SGNR 0 %s", cli_vis(ref));
		goto out;
	}
	find_trust(o);
	if (s.cert == NULL && (strchr(ref, '@') == NULL || o->certdir == NULL ||
	    smime_certdir_find(o->certdir, ref, &s.cert, &pool) != 0)) {
		cli_err("the key \"%s\" has no certificate on the token%s%s%s",
		    cli_vis(ref), o->certdir ? " or in " : "",
		    o->certdir ? o->certdir : "", o->certdir ? "/ADDRESS.pem" :
		    "");
		status("INV_SGNR 0 %s", cli_vis(ref));
		r = CLI_USAGE;
		goto out;
	}
#ifdef P11AGENT_HAVE_PROVIDER
	if ((r = load_agent_key(&prov, &ak, &s.key)) != CLI_OK)
		goto out;
#else
	cli_err("this p11 is built without the p11agent provider");
	r = CLI_USAGE;
	goto out;
#endif
	if (EVP_PKEY_eq(X509_get0_pubkey(s.cert), s.key) != 1) {
		ERR_clear_error();
		cli_err("the certificate does not belong to the key \"%s\"",
		    cli_vis(ref));
		r = CLI_USAGE;
		goto out;
	}
	/* Intermediates: the certificate directory's CAs and the trust
	 * anchors' file (smime_build_chain leaves the root out). */
	if (o->certdir != NULL)
		(void)smime_certdir_cas(o->certdir, &pool);
	if (o->cafile != NULL)
		(void)smime_read_certs(o->cafile, &pool);
	ERR_clear_error();
	if (smime_build_chain(s.cert, pool, &s.chain) != 0 ||
	    (out = BIO_new(BIO_s_mem())) == NULL) {
		cli_err("out of memory");
		r = CLI_USAGE;
		goto out;
	}
	s.digest = o->digest;
	status("BEGIN_SIGNING");
	if ((r = smime_detached_sign(&s, data, len, o->armor, out,
	    &info)) != 0) {
		char name[256];

		smime_name(X509_get_subject_name(s.cert), name, sizeof(name));
		if (r == P11AGENT_ERR_DENIED)
			cli_err("the certificate of \"%s\" is expired or not "
			    "yet valid; nobody could verify this signature",
			    cli_vis(name));
		else if (r == P11AGENT_ERR_INVALID_ARGUMENT)
			cli_err("--digest must be sha256, sha384 or sha512");
		else
			cli_err("cannot sign with \"%s\": %s", cli_vis(ref),
			    r == P11AGENT_ERR_LIBCRYPTO ? ossl_reason() :
			    p11agent_strerror(r));
		status("FAILURE sign %d", -r);
		r = r == P11AGENT_ERR_INVALID_ARGUMENT ? CLI_USAGE : CLI_FAIL;
		goto out;
	}
	n = BIO_get_mem_data(out, &p);
	if (n <= 0 || fwrite(p, 1, (size_t)n, stdout) != (size_t)n ||
	    fflush(stdout) != 0) {
		cli_err("cannot write the signature: %s", strerror(errno));
		r = CLI_USAGE;
		goto out;
	}
	/* type, public key and hash algorithm, class, time, fingerprint */
	status("SIG_CREATED D %d %d 00 %lld %s", pgp_pk_algo(info.pk_nid),
	    pgp_md_algo(info.md_nid), (long long)(info.signed_at ?
	    info.signed_at : time(NULL)), info.fpr);
	r = CLI_OK;
 out:
	BIO_free(out);
	EVP_PKEY_free(s.key);
	X509_free(s.cert);
	sk_X509_pop_free(s.chain, X509_free);
	sk_X509_pop_free(pool, X509_free);
	if (prov != NULL) {
		(void)p11agent_provider_use_client(prov, NULL);
		OSSL_PROVIDER_unload(prov);
	}
	agent_key_free(&ak);
	free(data);
	return r;
}

/* ------------------------------------------------------------------ */
/* Verifying */

static void
verdict_status(const struct smime_sigcheck *res)
{
	const char *fpr = res->fpr[0] ? res->fpr : "0000000000000000";
	const char *who = cli_vis(res->signer[0] ? res->signer : "unknown");
	char date[16] = "1970-01-01";
	struct tm tm;

	if (res->signed_at != 0 && gmtime_r(&res->signed_at, &tm) != NULL)
		strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	status("NEWSIG");
	switch (res->verdict) {
	case SMIME_SIG_GOOD:
	case SMIME_SIG_UNTRUSTED:
	case SMIME_SIG_INVALID_CERT:
		status("GOODSIG %s %s", fpr, who);
		break;
	case SMIME_SIG_EXPIRED:
		status("EXPKEYSIG %s %s", fpr, who);
		break;
	case SMIME_SIG_BAD:
		status("BADSIG %s %s", fpr, who);
		return;
	default:
		/* keyid pkalgo hashalgo class time rc: 9 no public key,
		 * 4 unsupported algorithm */
		status("ERRSIG %s %d %d 00 %lld %d", fpr,
		    pgp_pk_algo(res->pk_nid), pgp_md_algo(res->md_nid),
		    (long long)res->signed_at,
		    res->verdict == SMIME_SIG_NO_CERT ? 9 : 4);
		return;
	}
	status("VALIDSIG %s %s %lld 0 0 0 %d %d 00", fpr, date,
	    (long long)res->signed_at, pgp_pk_algo(res->pk_nid),
	    pgp_md_algo(res->md_nid));
	/* X.509 path validation is gpgsm's "shell" model. */
	if (res->verdict == SMIME_SIG_GOOD)
		status("TRUST_FULLY 0 shell");
	else if (res->verdict == SMIME_SIG_UNTRUSTED)
		status("TRUST_UNDEFINED 0 shell");
	else if (res->verdict == SMIME_SIG_INVALID_CERT)
		status("TRUST_NEVER 0 shell");
}

static int
do_verify(struct opts *o, int nargs, char **args)
{
	struct smime_sigcheck res;
	struct smime_trust t;
	uint8_t *sig = NULL, *data = NULL;
	size_t siglen, len;
	int r;

	memset(&t, 0, sizeof(t));
	if (nargs < 2)
		return cli_usage("a detached signature needs the signed data: "
		    "--verify SIGFILE - (the data on standard input)");
	if (nargs > 2)
		return cli_usage("unexpected argument \"%s\"", args[2]);
	if (strcmp(args[0], "-") == 0 && strcmp(args[1], "-") == 0)
		return cli_usage("the signature and the data cannot both be "
		    "standard input");
	if ((r = cli_read_small_file(args[0], GITSIGN_MAX_SIG, &sig,
	    &siglen)) != CLI_OK)
		goto out;
	if (strcmp(args[1], "-") == 0)
		r = read_stdin(&data, &len);
	else
		r = cli_read_small_file(args[1], GITSIGN_MAX_PAYLOAD, &data,
		    &len);
	if (r != CLI_OK)
		goto out;
	find_trust(o);
	if (smime_trust_store(o->cafile, o->capath, &t.store) != 0) {
		cli_err("cannot load the trust anchors %s: %s",
		    o->cafile ? o->cafile : o->capath ? o->capath :
		    "(system store)", ossl_reason());
		r = CLI_USAGE;
		goto out;
	}
	if (o->certdir != NULL)
		(void)smime_certdir_cas(o->certdir, &t.untrusted);
	ERR_clear_error();
	if ((r = smime_detached_verify(&t, sig, siglen, data, len,
	    &res)) != 0) {
		if (r == P11AGENT_ERR_INVALID_FORMAT) {
			status("NODATA 3");
			cli_err("malformed signature: %s", res.line);
			r = CLI_FAIL;
		} else {
			cli_err("cannot verify: %s", r == P11AGENT_ERR_LIBCRYPTO ?
			    ossl_reason() : p11agent_strerror(r));
			r = CLI_USAGE;
		}
		goto out;
	}
	verdict_status(&res);
	if (res.verdict == SMIME_SIG_GOOD) {
		fflush(stdout);
		fprintf(stderr, "%s\n", cli_vis(res.line));
		r = CLI_OK;
	} else {
		cli_err("%s", cli_vis(res.line));
		r = CLI_FAIL;
	}
 out:
	X509_STORE_free(t.store);
	sk_X509_pop_free(t.untrusted, X509_free);
	free(sig);
	free(data);
	return r;
}

/* ------------------------------------------------------------------ */

/* Above the values cli_getopt() uses for --socket. */
enum {
	OPT_STATUS_FD = 0x200, OPT_VERIFY, OPT_KEYID_FORMAT, OPT_CAFILE,
	OPT_CAPATH, OPT_CERTS, OPT_DIGEST, OPT_INCLUDE_CERTS,
};

static const struct option longopts[] = {
	{ "status-fd", required_argument, NULL, OPT_STATUS_FD },
	{ "detach-sign", no_argument, NULL, 'b' },
	{ "sign", no_argument, NULL, 's' },
	{ "armor", no_argument, NULL, 'a' },
	{ "armour", no_argument, NULL, 'a' },
	{ "local-user", required_argument, NULL, 'u' },
	{ "verify", no_argument, NULL, OPT_VERIFY },
	{ "keyid-format", required_argument, NULL, OPT_KEYID_FORMAT },
	{ "include-certs", required_argument, NULL, OPT_INCLUDE_CERTS },
	{ "CAfile", required_argument, NULL, OPT_CAFILE },
	{ "CApath", required_argument, NULL, OPT_CAPATH },
	{ "certs", required_argument, NULL, OPT_CERTS },
	{ "digest", required_argument, NULL, OPT_DIGEST },
	{ NULL, 0, NULL, 0 }
};

int
cmd_gitsign(int argc, char **argv)
{
	struct opts o;
	char *end;
	long fd;
	int ch, r;

	memset(&o, 0, sizeof(o));
	status_fd = -1;
	while ((ch = cli_getopt(argc, argv, "bsau:", longopts)) != -1) {
		if (CLI_GETOPT_DONE(ch))
			return CLI_GETOPT_EXIT(ch);
		switch (ch) {
		case OPT_STATUS_FD:
			errno = 0;
			fd = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || end == optarg ||
			    fd < 0 || fd > 1024 || fcntl((int)fd, F_GETFD) < 0)
				return cli_usage("--status-fd: \"%s\" is not an "
				    "open file descriptor", optarg);
			status_fd = (int)fd;
			break;
		case 'b':
		case 's':
			o.sign = 1;
			break;
		case 'a':
			o.armor = 1;
			break;
		case 'u':
			o.key = optarg;
			break;
		case OPT_VERIFY:
			o.verify = 1;
			break;
		case OPT_KEYID_FORMAT:
		case OPT_INCLUDE_CERTS:
			/* gpg's and gpgsm's, meaningless here */
			break;
		case OPT_CAFILE:
			o.cafile = optarg;
			break;
		case OPT_CAPATH:
			o.capath = optarg;
			break;
		case OPT_CERTS:
			o.certdir = optarg;
			break;
		case OPT_DIGEST:
			o.digest = optarg;
			break;
		default:
			return cli_usage("unknown option");
		}
	}
	if (o.sign == o.verify)
		return cli_usage("give either -bsau KEYREF (sign) or --verify "
		    "SIGFILE - (verify)");
	if (o.sign) {
		if (optind < argc)
			return cli_usage("unexpected argument \"%s\"",
			    argv[optind]);
		capture_stderr();
		r = do_sign(&o);
		release_stderr(r != CLI_OK);
		return r;
	}
	return do_verify(&o, argc - optind, argv + optind);
}
