/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * test-buf.c - struct buf: every reader and writer, their boundaries,
 * and the promise that a failed call leaves the buffer as it was and
 * the out-params cleared.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <p11agent/err.h>

#include "buf.h"
#include "proto.h"
#include "secmem.h"
#include "tap.h"

/* A buffer holding exactly the given bytes. */
static struct buf *
buf_with(const void *p, size_t len)
{
	struct buf *b = buf_new();

	if (b == NULL || buf_put(b, p, len) != 0)
		abort();
	return b;
}

/* Checks that b still holds exactly the given bytes. */
static void
unchanged(const struct buf *b, const void *p, size_t len, const char *what)
{
	is_int(buf_len(b), len, "%s: length unchanged", what);
	if (len != 0)
		is_mem(buf_ptr(b), p, len, "%s: contents unchanged", what);
}

static void
test_new_free(void)
{
	struct buf *b = buf_new();

	ok(b != NULL, "buf_new");
	is_int(buf_len(b), 0, "new buffer is empty");
	ok(buf_ptr(b) != NULL, "new buffer has a pointer");
	buf_free(b);
	buf_free(NULL);
	ok(1, "buf_free(NULL) is harmless");
	is_int(buf_len(NULL), 0, "buf_len(NULL) is 0");
	ok(buf_ptr(NULL) == NULL, "buf_ptr(NULL) is NULL");
}

static void
test_u8_u32_u64(void)
{
	static const uint8_t want[] = {
		0xab,
		0x01, 0x02, 0x03, 0x04,
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
		0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0x00,
	};
	struct buf *b = buf_new();
	uint64_t v64;
	uint32_t v32;
	uint8_t v8;

	is_int(buf_put_u8(b, 0xab), 0, "put_u8");
	is_int(buf_put_u32(b, 0x01020304), 0, "put_u32");
	is_int(buf_put_u64(b, 0x0102030405060708ULL), 0, "put_u64");
	is_int(buf_put_u32(b, UINT32_MAX), 0, "put_u32 max");
	is_int(buf_put_u64(b, UINT64_MAX), 0, "put_u64 max");
	is_int(buf_put_u8(b, 0), 0, "put_u8 0");
	is_int(buf_len(b), sizeof(want), "length");
	is_mem(buf_ptr(b), want, sizeof(want), "big-endian encoding");

	is_int(buf_get_u8(b, &v8), 0, "get_u8");
	is_int(v8, 0xab, "u8 value");
	is_int(buf_get_u32(b, &v32), 0, "get_u32");
	is_int(v32, 0x01020304, "u32 value");
	is_int(buf_get_u64(b, &v64), 0, "get_u64");
	ok(v64 == 0x0102030405060708ULL, "u64 value");
	is_int(buf_get_u32(b, &v32), 0, "get_u32 max");
	ok(v32 == UINT32_MAX, "u32 max value");
	is_int(buf_get_u64(b, &v64), 0, "get_u64 max");
	ok(v64 == UINT64_MAX, "u64 max value");
	is_int(buf_get_u8(b, &v8), 0, "get_u8 0");
	is_int(v8, 0, "u8 0 value");
	is_int(buf_len(b), 0, "all consumed");
	is_int(buf_get_u8(b, NULL), P11AGENT_ERR_MESSAGE_INCOMPLETE,
	    "get_u8 on empty buffer");
	buf_free(b);
}

