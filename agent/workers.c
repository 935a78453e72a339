/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * workers.c - a fixed pool of threads that run private-key operations,
 * so a slow token never stalls the event loop and an HSM's parallel
 * sessions are used. Waiting jobs sit in one FIFO per connection; the
 * connections with work form a ring, and each thread takes the next job
 * of the connection at the ring's head and moves it to the back. So a
 * new request waits for at most one job of each other busy connection,
 * however many they queued. The audit line of an operation is written
 * (and synced) by the thread that ran it, before the loop sees the
 * result; if it cannot be written, the result is withheld. One mutex
 * guards the queues. Every job's input and output are wiped when freed.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11agent/p11agent.h>

#include "audit.h"
#include "confirm.h"
#include "log.h"
#include "secmem.h"
#include "token.h"
#include "workers.h"

/* The waiting jobs of the connection in one loop slot. */
struct connq {
	uint64_t conn_id;
	struct job *head, *tail;
	size_t n;
	struct connq *next;		/* in the ring */
	int in_ring;
};

static struct {
	pthread_mutex_t mtx;
	pthread_cond_t cond;		/* a job was queued, or stop */
	struct connq cq[P11AGENT_MAX_CONNS];
	struct connq *rhead, *rtail;	/* connections with waiting jobs */
	size_t qlen;			/* waiting jobs, all connections */
	size_t max_queue;
	struct job *dhead, *dtail;	/* completed, FIFO */
	int stop;
	pthread_t *threads;
	unsigned int nthreads;
	struct token_ctx *token;
	int wakefd;
} pool = {
	.mtx = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
	.max_queue = WORKERS_MAX_QUEUE,
	.wakefd = -1,
};

struct job *
job_new(const uint8_t *in, size_t inlen)
{
	struct job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		return NULL;
	if (inlen > 0) {
		if ((j->in = malloc(inlen)) == NULL) {
			free(j);
			return NULL;
		}
		memcpy(j->in, in, inlen);
		j->inlen = inlen;
	}
	return j;
}

void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	p11agent_freezero(j->in, j->inlen);
	p11agent_freezero(j->out, j->outlen);
	p11agent_freezero(j->meta, sizeof(*j->meta));
	free(j->msg);
	p11agent_freezero(j, sizeof(*j));
}

void
job_fail(struct job *j, int r, const char *msg)
{
	/* Never hand back a partial output with an error. */
	p11agent_freezero(j->out, j->outlen);
	j->out = NULL;
	j->outlen = 0;
	j->result = r;
	free(j->msg);
	j->msg = msg != NULL ? strdup(msg) : NULL;
}

