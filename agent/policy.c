/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * policy.c - the authorized_clients file and key patterns. Parsing is
 * strict: a line that does not follow docs/AUTHORIZED_CLIENTS.md is an
 * error with its line number, so a typo never silently locks a client
 * out or lets one in. The file must not be writable by anyone but us
 * (or root). Certificates come from the token (the agent's own key
 * list), never from a client; they are parsed once per key snapshot.
 * Agent lock held (loop.h).
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "keyfile.h"
#include "policy.h"
#include "token.h"

#define POLICY_MAX_ENTRIES	65536	/* lines with a key */
#define POLICY_MAX_RATE		1000000	/* operations, a period */
#define POLICY_MIN_ID_HEX	8	/* hex digits in an id: pattern */
#define POLICY_MAX_CERT		(1024 * 1024)	/* bytes, DER */

enum keypat_kind { KEYPAT_ALL, KEYPAT_ID, KEYPAT_LABEL, KEYPAT_EMAIL };

struct keypat {
	enum keypat_kind kind;
	char *s;		/* lowercase hex for ids; a glob otherwise */
};

struct policy_keypats {
	struct keypat *v;
	size_t n;
	char *text;		/* as written, for denial messages */
};

struct policy_client {
	uint8_t pub[P11AGENT_KEY_LEN];
	char *name;
	size_t line;
	struct policy_keypats *keys;	/* NULL: every key */
	uint32_t ops;			/* P11AGENT_OP_* it may do */
	int confirm;			/* each use needs a person's yes */
	/* rate=N/UNIT: a token bucket of N, refilled at N per period. */
	uint32_t rate_n;
	uint32_t rate_period;		/* seconds; 0: no limit */
	const char *rate_unit;
	double tokens;
	double last;			/* monotonic seconds, last refill */
	int rate_started;
};

struct policy {
	int restricted;		/* 0: no file, everyone of our uid */
	struct policy_client *v;	/* sorted by public key */
	size_t n;
};

struct keyview_entry {
	char **emails;
	size_t n;
};

struct policy_keyview {
	struct keyview_entry *v;
	size_t n;
};

static const struct {
	const char *name;
	uint32_t op;
} op_names[] = {
	{ "sign", P11AGENT_OP_SIGN },
	{ "decrypt", P11AGENT_OP_DECRYPT },
	{ "derive", P11AGENT_OP_DERIVE },
};

#define NOPS	(sizeof(op_names) / sizeof(op_names[0]))
#define ALL_OPS	\
	(P11AGENT_OP_SIGN | P11AGENT_OP_DECRYPT | P11AGENT_OP_DERIVE)

static const char *
op_name(uint32_t op)
{
	size_t i;

	for (i = 0; i < NOPS; i++)
		if (op_names[i].op == op)
			return op_names[i].name;
	return "?";
}

/* Key patterns */

void
policy_keypats_free(struct policy_keypats *kp)
{
	size_t i;

	if (kp == NULL)
		return;
	for (i = 0; i < kp->n; i++)
		free(kp->v[i].s);
	free(kp->v);
	free(kp->text);
	free(kp);
}

/* '*' matches any run of characters; nothing else is special. */
static int
glob_match(const char *pat, const char *s, int icase)
{
	const char *star = NULL, *resume = NULL;

	while (*s != '\0') {
		if (*pat == '*') {
			star = pat++;
			resume = s;
		} else if (*pat != '\0' && (icase ?
		    tolower((unsigned char)*pat) == tolower((unsigned char)*s) :
		    *pat == *s)) {
			pat++;
			s++;
		} else if (star != NULL) {
			pat = star + 1;
			s = ++resume;
		} else
			return 0;
	}
	while (*pat == '*')
		pat++;
	return *pat == '\0';
}