static void
test_get_truncated(void)
{
	static const uint8_t seven[] = { 1, 2, 3, 4, 5, 6, 7 };
	struct buf *b;
	uint64_t v64 = 99;
	uint32_t v32 = 99;
	uint8_t v8 = 99, raw[8];
	size_t i;

	b = buf_with(seven, 3);
	is_int(buf_get_u32(b, &v32), P11AGENT_ERR_MESSAGE_INCOMPLETE,
	    "get_u32 from 3 bytes");
	is_int(v32, 0, "u32 out-param cleared");
	unchanged(b, seven, 3, "get_u32");
	buf_free(b);

	b = buf_with(seven, 7);
	is_int(buf_get_u64(b, &v64), P11AGENT_ERR_MESSAGE_INCOMPLETE,
	    "get_u64 from 7 bytes");
	ok(v64 == 0, "u64 out-param cleared");
	unchanged(b, seven, 7, "get_u64");
	memset(raw, 0xee, sizeof(raw));
	is_int(buf_get(b, raw, 8), P11AGENT_ERR_MESSAGE_INCOMPLETE,
	    "get 8 raw bytes from 7");
	for (i = 0; i < sizeof(raw) && raw[i] == 0; i++)
		;
	is_int(i, sizeof(raw), "raw out-param cleared");
	unchanged(b, seven, 7, "get");
	buf_free(b);

	b = buf_new();
	is_int(buf_get_u8(b, &v8), P11AGENT_ERR_MESSAGE_INCOMPLETE,
	    "get_u8 from empty");
	is_int(v8, 0, "u8 out-param cleared");
	is_int(buf_get(b, NULL, 0), 0, "get 0 bytes from empty");
	buf_free(b);
}

static void
test_get_string(void)
{
	static const uint8_t bin[] = { 0x00, 0xff, 0x00, 0x7f };
	struct buf *b = buf_new();
	uint8_t *s;
	size_t len;

	is_int(buf_put_string(b, bin, sizeof(bin)), 0, "put_string binary");
	is_int(buf_put_string(b, NULL, 0), 0, "put_string empty (NULL)");
	is_int(buf_len(b), 4 + 4 + 4, "encoded length");
	is_int(buf_get_string(b, &s, &len), 0, "get_string binary");
	is_int(len, sizeof(bin), "length");
	is_mem(s, bin, sizeof(bin), "contents with NULs");
	is_int(s[len], 0, "NUL-terminated for convenience");
	p11agent_freezero(s, len + 1);
	is_int(buf_get_string(b, &s, &len), 0, "get_string empty");
	is_int(len, 0, "empty length");
	ok(s != NULL && s[0] == '\0', "empty string is \"\"");
	free(s);
	is_int(buf_len(b), 0, "consumed");
	buf_free(b);

	/* Either out-param may be NULL: skip a field. */
	b = buf_new();
	buf_put_string(b, "abc", 3);
	is_int(buf_get_string(b, NULL, &len), 0, "get_string, valp NULL");
	is_int(len, 3, "length still reported");
	is_int(buf_len(b), 0, "field skipped");
	buf_free(b);
}

static void
test_get_string_truncated(void)
{
	/* Announces 10 bytes, carries 5. */
	static const uint8_t msg[] = { 0, 0, 0, 10, 'h', 'e', 'l', 'l', 'o' };
	struct buf *b = buf_with(msg, sizeof(msg));
	const uint8_t *p = (const uint8_t *)"x";
	uint8_t *s = (uint8_t *)"x";
	char *cs = "x";
	size_t len = 7;

	is_int(buf_get_string(b, &s, &len), P11AGENT_ERR_MESSAGE_INCOMPLETE,
	    "get_string truncated");
	ok(s == NULL && len == 0, "out-params cleared");
	unchanged(b, msg, sizeof(msg), "get_string");
	len = 7;
	is_int(buf_get_string_direct(b, &p, &len),
	    P11AGENT_ERR_MESSAGE_INCOMPLETE, "get_string_direct truncated");
	ok(p == NULL && len == 0, "direct out-params cleared");
	unchanged(b, msg, sizeof(msg), "get_string_direct");
	len = 7;
	is_int(buf_get_cstring(b, &cs, &len), P11AGENT_ERR_MESSAGE_INCOMPLETE,
	    "get_cstring truncated");
	ok(cs == NULL && len == 0, "cstring out-params cleared");
	unchanged(b, msg, sizeof(msg), "get_cstring");
	buf_free(b);

	/* Not even a whole length field. */
	b = buf_with(msg, 3);
	is_int(buf_get_string(b, &s, &len), P11AGENT_ERR_MESSAGE_INCOMPLETE,
	    "get_string with 3-byte header");
	unchanged(b, msg, 3, "short header");
	buf_free(b);
}

