/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * confirm.c - the confirmation thread. It takes the oldest waiting job,
 * waits a moment for the rest of a pipelined batch, and asks once for
 * every waiting job of the same connection, key and operation. The
 * prompt shows what the agent knows (client name from authorized_clients,
 * pid, uid, executable, key, operation) apart from what the client only
 * claims (its own name and its description), which is marked as such.
 * Everything shown is made printable first. One mutex guards the queue;
 * a batch under a prompt belongs to this thread alone.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11agent/p11agent.h>

#include "confirm.h"
#include "log.h"
#include "loop.h"
#include "pinentry.h"
#include "workers.h"

#define CONFIRM_DESC_MAX	900	/* bytes; an Assuan line is 1000 */
#define CONFIRM_SHOW_DESCS	3	/* distinct descriptions listed */

static struct {
	pthread_mutex_t mtx;
	pthread_cond_t cond;
	struct job *head, *tail;	/* waiting, FIFO */
	size_t n;
	int stop;
	int started;
	uint64_t current_conn;		/* the batch under a prompt */
	int current_cancelled;
	char *program;
	pthread_t thread;
} cf = {
	.mtx = PTHREAD_MUTEX_INITIALIZER,
	.cond = PTHREAD_COND_INITIALIZER,
};

/*
 * Copies s into out (outlen > 0 bytes) with control characters as
 * spaces, cut at a character boundary when it does not fit.
 */
static void
printable(char *out, size_t outlen, const char *s)
{
	size_t i;

	for (i = 0; i + 1 < outlen && s[i] != '\0'; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' :
		    s[i];
	/* Cut inside a UTF-8 sequence: drop its first bytes too. */
	if (s[i] != '\0')
		while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80)
			i--;
	out[i] = '\0';
}

static const char *
op_verb(uint8_t type)
{
	switch (type) {
	case P11AGENT_MSG_SIGN:
		return "sign";
	case P11AGENT_MSG_DECRYPT:
		return "decrypt";
	default:
		return "derive";
	}
}

/* The prompt for a batch of n jobs like first (the others in v). */
static void
describe(char *out, size_t outlen, struct job **v, size_t n)
{
	const struct job_meta *m = v[0]->meta;
	char label[96], email[96], client[96], program[96], exe[160];
	char desc[CONFIRM_SHOW_DESCS][P11AGENT_MAX_DESCRIPTION + 1];
	char shown[P11AGENT_MAX_DESCRIPTION + 1];
	size_t ndesc = 0, more = 0, i, k, used;

	printable(label, sizeof(label), m->key_label);
	printable(email, sizeof(email), m->key_email);
	printable(client, sizeof(client), m->client);
	printable(program, sizeof(program), m->program);
	printable(exe, sizeof(exe), *m->exe != '\0' ? m->exe : "unknown");
	if (n == 1)
		used = (size_t)snprintf(out, outlen, "Allow this operation: "
		    "%s (%s)?\n\n", op_verb(v[0]->type), m->alg);
	else
		used = (size_t)snprintf(out, outlen, "Allow %zu operations: "
		    "%s (%s)?\n\n", n, op_verb(v[0]->type), m->alg);
	if (used < outlen)
		used += (size_t)snprintf(out + used, outlen - used,
		    "Key: %s%s%s%s, id %02x%02x%02x%02x\n", label,
		    *email != '\0' ? " <" : "", email,
		    *email != '\0' ? ">" : "",
		    v[0]->key_id[0], v[0]->key_id[1], v[0]->key_id[2],
		    v[0]->key_id[3]);
	if (used < outlen) {
		if (m->policy_line > 0)
			used += (size_t)snprintf(out + used, outlen - used,
			    "Client: %s (authorized_clients line %zu)\n",
			    *client != '\0' ? client : "unnamed",
			    m->policy_line);
		else
			used += (size_t)snprintf(out + used, outlen - used,
			    "Client: any program of uid %ld (no "
			    "authorized_clients)\n", m->uid);
	}
	if (used < outlen)
		used += (size_t)snprintf(out + used, outlen - used,
		    "Process: pid %ld, uid %ld, %s\n", m->pid, m->uid, exe);
	if (used < outlen)
		used += (size_t)snprintf(out + used, outlen - used,
		    "It calls itself (unverified): \"%s\"\n", program);
	/* Distinct descriptions, as the client's claim. */
	for (i = 0; i < n; i++) {
		if (!v[i]->meta->has_description)
			continue;
		for (k = 0; k < ndesc; k++)
			if (strcmp(desc[k], v[i]->meta->description) == 0)
				break;
		if (k < ndesc)
			continue;
		if (ndesc < CONFIRM_SHOW_DESCS)
			snprintf(desc[ndesc++], sizeof(desc[0]), "%s",
			    v[i]->meta->description);
		else
			more++;
	}
	for (k = 0; k < ndesc && used < outlen; k++) {
		printable(shown, sizeof(shown), desc[k]);
		used += (size_t)snprintf(out + used, outlen - used,
		    "%s\"%s\"\n", k == 0 ? "The client says this is "
		    "(unverified): " : "  and: ", shown);
	}
	if (more > 0 && used < outlen)
		snprintf(out + used, outlen - used, "  and %zu more\n", more);
}

static const char *
denial(int r)
{
	switch (r) {
	case P11AGENT_ERR_DENIED:
		return "denied by user";
	case P11AGENT_ERR_TIMEOUT:
		return "denied: nobody answered the confirmation prompt in "
		    "time";
	case P11AGENT_ERR_PIN_REQUIRED:
		return "denied: this use needs confirmation but no pinentry "
		    "could run (see the agent's --pinentry option)";
	case P11AGENT_ERR_CONNECTION_CLOSED:
		return "the client went away during the confirmation";
	default:
		return "denied: the confirmation failed";
	}
}