/* Parses one item of a pattern list into *kp. Returns 0 or -1 (why set). */
static int
parse_keypat(const char *item, struct keypat *kp, const char **whyp)
{
	const char *arg;
	size_t i, len;

	memset(kp, 0, sizeof(*kp));
	if (strcmp(item, "*") == 0) {
		kp->kind = KEYPAT_ALL;
		return 0;
	}
	if (strncmp(item, "id:", 3) == 0) {
		arg = item + 3;
		len = strlen(arg);
		if (len < POLICY_MIN_ID_HEX || len > 2 * P11AGENT_KEYID_LEN) {
			*whyp = "an id: pattern needs 8 to 64 hex digits of "
			    "the key id (p11 keys shows it)";
			return -1;
		}
		for (i = 0; i < len; i++) {
			if (!isxdigit((unsigned char)arg[i])) {
				*whyp = "an id: pattern takes hex digits only";
				return -1;
			}
		}
		kp->kind = KEYPAT_ID;
	} else if (strncmp(item, "label:", 6) == 0) {
		arg = item + 6;
		kp->kind = KEYPAT_LABEL;
	} else if (strncmp(item, "email:", 6) == 0) {
		arg = item + 6;
		kp->kind = KEYPAT_EMAIL;
	} else if (strchr(item, '@') != NULL) {
		arg = item;
		kp->kind = KEYPAT_EMAIL;
	} else {
		*whyp = "a key pattern is *, id:HEX, label:NAME, email:ADDRESS "
		    "or an address such as *@example.org";
		return -1;
	}
	if (*arg == '\0') {
		*whyp = "empty key pattern";
		return -1;
	}
	if ((kp->s = strdup(arg)) == NULL) {
		*whyp = "out of memory";
		return -1;
	}
	if (kp->kind == KEYPAT_ID)
		for (i = 0; kp->s[i] != '\0'; i++)
			kp->s[i] = (char)tolower((unsigned char)kp->s[i]);
	return 0;
}

/* Appends the items of one comma-separated spec to kp. */
static int
keypats_add(struct policy_keypats *kp, const char *spec, const char **whyp)
{
	struct keypat pat, *nv;
	char *copy, *item, *save = NULL;
	int r = -1;

	if (*spec == '\0') {
		*whyp = "empty key pattern list";
		return -1;
	}
	if ((copy = strdup(spec)) == NULL) {
		*whyp = "out of memory";
		return -1;
	}
	for (item = strtok_r(copy, ",", &save); item != NULL;
	    item = strtok_r(NULL, ",", &save)) {
		if (parse_keypat(item, &pat, whyp) != 0)
			goto out;
		if ((nv = reallocarray(kp->v, kp->n + 1, sizeof(*nv))) ==
		    NULL) {
			free(pat.s);
			*whyp = "out of memory";
			goto out;
		}
		kp->v = nv;
		kp->v[kp->n++] = pat;
	}
	if (kp->n == 0) {
		*whyp = "empty key pattern list";
		goto out;
	}
	r = 0;
 out:
	free(copy);
	return r;
}

/* Adds spec to the "as written" text, comma-joined. */
static int
keypats_note(struct policy_keypats *kp, const char *spec)
{
	char *t;

	if (kp->text == NULL)
		t = strdup(spec);
	else if (asprintf(&t, "%s,%s", kp->text, spec) == -1)
		t = NULL;
	if (t == NULL)
		return -1;
	free(kp->text);
	kp->text = t;
	return 0;
}

int
policy_keypats_parse(const char *const *specs, size_t nspecs,
    struct policy_keypats **kpp, char *err, size_t errlen)
{
	struct policy_keypats *kp;
	const char *why = NULL;
	size_t i;

