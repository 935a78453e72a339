/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * conn.c - the provider's connection to the agent. One p11agent_client
 * per provider context, made on first use and guarded by pc->lock
 * (client handles are not thread-safe). A request that finds the
 * connection dropped (agent restarted, idle socket closed) reconnects
 * and is sent once more; a fresh connection is never retried. A forked
 * child abandons its parent's connection instead of sharing the channel.
 * A connection borrowed from the in-process caller (p11 shares its own,
 * so one handshake and one key list serve both) is used as it is: never
 * freed, replaced or retried here.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <p11agent/client.h>
#include <p11agent/err.h>

#include "prov-int.h"

#define AGENT_CLIENT_NAME	"openssl-provider"

enum req_type { REQ_LIST, REQ_SIGN, REQ_DECRYPT, REQ_DERIVE };

struct req {
	enum req_type type;
	const uint8_t *id;
	unsigned int alg;
	const uint8_t *in;
	size_t inlen;
	/* out */
	struct p11agent_keylist *list;
	uint8_t *out;
	size_t outlen;
};

/*
 * After these the channel is unusable. The first three mean the socket
 * went away (typically an agent restart), so one new connection and one
 * more try are worth it; the rest mean the stream is out of step.
 */
static int
is_dropped(int r)
{
	return r == P11AGENT_ERR_CONNECTION_CLOSED || r == P11AGENT_ERR_IO ||
	    r == P11AGENT_ERR_SYSTEM_ERROR;
}

static int
is_broken(int r)
{
	return is_dropped(r) || r == P11AGENT_ERR_MAC_INVALID ||
	    r == P11AGENT_ERR_MESSAGE_INCOMPLETE ||
	    r == P11AGENT_ERR_INVALID_FORMAT || r == P11AGENT_ERR_HANDSHAKE;
}

static void
drop_client(struct provctx *pc)
{
	if (!pc->client_borrowed)
		p11agent_client_free(pc->client);
	pc->client = NULL;
	pc->client_borrowed = 0;
}

/* Called with pc->lock held. */
static int
ensure_client(struct provctx *pc, int *freshp)
{
	int r;

	*freshp = 0;
	if (pc->client != NULL && pc->client_pid != getpid()) {
		/*
		 * Inherited over fork(): the parent keeps using the channel,
		 * and two writers would break its nonces. Closing our copy
		 * of the descriptor does not affect the parent. A borrowed
		 * one is forgotten the same way (drop_client()).
		 */
		drop_client(pc);
	}
	if (pc->client != NULL)
		return 0;
	/* NULL socket: $P11AGENT_SOCK, else the default path. */
	if ((r = p11agent_client_connect_ex(&pc->client, NULL, NULL, NULL,
	    AGENT_CLIENT_NAME)) != 0) {
		pc->client = NULL;
		return r;
	}
	pc->client_pid = getpid();
	*freshp = 1;
	return 0;
}

static int
run_one(struct p11agent_client *c, struct req *q)
{
	switch (q->type) {
	case REQ_LIST:
		return p11agent_client_list_keys(c, &q->list);
	case REQ_SIGN:
		return p11agent_client_sign(c, q->id, q->alg, q->in, q->inlen,
		    &q->out, &q->outlen);
	case REQ_DECRYPT:
		return p11agent_client_decrypt(c, q->id, q->alg, q->in,
		    q->inlen, &q->out, &q->outlen);
	case REQ_DERIVE:
		return p11agent_client_derive(c, q->id, q->in, q->inlen,
		    &q->out, &q->outlen);
	}
	return P11AGENT_ERR_INTERNAL;
}

/* Returns 1, or 0 with the agent's error raised. */
static int
run(struct provctx *pc, struct req *q)
{
	/* The agent's message, copied before the lock is released. */
	char msg[256];
	int r = P11AGENT_ERR_INTERNAL, fresh, attempt;

	msg[0] = '\0';
	pthread_mutex_lock(&pc->lock);
	for (attempt = 0; attempt < 2; attempt++) {
		if ((r = ensure_client(pc, &fresh)) != 0)
			break;
		if ((r = run_one(pc->client, q)) == 0)
			break;
		snprintf(msg, sizeof(msg), "%s",
		    p11agent_client_last_message(pc->client));
		/* A timeout leaves the connection usable (client.h); a
		 * borrowed one is its owner's to drop. */
		if (!is_broken(r) || pc->client_borrowed)
			break;
		drop_client(pc);
		if (fresh || !is_dropped(r))
			break;
		msg[0] = '\0';
	}
	pthread_mutex_unlock(&pc->lock);
	if (r != 0) {
		prov_raise_agent(pc, OPENSSL_FILE, OPENSSL_LINE, OPENSSL_FUNC,
		    r, msg);
		return 0;
	}
	return 1;
}

int
agent_list_keys(struct provctx *pc, struct p11agent_keylist **lp)
{
	struct req q;

	memset(&q, 0, sizeof(q));
	*lp = NULL;
	q.type = REQ_LIST;
	if (!run(pc, &q))
		return 0;
	*lp = q.list;
	return 1;
}

int
agent_sign(struct provctx *pc, const uint8_t *id, unsigned int alg,
    const uint8_t *dg, size_t dglen, uint8_t **sigp, size_t *siglenp)
{
	struct req q;

	memset(&q, 0, sizeof(q));
	*sigp = NULL;
	*siglenp = 0;
	q.type = REQ_SIGN;
	q.id = id;
	q.alg = alg;
	q.in = dg;
	q.inlen = dglen;
	if (!run(pc, &q))
		return 0;
	*sigp = q.out;
	*siglenp = q.outlen;
	return 1;
}

int
agent_decrypt(struct provctx *pc, const uint8_t *id, unsigned int alg,
    const uint8_t *in, size_t inlen, uint8_t **outp, size_t *outlenp)
{
	struct req q;

	memset(&q, 0, sizeof(q));
	*outp = NULL;
	*outlenp = 0;
	q.type = REQ_DECRYPT;
	q.id = id;
	q.alg = alg;
	q.in = in;
	q.inlen = inlen;
	if (!run(pc, &q))
		return 0;
	*outp = q.out;
	*outlenp = q.outlen;
	return 1;
}

int
agent_derive(struct provctx *pc, const uint8_t *id, const uint8_t *peer,
    size_t peerlen, uint8_t **outp, size_t *outlenp)
{
	struct req q;

	memset(&q, 0, sizeof(q));
	*outp = NULL;
	*outlenp = 0;
	q.type = REQ_DERIVE;
	q.id = id;
	q.in = peer;
	q.inlen = peerlen;
	if (!run(pc, &q))
		return 0;
	*outp = q.out;
	*outlenp = q.outlen;
	return 1;
}

void
agent_disconnect(struct provctx *pc)
{
	pthread_mutex_lock(&pc->lock);
	drop_client(pc);
	pthread_mutex_unlock(&pc->lock);
}

void
agent_use_client(struct provctx *pc, struct p11agent_client *c)
{
	pthread_mutex_lock(&pc->lock);
	drop_client(pc);
	if (c != NULL) {
		pc->client = c;
		pc->client_pid = getpid();
		pc->client_borrowed = 1;
	}
	pthread_mutex_unlock(&pc->lock);
}
