/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * loop.c - reactor threads over one epoll set, and the main thread.
 *
 * Every connection is registered EPOLLONESHOT: an event goes to exactly
 * one reactor, which takes the connection (busy), reads at most one
 * frame, dispatches it and gives the connection back (re-arming it)
 * before it runs the frame's token operation; the reply is sealed and
 * sent by that same thread. A sequential client therefore costs one
 * wake-up each way, like a direct socket peer, and a pipelining client's
 * next frame is taken by the next idle reactor while this one works. As
 * each turn reads one frame, the kernel's ready list serves connections
 * round-robin: a flood waits behind itself.
 *
 * A connection is freed only by the thread that holds it, after it left
 * the table (under the agent lock) and the epoll set. Peers of another
 * uid are closed on accept, before any crypto.
 *
 * Watching the set. Waking a thread asleep on another CPU costs about as
 * much as an ECDSA signature on a small VM, so when events have lately
 * come quickly and a CPU is spare, one reactor (the spinner) polls the
 * set instead of sleeping, and the idle others park on a condition
 * variable: were they asleep in epoll_wait, the kernel would wake one
 * for every event the spinner takes. Otherwise idle reactors sleep in
 * epoll_wait, as many as there are. A reactor that takes an event when
 * nobody else watches summons a parked one if other connections are
 * active; with one active client it serves and comes back, and nobody
 * sleeps on either side. Connections that stay unwatched that way (an
 * idle client waking up during a long operation) are seen to by the
 * main thread within three ticks.
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11agent/p11agent.h>

#include "confirm.h"
#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "loop.h"
#include "peer.h"
#include "workers.h"

#define LOOP_ACCEPT_BURST	64	/* connections accepted per wakeup */
#define LOOP_ACCEPT_PAUSE	1	/* seconds, no accept after EMFILE */
#define LOOP_REFUSED_LOG	10	/* seconds between "refused" lines */
#define LOOP_SCAN_MS		1000	/* deadline scan with connections open */
#define LOOP_STOP_TAG		UINT64_MAX	/* epoll data of stopfd */
#define LOOP_TICK_MS		10	/* main thread, while clients are active */
#define LOOP_RECENT_NS		(50 * 1000000ULL)	/* a client is active */
#define LOOP_SPIN_MAX_NS	(200 * 1000ULL)	/* longest poll of the set */
#define LOOP_SPIN_SLACK_NS	(20 * 1000ULL)
#define LOOP_GAP_CAP_NS		(10 * 1000000ULL)	/* moving average input */

static struct {
	pthread_mutex_t mtx;		/* the agent lock */
	int listen_fd;
	int wakefd;			/* signals, the token keeper */
	int epfd;
	int stopfd;			/* readable: reactors end */
	const struct conn_env *env;
	struct conn *conns[P11AGENT_MAX_CONNS];
	size_t nconns;
	size_t next_slot;		/* first slot to try for a new conn */
	uint64_t next_id;
	time_t accept_paused_until;
	time_t refused_next;		/* main thread: next "refused" line */
	unsigned long refused_quiet;	/* refusals not logged since */
	pthread_t *threads;
	unsigned int nthreads;
	/* Who watches the epoll set; agent lock. */
	pthread_cond_t park_cv;		/* parked reactors */
	unsigned int ncpu;
	unsigned int nserving;		/* reactors handling an event */
	unsigned int nwait;		/* reactors asleep in epoll_wait */
	unsigned int nparked;
	int spinner;			/* a reactor polls the set */
	int summoned;			/* a parked one was told to watch */
	int stopping;
	int unwatched;			/* main thread ticks with no watcher */
	uint64_t ntaken;		/* events taken by reactors, ever */
	uint64_t ntaken_seen;		/* ntaken at the last tick */
	size_t nrecent;			/* connections with c->recent */
	uint64_t gap_ns;		/* moving average: watch to event */
} lp = {
	.mtx = PTHREAD_MUTEX_INITIALIZER,
	.park_cv = PTHREAD_COND_INITIALIZER,
	.gap_ns = LOOP_GAP_CAP_NS,
	.listen_fd = -1,
	.wakefd = -1,
	.epfd = -1,
	.stopfd = -1,
};

static volatile sig_atomic_t got_stop, got_reload;

time_t
loop_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return ts.tv_sec;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void
loop_lock(void)
{
	pthread_mutex_lock(&lp.mtx);
}

