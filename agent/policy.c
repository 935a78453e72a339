/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * policy.c - the authorized_clients file. Parsing is strict: a line that
 * is not "base64-key [name]" is an error with its line number, so a typo
 * never silently locks a client out or lets one in. The file must not
 * be writable by anyone but us (or root). Loop thread only.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keyfile.h"
#include "policy.h"
#include "secmem.h"

#define POLICY_MAX_ENTRIES	65536	/* lines with a key */

/*
 * XXX only "may connect" for now; the per-client rules of product.md
 * (which keys, which operations, rate, confirmation) need a syntax.
 */
struct policy_entry {
	uint8_t pub[P11AGENT_KEY_LEN];
	char *name;
};

struct policy {
	int restricted;		/* 0: no file, everyone of our uid */
	struct policy_entry *v;
	size_t n;
};

void
policy_free(struct policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		free(p->v[i].name);
	free(p->v);
	free(p);
}

/* Parses one line (comment already cut off). Returns 0, 1 for blank, or -1. */
static int
parse_line(char *s, struct policy_entry *e, const char **whyp)
{
	char *key, *name, *end;
	size_t i;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0')
		return 1;
	key = s;
	while (*s != '\0' && !isspace((unsigned char)*s))
		s++;
	if (*s != '\0')
		*s++ = '\0';
	while (isspace((unsigned char)*s))
		s++;
	name = s;
	end = name + strlen(name);
	while (end > name && isspace((unsigned char)end[-1]))
		*--end = '\0';
	if (strlen(key) != KEYFILE_B64_LEN - 1 ||
	    keyfile_parse_public(key, e->pub) != 0) {
		*whyp = "expected a base64 X25519 public key (44 characters)";
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
	if ((e->name = strdup(name)) == NULL) {
		*whyp = "out of memory";
		return -1;
	}
	return 0;
}

int
policy_load(const char *path, struct policy **pp, char *err, size_t errlen)
{
	struct policy *p = NULL;
	struct policy_entry e, *nv;
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
		if ((pr = parse_line(line, &e, &why)) == 1)
			continue;
		if (pr == 0) {
			for (i = 0; i < p->n; i++)
				if (secmem_cmp(p->v[i].pub, e.pub,
				    sizeof(e.pub)) == 0)
					break;
			if (i < p->n) {
				why = "key listed twice";
				free(e.name);
				pr = -1;
			} else if (p->n >= POLICY_MAX_ENTRIES) {
				why = "too many entries";
				free(e.name);
				pr = -1;
			}
		}
		if (pr != 0) {
			snprintf(err, errlen, "%s:%zu: %s", path, lineno, why);
			r = P11AGENT_ERR_INVALID_FORMAT;
			goto out;
		}
		if ((nv = reallocarray(p->v, p->n + 1, sizeof(*nv))) == NULL) {
			free(e.name);
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

int
policy_check(const struct policy *p, const uint8_t pub[P11AGENT_KEY_LEN],
    const char **namep)
{
	size_t i;

	*namep = "";
	if (!p->restricted)
		return 0;
	for (i = 0; i < p->n; i++) {
		if (secmem_cmp(p->v[i].pub, pub, P11AGENT_KEY_LEN) == 0) {
			*namep = p->v[i].name;
			return 0;
		}
	}
	return P11AGENT_ERR_UNAUTHORIZED;
}

size_t
policy_count(const struct policy *p)
{
	return p->n;
}
