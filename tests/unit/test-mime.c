/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * test-mime.c - client/smime/mime.c: header parsing and unfolding,
 * parameters, RFC 5322 address lists, multipart splitting, the 7-bit
 * canonical writer (quoted-printable, base64), and hostile input (limits,
 * truncation, NULs, unterminated constructs) that must fail cleanly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11agent/err.h>

#include "mime.h"
#include "tap.h"

static struct mime_entity *
parse(const char *s)
{
	struct mime_entity *e = NULL;
	int r = mime_parse((const uint8_t *)s, strlen(s), &e);

	if (r != 0)
		tap_diag("mime_parse: %d", r);
	return e;
}

static void
test_header_unfold(void)
{
	struct mime_entity *e = parse("From: a@b.example\r\n"
	    "Subject: one\r\n two\r\n\tthree  \r\n"
	    "X-Empty:\r\n"
	    "Obs-Field : x\r\n"
	    "\r\nbody\r\n");

	if (!ok(e != NULL, "parsed"))
		return;
	is_int(e->nfields, 4, "four fields");
	is_str(mime_get(e, "subject"), "one two\tthree", "unfolded, trimmed");
	is_str(mime_get(e, "X-EMPTY"), "", "empty value");
	is_str(mime_get(e, "Obs-Field"), "x", "WSP before the colon");
	is_int(e->bodylen, 6, "body after the empty line");
	ok(memcmp(e->body, "body\r\n", 6) == 0, "body bytes");
	is_str(e->type, "text/plain", "default type");
	mime_free(e);

	/* LF-only line endings. */
	e = parse("From: a@b.example\nSubject: x\n y\n\nbody\n");
	if (ok(e != NULL, "LF message parsed")) {
		is_str(mime_get(e, "Subject"), "x y", "LF unfolding");
		is_int(e->bodylen, 5, "LF body");
	}
	mime_free(e);

	/* An mbox separator is not a field; a header without body. */
	e = parse("From someone Mon Jan  1 00:00:00 2026\nTo: x@y\n");
	if (ok(e != NULL, "mbox From_ line skipped")) {
		is_int(e->nfields, 1, "one field");
		is_int(e->bodylen, 0, "no body");
	}
	mime_free(e);
}

static void
test_header_bad(void)
{
	struct mime_entity *e = NULL;
	const char *bad[] = {
		" leading continuation\r\n\r\n",
		"no colon here\r\n\r\n",
		": empty name\r\n\r\n",
		"Bad\x01Name: x\r\n\r\n",
	};
	size_t i;
	char *big;

	for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		is_int(mime_parse((const uint8_t *)bad[i], strlen(bad[i]), &e),
		    P11AGENT_ERR_INVALID_FORMAT, "malformed header %zu", i);
		ok(e == NULL, "no entity");
	}
	/* A NUL in a value does not cut the string short. */
	if (mime_parse((const uint8_t *)"A: x\0y\r\n\r\n", 10, &e) == 0) {
		is_str(mime_get(e, "A"), "x y", "NUL replaced");
		mime_free(e);
	} else
		ok(0, "NUL in a value parses");

	/* Too many fields. */
	big = malloc((MIME_MAX_FIELDS + 1) * 8 + 3);
	for (i = 0; i <= MIME_MAX_FIELDS; i++)
		memcpy(big + i * 8, "X: abc\r\n", 8);
	memcpy(big + i * 8, "\r\n", 3);
	is_int(mime_parse((uint8_t *)big, strlen(big), &e),
	    P11AGENT_ERR_MAX_SIZE, "field limit");
	free(big);

	/* A huge header block. */
	big = malloc(MIME_MAX_HEADER_BLOCK + 100);
	memcpy(big, "X: ", 3);
	memset(big + 3, 'a', MIME_MAX_HEADER_BLOCK + 50);
	memcpy(big + MIME_MAX_HEADER_BLOCK + 53, "\r\n z\r\n\r\n", 9);
	/* One folded field over the limit: the limit is on lines seen. */
	{
		int r = mime_parse((uint8_t *)big, MIME_MAX_HEADER_BLOCK + 61,
		    &e);

		ok(r == P11AGENT_ERR_MAX_SIZE || r == 0, "huge header: %d", r);
		mime_free(e);
	}
	free(big);
}