int64_t
workers_now_us(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
free_list(struct job *j)
{
	struct job *next;

	for (; j != NULL; j = next) {
		next = j->next;
		job_free(j);
	}
}

static const char *
op_name(uint8_t type)
{
	switch (type) {
	case P11AGENT_MSG_SIGN:
		return "sign";
	case P11AGENT_MSG_DECRYPT:
		return "decrypt";
	case P11AGENT_MSG_DERIVE:
		return "derive";
	default:
		return "?";
	}
}

void
job_audit_rec(const struct job *j, struct audit_rec *rec)
{
	const struct job_meta *m = j->meta;
	int r = j->result;

	/*
	 * The log says what the client is told: every failure of the token's
	 * decryption is "decrypt_failed". The agent's own failures (denied,
	 * busy, audit) carry a message.
	 */
	if (j->type == P11AGENT_MSG_DECRYPT && r != 0 && j->msg == NULL &&
	    r != P11AGENT_ERR_AGENT_LOCKED && r != P11AGENT_ERR_NOT_LOGGED_IN &&
	    r != P11AGENT_ERR_TOKEN_NOT_PRESENT && r != P11AGENT_ERR_NO_MEMORY)
		r = P11AGENT_ERR_DECRYPT_FAILED;
	audit_rec_init(rec);
	rec->op = op_name(j->type);
	rec->key_id = j->key_id;
	if (m != NULL) {
		rec->client = m->client;
		rec->client_key = m->client_key;
		rec->program = m->program;
		rec->pid = m->pid;
		rec->uid = m->uid;
		rec->exe = m->exe;
		rec->key_label = m->key_label;
		rec->alg = m->alg;
		if (m->has_description)
			rec->description = m->description;
	}
	switch (j->type) {
	case P11AGENT_MSG_SIGN:
		rec->data_field = "digest";
		break;
	case P11AGENT_MSG_DECRYPT:
		rec->data_field = "ciphertext_sha256";
		rec->data_hashed = 1;
		break;
	default:
		rec->data_field = "peer_sha256";
		rec->data_hashed = 1;
		break;
	}
	rec->data = j->in;
	rec->datalen = j->inlen;
	rec->confirmed = j->confirmed;
	rec->result = r;
	rec->message = r != 0 ? j->msg : NULL;
	rec->duration_us = workers_now_us() - j->t0_us;
}

/*
 * Writes j's audit line and waits for the disk. If that fails, the
 * result is withheld: nothing signed or unwrapped leaves unrecorded.
 */
static void
audit_job(struct job *j)
{
	struct audit_rec rec;
	char err[AUDIT_ERR_MAX];

	if (!audit_enabled())
		return;
	job_audit_rec(j, &rec);
	if (audit_write(&rec, 1, err, sizeof(err)) != 0)
		job_fail(j, P11AGENT_ERR_IO, err);
}

static void
run_job(struct job *j)
{
	j->out = NULL;
	j->outlen = 0;
	switch (j->type) {
	case P11AGENT_MSG_SIGN:
		j->result = token_sign(pool.token, j->key_id, j->alg, j->in,
		    j->inlen, &j->out, &j->outlen);
		break;
	case P11AGENT_MSG_DECRYPT:
		j->result = token_decrypt(pool.token, j->key_id, j->alg, j->in,
		    j->inlen, &j->out, &j->outlen);
		break;
	case P11AGENT_MSG_DERIVE:
		j->result = token_derive(pool.token, j->key_id, j->in,
		    j->inlen, &j->out, &j->outlen);
		break;
	default:
		j->result = P11AGENT_ERR_INTERNAL;
		break;
	}
	if (j->result != 0)
		job_fail(j, j->result, NULL);
}

/* Queues a finished job for the loop and wakes it. */
static void
hand_back(struct job *j)
{
	uint64_t one = 1;

	j->next = NULL;
	pthread_mutex_lock(&pool.mtx);
	if (pool.dtail != NULL)
		pool.dtail->next = j;
	else
		pool.dhead = j;
	pool.dtail = j;
	pthread_mutex_unlock(&pool.mtx);
	/* An eventfd write only fails if the counter would overflow. */
	while (write(pool.wakefd, &one, sizeof(one)) == -1 && errno == EINTR)
		;
}

void
workers_finish(struct job *j)
{
	audit_job(j);
	hand_back(j);
}

/* With mtx held: the next job, round-robin over connections. */
static struct job *
take_locked(void)
{
	struct connq *cq;
	struct job *j;

	if ((cq = pool.rhead) == NULL)
		return NULL;
	j = cq->head;
	if ((cq->head = j->next) == NULL)
		cq->tail = NULL;
	cq->n--;
	pool.qlen--;
	j->next = NULL;
	/* Off the front; to the back if it has more. */
	if ((pool.rhead = cq->next) == NULL)
		pool.rtail = NULL;
	cq->next = NULL;
	if (cq->n > 0) {
		if (pool.rtail != NULL)
			pool.rtail->next = cq;
		else
			pool.rhead = cq;
		pool.rtail = cq;
	} else
		cq->in_ring = 0;
	return j;
}

static void *
worker_main(void *arg)
{
	struct job *j;

	for (;;) {
		pthread_mutex_lock(&pool.mtx);
		while (!pool.stop && pool.rhead == NULL)
			pthread_cond_wait(&pool.cond, &pool.mtx);
		if (pool.stop) {
			pthread_mutex_unlock(&pool.mtx);
			break;
		}
		j = take_locked();
		pthread_mutex_unlock(&pool.mtx);

		run_job(j);
		workers_finish(j);
	}
	return NULL;
}

void
workers_set_max_queue(size_t n)
{
	pool.max_queue = n > 0 ? n : WORKERS_MAX_QUEUE;
}

int
workers_start(struct token_ctx *t, unsigned int n, int wakefd)
{
	sigset_t all, old;
	unsigned int i;
	int e = 0;

	if (n == 0 || pool.threads != NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if ((pool.threads = calloc(n, sizeof(*pool.threads))) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	pool.token = t;
	pool.wakefd = wakefd;
	pool.stop = 0;

	/* Signals go to the loop thread only. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < n; i++) {
		if ((e = pthread_create(&pool.threads[i], NULL, worker_main,
		    NULL)) != 0)
			break;
		pool.nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (pool.nthreads != n) {
		log_err_f("cannot start worker thread: %s", strerror(e));
		workers_stop();
		return P11AGENT_ERR_SYSTEM_ERROR;
	}
	log_debug_f("%u worker threads, at most %zu jobs waiting", n,
	    pool.max_queue);
	return 0;
}

void
workers_stop(void)
{
	struct job *dead = NULL, *j;
	unsigned int i;
	size_t s;

	pthread_mutex_lock(&pool.mtx);
	pool.stop = 1;
	pthread_cond_broadcast(&pool.cond);
	pthread_mutex_unlock(&pool.mtx);
	for (i = 0; i < pool.nthreads; i++)
		pthread_join(pool.threads[i], NULL);
	free(pool.threads);
	pool.threads = NULL;
	pool.nthreads = 0;
	pool.token = NULL;
	for (s = 0; s < P11AGENT_MAX_CONNS; s++) {
		while ((j = pool.cq[s].head) != NULL) {
			pool.cq[s].head = j->next;
			j->next = dead;
			dead = j;
		}
		memset(&pool.cq[s], 0, sizeof(pool.cq[s]));
	}
	free_list(dead);
	free_list(pool.dhead);
	pool.rhead = pool.rtail = NULL;
	pool.dhead = pool.dtail = NULL;
	pool.qlen = 0;
}

/* With mtx held: unlinks cq from the ring. */
static void
ring_remove_locked(struct connq *cq)
{
	struct connq **pp, *prev = NULL;

	for (pp = &pool.rhead; *pp != NULL; prev = *pp, pp = &(*pp)->next) {
		if (*pp == cq) {
			*pp = cq->next;
			if (pool.rtail == cq)
				pool.rtail = prev;
			break;
		}
	}
	cq->next = NULL;
	cq->in_ring = 0;
}

/* With mtx held: moves every waiting job of cq to *deadp. */
static void
drain_locked(struct connq *cq, struct job **deadp)
{
	struct job *j;

	while ((j = cq->head) != NULL) {
		cq->head = j->next;
		j->next = *deadp;
		*deadp = j;
		pool.qlen--;
	}
	cq->tail = NULL;
	cq->n = 0;
	if (cq->in_ring)
		ring_remove_locked(cq);
}

int
workers_submit(struct job *j)
{
	struct job *dead = NULL;
	struct connq *cq;

	if (j->conn_slot >= P11AGENT_MAX_CONNS)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	pthread_mutex_lock(&pool.mtx);
	cq = &pool.cq[j->conn_slot];
	/*
	 * Ids grow: the older of two connections in one slot is closed,
	 * and its jobs (queued, or j back from a confirmation) never run.
	 */
	if (cq->n > 0 && cq->conn_id != j->conn_id) {
		if (j->conn_id < cq->conn_id) {
			pthread_mutex_unlock(&pool.mtx);
			return P11AGENT_ERR_BUSY;
		}
		drain_locked(cq, &dead);
	}
	if (pool.stop || (pool.qlen >= pool.max_queue && cq->n > 0)) {
		pthread_mutex_unlock(&pool.mtx);
		free_list(dead);
		return P11AGENT_ERR_BUSY;
	}
	cq->conn_id = j->conn_id;
	j->next = NULL;
	if (cq->tail != NULL)
		cq->tail->next = j;
	else
		cq->head = j;
	cq->tail = j;
	cq->n++;
	pool.qlen++;
	if (!cq->in_ring) {
		cq->in_ring = 1;
		cq->next = NULL;
		if (pool.rtail != NULL)
			pool.rtail->next = cq;
		else
			pool.rhead = cq;
		pool.rtail = cq;
	}
	pthread_cond_signal(&pool.cond);
	pthread_mutex_unlock(&pool.mtx);
	free_list(dead);
	return 0;
}

void
workers_cancel(uint64_t conn_id)
{
	struct job *dead = NULL;
	size_t s;

	confirm_cancel(conn_id);
	pthread_mutex_lock(&pool.mtx);
	for (s = 0; s < P11AGENT_MAX_CONNS; s++)
		if (pool.cq[s].n > 0 && pool.cq[s].conn_id == conn_id)
			drain_locked(&pool.cq[s], &dead);
	pthread_mutex_unlock(&pool.mtx);
	free_list(dead);
}

struct job *
workers_collect(void)
{
	struct job *j;

	pthread_mutex_lock(&pool.mtx);
	j = pool.dhead;
	pool.dhead = pool.dtail = NULL;
	pthread_mutex_unlock(&pool.mtx);
	return j;
}