/* With mtx held: moves the waiting jobs like first into v. */
static size_t
take_batch_locked(const struct job *first, struct job **v, size_t max)
{
	struct job **jp, *j;
	size_t n = 0;

	cf.tail = NULL;
	for (jp = &cf.head; (j = *jp) != NULL;) {
		if (n < max && j->conn_id == first->conn_id &&
		    j->type == first->type &&
		    memcmp(j->key_id, first->key_id, sizeof(j->key_id)) == 0) {
			*jp = j->next;
			j->next = NULL;
			v[n++] = j;
			cf.n--;
		} else {
			cf.tail = j;
			jp = &j->next;
		}
	}
	return n;
}

static void
decide(struct job **v, size_t n, int r)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (r == 0) {
			v[i]->confirmed = 1;
			workers_run(v[i]);
			loop_deliver(v[i]);
			continue;
		}
		job_fail(v[i], r == P11AGENT_ERR_CONNECTION_CLOSED ?
		    r : P11AGENT_ERR_DENIED, denial(r));
		workers_finish(v[i]);
	}
}

static void *
confirm_main(void *arg)
{
	struct job *v[CONFIRM_MAX_BATCH], *first;
	struct timespec ts = { 0, CONFIRM_BATCH_MS * 1000000L };
	char desc[CONFIRM_DESC_MAX];
	size_t n;
	int r;

	for (;;) {
		pthread_mutex_lock(&cf.mtx);
		while (!cf.stop && cf.head == NULL)
			pthread_cond_wait(&cf.cond, &cf.mtx);
		if (cf.stop) {
			pthread_mutex_unlock(&cf.mtx);
			break;
		}
		pthread_mutex_unlock(&cf.mtx);
		/* The rest of a pipelined batch is on its way. */
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
		ts.tv_sec = 0;
		ts.tv_nsec = CONFIRM_BATCH_MS * 1000000L;

		pthread_mutex_lock(&cf.mtx);
		/* The connection may have closed meanwhile. */
		if ((first = cf.head) == NULL) {
			pthread_mutex_unlock(&cf.mtx);
			continue;
		}
		n = take_batch_locked(first, v, CONFIRM_MAX_BATCH);
		cf.current_conn = v[0]->conn_id;
		cf.current_cancelled = 0;
		pthread_mutex_unlock(&cf.mtx);

		describe(desc, sizeof(desc), v, n);
		r = pinentry_confirm(cf.program, "p11agent: confirm key use",
		    desc, CONFIRM_TIMEOUT);
		log_info_f("confirmation of %zu %s operation%s for %s (pid "
		    "%ld): %s", n, op_verb(v[0]->type), n == 1 ? "" : "s",
		    v[0]->meta->client[0] != '\0' ? v[0]->meta->client :
		    v[0]->meta->program, v[0]->meta->pid,
		    r == 0 ? "allowed" : denial(r));

		pthread_mutex_lock(&cf.mtx);
		if (cf.current_cancelled)
			r = P11AGENT_ERR_CONNECTION_CLOSED;
		cf.current_conn = 0;
		pthread_mutex_unlock(&cf.mtx);
		decide(v, n, r);
	}
	return NULL;
}

int
confirm_start(const char *program)
{
	sigset_t all, old;
	int e;

	if (cf.started)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if (program != NULL && *program != '\0' &&
	    (cf.program = strdup(program)) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	cf.stop = 0;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	e = pthread_create(&cf.thread, NULL, confirm_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		log_err_f("cannot start the confirmation thread: %s",
		    strerror(e));
		free(cf.program);
		cf.program = NULL;
		return P11AGENT_ERR_SYSTEM_ERROR;
	}
	cf.started = 1;
	return 0;
}

void
confirm_stop(void)
{
	struct job *j, *next;

	if (!cf.started)
		return;
	pthread_mutex_lock(&cf.mtx);
	cf.stop = 1;
	pthread_cond_broadcast(&cf.cond);
	pthread_mutex_unlock(&cf.mtx);
	/* A prompt in progress ends now; nobody is left to answer to. */
	pinentry_abort();
	pthread_join(cf.thread, NULL);
	cf.started = 0;
	for (j = cf.head; j != NULL; j = next) {
		next = j->next;
		job_free(j);
	}
	cf.head = cf.tail = NULL;
	cf.n = 0;
	free(cf.program);
	cf.program = NULL;
}

int
confirm_submit(struct job *j)
{
	pthread_mutex_lock(&cf.mtx);
	if (!cf.started || cf.stop || cf.n >= CONFIRM_MAX_QUEUE) {
		pthread_mutex_unlock(&cf.mtx);
		return P11AGENT_ERR_BUSY;
	}
	j->next = NULL;
	if (cf.tail != NULL)
		cf.tail->next = j;
	else
		cf.head = j;
	cf.tail = j;
	cf.n++;
	pthread_cond_signal(&cf.cond);
	pthread_mutex_unlock(&cf.mtx);
	return 0;
}

void
confirm_cancel(uint64_t conn_id)
{
	struct job **jp, *j, *dead = NULL, *next;

	pthread_mutex_lock(&cf.mtx);
	if (cf.current_conn == conn_id)
		cf.current_cancelled = 1;
	cf.tail = NULL;
	for (jp = &cf.head; (j = *jp) != NULL;) {
		if (j->conn_id == conn_id) {
			*jp = j->next;
			j->next = dead;
			dead = j;
			cf.n--;
		} else {
			cf.tail = j;
			jp = &j->next;
		}
	}
	pthread_mutex_unlock(&cf.mtx);
	for (j = dead; j != NULL; j = next) {
		next = j->next;
		job_free(j);
	}
}