static void
test_params(void)
{
	char *v = NULL;
	const char *ct = "multipart/signed (comment; x=y) ; "
	    "protocol=\"application/pkcs7-signature\"; micalg = sha-256;"
	    " boundary=\"a \\\"b\\\" ;c\"; empty=\"\"";

	is_int(mime_media_type(ct, &v), 0, "media type");
	is_str(v, "multipart/signed", "type/subtype");
	free(v);
	is_int(mime_media_type(" TEXT / Plain ; charset=x", &v), 0, "spaces");
	is_str(v, "text/plain", "lower case");
	free(v);
	is_int(mime_media_type("text", &v), P11AGENT_ERR_INVALID_FORMAT,
	    "no subtype");
	is_int(mime_param(ct, "protocol", &v), 0, "quoted param");
	is_str(v, "application/pkcs7-signature", "protocol");
	free(v);
	is_int(mime_param(ct, "MICALG", &v), 0, "case-insensitive name");
	is_str(v, "sha-256", "spaces around =");
	free(v);
	is_int(mime_param(ct, "boundary", &v), 0, "escaped quotes");
	is_str(v, "a \"b\" ;c", "quoted-pair and ; inside quotes");
	free(v);
	is_int(mime_param(ct, "empty", &v), 0, "empty quoted value");
	is_str(v, "", "empty");
	free(v);
	is_int(mime_param(ct, "x", &v), P11AGENT_ERR_KEY_NOT_FOUND,
	    "a parameter inside a comment does not count");
	is_int(mime_param("a/b; ;;=; x", "x", &v), P11AGENT_ERR_KEY_NOT_FOUND,
	    "garbage parameters");
	is_int(mime_param("a/b; x=\"unterminated", "x", &v), 0,
	    "unterminated quote");
	is_str(v, "unterminated", "value up to the end");
	free(v);
}

static void
check_addrs(const char *value, size_t n, const char *const *want,
    const char *const *disp)
{
	struct mime_addr *a = NULL;
	size_t got = 0, i;

	is_int(mime_addrs(value, &a, &got), 0, "parse <%s>", value);
	if (!is_int(got, n, "%zu addresses in <%s>", n, value)) {
		mime_addrs_free(a, got);
		return;
	}
	for (i = 0; i < n; i++) {
		is_str(a[i].addr, want[i], "address %zu", i);
		if (disp != NULL)
			is_str(a[i].display, disp[i], "display name %zu", i);
	}
	mime_addrs_free(a, got);
}

