/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * workers.h - the token worker pool. The loop thread submits jobs
 * (private-key operations) to a bounded queue: one FIFO per connection,
 * served round-robin, so a client that floods requests waits behind its
 * own requests, never another client behind it. A fixed set of threads
 * runs them with token_sign/decrypt/derive, writes their audit lines,
 * and hands them back on a completion queue, waking the loop through an
 * eventfd. A job belongs to the pool (or to the confirmation thread)
 * from submit until collect, and to the loop thread otherwise. token.c's
 * own lock keeps login/logout from overlapping an operation.
 */
#ifndef P11AGENT_AGENT_WORKERS_H
#define P11AGENT_AGENT_WORKERS_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define WORKERS_MAX_QUEUE	4096	/* jobs waiting, by default */
#define WORKERS_ALG_NAME	32	/* bytes, "rsa-pkcs1-sha256" */
#define WORKERS_PROGRAM_NAME	64	/* bytes, the client's own name */
#define WORKERS_EXE_MAX		256	/* bytes, /proc/PID/exe */

struct audit_rec;
struct token_ctx;

/*
 * Who asked and what for: the audit line and the confirmation prompt.
 * Copies, so a job never points into loop-thread state. Present when an
 * audit log or a confirmation rule is in force.
 */
struct job_meta {
	char client[P11AGENT_MAX_NAME + 1];	/* authorized_clients name */
	char program[WORKERS_PROGRAM_NAME];	/* its own name: a claim */
	uint8_t client_key[P11AGENT_KEY_LEN];
	long pid;
	long uid;
	char exe[WORKERS_EXE_MAX];
	size_t policy_line;		/* 0: no authorized_clients */
	char key_label[P11AGENT_MAX_NAME + 1];
	char key_email[P11AGENT_MAX_NAME + 1];
	char alg[WORKERS_ALG_NAME];
	int has_description;
	char description[P11AGENT_MAX_DESCRIPTION + 1];	/* a claim */
};

struct job {
	struct job *next;
	/* Where the reply goes: a connection that may be gone by then. */
	uint64_t conn_id;
	size_t conn_slot;
	uint32_t req_id;
	uint8_t type;		/* P11AGENT_MSG_SIGN/_DECRYPT/_DERIVE */
	uint8_t key_id[P11AGENT_KEYID_LEN];
	uint32_t alg;
	uint8_t *in;			/* a copy; wiped on free */
	size_t inlen;
	struct job_meta *meta;	/* NULL: no audit, no confirmation */
	int64_t t0_us;		/* monotonic, when the request came */
	int confirmed;			/* a person said yes */
	/* Filled in by the worker (or the confirmation thread). */
	int result;			/* 0 or a P11AGENT_ERR_* */
	char *msg;		/* failure message for the client */
	uint8_t *out;			/* wiped on free */
	size_t outlen;
};

/*
 * Allocates a job with a copy of in. Returns NULL when out of memory.
 * Release with job_free(), which wipes input, output and meta.
 */
struct job *job_new(const uint8_t *in, size_t inlen);
void job_free(struct job *j);
/* Sets j->result and a copy of msg (NULL: the code's own text). */
void job_fail(struct job *j, int r, const char *msg);

/*
 * Fills rec with j's audit record (j->result, j->msg; strings borrowed
 * from j, valid as long as it).
 */
void job_audit_rec(const struct job *j, struct audit_rec *rec);

/* Monotonic microseconds, for job durations. */
int64_t workers_now_us(void);

/*
 * Bounds the jobs waiting for a thread (default WORKERS_MAX_QUEUE).
 * Call before workers_start().
 */
void workers_set_max_queue(size_t n);

/*
 * Starts n threads running jobs against t; each completion writes to
 * wakefd (an eventfd). Returns 0 or P11AGENT_ERR_SYSTEM_ERROR. Signals
 * are blocked in the worker threads.
 */
int workers_start(struct token_ctx *t, unsigned int n, int wakefd);
/* Waits for running jobs, frees queued and completed ones, joins. */
void workers_stop(void);

/*
 * Queues j behind the other jobs of its connection. Returns 0 (the pool
 * owns j) or P11AGENT_ERR_BUSY when the queue is full (the caller still
 * owns j). A connection with nothing queued always gets one job in, so
 * others' floods cannot lock it out.
 */
int workers_submit(struct job *j);
/*
 * Hands back a job that needs no token operation (refused before it
 * ran): writes its audit line and queues it for collection. Any thread.
 */
void workers_finish(struct job *j);
/* Drops the queued (not yet running) jobs of a closed connection. */
void workers_cancel(uint64_t conn_id);
/* Takes every completed job (a list linked by next), or NULL. */
struct job *workers_collect(void);

#endif /* P11AGENT_AGENT_WORKERS_H */
