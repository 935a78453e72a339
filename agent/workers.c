/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * workers.c - private-key operations as jobs: their token calls and
 * their audit lines. The reactor threads (loop.c) run a request's job
 * themselves, right after reading it; the confirmation thread runs the
 * jobs a person approved. The audit line of an operation is written
 * (and synced) by the thread that ran it, before the reply is sealed;
 * if it cannot be written, the result is withheld. Every job's input
 * and output are wiped when freed.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11agent/p11agent.h>

#include "audit.h"
#include "log.h"
#include "loop.h"
#include "secmem.h"
#include "token.h"
#include "workers.h"

static struct token_ctx *token;

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
		j->result = token_sign(token, j->key_id, j->alg, j->in,
		    j->inlen, &j->out, &j->outlen);
		break;
	case P11AGENT_MSG_DECRYPT:
		j->result = token_decrypt(token, j->key_id, j->alg, j->in,
		    j->inlen, &j->out, &j->outlen);
		break;
	case P11AGENT_MSG_DERIVE:
		j->result = token_derive(token, j->key_id, j->in,
		    j->inlen, &j->out, &j->outlen);
		break;
	default:
		j->result = P11AGENT_ERR_INTERNAL;
		break;
	}
	if (j->result != 0)
		job_fail(j, j->result, NULL);
}

void
workers_init(struct token_ctx *t)
{
	token = t;
}

void
workers_run(struct job *j)
{
	run_job(j);
	audit_job(j);
}

void
workers_finish(struct job *j)
{
	audit_job(j);
	loop_deliver(j);
}
