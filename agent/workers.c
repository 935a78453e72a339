/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * workers.c - a fixed pool of threads that run private-key operations,
 * so a slow token never stalls the event loop and an HSM's parallel
 * sessions are used. One mutex guards both queues. Every job's input
 * and output are wiped when it is freed.
 */
#include <sys/eventfd.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "secmem.h"
#include "token.h"
#include "workers.h"

static struct {
	pthread_mutex_t mtx;
	pthread_cond_t cond;		/* a job was queued, or stop */
	struct job *qhead, *qtail;	/* waiting, FIFO */
	size_t qlen;
	struct job *dhead, *dtail;	/* completed, FIFO */
	int stop;
	pthread_t *threads;
	unsigned int nthreads;
	struct token_ctx *token;
	int wakefd;
} pool = {
	.mtx = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
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
	p11agent_freezero(j, sizeof(*j));
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
	if (j->result != 0) {
		/* Never hand back a partial output with an error. */
		p11agent_freezero(j->out, j->outlen);
		j->out = NULL;
		j->outlen = 0;
	}
}

static void *
worker_main(void *arg)
{
	struct job *j;
	uint64_t one = 1;

	for (;;) {
		pthread_mutex_lock(&pool.mtx);
		while (!pool.stop && pool.qhead == NULL)
			pthread_cond_wait(&pool.cond, &pool.mtx);
		if (pool.stop) {
			pthread_mutex_unlock(&pool.mtx);
			break;
		}
		j = pool.qhead;
		if ((pool.qhead = j->next) == NULL)
			pool.qtail = NULL;
		pool.qlen--;
		j->next = NULL;
		pthread_mutex_unlock(&pool.mtx);

		run_job(j);

		pthread_mutex_lock(&pool.mtx);
		if (pool.dtail != NULL)
			pool.dtail->next = j;
		else
			pool.dhead = j;
		pool.dtail = j;
		pthread_mutex_unlock(&pool.mtx);
		/* An eventfd write only fails if the counter would overflow. */
		while (write(pool.wakefd, &one, sizeof(one)) == -1 &&
		    errno == EINTR)
			;
	}
	return NULL;
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
	log_debug_f("%u worker threads", n);
	return 0;
}

void
workers_stop(void)
{
	unsigned int i;

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
	free_list(pool.qhead);
	free_list(pool.dhead);
	pool.qhead = pool.qtail = pool.dhead = pool.dtail = NULL;
	pool.qlen = 0;
}

int
workers_submit(struct job *j)
{
	pthread_mutex_lock(&pool.mtx);
	if (pool.qlen >= WORKERS_MAX_QUEUE || pool.stop) {
		pthread_mutex_unlock(&pool.mtx);
		return P11AGENT_ERR_BUSY;
	}
	j->next = NULL;
	if (pool.qtail != NULL)
		pool.qtail->next = j;
	else
		pool.qhead = j;
	pool.qtail = j;
	pool.qlen++;
	pthread_cond_signal(&pool.cond);
	pthread_mutex_unlock(&pool.mtx);
	return 0;
}

void
workers_cancel(uint64_t conn_id)
{
	struct job **jp, *j, *dead = NULL;

	pthread_mutex_lock(&pool.mtx);
	pool.qtail = NULL;
	for (jp = &pool.qhead; (j = *jp) != NULL;) {
		if (j->conn_id == conn_id) {
			*jp = j->next;
			j->next = dead;
			dead = j;
			pool.qlen--;
		} else {
			pool.qtail = j;
			jp = &j->next;
		}
	}
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