static void
test_addrs(void)
{
	{
		const char *w[] = { "alice@bigcorp.example" };
		const char *d[] = { "" };
		check_addrs("alice@bigcorp.example", 1, w, d);
		check_addrs("  alice @ bigcorp . example  ", 1, w, d);
	}
	{
		const char *w[] = { "alice@bigcorp.example" };
		const char *d[] = { "Alice Example" };
		check_addrs("Alice Example <alice@bigcorp.example>", 1, w, d);
		check_addrs("Alice (the boss) Example <alice@bigcorp.example> "
		    "(work)", 1, w, d);
		check_addrs("\"Alice Example\" <alice@bigcorp.example>", 1, w,
		    d);
	}
	{
		const char *w[] = { "alice@bigcorp.example", "bob@x.example",
		    "carol@y.example" };
		const char *d[] = { "Example, Alice", "", "Carol" };
		check_addrs("\"Example, Alice\" <alice@bigcorp.example>, "
		    "bob@x.example (Bob, really), Carol <carol@y.example>", 3,
		    w, d);
	}
	{
		/* Groups: the group name is not an address. */
		const char *w[] = { "a@x.example", "b@x.example",
		    "c@x.example" };
		check_addrs("team: a@x.example, B <b@x.example>;, "
		    "c@x.example", 3, w, NULL);
		check_addrs("undisclosed-recipients:;", 0, NULL, NULL);
	}
	{
		/* obs-route, quoted local part kept when it needs quotes. */
		const char *w[] = { "a@x.example", "\"john doe\"@x.example",
		    "plain@x.example" };
		check_addrs("<@relay.example,@r2.example:a@x.example>, "
		    "<\"john doe\"@x.example>, <\"plain\"@x.example>", 3, w,
		    NULL);
	}
	{
		/* Junk yields no address and no crash. */
		check_addrs("", 0, NULL, NULL);
		check_addrs("<<<>>>,,,;;;:::", 0, NULL, NULL);
		check_addrs("\"unterminated <a@b", 0, NULL, NULL);
		check_addrs("(((nested comment) a@b.example", 0, NULL, NULL);
		check_addrs("no at sign", 0, NULL, NULL);
		check_addrs("@nolocal.example, local@", 0, NULL, NULL);
	}
	ok(mime_addr_equal("alice@BigCorp.Example", "alice@bigcorp.example"),
	    "domain case-insensitive");
	ok(!mime_addr_equal("Alice@bigcorp.example", "alice@bigcorp.example"),
	    "local part exact");
	ok(!mime_addr_equal("alice", "alice"), "no @");
}

static void
test_multipart(void)
{
	const char *m =
	    "From: a@b.example\r\n"
	    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
	    "\r\n"
	    "preamble\r\n"
	    "--XX\r\n"
	    "Content-Type: text/plain\r\n"
	    "\r\n"
	    "one\r\n"
	    "--XXnot a delimiter\r\n"
	    "--XX  \r\n"
	    "Content-Type: multipart/alternative; boundary=YY\r\n"
	    "\r\n"
	    "--YY\r\n"
	    "\r\n"
	    "inner\r\n"
	    "--YY--\r\n"
	    "--XX--\r\n"
	    "epilogue\r\n";
	struct mime_entity *e = parse(m);

	if (!ok(e != NULL, "parsed"))
		return;
	is_str(e->boundary, "XX", "boundary");
	is_int(e->nparts, 2, "two parts");
	is_int(e->preamblelen, 8, "preamble without its CRLF");
	ok(!e->unterminated, "terminated");
	if (e->nparts == 2) {
		is_int(e->parts[0]->bodylen, 24, "first body up to the CRLF "
		    "before the delimiter, transport padding allowed");
		is_str(e->parts[1]->type, "multipart/alternative", "nested");
		is_int(e->parts[1]->nparts, 1, "nested part");
		if (e->parts[1]->nparts == 1)
			ok(e->parts[1]->parts[0]->bodylen == 5 &&
			    memcmp(e->parts[1]->parts[0]->body, "inner", 5) ==
			    0, "nested body");
	}
	ok(e->epilogue != NULL && e->epiloguelen == 10, "epilogue");
	mime_free(e);

	/* No close delimiter: kept, flagged. */
	e = parse("Content-Type: multipart/mixed; boundary=B\r\n\r\n"
	    "--B\r\n\r\nx\r\n");
	if (ok(e != NULL, "unterminated parses")) {
		ok(e->unterminated, "flagged");
		is_int(e->nparts, 1, "one part");
	}
	mime_free(e);

	/* Missing boundary parameter. */
	e = NULL;
	is_int(mime_parse((const uint8_t *)"Content-Type: multipart/mixed\r\n"
	    "\r\n--x\r\n", 34, &e), P11AGENT_ERR_INVALID_FORMAT,
	    "multipart without boundary");
	is_int(mime_parse((const uint8_t *)"Content-Type: multipart/mixed; "
	    "boundary=\"\"\r\n\r\n", 46, &e), P11AGENT_ERR_INVALID_FORMAT,
	    "empty boundary");
}

