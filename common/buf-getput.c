/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * buf-getput.c - typed readers and writers on struct buf: big-endian
 * integers, length-prefixed strings and NUL-free C strings. A reader
 * checks everything before it consumes, so a failure leaves the buffer
 * as it was and the out-params cleared. Not thread-safe.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <p11agent/err.h>

#include "buf.h"
#include "secmem.h"

static uint32_t
load_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void
store_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

int
buf_get(struct buf *b, void *v, size_t len)
{
	int r;

	if (b == NULL)
		r = P11AGENT_ERR_INVALID_ARGUMENT;
	else if (buf_len(b) < len)
		r = P11AGENT_ERR_MESSAGE_INCOMPLETE;
	else {
		if (v != NULL && len != 0)
			memcpy(v, buf_ptr(b), len);
		return buf_consume(b, len);
	}
	if (v != NULL && len != 0)
		memset(v, 0, len);
	return r;
}

int
buf_get_u8(struct buf *b, uint8_t *vp)
{
	uint8_t v;
	int r;

	if (vp != NULL)
		*vp = 0;
	if ((r = buf_get(b, &v, 1)) != 0)
		return r;
	if (vp != NULL)
		*vp = v;
	return 0;
}

int
buf_get_u32(struct buf *b, uint32_t *vp)
{
	uint8_t v[4];
	int r;

	if (vp != NULL)
		*vp = 0;
	if ((r = buf_get(b, v, sizeof(v))) != 0)
		return r;
	if (vp != NULL)
		*vp = load_u32(v);
	return 0;
}

int
buf_get_u64(struct buf *b, uint64_t *vp)
{
	uint8_t v[8];
	int r;

	if (vp != NULL)
		*vp = 0;
	if ((r = buf_get(b, v, sizeof(v))) != 0)
		return r;
	if (vp != NULL)
		*vp = (uint64_t)load_u32(v) << 32 | load_u32(v + 4);
	return 0;
}

int
buf_peek_u32(const struct buf *b, size_t offset, uint32_t *vp)
{
	size_t remaining;

	if (vp != NULL)
		*vp = 0;
	if (b == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	remaining = buf_len(b);
	if (remaining < offset)
		return P11AGENT_ERR_MESSAGE_INCOMPLETE;
	remaining -= offset;
	if (remaining < 4)
		return P11AGENT_ERR_MESSAGE_INCOMPLETE;
	if (vp != NULL)
		*vp = load_u32(buf_ptr(b) + offset);
	return 0;
}

/*
 * Finds the string at the front of b without consuming it: *valp is its
 * first byte, *lenp its length, and the whole field is 4 + *lenp bytes.
 */
static int
peek_string(const struct buf *b, const uint8_t **valp, size_t *lenp)
{
	size_t remaining;
	uint32_t len;
	int r;

	*valp = NULL;
	*lenp = 0;
	if ((r = buf_peek_u32(b, 0, &len)) != 0)
		return r;
	remaining = buf_len(b) - 4;
	if (remaining < len)
		return P11AGENT_ERR_MESSAGE_INCOMPLETE;
	*valp = buf_ptr(b) + 4;
	*lenp = len;
	return 0;
}

int
buf_get_string_direct(struct buf *b, const uint8_t **valp, size_t *lenp)
{
	const uint8_t *p;
	size_t len;
	int r;

	if (valp != NULL)
		*valp = NULL;
	if (lenp != NULL)
		*lenp = 0;
	if ((r = peek_string(b, &p, &len)) != 0 ||
	    (r = buf_consume(b, 4 + len)) != 0)
		return r;
	if (valp != NULL)
		*valp = p;
	if (lenp != NULL)
		*lenp = len;
	return 0;
}

int
buf_get_string(struct buf *b, uint8_t **valp, size_t *lenp)
{
	const uint8_t *p;
	uint8_t *v = NULL;
	size_t len;
	int r;

	if (valp != NULL)
		*valp = NULL;
	if (lenp != NULL)
		*lenp = 0;
	if ((r = peek_string(b, &p, &len)) != 0)
		return r;
	/* len <= buf_len(b) <= the buffer limit, so len + 1 cannot wrap. */
	if (valp != NULL) {
		if ((v = malloc(len + 1)) == NULL)
			return P11AGENT_ERR_NO_MEMORY;
		if (len != 0)
			memcpy(v, p, len);
		v[len] = '\0';
	}
	if ((r = buf_consume(b, 4 + len)) != 0) {
		p11agent_freezero(v, len + 1);
		return r;
	}
	if (valp != NULL)
		*valp = v;
	if (lenp != NULL)
		*lenp = len;
	return 0;
}

int
buf_get_cstring(struct buf *b, char **valp, size_t *lenp)
{
	const uint8_t *p;
	char *v = NULL;
	size_t len;
	int r;

	if (valp != NULL)
		*valp = NULL;
	if (lenp != NULL)
		*lenp = 0;
	if ((r = peek_string(b, &p, &len)) != 0)
		return r;
	/* An embedded NUL would make the C string say less than the wire. */
	if (len != 0 && memchr(p, '\0', len) != NULL)
		return P11AGENT_ERR_INVALID_FORMAT;
	if (valp != NULL) {
		if ((v = malloc(len + 1)) == NULL)
			return P11AGENT_ERR_NO_MEMORY;
		if (len != 0)
			memcpy(v, p, len);
		v[len] = '\0';
	}
	if ((r = buf_consume(b, 4 + len)) != 0) {
		p11agent_freezero(v, len + 1);
		return r;
	}
	if (valp != NULL)
		*valp = v;
	if (lenp != NULL)
		*lenp = len;
	return 0;
}

int
buf_put_u8(struct buf *b, uint8_t v)
{
	return buf_put(b, &v, 1);
}

int
buf_put_u32(struct buf *b, uint32_t v)
{
	uint8_t *dp;
	int r;

	if ((r = buf_reserve(b, 4, &dp)) != 0)
		return r;
	store_u32(dp, v);
	return 0;
}

int
buf_put_u64(struct buf *b, uint64_t v)
{
	uint8_t *dp;
	int r;

	if ((r = buf_reserve(b, 8, &dp)) != 0)
		return r;
	store_u32(dp, (uint32_t)(v >> 32));
	store_u32(dp + 4, (uint32_t)v);
	return 0;
}

int
buf_put_string(struct buf *b, const void *v, size_t len)
{
	uint8_t *dp;
	int r;

	if (v == NULL && len != 0)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if (len > UINT32_MAX)
		return P11AGENT_ERR_MAX_SIZE;
	/* One reservation, so a failure appends nothing. */
	if (len > SIZE_MAX - 4)
		return P11AGENT_ERR_MAX_SIZE;
	if ((r = buf_reserve(b, 4 + len, &dp)) != 0)
		return r;
	store_u32(dp, (uint32_t)len);
	if (len != 0)
		memcpy(dp + 4, v, len);
	return 0;
}

int
buf_put_cstring(struct buf *b, const char *v)
{
	if (v == NULL)
		v = "";
	return buf_put_string(b, v, strlen(v));
}
