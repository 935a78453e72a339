/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * buf.h - bounds-checked byte buffers (modelled on OpenSSH's sshbuf).
 * Data is read from the front and appended at the back. A failed read
 * leaves the buffer unchanged and clears the out-params. Every reset and
 * free wipes the contents. Wire integers are big-endian. Not thread-safe.
 */
#ifndef P11AGENT_BUF_H
#define P11AGENT_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/* Returns a new empty buffer, or NULL when out of memory. */
struct buf *buf_new(void);
/* A read-only view of len bytes at p (not copied; p must outlive it). */
struct buf *buf_from(const void *p, size_t len);
/* Wipes and frees; NULL is allowed. */
void buf_free(struct buf *b);
/* Wipes and empties; keeps the maximum size. */
void buf_reset(struct buf *b);
/* Caps the buffer's length; fails with P11AGENT_ERR_MAX_SIZE if already longer. */
int buf_set_max(struct buf *b, size_t max);

/* Bytes available to read. */
size_t buf_len(const struct buf *b);
/* Pointer to the first unread byte (valid until the next modification). */
const uint8_t *buf_ptr(const struct buf *b);

/* Appends len bytes; returns 0 or P11AGENT_ERR_NO_MEMORY / _MAX_SIZE. */
int buf_put(struct buf *b, const void *p, size_t len);
/* Appends len uninitialised bytes and points *dpp at them. */
int buf_reserve(struct buf *b, size_t len, uint8_t **dpp);
/* Appends all unread bytes of src. */
int buf_putb(struct buf *b, const struct buf *src);
/* Discards len bytes from the front / the back. */
int buf_consume(struct buf *b, size_t len);
int buf_consume_end(struct buf *b, size_t len);

/* Readers: return 0, P11AGENT_ERR_MESSAGE_INCOMPLETE or _INVALID_FORMAT. */
int buf_get(struct buf *b, void *v, size_t len);
int buf_get_u8(struct buf *b, uint8_t *vp);
int buf_get_u32(struct buf *b, uint32_t *vp);
int buf_get_u64(struct buf *b, uint64_t *vp);
/* uint32 length + bytes; *valp is malloc'd (NUL-terminated for convenience),
 * owned by the caller, release with p11agent_freezero(*valp, *lenp). */
int buf_get_string(struct buf *b, uint8_t **valp, size_t *lenp);
/* As buf_get_string, but *valp points into b (borrowed). */
int buf_get_string_direct(struct buf *b, const uint8_t **valp, size_t *lenp);
/* A string that must not contain NUL; *valp is NUL-terminated, malloc'd.
 * lenp may be NULL. */
int buf_get_cstring(struct buf *b, char **valp, size_t *lenp);
/* Reads a uint32 at offset without consuming. */
int buf_peek_u32(const struct buf *b, size_t offset, uint32_t *vp);

/* Writers: return 0, P11AGENT_ERR_NO_MEMORY or _MAX_SIZE. */
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u32(struct buf *b, uint32_t v);
int buf_put_u64(struct buf *b, uint64_t v);
int buf_put_string(struct buf *b, const void *v, size_t len);
int buf_put_cstring(struct buf *b, const char *v);	/* NULL writes "" */

#endif /* P11AGENT_BUF_H */
