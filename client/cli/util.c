/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * util.c - helpers shared by the p11 subcommands: error lines that say
 * what to do next, option parsing with the common --socket and --help,
 * connecting, key lookup, hex, and output files that appear whole or not
 * at all. Everything here may print; nothing here exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <p11agent/client.h>
#include <p11agent/err.h>

#include "paths.h"
#include "proto.h"

#include "certinfo.h"
#include "cli.h"

#define CLI_OPT_SOCKET	0x100	/* getopt value of --socket */
#define CLI_MAX_OPTS	32	/* long options of one subcommand, with ours */

const struct cli_cmd *cli_cmd;
const char *cli_socket_opt;

static void verr(const char *fmt, va_list ap)
    __attribute__((format(printf, 1, 0)));

static void
verr(const char *fmt, va_list ap)
{
	fflush(stdout);
	if (cli_cmd != NULL)
		fprintf(stderr, "p11: %s: ", cli_cmd->name);
	else
		fputs("p11: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void
cli_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(fmt, ap);
	va_end(ap);
}

int
cli_usage(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr(fmt, ap);
	va_end(ap);
	if (cli_cmd != NULL)
		fprintf(stderr, "usage: p11 %s%s%s\n", cli_cmd->name,
		    *cli_cmd->usage != '\0' ? " " : "", cli_cmd->usage);
	return CLI_USAGE;
}

void
cli_print_help(FILE *f, const struct cli_cmd *cmd)
{
	fprintf(f, "usage: p11 %s%s%s\n\n%c%s.\n", cmd->name,
	    *cmd->usage != '\0' ? " " : "", cmd->usage,
	    cmd->summary[0] >= 'a' && cmd->summary[0] <= 'z' ?
	    cmd->summary[0] - 'a' + 'A' : cmd->summary[0], cmd->summary + 1);
	if (cmd->help != NULL && *cmd->help != '\0')
		fprintf(f, "\n%s", cmd->help);
	fputs("  --socket PATH       the agent's socket (default "
	    "$P11AGENT_SOCK)\n"
	    "  -h, --help          show this help\n", f);
}

int
cli_getopt(int argc, char **argv, const char *shortopts,
    const struct option *longopts)
{
	static struct option merged[CLI_MAX_OPTS];
	static const struct option *merged_from;
	static char sopts[64];
	size_t n = 0;
	int ch;

	if (merged_from != longopts) {
		memset(merged, 0, sizeof(merged));
		for (n = 0; longopts != NULL && longopts[n].name != NULL &&
		    n < CLI_MAX_OPTS - 3; n++)
			merged[n] = longopts[n];
		merged[n].name = "socket";
		merged[n].has_arg = required_argument;
		merged[n++].val = CLI_OPT_SOCKET;
		merged[n].name = "help";
		merged[n].has_arg = no_argument;
		merged[n++].val = 'h';
		snprintf(sopts, sizeof(sopts), ":%sh", shortopts);
		merged_from = longopts;
	}
	opterr = 0;
	ch = getopt_long(argc, argv, sopts, merged, NULL);
	switch (ch) {
	case CLI_OPT_SOCKET:
		cli_socket_opt = optarg;
		return cli_getopt(argc, argv, shortopts, longopts);
	case 'h':
		cli_print_help(stdout, cli_cmd);
		return -CLI_OK - 2;
	case ':':
		cli_usage("option %s needs an argument", argv[optind - 1]);
		return -CLI_USAGE - 2;
	case '?':
		if (optopt != 0)
			cli_usage("unknown option -%c", optopt);
		else
			cli_usage("unknown option %s", argv[optind - 1]);
		return -CLI_USAGE - 2;
	default:
		return ch;
	}
}

int
cli_no_operands(int argc, char **argv)
{
	if (optind < argc)
		return cli_usage("unexpected argument \"%s\"", argv[optind]);
	return CLI_OK;
}

const char *
cli_socket_path(void)
{
	const char *s;

	if (cli_socket_opt != NULL && *cli_socket_opt != '\0')
		return cli_socket_opt;
	if ((s = getenv("P11AGENT_SOCK")) != NULL && *s != '\0')
		return s;
	return p11agent_default_socket();
}

/* Why a handshake ended without a reply: other uid, or a stale .pub. */
static void
explain_closed(const char *sock, const char *pub)
{
	struct stat st;

	if (stat(sock, &st) == 0 && st.st_uid != getuid() && getuid() != 0)
		cli_err("the agent at %s runs as uid %u and refuses other "
		    "users; start your own agent or set P11AGENT_SOCK", sock,
		    (unsigned int)st.st_uid);
	else
		cli_err("the agent at %s closed the connection during the "
		    "handshake; its key may not match %s: restart the agent",
		    sock, pub);
}

int
cli_connect(struct p11agent_client **cp)
{
	const char *sock;
	char *pub = NULL, *key = NULL;
	int r, e;

	*cp = NULL;
	if ((sock = cli_socket_path()) == NULL) {
		cli_err("no agent socket known; set P11AGENT_SOCK or use "
		    "--socket");
		return CLI_USAGE;
	}
	if ((r = p11agent_client_connect_ex(cp, sock, NULL, NULL, "p11")) == 0)
		return CLI_OK;
	(void)paths_socket_pubkey(sock, &pub);
	(void)paths_config_file("client.key", &key);
	switch (r) {
	case P11AGENT_ERR_AGENT_UNREACHABLE:
		cli_err("agent not reachable at %s; start it with "
		    "eval $(p11agent --module MODULE) or set P11AGENT_SOCK",
		    sock);
		break;
	case P11AGENT_ERR_INVALID_ARGUMENT:
		cli_err("socket path too long: %s", sock);
		break;
	case P11AGENT_ERR_AGENT_KEY_MISMATCH:
		cli_err("the agent at %s does not hold the key in %s; "
		    "another process may own the socket, or restart the agent",
		    sock, pub != NULL ? pub : "<socket>.pub");
		break;
	case P11AGENT_ERR_UNAUTHORIZED:
		cli_err("the agent at %s does not accept this client's key; "
		    "add the line printed by \"p11 client-key\" to its "
		    "authorized_clients file", sock);
		free(pub);
		free(key);
		return CLI_FAIL;
	case P11AGENT_ERR_PEER_UID:
		cli_err("the agent at %s refuses this user; start your own "
		    "agent or set P11AGENT_SOCK", sock);
		break;
	case P11AGENT_ERR_PROTOCOL_VERSION:
		cli_err("the agent at %s speaks another protocol version; use "
		    "p11 and p11agent of the same release", sock);
		break;
	case P11AGENT_ERR_TIMEOUT:
		cli_err("the agent at %s did not complete the handshake in "
		    "%d s; is it stuck?", sock, P11AGENT_HANDSHAKE_TIMEOUT);
		break;
	case P11AGENT_ERR_CONNECTION_CLOSED:
	case P11AGENT_ERR_HANDSHAKE:
		explain_closed(sock, pub != NULL ? pub : "<socket>.pub");
		break;
	case P11AGENT_ERR_FILE_PERMISSIONS:
		cli_err("client key %s is accessible by others; run "
		    "chmod 600 %s", key != NULL ? key : "client.key",
		    key != NULL ? key : "client.key");
		break;
	default:
		/* Most likely a file: say which one. */
		if (pub != NULL && access(pub, R_OK) != 0) {
			e = errno;
			cli_err("cannot read the agent's public key %s: %s; is "
			    "the agent at %s running?", pub, strerror(e), sock);
		} else if (key != NULL && access(key, F_OK) == 0 &&
		    access(key, R_OK) != 0) {
			e = errno;
			cli_err("cannot read client key %s: %s", key,
			    strerror(e));
		} else {
			cli_err("cannot connect to the agent at %s: %s", sock,
			    p11agent_strerror(r));
		}
		break;
	}
	free(pub);
	free(key);
	return CLI_USAGE;
}

static const char *
hint_for(int r)
{
	switch (r) {
	case P11AGENT_ERR_AGENT_LOCKED:
	case P11AGENT_ERR_NOT_LOGGED_IN:
	case P11AGENT_ERR_PIN_REQUIRED:
		return "run p11 unlock";
	case P11AGENT_ERR_PIN_LOCKED:
		return "unblock the PIN with the token's SO PIN";
	case P11AGENT_ERR_PIN_INCORRECT:
		return "try again; tokens lock after a few wrong PINs";
	case P11AGENT_ERR_TOKEN_NOT_PRESENT:
		return "insert the token; the agent finds it again";
	case P11AGENT_ERR_TOKEN_NOT_FOUND:
	case P11AGENT_ERR_KEY_NOT_FOUND:
		return "run p11 keys";
	case P11AGENT_ERR_BUSY:
		return "try again";
	case P11AGENT_ERR_DENIED:
		return "see the agent's authorized_clients rules";
	case P11AGENT_ERR_DECRYPT_FAILED:
		return "check the key and the algorithm";
	case P11AGENT_ERR_TIMEOUT:
		return "the agent did not answer in time";
	case P11AGENT_ERR_CONNECTION_CLOSED:
	case P11AGENT_ERR_MAC_INVALID:
		return "the connection to the agent was lost";
	default:
		return NULL;
	}
}

int
cli_report(struct p11agent_client *c, int r, const char *context)
{
	const char *msg = p11agent_client_last_message(c), *hint;

	/*
	 * The agent's own message is the more specific one when there is
	 * one; when it already says what to do ("...; try again then"), our
	 * hint would only repeat it.
	 */
	hint = hint_for(r);
	if (msg == NULL || *msg == '\0')
		msg = p11agent_strerror(r);
	else if (strstr(msg, "; ") != NULL)
		hint = NULL;
	if (context != NULL && hint != NULL)
		cli_err("%s: %s; %s", context, msg, hint);
	else if (context != NULL)
		cli_err("%s: %s", context, msg);
	else if (hint != NULL)
		cli_err("%s; %s", msg, hint);
	else
		cli_err("%s", msg);
	return CLI_FAIL;
}

const char *
cli_key_name(const struct p11agent_key *k)
{
	static char shortid[17];

	if (*p11agent_key_label(k) != '\0')
		return p11agent_key_label(k);
	snprintf(shortid, sizeof(shortid), "%s", p11agent_key_id_hex(k));
	return shortid;
}

void
cli_key_type(const struct p11agent_key *k, char *out, size_t outlen)
{
	switch (p11agent_key_type(k)) {
	case P11AGENT_KEY_RSA:
		snprintf(out, outlen, "rsa%u", p11agent_key_bits(k));
		break;
	case P11AGENT_KEY_EC:
		if (*p11agent_key_curve(k) != '\0')
			snprintf(out, outlen, "ec %s", p11agent_key_curve(k));
		else
			snprintf(out, outlen, "ec%u", p11agent_key_bits(k));
		break;
	default:
		snprintf(out, outlen, "type%d", p11agent_key_type(k));
		break;
	}
}

void
cli_key_ops(unsigned int ops, char *out, size_t outlen)
{
	static const struct {
		unsigned int bit;
		const char *name;
	} names[] = {
		{ P11AGENT_OP_SIGN, "sign" },
		{ P11AGENT_OP_DECRYPT, "decrypt" },
		{ P11AGENT_OP_DERIVE, "derive" },
	};
	size_t i, len = 0;

	snprintf(out, outlen, "-");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((ops & names[i].bit) == 0 || len >= outlen)
			continue;
		len += (size_t)snprintf(out + len, outlen - len, "%s%s",
		    len > 0 ? "," : "", names[i].name);
	}
}

