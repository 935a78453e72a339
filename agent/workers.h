/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * workers.h - the token worker pool. The loop thread submits jobs
 * (private-key operations) to a bounded queue; a fixed set of threads
 * runs them with token_sign/decrypt/derive and hands them back on a
 * completion queue, waking the loop through an eventfd. A job belongs to
 * the pool from submit until collect, and to the loop thread otherwise.
 * token.c's own lock keeps login/logout from overlapping an operation.
 */
#ifndef P11AGENT_AGENT_WORKERS_H
#define P11AGENT_AGENT_WORKERS_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define WORKERS_MAX_QUEUE	4096	/* jobs waiting for a thread */

struct token_ctx;

struct job {
	struct job *next;
	/* Where the reply goes: a connection that may be gone by then. */
	uint64_t conn_id;
	size_t conn_slot;
	uint32_t req_id;
	uint8_t type;			/* P11AGENT_MSG_SIGN/_DECRYPT/_DERIVE */
	uint8_t key_id[P11AGENT_KEYID_LEN];
	uint32_t alg;
	uint8_t *in;			/* a copy; wiped on free */
	size_t inlen;
	/* Filled in by the worker. */
	int result;			/* 0 or a P11AGENT_ERR_* */
	uint8_t *out;			/* wiped on free */
	size_t outlen;
};

/*
 * Allocates a job with a copy of in. Returns NULL when out of memory.
 * Release with job_free(), which wipes input and output.
 */
struct job *job_new(const uint8_t *in, size_t inlen);
void job_free(struct job *j);

/*
 * Starts n threads running jobs against t; each completion writes to
 * wakefd (an eventfd). Returns 0 or P11AGENT_ERR_SYSTEM_ERROR. Signals
 * are blocked in the worker threads.
 */
int workers_start(struct token_ctx *t, unsigned int n, int wakefd);
/* Waits for running jobs, frees queued and completed ones, joins. */
void workers_stop(void);

/*
 * Queues j. Returns 0 (the pool owns j) or P11AGENT_ERR_BUSY when the
 * queue is full (the caller still owns j).
 */
int workers_submit(struct job *j);
/* Drops the queued (not yet running) jobs of a closed connection. */
void workers_cancel(uint64_t conn_id);
/* Takes every completed job (a list linked by next), or NULL. */
struct job *workers_collect(void);

#endif /* P11AGENT_AGENT_WORKERS_H */