	*kpp = NULL;
	if ((kp = calloc(1, sizeof(*kp))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return P11AGENT_ERR_NO_MEMORY;
	}
	for (i = 0; i < nspecs; i++) {
		if (keypats_add(kp, specs[i], &why) != 0) {
			snprintf(err, errlen, "\"%.64s\": %s", specs[i], why);
			policy_keypats_free(kp);
			return P11AGENT_ERR_INVALID_FORMAT;
		}
		if (keypats_note(kp, specs[i]) != 0) {
			snprintf(err, errlen, "out of memory");
			policy_keypats_free(kp);
			return P11AGENT_ERR_NO_MEMORY;
		}
	}
	*kpp = kp;
	return 0;
}

/* Key views: the certificate's e-mail addresses, once per snapshot. */

static void
keyview_entry_free(struct keyview_entry *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		free(e->emails[i]);
	free(e->emails);
}

void
policy_keyview_free(struct policy_keyview *kv)
{
	size_t i;

	if (kv == NULL)
		return;
	for (i = 0; i < kv->n; i++)
		keyview_entry_free(&kv->v[i]);
	free(kv->v);
	free(kv);
}

/* Subject emailAddress and subjectAltName rfc822Name; 0 or -1 (memory). */
static int
cert_emails(const uint8_t *der, size_t len, struct keyview_entry *e)
{
	const unsigned char *p = der;
	STACK_OF(OPENSSL_STRING) *sk = NULL;
	X509 *x;
	const char *s;
	char **v;
	int i, r = -1;

	if (der == NULL || len == 0 || len > POLICY_MAX_CERT)
		return 0;
	if ((x = d2i_X509(NULL, &p, (long)len)) == NULL) {
		ERR_clear_error();
		return 0;	/* a key without a usable certificate */
	}
	sk = X509_get1_email(x);
	for (i = 0; sk != NULL && i < sk_OPENSSL_STRING_num(sk); i++) {
		if ((s = sk_OPENSSL_STRING_value(sk, i)) == NULL || *s == '\0')
			continue;
		if ((v = reallocarray(e->emails, e->n + 1, sizeof(*v))) ==
		    NULL)
			goto out;
		e->emails = v;
		if ((e->emails[e->n] = strdup(s)) == NULL)
			goto out;
		e->n++;
	}
	r = 0;
 out:
	X509_email_free(sk);
	X509_free(x);
	return r;
}

struct policy_keyview *
policy_keyview_new(const struct token_keyinfo *keys, size_t nkeys)
{
	struct policy_keyview *kv;
	size_t i;

	if ((kv = calloc(1, sizeof(*kv))) == NULL)
		return NULL;
	if (nkeys == 0)
		return kv;
	if ((kv->v = calloc(nkeys, sizeof(*kv->v))) == NULL) {
		free(kv);
		return NULL;
	}
	kv->n = nkeys;
	for (i = 0; i < nkeys; i++) {
		if (cert_emails(keys[i].cert, keys[i].cert_len,
		    &kv->v[i]) != 0) {
			policy_keyview_free(kv);
			return NULL;
		}
	}
	return kv;
}

const char *
policy_keyview_email(const struct policy_keyview *kv, size_t i)
{
	if (kv == NULL || i >= kv->n || kv->v[i].n == 0)
		return "";
	return kv->v[i].emails[0];
}

static int
keypat_match(const struct keypat *kp, const struct token_keyinfo *k,
    const struct policy_keyview *kv, size_t i)
{
	char hex[2 * P11AGENT_KEYID_LEN + 1];
	size_t j;

	switch (kp->kind) {
	case KEYPAT_ALL:
		return 1;
	case KEYPAT_ID:
		for (j = 0; j < P11AGENT_KEYID_LEN; j++)
			snprintf(hex + 2 * j, 3, "%02x", k->id[j]);
		return strncmp(hex, kp->s, strlen(kp->s)) == 0;
	case KEYPAT_LABEL:
		return glob_match(kp->s, k->label != NULL ? k->label : "", 0);
	case KEYPAT_EMAIL:
		if (kv == NULL || i >= kv->n)
			return 0;
		for (j = 0; j < kv->v[i].n; j++)
			if (glob_match(kp->s, kv->v[i].emails[j], 1))
				return 1;
		return 0;
	}
	return 0;
}

int
policy_keypats_match(const struct policy_keypats *kp,
    const struct token_keyinfo *k, const struct policy_keyview *kv, size_t i)
{
	size_t j;

	if (kp == NULL)
		return 0;
	for (j = 0; j < kp->n; j++)
		if (keypat_match(&kp->v[j], k, kv, i))
			return 1;
	return 0;
}

/* The file */

static void
client_free(struct policy_client *cl)
{
	free(cl->name);
	policy_keypats_free(cl->keys);
}

void
policy_free(struct policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		client_free(&p->v[i]);
	free(p->v);
	free(p);
}

/*
 * The next whitespace-separated token of *sp, NUL-terminated in place,
 * or NULL at the end. A token that starts with '"' runs to the next '"'
 * (no escapes); *quotedp tells which it was.
 */
static char *
next_token(char **sp, int *quotedp, const char **whyp)
{
	char *s = *sp, *tok, *end;

	*quotedp = 0;
	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0') {
		*sp = s;
		return NULL;
	}
	if (*s == '"') {
		tok = s + 1;
		if ((end = strchr(tok, '"')) == NULL) {
			*whyp = "unterminated \"";
			*sp = s + strlen(s);
			return NULL;
		}
		*end++ = '\0';
		if (*end != '\0' && !isspace((unsigned char)*end)) {
			*whyp = "expected a space after the closing \"";
			*sp = end + strlen(end);
			return NULL;
		}
		*quotedp = 1;
		*sp = end;
		return tok;
	}
	tok = s;
	while (*s != '\0' && !isspace((unsigned char)*s))
		s++;
	if (*s != '\0')
		*s++ = '\0';
	*sp = s;
	return tok;
}

