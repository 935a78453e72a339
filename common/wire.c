/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * wire.c - frames on a byte stream: a uint32 big-endian length, then
 * that many bytes. The announced length is compared with the limit
 * before a single byte is reserved for the body. The blocking helpers
 * keep one deadline per call and never raise SIGPIPE. Stateless.
 */
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11agent/err.h>

#include "buf.h"
#include "proto.h"
#include "wire.h"

int
wire_frame_check(const struct buf *in, size_t max, size_t *framelenp)
{
	uint32_t len;
	size_t remaining;
	int r;

	if (framelenp != NULL)
		*framelenp = 0;
	if (in == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if ((r = buf_peek_u32(in, 0, &len)) != 0)
		return r;
	/* Decide on the header alone, before waiting for (or storing) more. */
	if (len == 0)
		return P11AGENT_ERR_INVALID_FORMAT;
	if (len > max)
		return P11AGENT_ERR_MAX_SIZE;
	remaining = buf_len(in) - P11AGENT_FRAME_HDR;
	if (remaining < len)
		return P11AGENT_ERR_MESSAGE_INCOMPLETE;
	if (framelenp != NULL)
		*framelenp = P11AGENT_FRAME_HDR + (size_t)len;
	return 0;
}

int
wire_put_frame(struct buf *out, const void *body, size_t len)
{
	uint8_t *dp;
	int r;

	if (out == NULL || body == NULL || len == 0)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if (len > P11AGENT_MAX_FRAME)
		return P11AGENT_ERR_MAX_SIZE;
	/* One reservation: on failure nothing is appended. */
	if ((r = buf_reserve(out, P11AGENT_FRAME_HDR + len, &dp)) != 0)
		return r;
	dp[0] = (uint8_t)(len >> 24);
	dp[1] = (uint8_t)(len >> 16);
	dp[2] = (uint8_t)(len >> 8);
	dp[3] = (uint8_t)len;
	memcpy(dp + P11AGENT_FRAME_HDR, body, len);
	return 0;
}

int64_t
wire_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
wire_wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd;
	int64_t left;
	int n, ms;

	for (;;) {
		ms = -1;
		if (deadline != 0) {
			if ((left = deadline - wire_now_ms()) <= 0)
				return P11AGENT_ERR_TIMEOUT;
			ms = left > INT32_MAX ? INT32_MAX : (int)left;
		}
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		if ((n = poll(&pfd, 1, ms)) > 0)
			return 0;
		if (n == 0)
			continue;	/* re-check the deadline */
		if (errno != EINTR && errno != EAGAIN)
			return P11AGENT_ERR_SYSTEM_ERROR;
	}
}

static int64_t
deadline_for(int timeout_ms)
{
	return timeout_ms > 0 ? wire_now_ms() + timeout_ms : 0;
}

int
wire_write_all(int fd, const void *p, size_t len, int timeout_ms)
{
	const uint8_t *s = p;
	int64_t deadline = deadline_for(timeout_ms);
	int use_send = 1, r;
	ssize_t n;

	if (fd < 0 || (p == NULL && len != 0))
		return P11AGENT_ERR_INVALID_ARGUMENT;
	while (len > 0) {
		if ((r = wire_wait_fd(fd, POLLOUT, deadline)) != 0)
			return r;
		/*
		 * send(MSG_NOSIGNAL) so that a vanished peer is an error and
		 * not a signal; MSG_DONTWAIT so that a blocking socket cannot
		 * hold us past the deadline. Not a socket: plain write().
		 */
		if (use_send) {
			n = send(fd, s, len, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n == -1 && errno == ENOTSOCK) {
				use_send = 0;
				continue;
			}
		} else
			n = write(fd, s, len);
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			if (errno == EPIPE || errno == ECONNRESET)
				return P11AGENT_ERR_CONNECTION_CLOSED;
			return P11AGENT_ERR_SYSTEM_ERROR;
		}
		if (n == 0)
			return P11AGENT_ERR_CONNECTION_CLOSED;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads exactly len bytes into p. */
static int
read_exact(int fd, uint8_t *p, size_t len, int64_t deadline)
{
	ssize_t n;
	int r;

	while (len > 0) {
		if ((r = wire_wait_fd(fd, POLLIN, deadline)) != 0)
			return r;
		if ((n = read(fd, p, len)) == -1) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == EWOULDBLOCK)
				continue;
			if (errno == ECONNRESET)
				return P11AGENT_ERR_CONNECTION_CLOSED;
			return P11AGENT_ERR_SYSTEM_ERROR;
		}
		if (n == 0)
			return P11AGENT_ERR_CONNECTION_CLOSED;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
wire_read_frame(int fd, struct buf *in, size_t max, int timeout_ms)
{
	int64_t deadline = deadline_for(timeout_ms);
	uint8_t hdr[P11AGENT_FRAME_HDR], *dp;
	uint32_t len;
	int r;

	if (fd < 0 || in == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	/*
	 * Read the header and the body separately and never more: bytes
	 * of the next frame stay in the socket for the next call.
	 */
	if ((r = read_exact(fd, hdr, sizeof(hdr), deadline)) != 0)
		return r;
	len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 |
	    (uint32_t)hdr[2] << 8 | (uint32_t)hdr[3];
	if (len == 0)
		return P11AGENT_ERR_INVALID_FORMAT;
	if (len > max)
		return P11AGENT_ERR_MAX_SIZE;
	if ((r = buf_reserve(in, sizeof(hdr) + (size_t)len, &dp)) != 0)
		return r;
	memcpy(dp, hdr, sizeof(hdr));
	if ((r = read_exact(fd, dp + sizeof(hdr), len, deadline)) != 0) {
		/* Leave in as it was (the partial frame is wiped). */
		buf_consume_end(in, sizeof(hdr) + (size_t)len);
		return r;
	}
	return 0;
}
