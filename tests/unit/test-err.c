/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * test-err.c - every P11AGENT_ERR_* code has a distinct name and a real
 * message, and both agree with the table in docs/PROTOCOL.md §5, which
 * this test reads, so the document and the code cannot drift apart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11agent/err.h>

#include "tap.h"

static void
test_every_code(void)
{
	const char *names[64], *msgs[64];
	int code, i, distinct = 1, real = 1, prefixed = 1;

	for (code = -1; code > P11AGENT_ERR_MIN; code--) {
		names[-code] = p11agent_strerror_name(code);
		msgs[-code] = p11agent_strerror(code);
		if (strcmp(msgs[-code], "unknown error") == 0 ||
		    msgs[-code][0] == '\0')
			real = 0;
		if (strncmp(names[-code], "P11AGENT_ERR_", 13) != 0 ||
		    strcmp(names[-code], "P11AGENT_ERR_UNKNOWN") == 0)
			prefixed = 0;
		for (i = -1; i > code; i--)
			if (strcmp(names[-i], names[-code]) == 0 ||
			    strcmp(msgs[-i], msgs[-code]) == 0)
				distinct = 0;
	}
	ok(real, "every code has a message");
	ok(prefixed, "every code has a P11AGENT_ERR_ name");
	ok(distinct, "names and messages are distinct");
	is_int(-P11AGENT_ERR_MIN - 1, 38, "38 codes");
	is_str(p11agent_strerror_name(P11AGENT_ERR_TOKEN_NOT_PRESENT),
	    "P11AGENT_ERR_TOKEN_NOT_PRESENT", "a name");
	is_str(p11agent_strerror(P11AGENT_ERR_TOKEN_NOT_PRESENT),
	    "token not present", "a message");
}

static void
test_unknown(void)
{
	int codes[] = { P11AGENT_ERR_MIN, P11AGENT_ERR_MIN - 1, -1000, 1, 42,
	    -2147483647 - 1, 2147483647 };
	size_t i;
	int all = 1;

	for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		if (strcmp(p11agent_strerror(codes[i]), "unknown error") != 0 ||
		    p11agent_strerror_name(codes[i]) == NULL)
			all = 0;
	}
	ok(all, "out-of-range codes: \"unknown error\", never NULL");
	ok(p11agent_strerror(0) != NULL, "0 has a message");
}

/* Trims spaces and surrounding backquotes in place. */
static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '`')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '`' || e[-1] == '\n'))
		*--e = '\0';
	return s;
}

static void
test_protocol_md(void)
{
	char line[512], want[128], *f[4], *p;
	FILE *fp;
	int in5 = 0, rows = 0, code, n, name_ok = 1, msg_ok = 1;

	fp = fopen(P11AGENT_SOURCE_DIR "/docs/PROTOCOL.md", "r");
	if (!ok(fp != NULL, "open docs/PROTOCOL.md")) {
		tap_skip(3, "no PROTOCOL.md");
		return;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (strncmp(line, "## ", 3) == 0)
			in5 = strncmp(line, "## 5.", 5) == 0;
		if (!in5 || line[0] != '|')
			continue;
		/* | code | name | meaning | */
		p = line + 1;
		for (n = 0; n < 4 && (f[n] = strsep(&p, "|")) != NULL; n++)
			;
		if (n < 3 || (code = atoi(trim(f[0]))) <= 0)
			continue;
		rows++;
		snprintf(want, sizeof(want), "P11AGENT_ERR_%s", trim(f[1]));
		if (strcmp(p11agent_strerror_name(-code), want) != 0) {
			name_ok = 0;
			tap_diag("code %d: name %s, PROTOCOL.md %s", code,
			    p11agent_strerror_name(-code), want);
		}
		if (strcmp(p11agent_strerror(-code), trim(f[2])) != 0) {
			msg_ok = 0;
			tap_diag("code %d: \"%s\", PROTOCOL.md \"%s\"", code,
			    p11agent_strerror(-code), trim(f[2]));
		}
	}
	fclose(fp);
	is_int(rows, -P11AGENT_ERR_MIN - 1, "PROTOCOL.md lists every code");
	ok(name_ok, "names match PROTOCOL.md §5");
	ok(msg_ok, "messages are the \"meaning\" column of PROTOCOL.md §5");
}

static const struct tap_case cases[] = {
	{ "/err/every-code", test_every_code },
	{ "/err/unknown", test_unknown },
	{ "/err/protocol-md", test_protocol_md },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return tap_main(argc, argv, cases);
}