static int
parse_ops(const char *v, uint32_t *opsp, const char **whyp)
{
	char *copy, *item, *save = NULL;
	size_t i;
	int r = -1;

	*opsp = 0;
	if ((copy = strdup(v)) == NULL) {
		*whyp = "out of memory";
		return -1;
	}
	for (item = strtok_r(copy, ",", &save); item != NULL;
	    item = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < NOPS; i++)
			if (strcmp(item, op_names[i].name) == 0)
				break;
		if (i == NOPS) {
			*whyp = "ops= takes sign, decrypt and derive, "
			    "comma-separated";
			goto out;
		}
		*opsp |= op_names[i].op;
	}
	if (*opsp == 0) {
		*whyp = "ops= needs at least one of sign, decrypt, derive";
		goto out;
	}
	r = 0;
 out:
	free(copy);
	return r;
}

static int
parse_rate(const char *v, struct policy_client *cl, const char **whyp)
{
	unsigned long n;
	char *end;

	if (!isdigit((unsigned char)*v))
		goto bad;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno != 0 || n == 0 || n > POLICY_MAX_RATE || *end != '/')
		goto bad;
	end++;
	if (strcmp(end, "s") == 0) {
		cl->rate_period = 1;
		cl->rate_unit = "s";
	} else if (strcmp(end, "min") == 0) {
		cl->rate_period = 60;
		cl->rate_unit = "min";
	} else if (strcmp(end, "h") == 0) {
		cl->rate_period = 3600;
		cl->rate_unit = "h";
	} else
		goto bad;
	cl->rate_n = (uint32_t)n;
	return 0;
 bad:
	*whyp = "rate= takes N/s, N/min or N/h, e.g. rate=10/min";
	return -1;
}

