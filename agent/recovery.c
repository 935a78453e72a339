/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * recovery.c - the token keeper thread. It owns everything about the
 * login that may block: asking a pinentry for the PIN when a locked agent
 * is asked to do something, logging in again with the cached PIN when a
 * token that went down comes back, and locking once the PIN reaches its
 * maximum lifetime. Reactors only set requests, under rc.mtx. Lock
 * order: rc.mtx before the token's locks; token.c calls on_event() with
 * none of its locks held. A PIN that failed is never tried again.
 */
#include <errno.h>
#include <pthread.h>
#include <unistd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11agent/err.h>

#include "log.h"
#include "pin.h"
#include "pinentry.h"
#include "recovery.h"
#include "secmem.h"
#include "token.h"

#define POLL_MIN_MS	200	/* first look for a token that went down */
#define POLL_MAX_MS	1000	/* ms between looks while it stays away */
#define IDLE_MS		1000	/* ms between checks of the PIN lifetime */
#define RETRY_MAX_S	60	/* seconds, longest wait after failed logins */
#define CANCEL_WAIT_S	2	/* seconds before asking again after a cancel */
#define DESC_MAX	512	/* bytes of pinentry description */

static struct {
	pthread_mutex_t mtx;
	pthread_cond_t cv;
	pthread_t thread;
	int running;
	int stop;
	struct token_ctx *t;
	char *pinentry;
	int pe_timeout;
	long max_lifetime;
	/* Requests from the loop and from token.c. */
	int login_req;
	int event;
	char who[96];
	long pid;
	/* The last on-demand login, for messages and the retry delay. */
	int last_err;
	char last_msg[256];
	unsigned int failures;
	long not_before;		/* monotonic ms */
	/* Polling for down tokens (keeper thread only). */
	long poll_ms;
	long next_probe;		/* monotonic ms */
	/* UNLOCKs waiting for the pinentry; done once its login ended. */
	struct {
		uint64_t conn_id;
		size_t slot;
		uint32_t req_id;
		int done;
		int r;
	} unlocks[RECOVERY_MAX_UNLOCKS];
	size_t nunlocks;
	int wakefd;
} rc = {
	.mtx = PTHREAD_MUTEX_INITIALIZER,
	.wakefd = -1,
};

static char msgbuf[256];		/* recovery_message(): agent lock */

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
on_event(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&rc.mtx);
	rc.event = 1;
	pthread_cond_signal(&rc.cv);
	pthread_mutex_unlock(&rc.mtx);
}

/* "token "a" (serial 1234)" or "tokens "a", "b"", for the pinentry. */
static void
describe_tokens(char *out, size_t outlen)
{
	struct token_info *ti = NULL;
	size_t n = 0, i, used;

	snprintf(out, outlen, "the token");
	if (token_infos(rc.t, &ti, &n) != 0 || n == 0)
		return;
	if (n == 1) {
		snprintf(out, outlen, "token \"%s\" (serial %s)", ti[0].label,
		    ti[0].serial);
	} else {
		used = (size_t)snprintf(out, outlen, "tokens");
		for (i = 0; i < n && used < outlen; i++)
			used += (size_t)snprintf(out + used, outlen - used,
			    "%s\"%s\"", i == 0 ? " " : ", ", ti[i].label);
	}
	token_infos_free(ti, n);
}

/* Called with rc.mtx held. */
static void
set_result(int r, const char *msg)
{
	long delay_s = 0;

	rc.last_err = r;
	snprintf(rc.last_msg, sizeof(rc.last_msg), "%s", msg != NULL ? msg :
	    "");
	if (r == 0) {
		rc.failures = 0;
		rc.not_before = 0;
		return;
	}
	/* A wrong PIN waits longer each time: 2, 4, 8 ... 60 s. */
	if (r == P11AGENT_ERR_PIN_INCORRECT ||
	    r == P11AGENT_ERR_PIN_LEN_RANGE) {
		rc.failures++;
		delay_s = rc.failures >= 6 ? RETRY_MAX_S : 1L << rc.failures;
		if (delay_s > RETRY_MAX_S)
			delay_s = RETRY_MAX_S;
	} else
		delay_s = CANCEL_WAIT_S;
	rc.not_before = now_ms() + 1000 * delay_s;
}

