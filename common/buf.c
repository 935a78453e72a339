/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * buf.c - bounds-checked byte buffers for the agent wire protocol.
 * A buffer holds bytes [off, size) of an allocation of alloc bytes and
 * never grows past max_size. Storage that is given up (free, reset,
 * growth, compaction, trimming) is wiped first. Not thread-safe.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <p11agent/err.h>

#include "buf.h"
#include "proto.h"
#include "secmem.h"

/*
 * Growth granularity and the initial allocation. Small, because most
 * buffers hold one request or reply.
 */
#define BUF_ALLOC_CHUNK		256	/* bytes */
/* Default cap for a fresh buffer: a few frames' worth. */
#define BUF_DEFAULT_MAX		(4 * (P11AGENT_MAX_FRAME + P11AGENT_FRAME_HDR))
/* Hard ceiling for buf_set_max(); keeps size arithmetic far from SIZE_MAX. */
#define BUF_SIZE_LIMIT		(256 * 1024 * 1024)	/* bytes */
/* Give memory back on reset above this allocation. */
#define BUF_SHRINK_ABOVE	(P11AGENT_MAX_FRAME + P11AGENT_FRAME_HDR)

struct buf {
	uint8_t		*d;		/* writable storage; NULL for views */
	const uint8_t	*cd;		/* readable storage (d, or the view) */
	size_t		 off;		/* first unread byte */
	size_t		 size;		/* end of data */
	size_t		 alloc;		/* bytes at d (views: == size) */
	size_t		 max_size;	/* cap on size */
	int		 readonly;
};

/*
 * Internal consistency. A violated invariant means memory corruption or a
 * bug here; reading on would be worse than stopping, so abort.
 */
static void
buf_sanity(const struct buf *b)
{
	if (b->off > b->size || b->size > b->alloc ||
	    b->size > b->max_size || b->max_size > BUF_SIZE_LIMIT ||
	    (b->cd == NULL && b->alloc != 0) ||
	    (!b->readonly && b->d != b->cd) ||
	    (b->readonly && b->d != NULL))
		abort();
}

struct buf *
buf_new(void)
{
	struct buf *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	if ((b->d = malloc(BUF_ALLOC_CHUNK)) == NULL) {
		free(b);
		return NULL;
	}
	b->cd = b->d;
	b->alloc = BUF_ALLOC_CHUNK;
	b->max_size = BUF_DEFAULT_MAX;
	return b;
}

struct buf *
buf_from(const void *p, size_t len)
{
	struct buf *b;

	if ((p == NULL && len != 0) || len > BUF_SIZE_LIMIT)
		return NULL;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->cd = p;
	b->size = b->alloc = b->max_size = len;
	b->readonly = 1;
	return b;
}

void
buf_free(struct buf *b)
{
	if (b == NULL)
		return;
	buf_sanity(b);
	if (!b->readonly)
		p11agent_freezero(b->d, b->alloc);
	secmem_wipe(b, sizeof(*b));
	free(b);
}

void
buf_reset(struct buf *b)
{
	uint8_t *n;

	if (b == NULL)
		return;
	buf_sanity(b);
	if (b->readonly) {
		/* A view has nothing of ours to wipe; just make it empty. */
		b->off = b->size;
		return;
	}
	if (b->alloc > BUF_SHRINK_ABOVE &&
	    (n = malloc(BUF_ALLOC_CHUNK)) != NULL) {
		p11agent_freezero(b->d, b->alloc);
		b->d = n;
		b->cd = n;
		b->alloc = BUF_ALLOC_CHUNK;
	} else
		secmem_wipe(b->d, b->alloc);
	b->off = b->size = 0;
	buf_sanity(b);
}

/*
 * Moves the unread bytes to the front and wipes the bytes that were
 * behind them, so consumed data does not linger in the allocation.
 */
static void
buf_compact(struct buf *b)
{
	size_t len = b->size - b->off;

	if (b->off == 0)
		return;
	memmove(b->d, b->d + b->off, len);
	secmem_wipe(b->d + len, b->size - len);
	b->off = 0;
	b->size = len;
}

