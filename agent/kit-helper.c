/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * kit-helper.c - p11agent-p11kit, the agent's short-lived p11-kit helper:
 * it parses and matches RFC 7512 URIs, formats key URIs and looks up
 * registered modules, so that the agent itself links no libp11-kit and
 * never loads every registered module. It answers the requests of
 * agent/kit.h on stdin/stdout, one at a time, and exits at the end of its
 * input. Its input is checked like a peer's: a line over
 * P11AGENT_KIT_LINE_MAX bytes or any malformed request ends it with one
 * line on stderr and status 2. It never sees a PIN or key material.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/*
 * For p11_kit_set_progname(): exported since p11-kit 0.16, and what
 * p11-kit's own tools call; only the header calls it unstable.
 */
#define P11_KIT_FUTURE_UNSTABLE_API 1
#include <p11-kit/p11-kit.h>
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include "proto.h"

#define KIT_FIELD_BUF	(P11AGENT_KIT_FIELD_MAX + 1)	/* a string, NUL */

/* A line without its LF is at most P11AGENT_KIT_LINE_MAX - 1 bytes. */
#define KIT_TEXT_MAX	(P11AGENT_KIT_LINE_MAX - 1)

static char line[KIT_TEXT_MAX + 1];
static char out[KIT_TEXT_MAX + 1];	/* the LF, or sodium's NUL */
static size_t outlen;
static unsigned long lineno;

static void __attribute__((noreturn))
bad(const char *what)
{
	fprintf(stderr, "p11agent-p11kit: request %lu: %s\n", lineno, what);
	exit(2);
}

/* One line of stdin without its LF: 1, or 0 at the end of the input. */
static int
read_line(void)
{
	size_t len = 0;
	int c;

	lineno++;
	while ((c = getchar_unlocked()) != EOF) {
		if (c == '\n') {
			line[len] = '\0';
			return 1;
		}
		if (c == '\0')
			bad("NUL byte");
		if (len == KIT_TEXT_MAX)
			bad("line too long");
		line[len++] = (char)c;
	}
	if (ferror(stdin)) {
		perror("p11agent-p11kit: stdin");
		exit(2);
	}
	if (len > 0)
		bad("no newline at the end of the input");
	return 0;
}

/* Answers: built in out[], sent whole with flush. */

/* The limits of kit.h keep every answer short; this is a backstop. */
static void
out_room(size_t n)
{
	if (KIT_TEXT_MAX - outlen < n + 1)
		bad("answer too long");
	if (outlen > 0)
		out[outlen++] = ' ';
}

static void
out_word(const char *w)
{
	size_t n = strlen(w);

	out_room(n);
	memcpy(out + outlen, w, n);
	outlen += n;
}

static void
out_hex(const char *s)
{
	size_t n;

	if (s == NULL || *s == '\0') {
		out_word("-");
		return;
	}
	n = strlen(s);
	out_room(2 * n);
	sodium_bin2hex(out + outlen, sizeof(out) - outlen,
	    (const unsigned char *)s, n);
	outlen += 2 * n;
}

static void
out_send(void)
{
	out[outlen++] = '\n';
	if (fwrite(out, 1, outlen, stdout) != outlen || fflush(stdout) != 0) {
		perror("p11agent-p11kit: stdout");
		exit(1);
	}
	outlen = 0;
}

/* Answers "err TEXT": p11-kit's messages are plain ASCII text. */
static void
send_err(const char *text)
{
	out_word("err");
	out_word(text);
	out_send();
}

/* Requests. */

/* The next space-separated field of the request. */
static char *
field(char **pp)
{
	char *s = *pp, *sp;

	if (s == NULL)
		bad("missing field");
	if ((sp = strchr(s, ' ')) != NULL) {
		*sp = '\0';
		*pp = sp + 1;
	} else
		*pp = NULL;
	return s;
}

static void
end_of_request(char *p)
{
	if (p != NULL)
		bad("extra field");
}

/* A hex field into buf (max bytes); "-" is none. Returns its length. */
static size_t
hex_bytes(char **pp, void *buf, size_t max)
{
	const char *h = field(pp), *end;
	size_t hl = strlen(h), n;

	if (strcmp(h, "-") == 0)
		return 0;
	if (hl == 0 || hl % 2 != 0 || hl / 2 > max ||
	    sodium_hex2bin(buf, max, h, hl, NULL, &n, &end) != 0 ||
	    end != h + hl)
		bad("bad hex field");
	return n;
}

/* A hex string into buf (KIT_FIELD_BUF bytes), NUL-terminated. */
static char *
hex_str(char **pp, char *buf)
{
	size_t n = hex_bytes(pp, buf, P11AGENT_KIT_FIELD_MAX);

	if (memchr(buf, '\0', n) != NULL)
		bad("NUL byte in a string");
	buf[n] = '\0';
	return buf;
}

/* A fixed-size INFO field: exactly len bytes. */
static void
hex_fixed(char **pp, unsigned char *buf, size_t len)
{
	if (hex_bytes(pp, buf, len) != len)
		bad("bad info field");
}