/* The login ended: waiting UNLOCKs get r, and the loop is woken for them. */
static void
unlocks_done(int r)
{
	uint64_t one = 1;
	size_t i;
	int any = 0;

	pthread_mutex_lock(&rc.mtx);
	for (i = 0; i < rc.nunlocks; i++) {
		if (!rc.unlocks[i].done) {
			rc.unlocks[i].done = 1;
			rc.unlocks[i].r = r;
			any = 1;
		}
	}
	pthread_mutex_unlock(&rc.mtx);
	/* A failed write: the counter is full, so the loop wakes anyway. */
	if (any && rc.wakefd != -1 &&
	    write(rc.wakefd, &one, sizeof(one)) != sizeof(one))
		log_debug_f("wake: %s", strerror(errno));
}

/* Asks the pinentry for the PIN and logs in: the on-demand login. */
static void
do_login(const char *who, long pid)
{
	char toks[256], desc[DESC_MAX], warn[128], errtext[200], msg[256];
	const char *etext = NULL;
	char *pin = NULL;
	int r, last;

	msg[0] = '\0';
	if (token_logged_in(rc.t)) {
		token_login_end(rc.t, 0);
		unlocks_done(0);
		return;
	}
	/* The token's PIN flags first: never ask for a locked PIN. */
	if ((r = token_pin_check(rc.t, warn, sizeof(warn))) != 0) {
		snprintf(msg, sizeof(msg), "%s; unblock it with the SO PIN "
		    "(e.g. pkcs11-tool --unlock-pin)", warn);
		goto out;
	}
	if (!token_needs_pin(rc.t)) {
		r = token_login(rc.t, NULL);
		goto out;
	}
	describe_tokens(toks, sizeof(toks));
	if (pid > 0)
		snprintf(desc, sizeof(desc), "p11agent needs the PIN of %s "
		    "for the client \"%s\" (pid %ld).", toks, who, pid);
	else
		snprintf(desc, sizeof(desc), "p11agent needs the PIN of %s "
		    "for the client \"%s\".", toks, who);
	pthread_mutex_lock(&rc.mtx);
	last = rc.last_err;
	pthread_mutex_unlock(&rc.mtx);
	if (last == P11AGENT_ERR_PIN_INCORRECT) {
		snprintf(errtext, sizeof(errtext), "The last PIN was incorrect"
		    "%s%s.", warn[0] != '\0' ? "; " : "", warn);
		etext = errtext;
	} else if (warn[0] != '\0') {
		snprintf(errtext, sizeof(errtext), "%s.", warn);
		etext = errtext;
	}
	r = pinentry_getpin(rc.pinentry, "p11agent", desc, "PIN:", etext,
	    rc.pe_timeout, &pin);
	switch (r) {
	case 0:
		r = token_login(rc.t, pin);
		secmem_free(pin);		/* wipes */
		pin = NULL;
		if (r == P11AGENT_ERR_PIN_INCORRECT ||
		    r == P11AGENT_ERR_PIN_LOCKED)
			token_pin_message(rc.t, r, msg, sizeof(msg));
		break;
	case P11AGENT_ERR_DENIED:
		r = P11AGENT_ERR_PIN_REQUIRED;
		snprintf(msg, sizeof(msg), "PIN entry cancelled; the next "
		    "request asks again");
		break;
	case P11AGENT_ERR_TIMEOUT:
		snprintf(msg, sizeof(msg), "PIN entry timed out; the next "
		    "request asks again");
		break;
	case P11AGENT_ERR_PIN_REQUIRED:
		snprintf(msg, sizeof(msg), "no PIN: the pinentry could not "
		    "ask; check --pinentry and the display or terminal");
		break;
	default:
		break;
	}
 out:
	if (r == 0)
		log_info_f("logged in with the pin from pinentry, asked for %s "
		    "(pid %ld)", who, pid);
	else
		log_info_fr(r, "login for %s (pid %ld) failed", who, pid);
	pthread_mutex_lock(&rc.mtx);
	set_result(r, msg[0] != '\0' ? msg : NULL);
	pthread_mutex_unlock(&rc.mtx);
	token_login_end(rc.t, r);
	unlocks_done(r);
}

