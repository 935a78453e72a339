/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * conn.h - one client connection: its non-blocking socket, the Noise
 * handshake, and the sealed frames in and out. A connection is never
 * freed while code below the loop runs for it: handlers only mark it
 * dead (conn_fail) and its holder reaps it (loop_release). Only the
 * thread that holds the connection (loop.h) calls these; dispatching
 * happens under the agent lock, reading, opening, sealing and sending
 * without it.
 */
#ifndef P11AGENT_AGENT_CONN_H
#define P11AGENT_AGENT_CONN_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "proto.h"

/* Limits of the agent side (the protocol's own limits are in proto.h). */
#define CONN_READ_CHUNK		16384	/* bytes per read() */
#define CONN_OUT_HIGH		(256 * 1024)	/* bytes queued: stop reading */
#define CONN_OUT_MAX		(2 * 1024 * 1024) /* bytes queued: drop peer */
#define CONN_CLOSE_TIMEOUT	10	/* seconds to flush a final reply */
#define CONN_HELLO_MAX		(1 + 32 + 48 + P11AGENT_MAX_HS_PAYLOAD + 16)
					/* bytes, frame 1 body */

enum conn_state {
	CONN_HANDSHAKE,		/* waiting for the client hello */
	CONN_OPEN,		/* sealed requests and replies */
	CONN_CLOSING,		/* flush the output, then close */
	CONN_DEAD		/* close at the next opportunity */
};

struct buf;
struct channel;
struct job;
struct channel_keypair;
struct policy;

struct conn {
	uint64_t id;		/* unique for the process lifetime */
	size_t slot;		/* index in the loop's table */
	int fd;
	enum conn_state state;
	uid_t uid;
	pid_t pid;
	time_t deadline;	/* monotonic seconds; 0: none */
	struct channel *ch;
	struct buf *in;		/* received, not yet processed */
	struct buf *out;	/* queued for the socket */
	struct buf *pt;		/* plaintext of the current request */
	unsigned int inflight;	/* operations running or being confirmed */
	int busy;		/* a thread holds it (loop.h); agent lock */
	int recent;		/* a frame came lately (loop.c); agent lock */
	uint64_t last_ns;	/* monotonic, its last frame; agent lock */
	struct job *job;	/* the operation the last frame asked for */
	char name[64];		/* "client-name/policy-name", printable */
	char client[64];	/* client-name alone: the client's claim */
	char exe[256];		/* /proc/PID/exe when first needed, or "" */
};

/* The agent-wide inputs of the handshake. */
struct conn_env {
	const struct channel_keypair *kp;
	const struct policy *policy;
};

/*
 * Wraps an accepted socket (non-blocking). Returns NULL when out of
 * memory (the caller closes fd). Release with conn_free(), which wipes
 * the session keys and buffers and closes fd.
 */
struct conn *conn_new(int fd, size_t slot, uint64_t id, uid_t uid, pid_t pid,
    time_t now);
void conn_free(struct conn *c);

/*
 * Reads towards the next frame, never past it: what a client pipelines
 * stays in the socket, so the other reactors can take it. Returns 1 when
 * a whole frame is buffered, 0 when the socket has no more for now (or
 * the connection died).
 */
int conn_read_frame(struct conn *c);
/*
 * Handles the frame conn_read_frame() completed: the handshake, or a
 * request opened and dispatched (under the agent lock, taken here). A
 * private-key operation is left in c->job for the caller to run.
 */
void conn_handle_frame(struct conn *c, const struct conn_env *env,
    time_t now);
/*
 * Dispatch: j is the operation of the request just handled (agent lock
 * held). Returns 0 (c owns j until the caller takes it) or
 * P11AGENT_ERR_BUSY.
 */
int conn_queue_job(struct conn *c, struct job *j);
/* Writes queued output; moves CLOSING to DEAD once it is all out. */
void conn_flush(struct conn *c);

/* 1 if the connection waits for input / output. */
int conn_want_read(const struct conn *c);
int conn_want_write(const struct conn *c);

/*
 * Seals one reply plaintext and queues it. On failure marks the
 * connection dead (a channel that failed once is unusable).
 */
void conn_send(struct conn *c, const uint8_t *pt, size_t len);

/* Marks the connection for closing, with a reason for the info log. */
void conn_fail(struct conn *c, int r, const char *what);

#endif /* P11AGENT_AGENT_CONN_H */
