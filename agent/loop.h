/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * loop.h - the agent's single-threaded poll() loop: the listening socket,
 * every connection, and an eventfd that worker threads and signal
 * handlers write to. Connections are found by (slot, id), so a reply for
 * a connection that has since closed (and whose slot was reused) is
 * recognised and dropped. Loop thread only, except loop_wakeup().
 */
#ifndef P11AGENT_AGENT_LOOP_H
#define P11AGENT_AGENT_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct conn_env;

enum loop_exit { LOOP_STOP = 0, LOOP_RELOAD = 1, LOOP_ERROR = -1 };

/* Monotonic seconds, for deadlines. */
time_t loop_now(void);

/*
 * Prepares the loop over a listening socket (made non-blocking here) and
 * installs the SIGTERM/SIGINT (stop) and SIGHUP (reload) handlers.
 * Returns 0 or P11AGENT_ERR_SYSTEM_ERROR.
 */
int loop_init(int listen_fd);
/* The eventfd that workers signal on completion. */
int loop_wakefd(void);

/*
 * Serves until a signal asks to stop (LOOP_STOP) or to reload the
 * authorized clients (LOOP_RELOAD; call again afterwards), or a system
 * error leaves it unable to go on (LOOP_ERROR). env is borrowed for
 * the duration of the call.
 */
enum loop_exit loop_run(const struct conn_env *env);

/* Closes every connection and the eventfd (not the listening socket). */
void loop_cleanup(void);

/* Number of open connections, for STATUS and logs. */
size_t loop_nconns(void);

/*
 * The connection in slot with this id, or NULL when it has closed (the
 * slot may hold another one by now). For replies that come late.
 */
struct conn *loop_conn(size_t slot, uint64_t id);

#endif /* P11AGENT_AGENT_LOOP_H */