static void
test_get_string_huge(void)
{
	static const uint8_t lens[][4] = {
		{ 0xff, 0xff, 0xff, 0xff },
		{ 0xff, 0xff, 0xff, 0xfc },
		{ 0x80, 0x00, 0x00, 0x00 },
		{ 0x00, 0x01, 0x00, 0x01 },
	};
	uint8_t msg[4 + 16];
	struct buf *b;
	uint8_t *s;
	char *cs;
	size_t i, len;

	memset(msg, 'a', sizeof(msg));
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		memcpy(msg, lens[i], 4);
		b = buf_with(msg, sizeof(msg));
		is_int(buf_get_string(b, &s, &len),
		    P11AGENT_ERR_MESSAGE_INCOMPLETE,
		    "length prefix %02x%02x%02x%02x refused", lens[i][0],
		    lens[i][1], lens[i][2], lens[i][3]);
		ok(s == NULL, "nothing allocated");
		is_int(buf_get_cstring(b, &cs, NULL),
		    P11AGENT_ERR_MESSAGE_INCOMPLETE, "as cstring too");
		unchanged(b, msg, sizeof(msg), "huge length");
		buf_free(b);
	}
}

static void
test_get_string_direct(void)
{
	struct buf *b = buf_new();
	const uint8_t *p;
	size_t len;

	buf_put_string(b, "first", 5);
	buf_put_string(b, "last", 4);
	is_int(buf_get_string_direct(b, &p, &len), 0, "direct first");
	ok(len == 5 && memcmp(p, "first", 5) == 0, "first borrowed");
	/* The last field empties the buffer; the pointer must stay good. */
	is_int(buf_get_string_direct(b, &p, &len), 0, "direct last");
	ok(len == 4 && memcmp(p, "last", 4) == 0,
	    "borrowed pointer valid after the buffer empties");
	is_int(buf_len(b), 0, "consumed");
	buf_put_string(b, "x", 1);
	is_int(buf_get_string_direct(b, NULL, NULL), 0, "skip a string");
	buf_free(b);
}

static void
test_get_cstring(void)
{
	struct buf *b = buf_new();
	char *s;
	size_t len;

	buf_put_cstring(b, "hello");
	buf_put_cstring(b, NULL);
	buf_put_cstring(b, "x");
	is_int(buf_get_cstring(b, &s, &len), 0, "get_cstring");
	is_str(s, "hello", "value");
	is_int(len, 5, "length");
	free(s);
	is_int(buf_get_cstring(b, &s, &len), 0, "get_cstring empty");
	is_str(s, "", "NULL was written as \"\"");
	is_int(len, 0, "empty length");
	free(s);
	is_int(buf_get_cstring(b, &s, NULL), 0, "lenp may be NULL");
	is_str(s, "x", "value");
	free(s);
	buf_free(b);
}

static void
test_get_cstring_nul(void)
{
	static const uint8_t mid[] = { 0, 0, 0, 4, 'a', 'b', 0, 'c' };
	static const uint8_t end[] = { 0, 0, 0, 2, 'a', 0 };
	static const uint8_t only[] = { 0, 0, 0, 1, 0 };
	const uint8_t *cases[] = { mid, end, only };
	size_t lens[] = { sizeof(mid), sizeof(end), sizeof(only) };
	struct buf *b;
	char *s;
	size_t i, len;

	for (i = 0; i < 3; i++) {
		b = buf_with(cases[i], lens[i]);
		s = (char *)"x";
		len = 9;
		is_int(buf_get_cstring(b, &s, &len),
		    P11AGENT_ERR_INVALID_FORMAT, "embedded NUL refused (%zu)",
		    i);
		ok(s == NULL && len == 0, "out-params cleared");
		unchanged(b, cases[i], lens[i], "cstring with NUL");
		/* The same bytes are a fine binary string. */
		is_int(buf_get_string(b, (uint8_t **)&s, &len), 0,
		    "still readable as a string");
		free(s);
		buf_free(b);
	}
}

