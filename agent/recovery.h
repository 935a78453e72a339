/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * recovery.h - the token keeper: one thread that logs a locked agent in
 * when an operation needs it and a pinentry can ask for the PIN, brings
 * tokens that went down back with the cached PIN (token_recover), and
 * locks the agent when the PIN reaches its maximum lifetime. It never
 * blocks a reactor: they only hand it requests.
 */
#ifndef P11AGENT_AGENT_RECOVERY_H
#define P11AGENT_AGENT_RECOVERY_H

#include <stddef.h>
#include <stdint.h>

struct token_ctx;

#define RECOVERY_PINENTRY_TIMEOUT	60	/* seconds, to answer a pinentry */
#define RECOVERY_MAX_UNLOCKS		16	/* UNLOCKs waiting for one */

struct recovery_opts {
	const char *pinentry;	/* program; NULL: no logins on demand */
	int pinentry_timeout;	/* seconds; 0: RECOVERY_PINENTRY_TIMEOUT */
	long pin_max_lifetime;	/* seconds from entry, 0: no limit */
	int wakefd;		/* wakes the main thread: an UNLOCK is answered */
};

/*
 * Starts the keeper for t (after the fork; t must outlive it). The
 * strings of o are copied. Returns 0 or P11AGENT_ERR_SYSTEM_ERROR /
 * _NO_MEMORY.
 */
int recovery_start(struct token_ctx *t, const struct recovery_opts *o);
/*
 * Stops it: a pinentry in progress is killed, and operations waiting for
 * a login get P11AGENT_ERR_PIN_REQUIRED. Safe to call if never started.
 */
void recovery_stop(void);

/* Agent lock held. 1 when a locked agent can log in on demand (--pinentry). */
int recovery_can_login(void);
/*
 * Agent lock held. A request for a locked agent arrived from client (its
 * printable name) and pid: unless a login is already in progress, or the
 * last one failed too recently, the keeper asks for the PIN. Operations
 * of the locked agent wait for the answer (token_login_begin).
 */
void recovery_request_login(const char *client, long pid);
/*
 * Agent lock held. An UNLOCK without a PIN while --pinentry is set: the
 * keeper asks the pinentry (a delay after a failed entry does not apply:
 * the user asked) and the reply waits for the answer. Returns 0 (then
 * recovery_unlock_collect() gives the result) or P11AGENT_ERR_BUSY when
 * RECOVERY_MAX_UNLOCKS already wait.
 */
int recovery_unlock_begin(uint64_t conn_id, size_t slot, uint32_t req_id,
    const char *client, long pid);
/*
 * Main thread, without the agent lock: calls done() once for each waiting UNLOCK
 * whose login has ended (r: 0 or its failure). The connection may be
 * gone by then.
 */
void recovery_unlock_collect(void (*done)(uint64_t conn_id, size_t slot,
    uint32_t req_id, int r));

/*
 * Agent lock held. The one-line message for a failure r of a login (the
 * token's PIN state, "PIN entry cancelled", ...), or NULL when r is not
 * such a failure. Valid until the next call.
 */
const char *recovery_message(int r);

#endif /* P11AGENT_AGENT_RECOVERY_H */