static const char *
op_verb(unsigned int op)
{
	switch (op) {
	case P11AGENT_OP_SIGN:
		return "sign";
	case P11AGENT_OP_DECRYPT:
		return "decrypt";
	case P11AGENT_OP_DERIVE:
		return "derive";
	default:
		return "do that";
	}
}

/*
 * Which keys a non-URI reference names, by the rules of
 * p11agent_keylist_find(), for the "matches N keys" message.
 */
static int
ref_names(const struct p11agent_key *k, const char *ref)
{
	const uint8_t *cert;
	size_t hexlen, certlen;

	hexlen = strspn(ref, "0123456789abcdefABCDEF");
	if (ref[hexlen] == '\0' && hexlen >= 8 &&
	    strncasecmp(p11agent_key_id_hex(k), ref, hexlen) == 0)
		return 1;
	if (strcmp(p11agent_key_label(k), ref) == 0)
		return 1;
	if (strchr(ref, '@') == NULL ||
	    (cert = p11agent_key_cert(k, &certlen)) == NULL)
		return 0;
	return certinfo_has_email(cert, certlen, ref) == 1;
}

static void
report_ambiguous(const struct p11agent_keylist *l, const char *ref)
{
	const struct p11agent_key *k, *seen[4];
	char list[256];
	size_t i, j, n = 0, len = 0;

	list[0] = '\0';
	if (strncasecmp(ref, "pkcs11:", 7) != 0) {
		for (i = 0; i < p11agent_keylist_count(l); i++) {
			k = p11agent_keylist_get(l, i);
			if (!ref_names(k, ref))
				continue;
			for (j = 0; j < n && j < 4; j++)
				if (memcmp(p11agent_key_id(seen[j]),
				    p11agent_key_id(k),
				    P11AGENT_KEYID_LEN) == 0)
					break;
			if (j < n && j < 4)
				continue;
			if (n < 4)
				seen[n] = k;
			if (n < 3 && len < sizeof(list))
				len += (size_t)snprintf(list + len,
				    sizeof(list) - len, "%s%.16s (%s)",
				    n > 0 ? ", " : "", p11agent_key_id_hex(k),
				    cli_key_name(k));
			n++;
		}
	}
	if (n >= 2)
		cli_err("\"%s\" matches %zu keys: %s%s; use the key id", ref,
		    n, list, n > 3 ? ", ..." : "");
	else
		cli_err("\"%s\" matches several keys; use the key id", ref);
}