static void
test_peek_u32(void)
{
	static const uint8_t msg[] = { 1, 2, 3, 4, 5, 6 };
	struct buf *b = buf_with(msg, sizeof(msg));
	uint32_t v = 9;

	is_int(buf_peek_u32(b, 0, &v), 0, "peek at 0");
	is_int(v, 0x01020304, "value at 0");
	is_int(buf_peek_u32(b, 2, &v), 0, "peek at 2 (last fit)");
	is_int(v, 0x03040506, "value at 2");
	is_int(buf_peek_u32(b, 3, &v), P11AGENT_ERR_MESSAGE_INCOMPLETE,
	    "peek at 3 runs off the end");
	is_int(v, 0, "out-param cleared");
	is_int(buf_peek_u32(b, 6, &v), P11AGENT_ERR_MESSAGE_INCOMPLETE,
	    "peek at end");
	is_int(buf_peek_u32(b, 7, &v), P11AGENT_ERR_MESSAGE_INCOMPLETE,
	    "peek past end");
	is_int(buf_peek_u32(b, SIZE_MAX, &v), P11AGENT_ERR_MESSAGE_INCOMPLETE,
	    "peek at SIZE_MAX does not wrap");
	is_int(buf_peek_u32(b, SIZE_MAX - 2, &v),
	    P11AGENT_ERR_MESSAGE_INCOMPLETE, "peek at SIZE_MAX - 2");
	unchanged(b, msg, sizeof(msg), "peek");
	buf_free(b);
}

static void
test_max_size(void)
{
	struct buf *b = buf_new();
	uint8_t *dp = (uint8_t *)"x";

	is_int(buf_set_max(b, 10), 0, "set_max 10");
	is_int(buf_put(b, "0123456789", 10), 0, "fill to max");
	is_int(buf_put_u8(b, 'x'), P11AGENT_ERR_MAX_SIZE, "one more byte");
	unchanged(b, "0123456789", 10, "over max");
	is_int(buf_reserve(b, 1, &dp), P11AGENT_ERR_MAX_SIZE,
	    "reserve over max");
	ok(dp == NULL, "reserve out-param cleared");
	is_int(buf_set_max(b, 9), P11AGENT_ERR_MAX_SIZE,
	    "max below current length refused");
	is_int(buf_consume(b, 4), 0, "consume 4");
	/* Consumed bytes no longer count towards the maximum. */
	is_int(buf_put(b, "abcd", 4), 0, "room again after consume");
	unchanged(b, "456789abcd", 10, "compacted");
	buf_reset(b);
	is_int(buf_put(b, "0123456789", 10), 0, "max kept over reset");
	is_int(buf_put_u8(b, 'x'), P11AGENT_ERR_MAX_SIZE, "still 10");
	buf_reset(b);
	/* A string that does not fit appends nothing, not even its length. */
	is_int(buf_put_string(b, "1234567", 7), P11AGENT_ERR_MAX_SIZE,
	    "string of 4 + 7 over max 10");
	is_int(buf_len(b), 0, "nothing appended");
	is_int(buf_put_string(b, "123456", 6), 0, "string of 4 + 6 fits");
	is_int(buf_set_max(b, (size_t)1 << 40), P11AGENT_ERR_INVALID_ARGUMENT,
	    "absurd max refused");
	buf_free(b);
}

static void
test_default_max(void)
{
	struct buf *b = buf_new();
	uint8_t *dp;
	size_t big = 4 * (P11AGENT_MAX_FRAME + P11AGENT_FRAME_HDR);

	is_int(buf_reserve(b, big, &dp), 0, "default max holds 4 frames");
	is_int(buf_put_u8(b, 0), P11AGENT_ERR_MAX_SIZE, "and no more");
	is_int(buf_set_max(b, big + 1), 0, "raise max");
	is_int(buf_put_u8(b, 0), 0, "now fits");
	buf_free(b);
}

