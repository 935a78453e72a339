/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * wire.h - framing on a byte stream: a uint32 big-endian length, then
 * that many bytes. The length is checked against the maximum before
 * anything is allocated for the frame.
 */
#ifndef P11AGENT_WIRE_H
#define P11AGENT_WIRE_H

#include <stddef.h>
#include <stdint.h>

struct buf;

/*
 * Looks at the start of in. Returns 0 and sets *framelenp (header
 * included) when a whole frame is there; P11AGENT_ERR_MESSAGE_INCOMPLETE
 * when more bytes are needed; P11AGENT_ERR_MAX_SIZE when the announced
 * body exceeds max; P11AGENT_ERR_INVALID_FORMAT for an empty body.
 */
int wire_frame_check(const struct buf *in, size_t max, size_t *framelenp);

/* Appends a frame (length prefix + body) to out. */
int wire_put_frame(struct buf *out, const void *body, size_t len);

/*
 * Blocking helpers for clients and tests: write all of out / read one
 * whole frame whose body is at most max bytes and append it to in,
 * length prefix included (as wire_frame_check() would find it, so it
 * can go straight to channel_open(); skip 4 bytes for the body).
 * timeout_ms <= 0: none. Return 0, P11AGENT_ERR_CONNECTION_CLOSED,
 * _TIMEOUT, _MAX_SIZE, _INVALID_FORMAT (empty body) or _SYSTEM_ERROR;
 * on failure in is unchanged. Never raise SIGPIPE.
 */
int wire_write_all(int fd, const void *p, size_t len, int timeout_ms);
int wire_read_frame(int fd, struct buf *in, size_t max, int timeout_ms);

/* Milliseconds on the monotonic clock, for deadlines. */
int64_t wire_now_ms(void);
/*
 * Waits until fd is ready for events (POLLIN, POLLOUT) or the deadline
 * (wire_now_ms() time; 0: none) passes. Returns 0, P11AGENT_ERR_TIMEOUT
 * or P11AGENT_ERR_SYSTEM_ERROR. Errors and hang-ups count as ready: the
 * following read or write reports them.
 */
int wire_wait_fd(int fd, short events, int64_t deadline);

#endif /* P11AGENT_WIRE_H */
