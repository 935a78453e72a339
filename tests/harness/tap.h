/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * tap.h - a tiny TAP producer for the unit tests. A test program lists
 * its cases in a table and hands it to tap_main(); "prog /buf/x" runs
 * only the cases named /buf/x or below it, "prog -l" lists them. Each
 * assertion prints one "ok"/"not ok" line. Not thread-safe.
 */
#ifndef P11AGENT_TAP_H
#define P11AGENT_TAP_H

#include <stddef.h>

struct tap_case {
	const char	*name;		/* "/module/what", unique */
	void		(*fn)(void);
};

/* Runs the selected cases; returns the process exit status (0: all ok). */
int tap_main(int argc, char **argv, const struct tap_case *cases);

/* Each returns the condition (1 pass, 0 fail) so callers can stop early. */
int tap_ok(int pass, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int tap_is_int(long long got, long long want, const char *file, int line,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int tap_is_mem(const void *got, const void *want, size_t len,
    const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
int tap_is_str(const char *got, const char *want, const char *file, int line,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Records n skipped assertions. */
void tap_skip(int n, const char *reason);

/* Hex string -> bytes (for known-answer tests); aborts on bad input. */
size_t tap_unhex(const char *hex, unsigned char *out, size_t outlen);

#define ok(cond, ...) \
	tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) \
	tap_is_int((long long)(got), (long long)(want), __FILE__, __LINE__, \
	    __VA_ARGS__)
#define is_mem(got, want, len, ...) \
	tap_is_mem((got), (want), (len), __FILE__, __LINE__, __VA_ARGS__)
#define is_str(got, want, ...) \
	tap_is_str((got), (want), __FILE__, __LINE__, __VA_ARGS__)

#endif /* P11AGENT_TAP_H */