static CK_SLOT_ID
decimal(char **pp)
{
	const char *s = field(pp);
	CK_SLOT_ID v = 0;

	if (*s == '\0' || strlen(s) > 20)
		bad("bad slot id");
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' ||
		    v > ((CK_SLOT_ID)-1 - (CK_SLOT_ID)(*s - '0')) / 10)
			bad("bad slot id");
		v = v * 10 + (CK_SLOT_ID)(*s - '0');
	}
	return v;
}

static void
token_info(char **pp, CK_TOKEN_INFO *ti)
{
	unsigned char b[sizeof(ti->label) + sizeof(ti->manufacturerID) +
	    sizeof(ti->model) + sizeof(ti->serialNumber)], *p = b;

	hex_fixed(pp, b, sizeof(b));
	memset(ti, 0, sizeof(*ti));
	memcpy(ti->label, p, sizeof(ti->label));
	p += sizeof(ti->label);
	memcpy(ti->manufacturerID, p, sizeof(ti->manufacturerID));
	p += sizeof(ti->manufacturerID);
	memcpy(ti->model, p, sizeof(ti->model));
	p += sizeof(ti->model);
	memcpy(ti->serialNumber, p, sizeof(ti->serialNumber));
}

/* Parses a URI; NULL when it answered "err TEXT" with p11-kit's reason. */
static P11KitUri *
parse_uri(const char *s)
{
	P11KitUri *u;
	int rc;

	if ((u = p11_kit_uri_new()) == NULL) {
		fprintf(stderr, "p11agent-p11kit: out of memory\n");
		exit(1);
	}
	if ((rc = p11_kit_uri_parse(s, P11_KIT_URI_FOR_ANY, u)) !=
	    P11_KIT_URI_OK) {
		send_err(p11_kit_uri_message(rc));
		p11_kit_uri_free(u);
		return NULL;
	}
	/* p11-kit never matches such a URI; say so instead. */
	if (p11_kit_uri_any_unrecognized(u)) {
		send_err("unrecognized attribute");
		p11_kit_uri_free(u);
		return NULL;
	}
	return u;
}

/*
 * module ARG: the file of a module argument and p11-kit's name for it.
 * p11_kit_modules_load() dlopen()s every registered module (and their
 * constructors run): that is why this is a separate process.
 */
static void
do_module(char *p)
{
	static char arg[KIT_FIELD_BUF], real[PATH_MAX];
	CK_FUNCTION_LIST **all, *one;
	char *path = NULL, *name = NULL, *f, *n, *rf;
	const char *key;
	size_t i;

	hex_str(&p, arg);
	end_of_request(p);
	if (arg[0] == '\0')
		bad("empty module");
	all = p11_kit_modules_load(NULL, P11_KIT_MODULE_UNMANAGED);
	if (strchr(arg, '/') != NULL)
		path = strdup(arg);
	else {
		for (i = 0; all != NULL && all[i] != NULL && path == NULL;
		    i++) {
			n = p11_kit_module_get_name(all[i]);
			if (n != NULL && strcmp(n, arg) == 0) {
				path = p11_kit_module_get_filename(all[i]);
				name = n;
			} else
				free(n);
		}
		/* A file name in p11-kit's module directory, loaded alone. */
		if (path == NULL && (one = p11_kit_module_load(arg,
		    P11_KIT_MODULE_UNMANAGED)) != NULL) {
			path = p11_kit_module_get_filename(one);
			p11_kit_module_release(one);
		}
	}
	/* Its registered name, if any; a symlink may lead to its file. */
	if (path != NULL && name == NULL) {
		key = realpath(path, real) != NULL ? real : path;
		for (i = 0; all != NULL && all[i] != NULL && name == NULL;
		    i++) {
			if ((f = p11_kit_module_get_filename(all[i])) == NULL)
				continue;
			if ((rf = realpath(f, NULL)) != NULL) {
				free(f);
				f = rf;
			}
			if (strcmp(f, key) == 0)
				name = p11_kit_module_get_name(all[i]);
			free(f);
		}
	}
	if (all != NULL)
		p11_kit_modules_release(all);
	if (path == NULL)
		out_word("none");
	else {
		out_word("ok");
		out_hex(path);
		out_hex(name);
	}
	out_send();
	free(path);
	free(name);
}

/* uri URI: parses it; says whether it names a module. */
static void
do_uri(char *p)
{
	static char s[KIT_FIELD_BUF];
	P11KitUri *u;

	hex_str(&p, s);
	end_of_request(p);
	if ((u = parse_uri(s)) == NULL)
		return;
	out_word("ok");
	out_word(p11_kit_uri_get_module_name(u) != NULL ? "1" : "0");
	out_send();
	p11_kit_uri_free(u);
}