/* Tries to bring down tokens back; schedules the next look. */
static void
do_recover(void)
{
	char *pin = NULL;
	int r;

	if (!token_logged_in(rc.t)) {
		/* Locked: nothing to log in to; just look. */
		(void)token_recover(rc.t, NULL);
		rc.poll_ms = POLL_MIN_MS;
		return;
	}
	if (token_needs_pin(rc.t) && pin_cache_get(&pin) != 0) {
		log_err_f("a token came back and no pin is cached; locked: "
		    "run p11 unlock");
		token_logout(rc.t);
		rc.poll_ms = POLL_MIN_MS;
		return;
	}
	r = token_recover(rc.t, pin);
	secmem_free(pin);			/* wipes */
	pin = NULL;
	switch (r) {
	case 0:
		rc.poll_ms = POLL_MIN_MS;
		break;
	case P11AGENT_ERR_PIN_INCORRECT:
	case P11AGENT_ERR_PIN_LOCKED:
	case P11AGENT_ERR_PIN_LEN_RANGE:
	case P11AGENT_ERR_PIN_REQUIRED:
		/* Never again with this PIN (token_recover forgot it). */
		log_err_fr(r, "a token came back and refused the cached pin; "
		    "locked: run p11 unlock");
		token_logout(rc.t);
		rc.poll_ms = POLL_MIN_MS;
		break;
	default:
		/* Still away (or failing): look again, less often. */
		rc.poll_ms = rc.poll_ms * 2 > POLL_MAX_MS ? POLL_MAX_MS :
		    rc.poll_ms * 2;
		break;
	}
	rc.next_probe = now_ms() + rc.poll_ms;
}