/* One rule token; seen tracks duplicates. Returns 0 or -1 (why set). */
static int
parse_rule(char *tok, struct policy_client *cl, unsigned int *seen,
    const char **whyp)
{
	const char *kpwhy = NULL;
	char *eq, *v;
	unsigned int bit;

	if ((eq = strchr(tok, '=')) != NULL) {
		*eq = '\0';
		v = eq + 1;
	} else
		v = NULL;
	if (strcmp(tok, "keys") == 0)
		bit = 1;
	else if (strcmp(tok, "ops") == 0)
		bit = 2;
	else if (strcmp(tok, "rate") == 0)
		bit = 4;
	else if (strcmp(tok, "confirm") == 0)
		bit = 8;
	else {
		*whyp = "unknown rule (the rules are keys=, ops=, rate= and "
		    "confirm; a name with spaces goes in double quotes)";
		return -1;
	}
	if (*seen & bit) {
		*whyp = "a rule is given twice";
		return -1;
	}
	*seen |= bit;
	if (bit == 8) {
		if (v == NULL || strcmp(v, "yes") == 0)
			cl->confirm = 1;
		else if (strcmp(v, "no") == 0)
			cl->confirm = 0;
		else {
			*whyp = "confirm takes no value, or confirm=yes|no";
			return -1;
		}
		return 0;
	}
	if (v == NULL || *v == '\0') {
		*whyp = "keys=, ops= and rate= need a value";
		return -1;
	}
	switch (bit) {
	case 1:
		if ((cl->keys = calloc(1, sizeof(*cl->keys))) == NULL) {
			*whyp = "out of memory";
			return -1;
		}
		if (keypats_add(cl->keys, v, &kpwhy) != 0 ||
		    keypats_note(cl->keys, v) != 0) {
			*whyp = kpwhy != NULL ? kpwhy : "out of memory";
			return -1;
		}
		return 0;
	case 2:
		return parse_ops(v, &cl->ops, whyp);
	default:
		return parse_rate(v, cl, whyp);
	}
}

/*
 * Parses one line (comment already cut off) into cl. Returns 0, 1 for a
 * blank line, or -1 with the reason in *whyp.
 */
static int
parse_line(char *s, struct policy_client *cl, const char **whyp)
{
	char *key, *name, *tok;
	unsigned int seen = 0;
	size_t i;
	int quoted;

	*whyp = NULL;
	cl->ops = ALL_OPS;
	if ((key = next_token(&s, &quoted, whyp)) == NULL)
		return *whyp == NULL ? 1 : -1;
	if (quoted || strlen(key) != KEYFILE_B64_LEN - 1 ||
	    keyfile_parse_public(key, cl->pub) != 0) {
		*whyp = "expected a base64 X25519 public key (44 characters)";
		return -1;
	}
	if ((name = next_token(&s, &quoted, whyp)) == NULL) {
		if (*whyp != NULL)
			return -1;
		name = "";
	} else if (!quoted && strchr(name, '=') != NULL) {
		*whyp = "expected a name after the key, before the rules";
		return -1;
	}
	if (strlen(name) > P11AGENT_MAX_NAME) {
		*whyp = "name too long";
		return -1;
	}
	for (i = 0; name[i] != '\0'; i++) {
		if (iscntrl((unsigned char)name[i])) {
			*whyp = "control character in name";
			return -1;
		}
	}
	if ((cl->name = strdup(name)) == NULL) {
		*whyp = "out of memory";
		return -1;
	}
	while ((tok = next_token(&s, &quoted, whyp)) != NULL) {
		if (quoted) {
			*whyp = "a rule is not quoted";
			return -1;
		}
		if (parse_rule(tok, cl, &seen, whyp) != 0)
			return -1;
	}
	return *whyp == NULL ? 0 : -1;
}

static int
client_cmp(const void *a, const void *b)
{
	return memcmp(((const struct policy_client *)a)->pub,
	    ((const struct policy_client *)b)->pub, P11AGENT_KEY_LEN);
}