int
buf_set_max(struct buf *b, size_t max)
{
	if (b == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	buf_sanity(b);
	if (b->readonly || max > BUF_SIZE_LIMIT)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if (b->size - b->off > max)
		return P11AGENT_ERR_MAX_SIZE;
	if (b->size > max)
		buf_compact(b);
	b->max_size = max;
	return 0;
}

size_t
buf_len(const struct buf *b)
{
	if (b == NULL)
		return 0;
	buf_sanity(b);
	return b->size - b->off;
}

const uint8_t *
buf_ptr(const struct buf *b)
{
	if (b == NULL)
		return NULL;
	buf_sanity(b);
	if (b->cd == NULL)
		return NULL;
	return b->cd + b->off;
}

int
buf_reserve(struct buf *b, size_t len, uint8_t **dpp)
{
	size_t need, newalloc;
	uint8_t *n;

	if (dpp != NULL)
		*dpp = NULL;
	if (b == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	buf_sanity(b);
	if (b->readonly)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	/* The cap is on the bytes held; a consumed prefix does not count. */
	if (b->max_size - (b->size - b->off) < len)
		return P11AGENT_ERR_MAX_SIZE;
	/* Reuse the consumed prefix before asking for more memory. */
	if (b->alloc - b->size < len || b->max_size - b->size < len)
		buf_compact(b);
	if (b->alloc - b->size < len) {
		/*
		 * Never realloc(): it may leave a copy of the old contents in
		 * freed memory. Allocate, copy, then wipe and free the old.
		 * need <= max_size <= BUF_SIZE_LIMIT, so no overflow below.
		 */
		need = b->size - b->off + len;
		newalloc = b->alloc * 2;	/* amortised growth ... */
		if (newalloc > b->max_size)	/* ... but not past the cap */
			newalloc = b->max_size;
		if (newalloc < need)
			newalloc = need;
		newalloc = (newalloc + BUF_ALLOC_CHUNK - 1) /
		    BUF_ALLOC_CHUNK * BUF_ALLOC_CHUNK;
		if ((n = malloc(newalloc)) == NULL)
			return P11AGENT_ERR_NO_MEMORY;
		memcpy(n, b->d + b->off, b->size - b->off);
		p11agent_freezero(b->d, b->alloc);
		b->d = n;
		b->cd = n;
		b->alloc = newalloc;
		b->size -= b->off;
		b->off = 0;
	}
	memset(b->d + b->size, 0, len);
	if (dpp != NULL)
		*dpp = b->d + b->size;
	b->size += len;
	buf_sanity(b);
	return 0;
}

int
buf_put(struct buf *b, const void *p, size_t len)
{
	uint8_t *dp;
	int r;

	if (p == NULL && len != 0)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if ((r = buf_reserve(b, len, &dp)) != 0)
		return r;
	if (len != 0)
		memcpy(dp, p, len);
	return 0;
}

int
buf_putb(struct buf *b, const struct buf *src)
{
	size_t len;
	uint8_t *dp;
	int r;

	if (b == NULL || src == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	/*
	 * Reserve first and only then look at src's bytes: when src == b
	 * the reservation may have moved them. The copy's source and
	 * destination ranges are disjoint either way.
	 */
	len = buf_len(src);
	if ((r = buf_reserve(b, len, &dp)) != 0)
		return r;
	if (len != 0)
		memcpy(dp, buf_ptr(src), len);
	return 0;
}

int
buf_consume(struct buf *b, size_t len)
{
	if (b == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	buf_sanity(b);
	if (b->size - b->off < len)
		return P11AGENT_ERR_MESSAGE_INCOMPLETE;
	b->off += len;
	/*
	 * Emptied: start over at the front. No wipe here, because
	 * buf_get_string_direct() hands out a pointer to what was just
	 * consumed; compaction, growth, reset and free wipe it later.
	 */
	if (b->off == b->size && !b->readonly)
		b->off = b->size = 0;
	buf_sanity(b);
	return 0;
}

int
buf_consume_end(struct buf *b, size_t len)
{
	if (b == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	buf_sanity(b);
	if (b->size - b->off < len)
		return P11AGENT_ERR_MESSAGE_INCOMPLETE;
	b->size -= len;
	if (!b->readonly)
		secmem_wipe(b->d + b->size, len);
	buf_sanity(b);
	return 0;
}
