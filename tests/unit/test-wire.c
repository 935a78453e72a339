/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * test-wire.c - framing: wire_frame_check() on every kind of prefix, and
 * the blocking helpers over a socketpair, including timeouts, a peer
 * that goes away, and writes that must not raise SIGPIPE.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11agent/err.h>

#include "buf.h"
#include "proto.h"
#include "tap.h"
#include "wire.h"

static struct buf *
buf_with(const void *p, size_t len)
{
	struct buf *b = buf_new();

	if (b == NULL || buf_put(b, p, len) != 0)
		abort();
	return b;
}

static void
pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		abort();
}

static long
elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 +
	    (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

static void
test_check_incomplete(void)
{
	static const uint8_t hdr[] = { 0, 0, 0, 5, 'a', 'b' };
	struct buf *b;
	size_t n, framelen;

	for (n = 0; n < 4; n++) {
		b = buf_with(hdr, n);
		framelen = 99;
		is_int(wire_frame_check(b, 100, &framelen),
		    P11AGENT_ERR_MESSAGE_INCOMPLETE, "%zu header bytes", n);
		is_int(framelen, 0, "framelen cleared");
		buf_free(b);
	}
	b = buf_with(hdr, sizeof(hdr));
	is_int(wire_frame_check(b, 100, &framelen),
	    P11AGENT_ERR_MESSAGE_INCOMPLETE, "2 of 5 body bytes");
	is_int(buf_len(b), sizeof(hdr), "input untouched");
	buf_free(b);
}

static void
test_check_oversize(void)
{
	uint8_t hdr[4];
	struct buf *b;
	size_t framelen = 99;
	uint32_t len;

	len = P11AGENT_MAX_FRAME + 1;
	hdr[0] = len >> 24; hdr[1] = len >> 16; hdr[2] = len >> 8; hdr[3] = len;
	b = buf_with(hdr, 4);
	/* The header alone decides: no waiting for 64 KiB to arrive. */
	is_int(wire_frame_check(b, P11AGENT_MAX_FRAME, &framelen),
	    P11AGENT_ERR_MAX_SIZE, "MAX_FRAME + 1 refused on the header");
	is_int(framelen, 0, "framelen cleared");
	buf_free(b);

	memset(hdr, 0xff, 4);
	b = buf_with(hdr, 4);
	is_int(wire_frame_check(b, P11AGENT_MAX_FRAME, &framelen),
	    P11AGENT_ERR_MAX_SIZE, "4 GiB - 1 refused");
	buf_free(b);

	hdr[0] = 0; hdr[1] = 0; hdr[2] = 0; hdr[3] = 11;
	b = buf_with(hdr, 4);
	is_int(wire_frame_check(b, 10, &framelen), P11AGENT_ERR_MAX_SIZE,
	    "caller's smaller limit applies");
	buf_free(b);
}

static void
test_check_zero(void)
{
	static const uint8_t hdr[] = { 0, 0, 0, 0, 'x' };
	struct buf *b = buf_with(hdr, sizeof(hdr));
	size_t framelen = 99;

	is_int(wire_frame_check(b, 100, &framelen),
	    P11AGENT_ERR_INVALID_FORMAT, "empty body refused");
	is_int(framelen, 0, "framelen cleared");
	buf_free(b);
}

static void
test_check_exact(void)
{
	struct buf *b = buf_new();
	uint8_t *dp;
	size_t framelen;

	buf_put_u32(b, P11AGENT_MAX_FRAME);
	buf_reserve(b, P11AGENT_MAX_FRAME - 1, &dp);
	is_int(wire_frame_check(b, P11AGENT_MAX_FRAME, &framelen),
	    P11AGENT_ERR_MESSAGE_INCOMPLETE, "max-size frame, one byte short");
	buf_put_u8(b, 0);
	is_int(wire_frame_check(b, P11AGENT_MAX_FRAME, &framelen), 0,
	    "max-size frame complete");
	is_int(framelen, 4 + P11AGENT_MAX_FRAME, "framelen includes header");
	buf_free(b);

	/* Two frames back to back: the first is reported. */
	b = buf_new();
	wire_put_frame(b, "abc", 3);
	wire_put_frame(b, "de", 2);
	is_int(wire_frame_check(b, 100, &framelen), 0, "first of two");
	is_int(framelen, 7, "first frame's length");
	buf_consume(b, framelen);
	is_int(wire_frame_check(b, 100, &framelen), 0, "second of two");
	is_int(framelen, 6, "second frame's length");
	buf_free(b);
	is_int(wire_frame_check(NULL, 100, &framelen),
	    P11AGENT_ERR_INVALID_ARGUMENT, "NULL input");
}

static void
test_put_frame(void)
{
	static const uint8_t want[] = { 0, 0, 0, 3, 'a', 'b', 'c' };
	struct buf *b = buf_new();
	uint8_t *big;

	is_int(wire_put_frame(b, "abc", 3), 0, "put_frame");
	is_int(buf_len(b), sizeof(want), "length");
	is_mem(buf_ptr(b), want, sizeof(want), "bytes");
	is_int(wire_put_frame(b, "", 0), P11AGENT_ERR_INVALID_ARGUMENT,
	    "empty body refused");
	big = calloc(1, P11AGENT_MAX_FRAME + 1);
	is_int(wire_put_frame(b, big, P11AGENT_MAX_FRAME + 1),
	    P11AGENT_ERR_MAX_SIZE, "oversize body refused");
	is_int(buf_len(b), sizeof(want), "nothing appended");
	is_int(wire_put_frame(b, big, P11AGENT_MAX_FRAME), 0,
	    "max-size body");
	free(big);
	buf_free(b);
}

static void
test_roundtrip(void)
{
	struct buf *out = buf_new(), *in = buf_new();
	int sv[2];

	pair(sv);
	wire_put_frame(out, "hello", 5);
	wire_put_frame(out, "world!", 6);
	is_int(wire_write_all(sv[0], buf_ptr(out), buf_len(out), 1000), 0,
	    "write two frames");
	is_int(wire_read_frame(sv[1], in, 100, 1000), 0, "read frame 1");
	is_int(buf_len(in), 9, "whole frame, prefix included");
	is_mem(buf_ptr(in), buf_ptr(out), 9, "frame 1 bytes");
	buf_reset(in);
	is_int(wire_read_frame(sv[1], in, 100, 1000), 0,
	    "read frame 2 (not swallowed by the first read)");
	is_mem(buf_ptr(in), buf_ptr(out) + 9, 10, "frame 2 bytes");
	close(sv[0]);
	is_int(wire_read_frame(sv[1], in, 100, 0),
	    P11AGENT_ERR_CONNECTION_CLOSED, "then end of stream");
	close(sv[1]);
	buf_free(in);
	buf_free(out);
}

static void
test_read_timeout(void)
{
	struct buf *in = buf_with("keep", 4);
	struct timespec t0;
	int sv[2];
	long ms;

	pair(sv);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	is_int(wire_read_frame(sv[1], in, 100, 150), P11AGENT_ERR_TIMEOUT,
	    "nothing arrives: timeout");
	ms = elapsed_ms(&t0);
	ok(ms >= 140 && ms < 5000, "waited about the timeout (%ld ms)", ms);
	is_int(buf_len(in), 4, "input unchanged");

	/* Header and part of the body, then silence. */
	is_int(wire_write_all(sv[0], "\0\0\0\x0a" "abc", 7, 1000), 0,
	    "write a partial frame");
	is_int(wire_read_frame(sv[1], in, 100, 150), P11AGENT_ERR_TIMEOUT,
	    "partial frame: timeout");
	is_mem(buf_ptr(in), "keep", 4, "input unchanged");
	is_int(buf_len(in), 4, "no partial frame left in the buffer");
	close(sv[0]);
	close(sv[1]);
	buf_free(in);
}

static void
test_read_peer_close(void)
{
	struct buf *in = buf_new();
	int sv[2];

	pair(sv);
	close(sv[0]);
	is_int(wire_read_frame(sv[1], in, 100, 1000),
	    P11AGENT_ERR_CONNECTION_CLOSED, "peer closed before a frame");
	close(sv[1]);

	pair(sv);
	wire_write_all(sv[0], "\0\0", 2, 1000);
	close(sv[0]);
	is_int(wire_read_frame(sv[1], in, 100, 1000),
	    P11AGENT_ERR_CONNECTION_CLOSED, "peer closed inside the header");
	close(sv[1]);

	pair(sv);
	wire_write_all(sv[0], "\0\0\0\x05" "ab", 6, 1000);
	close(sv[0]);
	is_int(wire_read_frame(sv[1], in, 100, 0),
	    P11AGENT_ERR_CONNECTION_CLOSED, "peer closed inside the body");
	is_int(buf_len(in), 0, "input unchanged");
	close(sv[1]);
	buf_free(in);
}

static void
test_read_bad_header(void)
{
	struct buf *in = buf_new();
	int sv[2];

	pair(sv);
	wire_write_all(sv[0], "\0\x01\0\x01", 4, 1000);
	is_int(wire_read_frame(sv[1], in, P11AGENT_MAX_FRAME, 1000),
	    P11AGENT_ERR_MAX_SIZE, "65537-byte frame refused on the header");
	is_int(buf_len(in), 0, "nothing stored");
	wire_write_all(sv[0], "\0\0\0\0", 4, 1000);
	is_int(wire_read_frame(sv[1], in, P11AGENT_MAX_FRAME, 1000),
	    P11AGENT_ERR_INVALID_FORMAT, "empty frame refused");
	close(sv[0]);
	close(sv[1]);
	buf_free(in);
}

static void
test_write_peer_closed(void)
{
	struct sigaction sa, old;
	int sv[2];

	/* With the default action a SIGPIPE would kill this test. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGPIPE, &sa, &old);
	pair(sv);
	close(sv[1]);
	is_int(wire_write_all(sv[0], "abcd", 4, 1000),
	    P11AGENT_ERR_CONNECTION_CLOSED, "write to a closed peer");
	ok(1, "no SIGPIPE");
	close(sv[0]);
	sigaction(SIGPIPE, &old, NULL);
}

static void
test_write_timeout(void)
{
	struct timespec t0;
	size_t len = 8 * 1024 * 1024;
	uint8_t *big = calloc(1, len);
	int sv[2];
	long ms;

	/* Nobody reads: the socket buffer fills and the write must give up. */
	pair(sv);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	is_int(wire_write_all(sv[0], big, len, 150), P11AGENT_ERR_TIMEOUT,
	    "write into a full socket: timeout");
	ms = elapsed_ms(&t0);
	ok(ms >= 140 && ms < 5000, "waited about the timeout (%ld ms)", ms);
	close(sv[0]);
	close(sv[1]);
	free(big);
}

static void
test_write_large(void)
{
	size_t len = 4 * 1024 * 1024, got = 0;
	uint8_t *big = malloc(len), chunk[65536];
	int sv[2], status = -1, bad = 0;
	ssize_t n;
	size_t i;
	pid_t pid;

	for (i = 0; i < len; i++)
		big[i] = (uint8_t)(i * 7);
	pair(sv);
	if ((pid = fork()) == 0) {
		close(sv[0]);
		while ((n = read(sv[1], chunk, sizeof(chunk))) > 0) {
			for (i = 0; i < (size_t)n; i++)
				if (chunk[i] != (uint8_t)((got + i) * 7))
					bad = 1;
			got += (size_t)n;
		}
		_exit(bad || got != len);
	}
	close(sv[1]);
	is_int(wire_write_all(sv[0], big, len, 10000), 0,
	    "4 MiB to a slow reader");
	close(sv[0]);
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "reader got every byte in order");
	free(big);
}