static void
test_nesting_limit(void)
{
	struct mime_out o = { 0 };
	struct mime_entity *e = NULL;
	char line[128];
	int i;

	/* MIME_MAX_DEPTH + 2 nested multiparts. */
	for (i = 0; i < MIME_MAX_DEPTH + 2; i++) {
		snprintf(line, sizeof(line), "Content-Type: multipart/mixed; "
		    "boundary=b%d\r\n\r\n--b%d\r\n", i, i);
		mime_out_str(&o, line);
	}
	mime_out_str(&o, "\r\nleaf\r\n");
	is_int(mime_parse(o.p, o.len, &e), P11AGENT_ERR_MAX_SIZE,
	    "nesting limit");
	ok(e == NULL, "no entity");
	mime_out_free(&o);

	/* Many parts. */
	mime_out_str(&o, "Content-Type: multipart/mixed; boundary=b\r\n\r\n");
	for (i = 0; i < MIME_MAX_PARTS + 1; i++)
		mime_out_str(&o, "--b\r\n\r\nx\r\n");
	mime_out_str(&o, "--b--\r\n");
	is_int(mime_parse(o.p, o.len, &e), P11AGENT_ERR_MAX_SIZE,
	    "part count limit");
	mime_out_free(&o);
}

static void
test_base64(void)
{
	struct mime_out o = { 0 };
	uint8_t *d = NULL, bin[256];
	size_t n, i;

	for (i = 0; i < sizeof(bin); i++)
		bin[i] = (uint8_t)i;
	mime_out_base64(&o, bin, sizeof(bin));
	is_int(o.err, 0, "encoded");
	ok(memcmp(o.p, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUm"
	    "JygpKissLS4vMDEyMzQ1Njc4\r\n", 78) == 0, "76 per line, CRLF");
	is_int(mime_base64_decode(o.p, o.len, &d, &n), 0, "decodes");
	ok(n == sizeof(bin) && memcmp(d, bin, n) == 0, "round trip");
	free(d);
	mime_out_free(&o);

	is_int(mime_base64_decode((const uint8_t *)"aGk=", 4, &d, &n), 0,
	    "padding");
	ok(n == 2 && memcmp(d, "hi", 2) == 0, "hi");
	free(d);
	is_int(mime_base64_decode((const uint8_t *)"aGk", 3, &d, &n),
	    P11AGENT_ERR_INVALID_FORMAT, "truncated");
	ok(d == NULL, "nothing on failure");
	is_int(mime_base64_decode((const uint8_t *)"aG=k", 4, &d, &n),
	    P11AGENT_ERR_INVALID_FORMAT, "data after padding");
	is_int(mime_base64_decode((const uint8_t *)"a===", 4, &d, &n),
	    P11AGENT_ERR_INVALID_FORMAT, "too much padding");
	is_int(mime_base64_decode((const uint8_t *)"aG!k", 4, &d, &n),
	    P11AGENT_ERR_INVALID_FORMAT, "bad character");
	is_int(mime_base64_decode((const uint8_t *)"", 0, &d, &n), 0,
	    "empty");
	free(d);
}

static void
test_qp(void)
{
	struct mime_out o = { 0 };
	char longline[200];
	const char *in = "caf\xc3\xa9 = ok \r\nFrom here\n.\ntab\t\n";

	mime_out_qp(&o, (const uint8_t *)in, strlen(in));
	mime_out_put(&o, "", 1);
	is_str((char *)o.p, "caf=C3=A9 =3D ok=20\r\n=46rom here\r\n=2E\r\n"
	    "tab=09\r\n", "encoding, trailing space, From, lone dot");
	mime_out_free(&o);

	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	mime_out_qp(&o, (const uint8_t *)longline, strlen(longline));
	{
		size_t i, col = 0, maxcol = 0;

		for (i = 0; i < o.len; i++) {
			if (o.p[i] == '\r')
				continue;
			if (o.p[i] == '\n') {
				col = 0;
				continue;
			}
			if (++col > maxcol)
				maxcol = col;
		}
		ok(maxcol <= 76, "lines at most 76 (%zu)", maxcol);
	}
	mime_out_free(&o);
}

