/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * loop.c - the event loop. One thread owns every connection; worker
 * threads only ever touch jobs, and tell the loop about completions
 * through an eventfd. Connections are freed only here, between events,
 * after their queued jobs are cancelled; completions that name a
 * connection id no longer in its slot are dropped (and wiped). Peers of
 * another uid are closed on accept, before any crypto.
 */
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11agent/p11agent.h>

#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "loop.h"
#include "peer.h"
#include "workers.h"

#define LOOP_ACCEPT_BURST	64	/* connections accepted per wakeup */
#define LOOP_ACCEPT_PAUSE	1	/* seconds, no accept after EMFILE */

static struct {
	int listen_fd;
	int wakefd;
	struct conn *conns[P11AGENT_MAX_CONNS];
	size_t nconns;
	size_t next_slot;		/* first slot to try for a new conn */
	uint64_t next_id;
	time_t accept_paused_until;
	struct pollfd pfd[P11AGENT_MAX_CONNS + 2];
	size_t pslot[P11AGENT_MAX_CONNS + 2];
} lp = { .listen_fd = -1, .wakefd = -1 };

static volatile sig_atomic_t got_stop, got_reload;

time_t
loop_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return ts.tv_sec;
}

static void
on_signal(int sig)
{
	uint64_t one = 1;
	int saved = errno;

	if (sig == SIGHUP)
		got_reload = 1;
	else
		got_stop = 1;
	/* A failed write is harmless: the flag is set, poll sees EINTR. */
	if (lp.wakefd != -1 && write(lp.wakefd, &one, sizeof(one)) == -1)
		errno = saved;
	errno = saved;
}

int
loop_init(int listen_fd)
{
	struct sigaction sa;
	int fl;

	lp.listen_fd = listen_fd;
	if ((fl = fcntl(listen_fd, F_GETFL)) == -1 ||
	    fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
	    fcntl(listen_fd, F_SETFD, FD_CLOEXEC) == -1) {
		log_err_f("listening socket: %s", strerror(errno));
		return P11AGENT_ERR_SYSTEM_ERROR;
	}
	if ((lp.wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		log_err_f("eventfd: %s", strerror(errno));
		return P11AGENT_ERR_SYSTEM_ERROR;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) != 0 ||
	    sigaction(SIGINT, &sa, NULL) != 0 ||
	    sigaction(SIGHUP, &sa, NULL) != 0) {
		log_err_f("sigaction: %s", strerror(errno));
		return P11AGENT_ERR_SYSTEM_ERROR;
	}
	return 0;
}

int
loop_wakefd(void)
{
	return lp.wakefd;
}

size_t
loop_nconns(void)
{
	return lp.nconns;
}

struct conn *
loop_conn(size_t slot, uint64_t id)
{
	struct conn *c;

	if (slot >= P11AGENT_MAX_CONNS || (c = lp.conns[slot]) == NULL ||
	    c->id != id)
		return NULL;
	return c;
}

static void
reap(struct conn *c)
{
	/* Its queued jobs would only be dropped on completion: skip them. */
	if (c->inflight > 0)
		workers_cancel(c->id);
	lp.conns[c->slot] = NULL;
	lp.nconns--;
	conn_free(c);
}

static void
accept_some(time_t now)
{
	struct conn *c;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	size_t i, slot;
	int fd, n;

	for (n = 0; n < LOOP_ACCEPT_BURST; n++) {
		fd = accept4(lp.listen_fd, NULL, NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* Out of descriptors: stop spinning on the listener. */
			log_err_f("accept: %s", strerror(errno));
			lp.accept_paused_until = now + LOOP_ACCEPT_PAUSE;
			return;
		}
		if (peer_getcred(fd, &uid, &gid, &pid) != 0) {
			log_info_f("cannot get peer credentials; closing");
			close(fd);
			continue;
		}
		/* XXX not rate-limited: another local user can fill the log. */
		if (uid != getuid() && uid != 0) {
			log_info_f("refused connection from uid %ld pid %ld: "
			    "not our uid", (long)uid, (long)pid);
			close(fd);
			continue;
		}
		if (lp.nconns >= P11AGENT_MAX_CONNS) {
			log_info_f("refused connection from pid %ld: %d "
			    "connections open", (long)pid, P11AGENT_MAX_CONNS);
			close(fd);
			continue;
		}
		for (i = 0, slot = lp.next_slot; i < P11AGENT_MAX_CONNS; i++) {
			slot = (lp.next_slot + i) % P11AGENT_MAX_CONNS;
			if (lp.conns[slot] == NULL)
				break;
		}
		if ((c = conn_new(fd, slot, ++lp.next_id, uid, pid, now)) ==
		    NULL) {
			log_err_f("out of memory for a connection");
			close(fd);
			continue;
		}
		lp.conns[slot] = c;
		lp.nconns++;
		lp.next_slot = (slot + 1) % P11AGENT_MAX_CONNS;
		log_debug_f("connection %" PRIu64 " from uid %ld pid %ld",
		    c->id, (long)uid, (long)pid);
	}
}

