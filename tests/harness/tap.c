/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * tap.c - the TAP producer behind tap.h. Output goes to stdout, with
 * diagnostics as "#" lines; the plan comes last ("1..N"), which TAP
 * allows, so cases need not declare how many assertions they make.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"

static int tap_count;
static int tap_failed;

static void vreport(int, const char *, int, const char *, va_list)
    __attribute__((format(printf, 4, 0)));

static void
vreport(int pass, const char *file, int line, const char *fmt, va_list ap)
{
	tap_count++;
	printf("%sok %d - ", pass ? "" : "not ", tap_count);
	vprintf(fmt, ap);
	printf("\n");
	if (!pass) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
}

int
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(pass, file, line, fmt, ap);
	va_end(ap);
	return pass;
}

int
tap_is_int(long long got, long long want, const char *file, int line,
    const char *fmt, ...)
{
	va_list ap;
	int pass = got == want;

	va_start(ap, fmt);
	vreport(pass, file, line, fmt, ap);
	va_end(ap);
	if (!pass)
		printf("#   got: %lld\n#  want: %lld\n", got, want);
	return pass;
}

static void
hexline(const char *label, const unsigned char *p, size_t len)
{
	size_t i;

	printf("# %s:", label);
	if (p == NULL) {
		printf(" (null)\n");
		return;
	}
	for (i = 0; i < len; i++) {
		if (i % 32 == 0 && i != 0)
			printf("\n#      ");
		printf("%s%02x", i % 32 == 0 ? " " : "", p[i]);
	}
	printf("\n");
}

int
tap_is_mem(const void *got, const void *want, size_t len, const char *file,
    int line, const char *fmt, ...)
{
	va_list ap;
	int pass;

	pass = got != NULL && want != NULL && memcmp(got, want, len) == 0;
	va_start(ap, fmt);
	vreport(pass, file, line, fmt, ap);
	va_end(ap);
	if (!pass) {
		hexline(" got", got, len);
		hexline("want", want, len);
	}
	return pass;
}

int
tap_is_str(const char *got, const char *want, const char *file, int line,
    const char *fmt, ...)
{
	va_list ap;
	int pass;

	pass = got != NULL && want != NULL && strcmp(got, want) == 0;
	va_start(ap, fmt);
	vreport(pass, file, line, fmt, ap);
	va_end(ap);
	if (!pass)
		printf("#   got: \"%s\"\n#  want: \"%s\"\n",
		    got != NULL ? got : "(null)",
		    want != NULL ? want : "(null)");
	return pass;
}

void
tap_diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

void
tap_skip(int n, const char *reason)
{
	while (n-- > 0)
		printf("ok %d # skip %s\n", ++tap_count, reason);
	fflush(stdout);
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t
tap_unhex(const char *hex, unsigned char *out, size_t outlen)
{
	size_t i, len = strlen(hex);
	int hi, lo;

	if (len % 2 != 0 || len / 2 > outlen) {
		fprintf(stderr, "tap_unhex: bad length %zu\n", len);
		abort();
	}
	for (i = 0; i < len / 2; i++) {
		if ((hi = hexval(hex[2 * i])) < 0 ||
		    (lo = hexval(hex[2 * i + 1])) < 0) {
			fprintf(stderr, "tap_unhex: bad digit\n");
			abort();
		}
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return len / 2;
}

/* name selects c when it is c's name or a "/"-bounded prefix of it. */
static int
selected(const char *name, const char *c)
{
	size_t n = strlen(name);

	if (strncmp(name, c, n) != 0)
		return 0;
	return c[n] == '\0' || c[n] == '/' || (n > 0 && name[n - 1] == '/');
}

int
tap_main(int argc, char **argv, const struct tap_case *cases)
{
	const struct tap_case *c;
	int i, ran = 0;

	if (argc > 1 && strcmp(argv[1], "-l") == 0) {
		for (c = cases; c->name != NULL; c++)
			printf("%s\n", c->name);
		return 0;
	}
	for (c = cases; c->name != NULL; c++) {
		if (argc > 1) {
			for (i = 1; i < argc; i++)
				if (selected(argv[i], c->name))
					break;
			if (i == argc)
				continue;
		}
		printf("# %s\n", c->name);
		fflush(stdout);
		c->fn();
		ran++;
	}
	if (ran == 0) {
		fprintf(stderr, "%s: no test case matches\n", argv[0]);
		return 2;
	}
	printf("1..%d\n", tap_count);
	if (tap_failed != 0)
		printf("# failed %d of %d\n", tap_failed, tap_count);
	return tap_failed != 0 || tap_count == 0;
}