/* match URI NAME PATH SLOTID MODINFO SLOTINFO TOKENINFO */
static void
do_match(char *p)
{
	static char s[KIT_FIELD_BUF], name[KIT_FIELD_BUF],
	    path[KIT_FIELD_BUF];
	unsigned char mb[sizeof(((CK_INFO *)0)->libraryDescription) +
	    sizeof(((CK_INFO *)0)->manufacturerID) + 2];
	unsigned char sb[sizeof(((CK_SLOT_INFO *)0)->slotDescription) +
	    sizeof(((CK_SLOT_INFO *)0)->manufacturerID)];
	CK_INFO mi;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	CK_SLOT_ID sid, want;
	P11KitUri *u;
	const char *m;
	int match;

	hex_str(&p, s);
	hex_str(&p, name);
	hex_str(&p, path);
	sid = decimal(&p);
	hex_fixed(&p, mb, sizeof(mb));
	hex_fixed(&p, sb, sizeof(sb));
	token_info(&p, &ti);
	end_of_request(p);
	memset(&mi, 0, sizeof(mi));
	memcpy(mi.libraryDescription, mb, sizeof(mi.libraryDescription));
	memcpy(mi.manufacturerID, mb + sizeof(mi.libraryDescription),
	    sizeof(mi.manufacturerID));
	mi.libraryVersion.major = mb[sizeof(mb) - 2];
	mi.libraryVersion.minor = mb[sizeof(mb) - 1];
	memset(&si, 0, sizeof(si));
	memcpy(si.slotDescription, sb, sizeof(si.slotDescription));
	memcpy(si.manufacturerID, sb + sizeof(si.slotDescription),
	    sizeof(si.manufacturerID));
	if ((u = parse_uri(s)) == NULL)
		return;
	/* A module without a p11-kit name never matches a module-name. */
	if ((m = p11_kit_uri_get_module_name(u)) != NULL &&
	    (name[0] == '\0' || strcmp(m, name) != 0))
		match = 0;
	else if ((m = p11_kit_uri_get_module_path(u)) != NULL &&
	    strcmp(m, path) != 0)
		match = 0;
	else if ((want = p11_kit_uri_get_slot_id(u)) != (CK_SLOT_ID)-1 &&
	    want != sid)
		match = 0;
	else
		match = p11_kit_uri_match_module_info(u, &mi) == 1 &&
		    p11_kit_uri_match_slot_info(u, &si) == 1 &&
		    p11_kit_uri_match_token_info(u, &ti) == 1;
	out_word(match ? "yes" : "no");
	out_send();
	p11_kit_uri_free(u);
}

/* keyuri TOKENINFO LABEL ID: the URI of a private key. */
static void
do_keyuri(char *p)
{
	static char label[KIT_FIELD_BUF];
	static unsigned char id[P11AGENT_KIT_FIELD_MAX];
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_TOKEN_INFO ti;
	CK_ATTRIBUTE a;
	P11KitUri *u;
	char *s = NULL;
	size_t idlen;

	token_info(&p, &ti);
	hex_str(&p, label);
	idlen = hex_bytes(&p, id, sizeof(id));
	end_of_request(p);
	if ((u = p11_kit_uri_new()) == NULL) {
		fprintf(stderr, "p11agent-p11kit: out of memory\n");
		exit(1);
	}
	*p11_kit_uri_get_token_info(u) = ti;
	a.type = CKA_CLASS;
	a.pValue = &cls;
	a.ulValueLen = sizeof(cls);
	p11_kit_uri_set_attribute(u, &a);
	if (label[0] != '\0') {
		a.type = CKA_LABEL;
		a.pValue = label;
		a.ulValueLen = strlen(label);
		p11_kit_uri_set_attribute(u, &a);
	}
	if (idlen > 0) {
		a.type = CKA_ID;
		a.pValue = id;
		a.ulValueLen = idlen;
		p11_kit_uri_set_attribute(u, &a);
	}
	if (p11_kit_uri_format(u, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, &s) !=
	    P11_KIT_URI_OK || s == NULL)
		send_err("cannot format the uri");
	else {
		out_word("ok");
		out_word(s);
		out_send();
	}
	free(s);
	p11_kit_uri_free(u);
}

static const struct {
	const char *name;
	void (*fn)(char *);
} requests[] = {
	{ "module", do_module },
	{ "uri", do_uri },
	{ "match", do_match },
	{ "keyuri", do_keyuri },
};

int
main(int argc, char **argv)
{
	char *p, *cmd;
	size_t i;

	if (argc != 2 || strcmp(argv[1], P11AGENT_KIT_PROTOCOL) != 0) {
		fprintf(stderr, "p11agent-p11kit: the p11-kit helper of "
		    "p11agent, protocol %s; started by p11agent only "
		    "(reinstall p11agent if its version differs)\n",
		    P11AGENT_KIT_PROTOCOL);
		return 2;
	}
	/* enable-in and disable-in of p11-kit's module configs name us. */
	p11_kit_set_progname("p11agent");
	while (read_line()) {
		p = line;
		cmd = field(&p);
		for (i = 0; i < sizeof(requests) / sizeof(requests[0]); i++)
			if (strcmp(cmd, requests[i].name) == 0)
				break;
		if (i == sizeof(requests) / sizeof(requests[0]))
			bad("unknown request");
		requests[i].fn(p);
	}
	return 0;
}