static void
complete_jobs(void)
{
	struct job *j, *next;
	struct conn *c;
	uint64_t v;

	while (read(lp.wakefd, &v, sizeof(v)) == -1 && errno == EINTR)
		;
	for (j = workers_collect(); j != NULL; j = next) {
		next = j->next;
		c = j->conn_slot < P11AGENT_MAX_CONNS ?
		    lp.conns[j->conn_slot] : NULL;
		if (c != NULL && c->id == j->conn_id) {
			if (c->inflight > 0)
				c->inflight--;
			if (c->state == CONN_OPEN) {
				dispatch_complete(c, j);
				conn_flush(c);
			}
		} else
			log_debug_f("dropping reply %" PRIu32 " for closed "
			    "connection %" PRIu64, j->req_id, j->conn_id);
		job_free(j);
	}
}

/* Handshake and final-flush deadlines. */
static void
expire(struct conn *c, time_t now)
{
	if (c->deadline == 0 || now < c->deadline || c->state == CONN_DEAD)
		return;
	if (c->state == CONN_HANDSHAKE)
		log_info_f("connection %" PRIu64 " (uid %ld pid %ld): "
		    "handshake timed out", c->id, (long)c->uid, (long)c->pid);
	c->state = CONN_DEAD;
}

/* Adds the poll timeout for deadline to *timeoutp (milliseconds). */
static void
min_timeout(int *timeoutp, time_t deadline, time_t now)
{
	int ms;

	ms = deadline <= now ? 0 : (int)(deadline - now) * 1000;
	if (*timeoutp < 0 || ms < *timeoutp)
		*timeoutp = ms;
}

enum loop_exit
loop_run(const struct conn_env *env)
{
	struct conn *c;
	size_t n, i, listen_idx;
	time_t now;
	int timeout, t;
	short ev;

	for (;;) {
		if (got_stop)
			return LOOP_STOP;
		if (got_reload) {
			got_reload = 0;
			return LOOP_RELOAD;
		}
		now = loop_now();
		timeout = -1;
		if ((t = dispatch_tick(now)) >= 0)
			min_timeout(&timeout, now + t, now);

		n = 0;
		lp.pfd[n].fd = lp.wakefd;
		lp.pfd[n].events = POLLIN;
		lp.pslot[n++] = SIZE_MAX;
		listen_idx = SIZE_MAX;
		if (now < lp.accept_paused_until)
			min_timeout(&timeout, lp.accept_paused_until, now);
		else if (lp.nconns < P11AGENT_MAX_CONNS) {
			listen_idx = n;
			lp.pfd[n].fd = lp.listen_fd;
			lp.pfd[n].events = POLLIN;
			lp.pslot[n++] = SIZE_MAX;
		}
		for (i = 0; i < P11AGENT_MAX_CONNS; i++) {
			if ((c = lp.conns[i]) == NULL)
				continue;
			ev = 0;
			if (conn_want_read(c))
				ev |= POLLIN;
			if (conn_want_write(c))
				ev |= POLLOUT;
			if (c->deadline != 0)
				min_timeout(&timeout, c->deadline, now);
			lp.pfd[n].fd = c->fd;
			lp.pfd[n].events = ev;
			lp.pfd[n].revents = 0;
			lp.pslot[n++] = i;
		}
		for (i = 0; i < n; i++)
			lp.pfd[i].revents = 0;

		if (poll(lp.pfd, n, timeout) == -1) {
			if (errno == EINTR)
				continue;
			log_err_f("poll: %s", strerror(errno));
			return LOOP_ERROR;
		}
		now = loop_now();

		if (lp.pfd[0].revents != 0)
			complete_jobs();
		if (listen_idx != SIZE_MAX && lp.pfd[listen_idx].revents != 0)
			accept_some(now);

		for (i = 0; i < n; i++) {
			if (lp.pslot[i] == SIZE_MAX)
				continue;
			if ((c = lp.conns[lp.pslot[i]]) == NULL)
				continue;
			ev = lp.pfd[i].revents;
			if (ev & (POLLERR | POLLNVAL))
				c->state = CONN_DEAD;
			else if ((ev & POLLHUP) && !(lp.pfd[i].events & POLLIN))
				c->state = CONN_DEAD;	/* gone, no input */
			if (ev & (POLLIN | POLLHUP))
				conn_read(c, env, now);
			if (conn_want_write(c))
				conn_flush(c);
			/* Output below the mark again: serve buffered input. */
			if (c->state == CONN_OPEN && conn_want_read(c))
				conn_process(c, env, now);
			if (conn_want_write(c))
				conn_flush(c);
		}

		for (i = 0; i < P11AGENT_MAX_CONNS; i++) {
			if ((c = lp.conns[i]) == NULL)
				continue;
			expire(c, now);
			if (c->state == CONN_DEAD)
				reap(c);
		}
	}
}

void
loop_cleanup(void)
{
	size_t i;

	for (i = 0; i < P11AGENT_MAX_CONNS; i++) {
		if (lp.conns[i] != NULL) {
			conn_free(lp.conns[i]);
			lp.conns[i] = NULL;
		}
	}
	lp.nconns = 0;
	if (lp.wakefd != -1)
		close(lp.wakefd);
	lp.wakefd = -1;
}