static void
check_lifetime(void)
{
	long d = pin_cache_deadline();
	struct timespec ts;

	if (d == 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	if ((long)ts.tv_sec < d)
		return;
	token_logout(rc.t);		/* forgets the PIN */
	log_info_f("pin reached its maximum lifetime (%ld s): forgotten, "
	    "logged out", rc.max_lifetime);
}

/* The next time the keeper has something to do on its own. */
static long
next_wake(void)
{
	long w = now_ms() + IDLE_MS, d;

	if (token_down(rc.t) && rc.next_probe < w)
		w = rc.next_probe;
	if ((d = pin_cache_deadline()) != 0 && d * 1000 < w)
		w = d * 1000;
	return w;
}

static void *
keeper_main(void *arg)
{
	struct timespec ts;
	char who[sizeof(rc.who)];
	long pid, wake;
	int login;

	(void)arg;
	for (;;) {
		wake = next_wake();
		pthread_mutex_lock(&rc.mtx);
		ts.tv_sec = wake / 1000;
		ts.tv_nsec = (wake % 1000) * 1000000;
		while (!rc.stop && !rc.login_req && !rc.event &&
		    pthread_cond_timedwait(&rc.cv, &rc.mtx, &ts) == 0)
			;
		if (rc.stop) {
			pthread_mutex_unlock(&rc.mtx);
			break;
		}
		login = rc.login_req;
		rc.login_req = 0;
		rc.event = 0;
		memcpy(who, rc.who, sizeof(who));
		pid = rc.pid;
		pthread_mutex_unlock(&rc.mtx);

		if (login)
			do_login(who, pid);
		check_lifetime();
		if (token_down(rc.t)) {
			if (now_ms() >= rc.next_probe)
				do_recover();
		} else {
			rc.poll_ms = POLL_MIN_MS;
			rc.next_probe = 0;
		}
	}
	return NULL;
}

int
recovery_start(struct token_ctx *t, const struct recovery_opts *o)
{
	pthread_condattr_t ca;
	sigset_t all, old;
	int e;

	if (t == NULL || o == NULL || rc.running)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	rc.t = t;
	rc.stop = 0;
	rc.pe_timeout = o->pinentry_timeout > 0 ? o->pinentry_timeout :
	    RECOVERY_PINENTRY_TIMEOUT;
	rc.max_lifetime = o->pin_max_lifetime;
	rc.wakefd = o->wakefd;
	rc.poll_ms = POLL_MIN_MS;
	if (o->pinentry != NULL && (rc.pinentry = strdup(o->pinentry)) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	pin_cache_set_max_lifetime(o->pin_max_lifetime);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	e = pthread_cond_init(&rc.cv, &ca);
	pthread_condattr_destroy(&ca);
	if (e != 0) {
		free(rc.pinentry);
		rc.pinentry = NULL;
		return P11AGENT_ERR_SYSTEM_ERROR;
	}
	/* Signals go to the main thread only. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	e = pthread_create(&rc.thread, NULL, keeper_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		log_err_f("cannot start the token keeper: %s", strerror(e));
		pthread_cond_destroy(&rc.cv);
		free(rc.pinentry);
		rc.pinentry = NULL;
		return P11AGENT_ERR_SYSTEM_ERROR;
	}
	rc.running = 1;
	token_set_event_fn(t, on_event, NULL);
	/* A token missing at the first login is looked for at once. */
	on_event(NULL);
	return 0;
}

void
recovery_stop(void)
{
	if (!rc.running)
		return;
	token_set_event_fn(rc.t, NULL, NULL);
	pinentry_abort();
	pthread_mutex_lock(&rc.mtx);
	rc.stop = 1;
	pthread_cond_signal(&rc.cv);
	pthread_mutex_unlock(&rc.mtx);
	pthread_join(rc.thread, NULL);
	rc.running = 0;
	/* Nobody waits for a login that will not come. */
	if (token_login_pending(rc.t))
		token_login_end(rc.t, P11AGENT_ERR_PIN_REQUIRED);
	rc.nunlocks = 0;
	pthread_cond_destroy(&rc.cv);
	free(rc.pinentry);
	rc.pinentry = NULL;
}

int
recovery_can_login(void)
{
	return rc.running && rc.pinentry != NULL;
}

/* Called with rc.mtx held. */
static void
start_login(const char *client, long pid)
{
	token_login_begin(rc.t, rc.pe_timeout + 5);
	rc.login_req = 1;
	snprintf(rc.who, sizeof(rc.who), "%s", client != NULL ? client : "?");
	rc.pid = pid;
	pthread_cond_signal(&rc.cv);
}

void
recovery_request_login(const char *client, long pid)
{
	if (!recovery_can_login())
		return;
	pthread_mutex_lock(&rc.mtx);
	/* One pinentry at a time; and not again right after a failure. */
	if (!token_login_pending(rc.t) && now_ms() >= rc.not_before)
		start_login(client, pid);
	pthread_mutex_unlock(&rc.mtx);
}

int
recovery_unlock_begin(uint64_t conn_id, size_t slot, uint32_t req_id,
    const char *client, long pid)
{
	int r = 0;

	if (!recovery_can_login())
		return P11AGENT_ERR_PIN_REQUIRED;
	pthread_mutex_lock(&rc.mtx);
	if (rc.nunlocks >= RECOVERY_MAX_UNLOCKS)
		r = P11AGENT_ERR_BUSY;
	else {
		rc.unlocks[rc.nunlocks].conn_id = conn_id;
		rc.unlocks[rc.nunlocks].slot = slot;
		rc.unlocks[rc.nunlocks].req_id = req_id;
		rc.unlocks[rc.nunlocks].done = 0;
		rc.unlocks[rc.nunlocks].r = 0;
		rc.nunlocks++;
		if (!token_login_pending(rc.t))
			start_login(client, pid);
	}
	pthread_mutex_unlock(&rc.mtx);
	return r;
}

void
recovery_unlock_collect(void (*done)(uint64_t, size_t, uint32_t, int))
{
	uint64_t id;
	uint32_t req;
	size_t i, slot;
	int r;

	if (!rc.running)
		return;
	for (;;) {
		pthread_mutex_lock(&rc.mtx);
		for (i = 0; i < rc.nunlocks && !rc.unlocks[i].done; i++)
			;
		if (i == rc.nunlocks) {
			pthread_mutex_unlock(&rc.mtx);
			return;
		}
		id = rc.unlocks[i].conn_id;
		slot = rc.unlocks[i].slot;
		req = rc.unlocks[i].req_id;
		r = rc.unlocks[i].r;
		rc.unlocks[i] = rc.unlocks[--rc.nunlocks];
		pthread_mutex_unlock(&rc.mtx);
		done(id, slot, req, r);		/* without rc.mtx */
	}
}

const char *
recovery_message(int r)
{
	int last;

	switch (r) {
	case P11AGENT_ERR_PIN_INCORRECT:
	case P11AGENT_ERR_PIN_LOCKED:
		if (rc.t == NULL)
			return NULL;
		/* Whichever login failed last: the token's own words. */
		token_pin_message(rc.t, r, msgbuf, sizeof(msgbuf));
		return msgbuf;
	case P11AGENT_ERR_PIN_REQUIRED:
	case P11AGENT_ERR_TIMEOUT:
		pthread_mutex_lock(&rc.mtx);
		last = rc.last_err;
		snprintf(msgbuf, sizeof(msgbuf), "%s", rc.last_msg);
		pthread_mutex_unlock(&rc.mtx);
		return last == r && msgbuf[0] != '\0' ? msgbuf : NULL;
	default:
		return NULL;
	}
}