void
loop_unlock(void)
{
	pthread_mutex_unlock(&lp.mtx);
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
	if ((lp.wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    (lp.stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    (lp.epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		log_err_f("event loop: %s", strerror(errno));
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

/* The epoll data of a connection: its slot and id in one word. */
static uint64_t
conn_tag(const struct conn *c)
{
	return c->id * P11AGENT_MAX_CONNS + c->slot;
}

/* Agent lock held. The connection with this tag, or NULL. */
static struct conn *
lookup_locked(size_t slot, uint64_t id)
{
	struct conn *c;

	if (slot >= P11AGENT_MAX_CONNS || (c = lp.conns[slot]) == NULL ||
	    c->id != id)
		return NULL;
	return c;
}

/* Agent lock held: (re-)arms c for what it waits for. */
static void
arm_locked(struct conn *c, int op)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLONESHOT;
	if (conn_want_read(c))
		ev.events |= EPOLLIN;
	if (conn_want_write(c))
		ev.events |= EPOLLOUT;
	ev.data.u64 = conn_tag(c);
	/* Only ENOMEM can fail here; without events the peer is lost. */
	if (epoll_ctl(lp.epfd, op, c->fd, &ev) != 0) {
		log_err_f("connection %" PRIu64 ": epoll: %s", c->id,
		    strerror(errno));
		c->state = CONN_DEAD;
		if (op == EPOLL_CTL_MOD)
			(void)shutdown(c->fd, SHUT_RDWR);
	}
}

/* Agent lock held: nobody watches the set? Then a parked reactor will. */
static void
summon_locked(void)
{
	if (!lp.spinner && lp.nwait == 0 && lp.nparked > 0 && !lp.summoned) {
		lp.summoned = 1;
		pthread_cond_signal(&lp.park_cv);
	}
}

struct conn *
loop_acquire(size_t slot, uint64_t id)
{
	struct conn *c;

	loop_lock();
	/* A holder never blocks while it holds: this wait is short. */
	while ((c = lookup_locked(slot, id)) != NULL && c->busy) {
		loop_unlock();
		sched_yield();
		loop_lock();
	}
	if (c != NULL)
		c->busy = 1;
	loop_unlock();
	return c;
}

/* Wakes the main thread (a failed write: it was awake anyway). */
static void
poke_main(void)
{
	uint64_t one = 1;

	if (write(lp.wakefd, &one, sizeof(one)) == -1)
		return;
}

/*
 * A reactor's event, at time t after gap of watching (spinning: it
 * polled): the reactor stops watching and takes the connection unless
 * another thread holds it.
 */
static struct conn *
take(uint64_t tag, int spinning, uint64_t t, uint64_t gap)
{
	struct conn *c;

	loop_lock();
	if (spinning)
		lp.spinner = 0;
	else
		lp.nwait--;
	lp.nserving++;
	lp.ntaken++;
	if (gap > LOOP_GAP_CAP_NS)
		gap = LOOP_GAP_CAP_NS;
	lp.gap_ns = lp.gap_ns - lp.gap_ns / 8 + gap / 8;
	c = lookup_locked((size_t)(tag % P11AGENT_MAX_CONNS),
	    tag / P11AGENT_MAX_CONNS);
	if (c != NULL && c->busy)
		c = NULL;	/* its holder re-arms it when done */
	if (c != NULL) {
		c->busy = 1;
		c->last_ns = t;
		if (!c->recent) {
			c->recent = 1;
			/* The main thread starts ticking (scan()). */
			if (lp.nrecent++ == 0)
				poke_main();
		}
		/* Other clients are active: somebody must watch for them. */
		if (lp.nrecent > 1)
			summon_locked();
	}
	loop_unlock();
	return c;
}

/* Handshake and final-flush deadlines; the holder's own check. */
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

/*
 * Sends what c has queued and gives it back, armed for its next event
 * unless !arm (its holder's reply will arm it; output still queued arms
 * it anyway). summon: the caller will not watch the set next.
 */
static void
give_back(struct conn *c, int arm, int summon)
{
	struct job *j;
	uint64_t id;

	if (c->state != CONN_DEAD && conn_want_write(c))
		conn_flush(c);
	expire(c, loop_now());
	loop_lock();
	if (c->state != CONN_DEAD && (arm || conn_want_write(c))) {
		arm_locked(c, EPOLL_CTL_MOD);
		if (summon)
			summon_locked();
	}
	if (c->state != CONN_DEAD) {
		c->busy = 0;
		loop_unlock();
		return;
	}
	/* Gone: out of the table and the epoll set, then freed. */
	lp.conns[c->slot] = NULL;
	lp.nconns--;
	if (c->recent)
		lp.nrecent--;
	(void)epoll_ctl(lp.epfd, EPOLL_CTL_DEL, c->fd, NULL);
	id = c->id;
	j = c->job;
	c->job = NULL;
	loop_unlock();
	job_free(j);
	/* Its operations waiting for a person are dropped. */
	confirm_cancel(id);
	conn_free(c);
}

void
loop_release(struct conn *c)
{
	give_back(c, 1, 1);
}

/* loop_deliver(); summon: the caller is not a reactor about to watch. */
static void
deliver(struct job *j, int summon)
{
	struct conn *c;

	if ((c = loop_acquire(j->conn_slot, j->conn_id)) == NULL) {
		log_debug_f("dropping reply %" PRIu32 " for closed "
		    "connection %" PRIu64, j->req_id, j->conn_id);
		job_free(j);
		return;
	}
	loop_lock();
	if (c->inflight > 0)
		c->inflight--;
	if (c->state == CONN_OPEN)
		dispatch_complete(c, j);
	loop_unlock();
	job_free(j);
	give_back(c, 1, summon);
}

void
loop_deliver(struct job *j)
{
	deliver(j, 1);
}

/* Bytes wait in the socket (on error: say yes, the safe answer). */
static int
input_pending(int fd)
{
	int n;

	return ioctl(fd, FIONREAD, &n) != 0 || n > 0;
}

/* One event of a reactor: a frame in, its operation run, replies out. */
static void
serve(uint64_t tag, int spinning, uint64_t t, uint64_t gap)
{
	struct conn *c;
	struct job *j;
	int more;

	if ((c = take(tag, spinning, t, gap)) == NULL)
		return;
	expire(c, loop_now());
	if (conn_read_frame(c))
		conn_handle_frame(c, lp.env, loop_now());
	j = c->job;
	c->job = NULL;
	if (j == NULL) {
		give_back(c, 1, 0);
		return;
	}
	/*
	 * A pipelined next frame goes back to the set now, for another
	 * reactor; with none waiting, the reply re-arms the connection
	 * (one epoll_ctl less per request).
	 */
	more = c->state != CONN_DEAD && input_pending(c->fd);
	give_back(c, more, more);
	workers_run(j);
	deliver(j, 0);
}

/*
 * Agent lock held. How long a reactor may poll the set before it sleeps:
 * events have come quickly of late and a CPU is spare for it (one per
 * active client and per reactor at work). 0: sleep.
 */
static uint64_t
spin_window_locked(void)
{
	uint64_t w;

	if (lp.ncpu < 2 || lp.gap_ns > LOOP_SPIN_MAX_NS ||
	    lp.nserving + lp.nrecent >= lp.ncpu)
		return 0;
	w = 2 * lp.gap_ns + LOOP_SPIN_SLACK_NS;
	return w < LOOP_SPIN_MAX_NS ? w : LOOP_SPIN_MAX_NS;
}

/*
 * Waits for this reactor's next event (served: it has just handled
 * one). Parks while another reactor spins, else spins or sleeps in
 * epoll_wait. Returns 1 with *ev, *spinning, *t and *gap for take(), or
 * 0 when the reactors stop.
 */
static int
watch(int served, struct epoll_event *ev, int *spinning, uint64_t *t,
    uint64_t *gap)
{
	uint64_t t0, spin;
	int n = 0;

	loop_lock();
	if (served)
		lp.nserving--;
	while (lp.spinner && !lp.stopping) {
		lp.nparked++;
		pthread_cond_wait(&lp.park_cv, &lp.mtx);
		lp.nparked--;
		lp.summoned = 0;
	}
	if (lp.stopping) {
		loop_unlock();
		return 0;
	}
	spin = spin_window_locked();
	if ((*spinning = spin > 0))
		lp.spinner = 1;
	else
		lp.nwait++;
	loop_unlock();

	t0 = now_ns();
	if (*spinning) {
		while ((n = epoll_wait(lp.epfd, ev, 1, 0)) == 0 &&
		    now_ns() - t0 < spin)
			sched_yield();
		if (n == 0) {
			/* Nothing came: sleep; the parked stay parked. */
			loop_lock();
			lp.spinner = 0;
			lp.nwait++;
			*spinning = 0;
			loop_unlock();
		}
	}
	while (n != 1) {
		if ((n = epoll_wait(lp.epfd, ev, 1, -1)) == -1 &&
		    errno != EINTR) {
			log_err_f("epoll_wait: %s", strerror(errno));
			break;
		}
	}
	*t = now_ns();
	*gap = *t - t0;
	if (n == 1 && ev->data.u64 != LOOP_STOP_TAG)
		return 1;
	loop_lock();
	if (*spinning)
		lp.spinner = 0;
	else
		lp.nwait--;
	loop_unlock();
	return 0;
}

static void *
reactor_main(void *arg)
{
	struct epoll_event ev;
	uint64_t t, gap;
	int spinning, served = 0;

	(void)arg;
	while (watch(served, &ev, &spinning, &t, &gap)) {
		serve(ev.data.u64, spinning, t, gap);
		served = 1;
	}
	return NULL;
}

/* CPUs this process may run on. */
static unsigned int
online_cpus(void)
{
	cpu_set_t set;
	long n;

	if (sched_getaffinity(0, sizeof(set), &set) == 0 &&
	    CPU_COUNT(&set) > 0)
		return (unsigned int)CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (unsigned int)n : 1;
}

int
loop_start(const struct conn_env *env, unsigned int n)
{
	struct epoll_event ev;
	sigset_t all, old;
	unsigned int i;
	int e = 0;

	if (n == 0 || lp.threads != NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	lp.env = env;
	lp.ncpu = online_cpus();
	memset(&ev, 0, sizeof(ev));
	/* Level-triggered, not one-shot: every reactor sees it. */
	ev.events = EPOLLIN;
	ev.data.u64 = LOOP_STOP_TAG;
	if (epoll_ctl(lp.epfd, EPOLL_CTL_ADD, lp.stopfd, &ev) != 0) {
		log_err_f("epoll: %s", strerror(errno));
		return P11AGENT_ERR_SYSTEM_ERROR;
	}
	if ((lp.threads = calloc(n, sizeof(*lp.threads))) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	/* Signals go to the main thread only. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < n; i++) {
		if ((e = pthread_create(&lp.threads[i], NULL, reactor_main,
		    NULL)) != 0)
			break;
		lp.nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (lp.nthreads != n) {
		log_err_f("cannot start a reactor thread: %s", strerror(e));
		loop_stop();
		return P11AGENT_ERR_SYSTEM_ERROR;
	}
	log_debug_f("%u reactor threads", n);
	return 0;
}

void
loop_stop(void)
{
	uint64_t one = 1;
	unsigned int i;

	loop_lock();
	lp.stopping = 1;
	pthread_cond_broadcast(&lp.park_cv);
	loop_unlock();
	if (lp.stopfd != -1 && lp.nthreads > 0)
		while (write(lp.stopfd, &one, sizeof(one)) == -1 &&
		    errno == EINTR)
			;
	for (i = 0; i < lp.nthreads; i++)
		pthread_join(lp.threads[i], NULL);
	free(lp.threads);
	lp.threads = NULL;
	lp.nthreads = 0;
}

/* Agent lock held. The first free slot, or SIZE_MAX. */
static size_t
free_slot_locked(void)
{
	size_t i, slot;

	for (i = 0; i < P11AGENT_MAX_CONNS; i++) {
		slot = (lp.next_slot + i) % P11AGENT_MAX_CONNS;
		if (lp.conns[slot] == NULL)
			return slot;
	}
	return SIZE_MAX;
}

/*
 * A connection from another uid, refused: one line per LOOP_REFUSED_LOG
 * seconds at most, with a count of those left out, because another local
 * user could otherwise fill the log. Main thread.
 */
static void
log_refused(uid_t uid, pid_t pid, time_t now)
{
	if (now < lp.refused_next) {
		lp.refused_quiet++;
		return;
	}
	if (lp.refused_quiet > 0)
		log_info_f("refused %lu more connections from other uids "
		    "in %d s (not logged)", lp.refused_quiet,
		    LOOP_REFUSED_LOG);
	log_info_f("refused connection from uid %ld pid %ld: not our uid",
	    (long)uid, (long)pid);
	lp.refused_quiet = 0;
	lp.refused_next = now + LOOP_REFUSED_LOG;
}

/* Checks the peer and adds its connection; closes fd if refused. */
static void
admit(int fd, time_t now)
{
	struct conn *c;
	uint64_t id;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	size_t slot;

	if (peer_getcred(fd, &uid, &gid, &pid) != 0) {
		log_info_f("cannot get peer credentials; closing");
		close(fd);
		return;
	}
	if (uid != getuid() && uid != 0) {
		log_refused(uid, pid, now);
		close(fd);
		return;
	}
	loop_lock();
	if (lp.nconns >= P11AGENT_MAX_CONNS ||
	    (slot = free_slot_locked()) == SIZE_MAX) {
		loop_unlock();
		log_info_f("refused connection from pid %ld: %d "
		    "connections open", (long)pid, P11AGENT_MAX_CONNS);
		close(fd);
		return;
	}
	if ((c = conn_new(fd, slot, ++lp.next_id, uid, pid, now)) == NULL) {
		loop_unlock();
		log_err_f("out of memory for a connection");
		close(fd);
		return;
	}
	lp.conns[slot] = c;
	lp.nconns++;
	lp.next_slot = (slot + 1) % P11AGENT_MAX_CONNS;
	arm_locked(c, EPOLL_CTL_ADD);
	if (c->state == CONN_DEAD) {
		lp.conns[slot] = NULL;
		lp.nconns--;
		loop_unlock();
		conn_free(c);
		return;
	}
	/* Armed: a reactor may take it, and even free it, from now on. */
	id = c->id;
	loop_unlock();
	log_debug_f("connection %" PRIu64 " from uid %ld pid %ld", id,
	    (long)uid, (long)pid);
}

static void
accept_some(time_t now)
{
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
		admit(fd, now);
	}
}

/*
 * Past their deadline: a connection nobody holds is shut down, so that
 * its next event brings it to a reactor, which closes it (expire()).
 * Held ones are checked by their holder on release. Clients idle for
 * LOOP_RECENT_NS are no longer active, and a set nobody has watched
 * for two ticks while no event was taken gets a parked reactor (see the
 * top of this file).
 * Returns 1 while the main thread should tick (LOOP_TICK_MS).
 */
static int
scan(time_t now, uint64_t tn)
{
	struct conn *c;
	size_t i;

	int unwatched, tick;

	loop_lock();
	for (i = 0; i < P11AGENT_MAX_CONNS; i++) {
		if ((c = lp.conns[i]) == NULL)
			continue;
		if (c->recent && tn - c->last_ns > LOOP_RECENT_NS) {
			c->recent = 0;
			lp.nrecent--;
		}
		if (c->busy || c->deadline == 0 || now < c->deadline)
			continue;
		(void)shutdown(c->fd, SHUT_RDWR);
	}
	/*
	 * Nobody watches, and no reactor has taken an event since the last
	 * tick: an operation has been running for a tick at least. (With
	 * one busy client nobody watches during each of its operations;
	 * that is no reason to wake a parked reactor.)
	 */
	unwatched = !lp.spinner && lp.nwait == 0 && lp.nparked > 0;
	if (!unwatched || lp.ntaken != lp.ntaken_seen)
		lp.unwatched = 0;
	else if (++lp.unwatched >= 2) {
		lp.unwatched = 0;
		summon_locked();
	}
	lp.ntaken_seen = lp.ntaken;
	tick = lp.nrecent > 0 || unwatched;
	loop_unlock();
	return tick;
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
loop_run(void)
{
	struct pollfd pfd[2];
	uint64_t v;
	time_t now;
	size_t n;
	int timeout, t, listening, tick = 0;

	for (;;) {
		if (got_stop)
			return LOOP_STOP;
		if (got_reload) {
			got_reload = 0;
			return LOOP_RELOAD;
		}
		/* UNLOCKs answered through the pinentry. */
		dispatch_unlocks();
		now = loop_now();
		timeout = -1;
		loop_lock();
		t = dispatch_tick(now);
		n = lp.nconns;
		loop_unlock();
		if (t >= 0)
			min_timeout(&timeout, now + t, now);
		if (n > 0 && (timeout < 0 || timeout > LOOP_SCAN_MS))
			timeout = LOOP_SCAN_MS;
		if (tick && (timeout < 0 || timeout > LOOP_TICK_MS))
			timeout = LOOP_TICK_MS;

		pfd[0].fd = lp.wakefd;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		listening = 0;
		if (now < lp.accept_paused_until)
			min_timeout(&timeout, lp.accept_paused_until, now);
		else if (n < P11AGENT_MAX_CONNS) {
			pfd[1].fd = lp.listen_fd;
			pfd[1].events = POLLIN;
			pfd[1].revents = 0;
			listening = 1;
		}
		if (poll(pfd, 1 + listening, timeout) == -1) {
			if (errno == EINTR)
				continue;
			log_err_f("poll: %s", strerror(errno));
			return LOOP_ERROR;
		}
		now = loop_now();
		if (pfd[0].revents != 0)
			while (read(lp.wakefd, &v, sizeof(v)) == -1 &&
			    errno == EINTR)
				;
		if (listening && pfd[1].revents != 0)
			accept_some(now);
		tick = scan(now, now_ns());
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
	if (lp.stopfd != -1)
		close(lp.stopfd);
	if (lp.epfd != -1)
		close(lp.epfd);
	lp.wakefd = lp.stopfd = lp.epfd = -1;
}