int
cli_find_key(struct p11agent_client *c, const char *ref, unsigned int op,
    struct p11agent_keylist **lp, const struct p11agent_key **kp)
{
	struct p11agent_keylist *l = NULL;
	const struct p11agent_key *k = NULL;
	char ops[64];
	int r;

	*lp = NULL;
	*kp = NULL;
	if ((r = p11agent_client_list_keys(c, &l)) != 0)
		return cli_report(c, r, "cannot list keys");
	switch ((r = p11agent_keylist_find(l, ref, &k))) {
	case 0:
		break;
	case P11AGENT_ERR_KEY_NOT_FOUND:
		cli_err("no key matches \"%s\"; run p11 keys", ref);
		p11agent_keylist_free(l);
		return CLI_FAIL;
	case P11AGENT_ERR_KEY_AMBIGUOUS:
		report_ambiguous(l, ref);
		p11agent_keylist_free(l);
		return CLI_FAIL;
	case P11AGENT_ERR_INVALID_ARGUMENT:
		cli_err("\"%s\" is not a valid pkcs11: URI (RFC 7512)", ref);
		p11agent_keylist_free(l);
		return CLI_USAGE;
	default:
		p11agent_keylist_free(l);
		return cli_report(c, r, NULL);
	}
	if (op != 0 && (p11agent_key_operations(k) & op) == 0) {
		cli_key_ops(p11agent_key_operations(k), ops, sizeof(ops));
		cli_err("key %s cannot %s (it allows: %s); run p11 keys",
		    cli_key_name(k), op_verb(op), ops);
		p11agent_keylist_free(l);
		return CLI_FAIL;
	}
	*lp = l;
	*kp = k;
	return CLI_OK;
}

