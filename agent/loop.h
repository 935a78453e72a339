/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * loop.h - the agent's threads. N reactor threads share one epoll set of
 * connections: the one that takes a connection's event reads one frame,
 * dispatches it and runs its token operation itself, so a request wakes
 * one thread, not a chain of them. While one client sends in quick
 * succession and a CPU is spare, an idle reactor polls the set instead of
 * sleeping (loop.c). The main thread accepts, handles signals, timers and
 * deadlines.
 *
 * Locking: one agent lock (loop_lock) guards the connection table, the
 * dispatcher's state and the rules. A connection is worked on by one
 * thread at a time, the one that holds it (loop_acquire): that thread
 * alone touches its buffers and channel, and sends without the agent
 * lock. Token operations run with neither held. Connections are found
 * by (slot, id), so a reply for one that has closed (its slot maybe
 * reused) is recognised and dropped.
 */
#ifndef P11AGENT_AGENT_LOOP_H
#define P11AGENT_AGENT_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct conn;
struct conn_env;
struct job;

enum loop_exit { LOOP_STOP = 0, LOOP_RELOAD = 1, LOOP_ERROR = -1 };

/* Monotonic seconds, for deadlines. */
time_t loop_now(void);

/*
 * Prepares the loop over a listening socket (made non-blocking here) and
 * installs the SIGTERM/SIGINT (stop) and SIGHUP (reload) handlers.
 * Returns 0 or P11AGENT_ERR_SYSTEM_ERROR.
 */
int loop_init(int listen_fd);
/* The eventfd that wakes the main thread (the token keeper uses it). */
int loop_wakefd(void);

/*
 * Starts n reactor threads; env is borrowed until loop_stop() and may be
 * changed under loop_lock(). Returns 0 or P11AGENT_ERR_SYSTEM_ERROR.
 * Signals are blocked in them.
 */
int loop_start(const struct conn_env *env, unsigned int n);
/* Stops the reactors, waiting for operations in progress. */
void loop_stop(void);

/*
 * Main thread: accepts and keeps timers until a signal asks to stop
 * (LOOP_STOP) or to reload the authorized clients (LOOP_RELOAD; call
 * again afterwards), or a system error leaves it unable to go on
 * (LOOP_ERROR).
 */
enum loop_exit loop_run(void);

/* Closes every connection and the eventfds (not the listening socket). */
void loop_cleanup(void);

/* The agent lock. */
void loop_lock(void);
void loop_unlock(void);

/*
 * Takes the connection in slot with this id for the calling thread,
 * waiting while another holds it; NULL when it has closed. Call without
 * the agent lock; give it back with loop_release().
 */
struct conn *loop_acquire(size_t slot, uint64_t id);
/*
 * Sends what c has queued, then gives it back to the reactors (or closes
 * it if it died). Without the agent lock.
 */
void loop_release(struct conn *c);

/*
 * Replies to the connection of a finished job (dispatch_complete) and
 * frees j; drops it if the connection has closed. Any thread, without
 * the agent lock.
 */
void loop_deliver(struct job *j);

#endif /* P11AGENT_AGENT_LOOP_H */
