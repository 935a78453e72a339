/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * workers.h - a private-key operation as a job: what the request asked
 * (a copy, so a job never points into connection state), who asked, and
 * the result. A reactor (loop.h) or, after a person said yes, the
 * confirmation thread runs it with token_sign/decrypt/derive and writes
 * its audit line; loop_deliver() replies. token.c's own lock keeps
 * login/logout from overlapping an operation.
 */
#ifndef P11AGENT_AGENT_WORKERS_H
#define P11AGENT_AGENT_WORKERS_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define WORKERS_ALG_NAME	32	/* bytes, "rsa-pkcs1-sha256" */
#define WORKERS_PROGRAM_NAME	64	/* bytes, the client's own name */
#define WORKERS_EXE_MAX		256	/* bytes, /proc/PID/exe */

struct audit_rec;
struct token_ctx;

/*
 * Who asked and what for: the audit line and the confirmation prompt.
 * Copies, so a job never points into loop-thread state. Present when an
 * audit log or a confirmation rule is in force.
 */
struct job_meta {
	char client[P11AGENT_MAX_NAME + 1];	/* authorized_clients name */
	char program[WORKERS_PROGRAM_NAME];	/* its own name: a claim */
	uint8_t client_key[P11AGENT_KEY_LEN];
	long pid;
	long uid;
	char exe[WORKERS_EXE_MAX];
	size_t policy_line;		/* 0: no authorized_clients */
	char key_label[P11AGENT_MAX_NAME + 1];
	char key_email[P11AGENT_MAX_NAME + 1];
	char alg[WORKERS_ALG_NAME];
	int has_description;
	char description[P11AGENT_MAX_DESCRIPTION + 1];	/* a claim */
};

struct job {
	struct job *next;
	/* Where the reply goes: a connection that may be gone by then. */
	uint64_t conn_id;
	size_t conn_slot;
	uint32_t req_id;
	uint8_t type;		/* P11AGENT_MSG_SIGN/_DECRYPT/_DERIVE */
	uint8_t key_id[P11AGENT_KEYID_LEN];
	uint32_t alg;
	uint8_t *in;			/* a copy; wiped on free */
	size_t inlen;
	struct job_meta *meta;	/* NULL: no audit, no confirmation */
	int64_t t0_us;		/* monotonic, when the request came */
	int confirmed;			/* a person said yes */
	/* Filled in by the worker (or the confirmation thread). */
	int result;			/* 0 or a P11AGENT_ERR_* */
	char *msg;		/* failure message for the client */
	uint8_t *out;			/* wiped on free */
	size_t outlen;
};

/*
 * Allocates a job with a copy of in. Returns NULL when out of memory.
 * Release with job_free(), which wipes input, output and meta.
 */
struct job *job_new(const uint8_t *in, size_t inlen);
void job_free(struct job *j);
/* Sets j->result and a copy of msg (NULL: the code's own text). */
void job_fail(struct job *j, int r, const char *msg);

/*
 * Fills rec with j's audit record (j->result, j->msg; strings borrowed
 * from j, valid as long as it).
 */
void job_audit_rec(const struct job *j, struct audit_rec *rec);

/* Monotonic microseconds, for job durations. */
int64_t workers_now_us(void);

/* The token the jobs run against; before the reactors start. */
void workers_init(struct token_ctx *t);

/*
 * Runs j's operation and writes its audit line (a failure to write it
 * withholds the result). Any thread, without the agent lock.
 */
void workers_run(struct job *j);
/*
 * A job refused before it ran (j->result set): writes its audit line
 * and replies (loop_deliver). Any thread, without the agent lock.
 */
void workers_finish(struct job *j);

#endif /* P11AGENT_AGENT_WORKERS_H */
