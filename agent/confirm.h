/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * confirm.h - "may this client use this key now?", asked of a person
 * through pinentry's CONFIRM on a thread of its own, so neither the event
 * loop nor the token workers wait for a human. Requests of one
 * connection that arrive together (a pipelined batch) share one prompt
 * for "N operations". This thread runs the approved jobs itself (a
 * person is slower than any token); a refused one is answered with
 * FAILURE 33 ("denied by user").
 */
#ifndef P11AGENT_AGENT_CONFIRM_H
#define P11AGENT_AGENT_CONFIRM_H

#include <stdint.h>

#include "proto.h"

/* A prompt waits below the client library's 60 s request limit. */
#define CONFIRM_TIMEOUT		50	/* seconds */
#define CONFIRM_BATCH_MS	150	/* ms to gather a pipelined batch */
#define CONFIRM_MAX_BATCH	P11AGENT_MAX_INFLIGHT	/* jobs */
#define CONFIRM_MAX_QUEUE	1024	/* jobs waiting for a person */

struct job;

/*
 * Starts the confirmation thread; program is the pinentry to run (NULL:
 * "pinentry"; copied). Returns 0 or P11AGENT_ERR_SYSTEM_ERROR /
 * _NO_MEMORY.
 */
int confirm_start(const char *program);
/* Ends a prompt in progress, refuses what waits, joins. */
void confirm_stop(void);

/*
 * Queues j (j->meta set) to be confirmed. Returns 0 (the confirmation
 * thread owns j) or P11AGENT_ERR_BUSY (the caller still owns j). Agent
 * lock held.
 */
int confirm_submit(struct job *j);

/* Drops the waiting jobs of a closed connection. */
void confirm_cancel(uint64_t conn_id);

#endif /* P11AGENT_AGENT_CONFIRM_H */