static void
test_readonly_view(void)
{
	static const uint8_t msg[] = { 0, 0, 0, 2, 'h', 'i', 0x42 };
	struct buf *v = buf_from(msg, sizeof(msg)), *src = buf_new();
	uint8_t *dp = (uint8_t *)"x";
	const uint8_t *p;
	uint8_t v8;
	size_t len;

	ok(v != NULL, "buf_from");
	is_int(buf_len(v), sizeof(msg), "view length");
	ok(buf_ptr(v) == msg, "view is not a copy");
	is_int(buf_put_u8(v, 1), P11AGENT_ERR_INVALID_ARGUMENT, "put_u8");
	is_int(buf_put_u32(v, 1), P11AGENT_ERR_INVALID_ARGUMENT, "put_u32");
	is_int(buf_put_u64(v, 1), P11AGENT_ERR_INVALID_ARGUMENT, "put_u64");
	is_int(buf_put(v, "a", 1), P11AGENT_ERR_INVALID_ARGUMENT, "put");
	is_int(buf_put_string(v, "a", 1), P11AGENT_ERR_INVALID_ARGUMENT,
	    "put_string");
	is_int(buf_put_cstring(v, "a"), P11AGENT_ERR_INVALID_ARGUMENT,
	    "put_cstring");
	is_int(buf_reserve(v, 0, &dp), P11AGENT_ERR_INVALID_ARGUMENT,
	    "reserve 0");
	ok(dp == NULL, "reserve out-param cleared");
	buf_put_u8(src, 1);
	is_int(buf_putb(v, src), P11AGENT_ERR_INVALID_ARGUMENT, "putb");
	is_int(buf_set_max(v, 100), P11AGENT_ERR_INVALID_ARGUMENT, "set_max");
	unchanged(v, msg, sizeof(msg), "writes to a view");

	is_int(buf_get_string_direct(v, &p, &len), 0, "read from a view");
	ok(len == 2 && p == msg + 4, "borrowed from the caller's memory");
	is_int(buf_get_u8(v, &v8), 0, "get_u8");
	is_int(v8, 0x42, "value");
	is_int(buf_len(v), 0, "view consumed");
	buf_free(v);

	/* Reading into another buffer from a view. */
	v = buf_from(msg, sizeof(msg));
	is_int(buf_putb(src, v), 0, "putb from a view");
	is_int(buf_len(src), 1 + sizeof(msg), "appended");
	is_int(buf_consume_end(v, 1), 0, "consume_end on a view");
	is_int(buf_len(v), sizeof(msg) - 1, "trimmed");
	buf_reset(v);
	is_int(buf_len(v), 0, "reset empties a view");
	buf_free(v);

	v = buf_from(NULL, 0);
	ok(v != NULL, "empty view over NULL");
	is_int(buf_get_u8(v, &v8), P11AGENT_ERR_MESSAGE_INCOMPLETE,
	    "nothing to read");
	buf_free(v);
	ok(buf_from(NULL, 1) == NULL, "NULL with a length refused");
	buf_free(src);
}

static void
test_consume(void)
{
	struct buf *b = buf_with("abcdef", 6);

	is_int(buf_consume(b, 7), P11AGENT_ERR_MESSAGE_INCOMPLETE,
	    "consume past end");
	is_int(buf_consume_end(b, 7), P11AGENT_ERR_MESSAGE_INCOMPLETE,
	    "consume_end past end");
	unchanged(b, "abcdef", 6, "failed consume");
	is_int(buf_consume(b, 1), 0, "consume 1");
	is_int(buf_consume_end(b, 2), 0, "consume_end 2");
	unchanged(b, "bcd", 3, "middle left");
	is_int(buf_consume_end(b, 3), 0, "consume_end all");
	is_int(buf_len(b), 0, "empty");
	is_int(buf_consume(b, 0), 0, "consume 0 of empty");
	is_int(buf_consume(b, SIZE_MAX), P11AGENT_ERR_MESSAGE_INCOMPLETE,
	    "consume SIZE_MAX");
	buf_free(b);
}

static void
test_putb(void)
{
	struct buf *a = buf_with("abc", 3), *b = buf_with("xyz", 3);

	is_int(buf_putb(a, b), 0, "putb");
	unchanged(a, "abcxyz", 6, "appended");
	unchanged(b, "xyz", 3, "source untouched");
	buf_consume(a, 1);
	is_int(buf_putb(a, a), 0, "putb onto itself");
	unchanged(a, "bcxyzbcxyz", 10, "doubled");
	is_int(buf_putb(a, NULL), P11AGENT_ERR_INVALID_ARGUMENT, "NULL src");
	buf_free(a);
	buf_free(b);
}