static void
test_pipe(void)
{
	struct buf *in = buf_new();
	int p[2];

	/* Not a socket: the helpers fall back to write(2). */
	if (pipe(p) == -1)
		abort();
	is_int(wire_write_all(p[1], "\0\0\0\x02" "hi", 6, 1000), 0,
	    "write to a pipe");
	is_int(wire_read_frame(p[0], in, 100, 1000), 0, "read from a pipe");
	is_mem(buf_ptr(in), "\0\0\0\x02" "hi", 6, "bytes");
	close(p[0]);
	close(p[1]);
	buf_free(in);
	is_int(wire_write_all(-1, "x", 1, 0), P11AGENT_ERR_INVALID_ARGUMENT,
	    "bad fd");
}

static const struct tap_case cases[] = {
	{ "/wire/frame-check-incomplete", test_check_incomplete },
	{ "/wire/frame-check-oversize", test_check_oversize },
	{ "/wire/frame-check-zero", test_check_zero },
	{ "/wire/frame-check-exact", test_check_exact },
	{ "/wire/put-frame", test_put_frame },
	{ "/wire/roundtrip", test_roundtrip },
	{ "/wire/read-timeout", test_read_timeout },
	{ "/wire/read-peer-close", test_read_peer_close },
	{ "/wire/read-bad-header", test_read_bad_header },
	{ "/wire/write-peer-closed", test_write_peer_closed },
	{ "/wire/write-timeout", test_write_timeout },
	{ "/wire/write-large", test_write_large },
	{ "/wire/pipe", test_pipe },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return tap_main(argc, argv, cases);
}