int
policy_load(const char *path, struct policy **pp, char *err, size_t errlen)
{
	struct policy *p = NULL;
	struct policy_client e, *nv;
	struct stat st;
	FILE *f = NULL;
	char *line = NULL, *hash;
	const char *why = NULL;
	size_t cap = 0, lineno = 0, i;
	int r = P11AGENT_ERR_NO_MEMORY, pr;

	*pp = NULL;
	if (errlen > 0)
		err[0] = '\0';
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (path == NULL) {
		*pp = p;
		return 0;
	}
	p->restricted = 1;
	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		r = P11AGENT_ERR_IO;
		goto out;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		r = P11AGENT_ERR_IO;
		goto out;
	}
	if ((st.st_uid != getuid() && st.st_uid != 0) ||
	    (st.st_mode & 022) != 0) {
		snprintf(err, errlen, "%s: must be owned by you and writable "
		    "only by you (chmod 600)", path);
		r = P11AGENT_ERR_FILE_PERMISSIONS;
		goto out;
	}
	while (getline(&line, &cap, f) != -1) {
		lineno++;
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		memset(&e, 0, sizeof(e));
		e.line = lineno;
		if ((pr = parse_line(line, &e, &why)) == 1) {
			client_free(&e);
			continue;
		}
		if (pr == 0 && p->n >= POLICY_MAX_ENTRIES) {
			why = "too many entries";
			pr = -1;
		}
		if (pr != 0) {
			client_free(&e);
			snprintf(err, errlen, "%s:%zu: %s", path, lineno, why);
			r = P11AGENT_ERR_INVALID_FORMAT;
			goto out;
		}
		if ((nv = reallocarray(p->v, p->n + 1, sizeof(*nv))) == NULL) {
			client_free(&e);
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		p->v = nv;
		p->v[p->n++] = e;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "%s: read error", path);
		r = P11AGENT_ERR_IO;
		goto out;
	}
	/* Sorted for lookups; equal neighbours are a key listed twice. */
	if (p->n > 1)
		qsort(p->v, p->n, sizeof(*p->v), client_cmp);
	for (i = 1; i < p->n; i++) {
		if (client_cmp(&p->v[i - 1], &p->v[i]) == 0) {
			snprintf(err, errlen, "%s:%zu: key listed twice (also "
			    "on line %zu)", path, p->v[i - 1].line >
			    p->v[i].line ? p->v[i - 1].line : p->v[i].line,
			    p->v[i - 1].line > p->v[i].line ? p->v[i].line :
			    p->v[i - 1].line);
			r = P11AGENT_ERR_INVALID_FORMAT;
			goto out;
		}
	}
	*pp = p;
	p = NULL;
	r = 0;
 out:
	free(line);
	if (f != NULL)
		fclose(f);
	policy_free(p);
	return r;
}

static struct policy_client *
find_client(const struct policy *p, const uint8_t pub[P11AGENT_KEY_LEN])
{
	struct policy_client want;

	if (!p->restricted || p->n == 0)
		return NULL;
	memcpy(want.pub, pub, P11AGENT_KEY_LEN);
	/* Public keys: ordinary comparison is fine. */
	return bsearch(&want, p->v, p->n, sizeof(*p->v), client_cmp);
}

int
policy_check(const struct policy *p, const uint8_t pub[P11AGENT_KEY_LEN],
    const char **namep)
{
	const struct policy_client *cl;

	*namep = "";
	if (!p->restricted)
		return 0;
	if ((cl = find_client(p, pub)) == NULL)
		return P11AGENT_ERR_UNAUTHORIZED;
	*namep = cl->name;
	return 0;
}

void
policy_carry_rates(struct policy *p, const struct policy *old)
{
	const struct policy_client *o;
	size_t i;

	if (old == NULL)
		return;
	for (i = 0; i < p->n; i++) {
		if (p->v[i].rate_period == 0 ||
		    (o = find_client(old, p->v[i].pub)) == NULL ||
		    o->rate_n != p->v[i].rate_n ||
		    o->rate_period != p->v[i].rate_period)
			continue;
		p->v[i].tokens = o->tokens;
		p->v[i].last = o->last;
		p->v[i].rate_started = o->rate_started;
	}
}