static void
test_grow_compact(void)
{
	struct buf *b = buf_new();
	uint8_t chunk[1000], got[1000];
	size_t i, j, written = 0, readn = 0;
	int fine = 1;

	buf_set_max(b, 10 * 1000 * 1000);
	/* Interleave writes and reads so growth and compaction both happen. */
	for (i = 0; i < 3000 && fine; i++) {
		for (j = 0; j < sizeof(chunk); j++)
			chunk[j] = (uint8_t)(written + j);
		if (buf_put(b, chunk, (i % 7) * 100 + 1) != 0)
			fine = 0;
		written += (i % 7) * 100 + 1;
		if (i % 3 == 0) {
			size_t n = buf_len(b) / 2;

			if (n > sizeof(got))
				n = sizeof(got);
			if (buf_get(b, got, n) != 0)
				fine = 0;
			for (j = 0; j < n; j++)
				if (got[j] != (uint8_t)(readn + j))
					fine = 0;
			readn += n;
		}
	}
	ok(fine, "interleaved put/get keep the byte stream intact");
	is_int(buf_len(b), written - readn, "length accounts for everything");
	for (j = 0; j < buf_len(b); j++)
		if (buf_ptr(b)[j] != (uint8_t)(readn + j))
			break;
	is_int(j, written - readn, "remaining bytes in order");
	buf_free(b);
}

static void
test_reset(void)
{
	struct buf *b = buf_new();
	uint8_t *dp;

	buf_set_max(b, 200000);
	buf_reserve(b, 150000, &dp);
	memset(dp, 0xaa, 150000);
	buf_reset(b);
	is_int(buf_len(b), 0, "reset empties");
	is_int(buf_reserve(b, 16, &dp), 0, "reserve after reset");
	ok(dp[0] == 0 && dp[15] == 0, "reserved bytes are zeroed");
	is_int(buf_put(b, NULL, 1), P11AGENT_ERR_INVALID_ARGUMENT,
	    "put NULL with length");
	is_int(buf_put_string(b, NULL, 1), P11AGENT_ERR_INVALID_ARGUMENT,
	    "put_string NULL with length");
	buf_reset(NULL);
	buf_free(b);
}

static void
test_null_args(void)
{
	uint32_t v = 5;

	is_int(buf_get_u32(NULL, &v), P11AGENT_ERR_INVALID_ARGUMENT,
	    "get_u32(NULL)");
	is_int(v, 0, "out-param cleared");
	is_int(buf_put_u32(NULL, 1), P11AGENT_ERR_INVALID_ARGUMENT,
	    "put_u32(NULL)");
	is_int(buf_peek_u32(NULL, 0, &v), P11AGENT_ERR_INVALID_ARGUMENT,
	    "peek_u32(NULL)");
	is_int(buf_consume(NULL, 0), P11AGENT_ERR_INVALID_ARGUMENT,
	    "consume(NULL)");
	is_int(buf_set_max(NULL, 1), P11AGENT_ERR_INVALID_ARGUMENT,
	    "set_max(NULL)");
}

static const struct tap_case cases[] = {
	{ "/buf/new-free", test_new_free },
	{ "/buf/u8-u32-u64", test_u8_u32_u64 },
	{ "/buf/get-truncated", test_get_truncated },
	{ "/buf/get-string", test_get_string },
	{ "/buf/get-string-truncated", test_get_string_truncated },
	{ "/buf/get-string-huge-length", test_get_string_huge },
	{ "/buf/get-string-direct", test_get_string_direct },
	{ "/buf/get-cstring", test_get_cstring },
	{ "/buf/get-cstring-nul", test_get_cstring_nul },
	{ "/buf/peek-u32", test_peek_u32 },
	{ "/buf/max-size", test_max_size },
	{ "/buf/default-max", test_default_max },
	{ "/buf/readonly-view", test_readonly_view },
	{ "/buf/consume", test_consume },
	{ "/buf/putb", test_putb },
	{ "/buf/grow-compact", test_grow_compact },
	{ "/buf/reset", test_reset },
	{ "/buf/null-args", test_null_args },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return tap_main(argc, argv, cases);
}