static void
test_write_content(void)
{
	struct mime_out o = { 0 };
	struct mime_entity *e;

	/* 8-bit text without Content-Type: utf-8, quoted-printable; outer
	 * fields left out. */
	e = parse("From: a@b.example\nSubject: s\nBcc: x@y.example\n\n"
	    "gr\xc3\xbc\xc3\x9f\n");
	if (!ok(e != NULL, "parsed"))
		return;
	is_int(mime_write_content(e, &o), 0, "written");
	mime_out_put(&o, "", 1);
	is_str((char *)o.p, "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "gr=C3=BC=C3=9F\r\n", "8-bit text to quoted-printable");
	mime_out_free(&o);
	mime_write_outer(e, &o);
	mime_out_put(&o, "", 1);
	is_str((char *)o.p, "From: a@b.example\r\nSubject: s\r\n",
	    "outer fields, Bcc removed");
	mime_out_free(&o);
	mime_free(e);

	/* 7-bit with a declared type: kept, only made CRLF. */
	e = parse("Content-Type: text/plain; charset=us-ascii\n"
	    "Content-Transfer-Encoding: 7bit\n\nplain\n");
	is_int(mime_write_content(e, &o), 0, "written");
	mime_out_put(&o, "", 1);
	is_str((char *)o.p, "Content-Type: text/plain; charset=us-ascii\r\n"
	    "Content-Transfer-Encoding: 7bit\r\n\r\nplain\r\n",
	    "7-bit unchanged but CRLF");
	mime_out_free(&o);
	mime_free(e);

	/* Binary attachment in a multipart: base64, CTE replaced. */
	e = parse("Content-Type: multipart/mixed; boundary=b\n\n"
	    "--b\nContent-Type: text/plain\n\nhi\n"
	    "--b\nContent-Type: application/octet-stream\n"
	    "Content-Transfer-Encoding: binary\n\n\x01\x02\xff\n"
	    "--b--\n");
	is_int(mime_write_content(e, &o), 0, "multipart written");
	mime_out_put(&o, "", 1);
	is_str((char *)o.p, "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
	    "--b\r\nContent-Type: application/octet-stream\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\nAQL/\r\n"
	    "\r\n--b--\r\n", "binary part to base64");
	mime_out_free(&o);
	mime_free(e);

	ok(mime_needs_encoding((const uint8_t *)"a\rb", 3), "bare CR");
	ok(!mime_needs_encoding((const uint8_t *)"a\r\nb\n", 5), "CRLF, LF");
	{
		char l[1001];

		memset(l, 'x', 999);
		ok(mime_needs_encoding((const uint8_t *)l, 999),
		    "999-octet line");
		ok(!mime_needs_encoding((const uint8_t *)l, 998),
		    "998-octet line");
	}
}

static void
test_crlf(void)
{
	struct mime_out o = { 0 };

	mime_out_crlf(&o, (const uint8_t *)"a\nb\r\nc\rd\r", 9);
	mime_out_put(&o, "", 1);
	is_str((char *)o.p, "a\r\nb\r\nc\r\nd\r\n", "LF, CR and CRLF");
	mime_out_free(&o);
}

static void
test_boundary(void)
{
	uint8_t seed[12] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0xff };
	char b[64];

	mime_make_boundary(b, seed, sizeof(seed));
	is_str(b, "----=_p11agent_000102030405060708090aff", "boundary");
	ok(strlen(b) <= MIME_MAX_BOUNDARY, "within RFC 2046 length");
}

static const struct tap_case cases[] = {
	{ "/mime/header/unfold", test_header_unfold },
	{ "/mime/header/bad", test_header_bad },
	{ "/mime/params", test_params },
	{ "/mime/addrs", test_addrs },
	{ "/mime/multipart", test_multipart },
	{ "/mime/limits", test_nesting_limit },
	{ "/mime/base64", test_base64 },
	{ "/mime/qp", test_qp },
	{ "/mime/write-content", test_write_content },
	{ "/mime/crlf", test_crlf },
	{ "/mime/boundary", test_boundary },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return tap_main(argc, argv, cases);
}