const char *
cli_vis(const char *s)
{
	static char ring[8][1024];
	static size_t next;
	const unsigned char *p = (const unsigned char *)s;
	char *out = ring[next++ % 8];
	size_t i = 0;

	for (; *p != '\0' && i < sizeof(ring[0]) - 1; p++) {
		if (*p < 0x20 || *p == 0x7f)
			out[i++] = '?';
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			out[i++] = '?';	/* C1 control in UTF-8 */
			p++;
		} else
			out[i++] = (char)*p;
	}
	out[i] = '\0';
	return out;
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int
cli_hex_decode(const char *hex, uint8_t *out, size_t outmax, size_t *lenp)
{
	size_t n = strlen(hex), i;
	int hi, lo;

	*lenp = 0;
	if (n == 0 || n % 2 != 0 || n / 2 > outmax)
		return -1;
	for (i = 0; i < n / 2; i++) {
		if ((hi = hexval((unsigned char)hex[2 * i])) < 0 ||
		    (lo = hexval((unsigned char)hex[2 * i + 1])) < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*lenp = n / 2;
	return 0;
}

static int
write_fd_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
cli_write_output(const char *path, const uint8_t *p, size_t len, int secret)
{
	char *tmp = NULL, *slash;
	mode_t mask;
	size_t i, dirlen;
	int fd = -1, e, ret = CLI_USAGE;

	if (path == NULL) {
		for (i = 0; i < len; i++)
			printf("%02x", p[i]);
		putchar('\n');
		if (fflush(stdout) != 0 || ferror(stdout)) {
			cli_err("cannot write to standard output: %s",
			    strerror(errno));
			return CLI_USAGE;
		}
		return CLI_OK;
	}
	if (strcmp(path, "-") == 0) {
		fflush(stdout);
		if (write_fd_all(STDOUT_FILENO, p, len) != 0) {
			cli_err("cannot write to standard output: %s",
			    strerror(errno));
			return CLI_USAGE;
		}
		return CLI_OK;
	}
	/* A temporary file beside the target, renamed only when complete. */
	slash = strrchr(path, '/');
	dirlen = slash != NULL ? (size_t)(slash - path) + 1 : 0;
	if (asprintf(&tmp, "%.*s.p11-out.XXXXXX", (int)dirlen, path) < 0) {
		tmp = NULL;
		cli_err("out of memory");
		goto out;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		e = errno;
		free(tmp);
		tmp = NULL;
		cli_err("cannot write %s: %s", path, strerror(e));
		goto out;
	}
	if (!secret) {
		mask = umask(0);
		umask(mask);
		(void)fchmod(fd, 0666 & ~mask);
	}
	if (write_fd_all(fd, p, len) != 0 || fsync(fd) != 0) {
		e = errno;
		cli_err("cannot write %s: %s", path, strerror(e));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		e = errno;
		cli_err("cannot write %s: %s", path, strerror(e));
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		e = errno;
		cli_err("cannot write %s: %s", path, strerror(e));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	ret = CLI_OK;
 out:
	if (fd >= 0)
		close(fd);
	if (tmp != NULL) {
		unlink(tmp);
		free(tmp);
	}
	return ret;
}

int
cli_read_small_file(const char *path, size_t max, uint8_t **outp,
    size_t *lenp)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	ssize_t n;
	int fd, e;

	*outp = NULL;
	*lenp = 0;
	if (strcmp(path, "-") == 0)
		fd = STDIN_FILENO;
	else if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		cli_err("cannot open %s: %s", path, strerror(errno));
		return CLI_USAGE;
	}
	if ((buf = malloc(max + 1)) == NULL) {
		cli_err("out of memory");
		goto fail;
	}
	/* One byte more than allowed tells "too large" from "exactly max". */
	while (len <= max) {
		n = read(fd, buf + len, max + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			cli_err("cannot read %s: %s", path, strerror(e));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		cli_err("%s is larger than %zu bytes", path, max);
		goto fail;
	}
	if (fd != STDIN_FILENO)
		close(fd);
	*outp = buf;
	*lenp = len;
	return CLI_OK;
 fail:
	if (fd != STDIN_FILENO)
		close(fd);
	p11agent_freezero(buf, max + 1);
	return CLI_USAGE;
}
