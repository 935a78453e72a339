/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * dispatch.h - request plaintext -> message type -> process_*() -> reply,
 * by the table in dispatch.c (docs/PROTOCOL.md section 4 documents the
 * same rows). Every request gets exactly one reply; private-key
 * operations are answered when their worker job completes, possibly out
 * of order. Holds the key-list snapshot and the lock state. Agent lock
 * held (loop.h), except where said.
 */
#ifndef P11AGENT_AGENT_DISPATCH_H
#define P11AGENT_AGENT_DISPATCH_H

#include <time.h>

struct buf;
struct conn;
struct job;
struct pin_source;
struct policy;
struct policy_keypats;
struct token_ctx;

/*
 * Sets up dispatching for token t (logged in or not). pin is the
 * agent's own PIN source for an UNLOCK without a PIN (borrowed, may be
 * NULL); lock_after is the idle time in seconds before an automatic
 * lock (0: never). Returns 0 or a negative P11AGENT_ERR_*.
 */
int dispatch_init(struct token_ctx *t, struct pin_source *pin, int lock_after,
    time_t now);
/* Frees the key snapshot. */
void dispatch_cleanup(void);

/*
 * The rules in force: p (authorized_clients; NULL or an allow-all policy
 * when there is no file) and the keys whose every use needs confirmation
 * (--confirm; may be NULL). Both borrowed until the next call; call again
 * after a reload, before freeing the old policy.
 */
void dispatch_set_policy(struct policy *p,
    const struct policy_keypats *confirm);

/* Handles one decrypted request (consumed; the caller wipes pt). */
void dispatch_request(struct conn *c, struct buf *pt);

/* Replies to c for a completed job (the caller frees j). */
void dispatch_complete(struct conn *c, struct job *j);

/*
 * Timers (the idle lock). Returns the seconds until the next one is
 * due, or -1 if none is pending.
 */
int dispatch_tick(time_t now);

/*
 * Replies to the UNLOCKs whose pinentry login has ended. Main thread,
 * without the agent lock (it takes it and the connections).
 */
void dispatch_unlocks(void);

#endif /* P11AGENT_AGENT_DISPATCH_H */