size_t
policy_count(const struct policy *p)
{
	return p->n;
}

int
policy_restricted(const struct policy *p)
{
	return p != NULL && p->restricted;
}

struct policy_client *
policy_find(struct policy *p, const uint8_t pub[P11AGENT_KEY_LEN])
{
	if (p == NULL)
		return NULL;
	return find_client(p, pub);
}

const char *
policy_client_name(const struct policy_client *cl)
{
	return cl != NULL ? cl->name : "";
}

size_t
policy_client_line(const struct policy_client *cl)
{
	return cl != NULL ? cl->line : 0;
}

/* Checks */

int
policy_key_visible(const struct policy_client *cl,
    const struct token_keyinfo *k, const struct policy_keyview *kv, size_t i)
{
	if (cl == NULL || cl->keys == NULL)
		return 1;
	return policy_keypats_match(cl->keys, k, kv, i);
}

/* "denied by authorized_clients line 3 (name): " */
static int
deny_prefix(const struct policy_client *cl, char *why, size_t whylen)
{
	int n;

	n = snprintf(why, whylen, "denied by authorized_clients line %zu "
	    "(%s): ", cl->line, *cl->name != '\0' ? cl->name : "unnamed");
	return n < 0 ? 0 : (size_t)n >= whylen ? (int)whylen - 1 : n;
}

int
policy_check_use(const struct policy_client *cl,
    const struct token_keyinfo *k, const struct policy_keyview *kv, size_t i,
    uint32_t op, int *confirmp, char *why, size_t whylen)
{
	char ops[32];
	size_t j, used;
	int n;

	*confirmp = 0;
	if (whylen > 0)
		why[0] = '\0';
	if (cl == NULL)
		return 0;
	if (!policy_key_visible(cl, k, kv, i)) {
		n = deny_prefix(cl, why, whylen);
		snprintf(why + n, whylen - (size_t)n, "key %02x%02x%02x%02x "
		    "is not in keys=%s", k->id[0], k->id[1], k->id[2], k->id[3],
		    cl->keys->text != NULL ? cl->keys->text : "");
		return P11AGENT_ERR_DENIED;
	}
	if ((cl->ops & op) == 0) {
		ops[0] = '\0';
		for (j = 0, used = 0; j < NOPS; j++) {
			if ((cl->ops & op_names[j].op) == 0)
				continue;
			used += (size_t)snprintf(ops + used, sizeof(ops) - used,
			    "%s%s", used > 0 ? "," : "", op_names[j].name);
		}
		n = deny_prefix(cl, why, whylen);
		snprintf(why + n, whylen - (size_t)n, "operation %s not "
		    "allowed (ops=%s)", op_name(op), ops);
		return P11AGENT_ERR_DENIED;
	}
	*confirmp = cl->confirm;
	return 0;
}

static double
mono_seconds(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
policy_charge(struct policy_client *cl, char *why, size_t whylen)
{
	double now;
	int n;

	if (cl == NULL || cl->rate_period == 0)
		return 0;
	now = mono_seconds();
	if (!cl->rate_started) {
		cl->rate_started = 1;
		cl->tokens = cl->rate_n;
		cl->last = now;
	}
	if (now > cl->last) {
		cl->tokens += (now - cl->last) * cl->rate_n / cl->rate_period;
		if (cl->tokens > cl->rate_n)
			cl->tokens = cl->rate_n;
		cl->last = now;
	}
	if (cl->tokens < 1.0) {
		n = deny_prefix(cl, why, whylen);
		snprintf(why + n, whylen - (size_t)n, "rate limit %u/%s "
		    "exceeded", (unsigned int)cl->rate_n, cl->rate_unit);
		return P11AGENT_ERR_DENIED;
	}
	cl->tokens -= 1.0;
	return 0;
}
