/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * dispatch.c - the agent's request handlers. Each request body is parsed
 * exactly (a short field, an over-long string or a trailing byte is
 * FAILURE 6) and every handler sends exactly one reply, now or when its
 * worker job completes. STATUS, LIST_KEYS and PING are answered here
 * from snapshots; SIGN, DECRYPT and DERIVE go to the worker pool. PINs
 * from UNLOCK live in secure memory for one token_login(). Loop thread
 * only.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11agent/p11agent.h>

#include "buf.h"
#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "loop.h"
#include "pin.h"
#include "secmem.h"
#include "token.h"
#include "workers.h"

#define UNLOCK_DELAY_MAX	60	/* seconds, after repeated bad PINs */
#define FAILURE_MSG_MAX		256	/* bytes, PROTOCOL.md section 3 */

struct request {
	uint32_t id;
	uint8_t type;
	struct buf *body;	/* view of the bytes after id and type */
};

typedef void (*handler_fn)(struct conn *, struct request *);

static struct {
	struct token_ctx *token;
	struct pin_source *pin;
	struct token_keyinfo *keys;	/* snapshot for LIST_KEYS and lookup */
	size_t nkeys;
	int lock_after;
	time_t last_use;
	unsigned int unlock_failures;
	time_t unlock_not_before;
} ag;

/* Signature and decryption algorithms (PROTOCOL.md section 4.3). */
static const struct alg {
	uint32_t alg;
	uint8_t key_type;
	uint32_t op;
	size_t digest_len;	/* 0 for decryption */
} algs[] = {
#define SIG(a, t, n) \
	{ P11AGENT_ALG_##a, P11AGENT_KEY_##t, P11AGENT_OP_SIGN, n }
#define DEC(a) \
	{ P11AGENT_ALG_##a, P11AGENT_KEY_RSA, P11AGENT_OP_DECRYPT, 0 }
	SIG(RSA_PKCS1_SHA256, RSA, 32),
	SIG(RSA_PKCS1_SHA384, RSA, 48),
	SIG(RSA_PKCS1_SHA512, RSA, 64),
	SIG(RSA_PKCS1_SHA224, RSA, 28),
	SIG(RSA_PKCS1_SHA1, RSA, 20),
	SIG(RSA_PSS_SHA256, RSA, 32),
	SIG(RSA_PSS_SHA384, RSA, 48),
	SIG(RSA_PSS_SHA512, RSA, 64),
	SIG(RSA_PSS_SHA224, RSA, 28),
	SIG(ECDSA_SHA256, EC, 32),
	SIG(ECDSA_SHA384, EC, 48),
	SIG(ECDSA_SHA512, EC, 64),
	SIG(ECDSA_SHA224, EC, 28),
	SIG(ECDSA_SHA1, EC, 20),
	DEC(RSA_PKCS1),
	DEC(RSA_OAEP_SHA1),
	DEC(RSA_OAEP_SHA256),
	DEC(RSA_OAEP_SHA384),
	DEC(RSA_OAEP_SHA512),
	DEC(RSA_OAEP_SHA224),
#undef SIG
#undef DEC
};

static void process_status(struct conn *, struct request *);
static void process_list_keys(struct conn *, struct request *);
static void process_sign(struct conn *, struct request *);
static void process_decrypt(struct conn *, struct request *);
static void process_derive(struct conn *, struct request *);
static void process_lock(struct conn *, struct request *);
static void process_unlock(struct conn *, struct request *);
static void process_ping(struct conn *, struct request *);

/* The message table: PROTOCOL.md section 4, row for row. */
static const struct handler {
	uint8_t type;
	const char *name;
	handler_fn fn;
	size_t max_body;	/* bytes */
} handlers[] = {
	{ P11AGENT_MSG_STATUS, "status", process_status, 0 },
	{ P11AGENT_MSG_LIST_KEYS, "list-keys", process_list_keys, 4 },
	{ P11AGENT_MSG_SIGN, "sign", process_sign,
	    4 + P11AGENT_KEYID_LEN + 4 + 4 + P11AGENT_MAX_DIGEST },
	{ P11AGENT_MSG_DECRYPT, "decrypt", process_decrypt,
	    4 + P11AGENT_KEYID_LEN + 4 + 4 + P11AGENT_MAX_RSA_BYTES },
	{ P11AGENT_MSG_DERIVE, "derive", process_derive,
	    4 + P11AGENT_KEYID_LEN + 4 + P11AGENT_MAX_EC_POINT },
	{ P11AGENT_MSG_LOCK, "lock", process_lock, 0 },
	{ P11AGENT_MSG_UNLOCK, "unlock", process_unlock,
	    4 + P11AGENT_MAX_PIN },
	{ P11AGENT_MSG_PING, "ping", process_ping, 4 + 1024 },
};

/* Replies */

static void
send_failure(struct conn *c, uint32_t id, int r, const char *msg)
{
	struct buf *b;
	char line[FAILURE_MSG_MAX + 1];

	if (r == 0)
		r = P11AGENT_ERR_INTERNAL;
	/* A request that ends inside a field is malformed (PROTOCOL.md 3). */
	if (r == P11AGENT_ERR_MESSAGE_INCOMPLETE)
		r = P11AGENT_ERR_INVALID_FORMAT;
	/* One line, at most 256 bytes, whatever the caller formatted. */
	snprintf(line, sizeof(line), "%s", msg != NULL ? msg :
	    p11agent_strerror(r));
	line[strcspn(line, "\r\n")] = '\0';
	if ((b = buf_new()) == NULL ||
	    buf_put_u32(b, id) != 0 ||
	    buf_put_u8(b, P11AGENT_MSG_FAILURE) != 0 ||
	    buf_put_u32(b, (uint32_t)-r) != 0 ||
	    buf_put_cstring(b, line) != 0) {
		conn_fail(c, P11AGENT_ERR_NO_MEMORY, "failure reply");
		buf_free(b);
		return;
	}
	conn_send(c, buf_ptr(b), buf_len(b));
	buf_free(b);
}

static void
send_status(struct conn *c, uint32_t id, int r)
{
	send_failure(c, id, r, NULL);
}

/* A reply buffer with the header of an OK reply, or NULL. */
static struct buf *
reply_new(uint32_t id)
{
	struct buf *b;

	if ((b = buf_new()) == NULL)
		return NULL;
	if (buf_set_max(b, P11AGENT_MAX_PLAINTEXT) != 0 ||
	    buf_put_u32(b, id) != 0 || buf_put_u8(b, P11AGENT_MSG_OK) != 0) {
		buf_free(b);
		return NULL;
	}
	return b;
}

/* Sends rep when r is 0, else a failure; frees rep either way. */
static void
reply_done(struct conn *c, uint32_t id, struct buf *rep, int r)
{
	if (r == 0 && rep == NULL)
		r = P11AGENT_ERR_NO_MEMORY;
	if (r == 0)
		conn_send(c, buf_ptr(rep), buf_len(rep));
	else
		send_status(c, id, r);
	buf_free(rep);
}

static void
send_ok_empty(struct conn *c, uint32_t id)
{
	reply_done(c, id, reply_new(id), 0);
}

/* Helpers */

static void
refresh_keys(void)
{
	struct token_keyinfo *keys;
	size_t nkeys;
	int r;

	if ((r = token_keys(ag.token, &keys, &nkeys)) != 0) {
		log_info_fr(r, "cannot refresh the key list");
		return;
	}
	token_keys_free(ag.keys, ag.nkeys);
	ag.keys = keys;
	ag.nkeys = nkeys;
}

static const struct token_keyinfo *
find_key(const uint8_t *id)
{
	size_t i;

	for (i = 0; i < ag.nkeys; i++)
		if (memcmp(ag.keys[i].id, id, P11AGENT_KEYID_LEN) == 0)
			return &ag.keys[i];
	return NULL;
}

static const struct alg *
find_alg(uint32_t alg)
{
	size_t i;

	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (algs[i].alg == alg)
			return &algs[i];
	return NULL;
}

/* Short key id for logs: the first 4 bytes in hex. */
static const char *
key_tag(const uint8_t *id, char buf[9])
{
	snprintf(buf, 9, "%02x%02x%02x%02x", id[0], id[1], id[2], id[3]);
	return buf;
}

/* Reads a string of exactly P11AGENT_KEYID_LEN bytes (borrowed). */
static int
get_key_id(struct buf *b, const uint8_t **idp)
{
	size_t len;
	int r;

	if ((r = buf_get_string_direct(b, idp, &len)) != 0)
		return r;
	if (len != P11AGENT_KEYID_LEN) {
		*idp = NULL;
		return P11AGENT_ERR_INVALID_FORMAT;
	}
	return 0;
}

/* Reads a string of at most max bytes (borrowed). */
static int
get_bounded(struct buf *b, size_t max, const uint8_t **p, size_t *lenp)
{
	int r;

	if ((r = buf_get_string_direct(b, p, lenp)) != 0)
		return r;
	if (*lenp > max) {
		*p = NULL;
		*lenp = 0;
		return P11AGENT_ERR_INVALID_FORMAT;
	}
	return 0;
}

static int
expect_end(const struct buf *b)
{
	return buf_len(b) == 0 ? 0 : P11AGENT_ERR_INVALID_FORMAT;
}

static void
do_lock(const char *why)
{
	int r;

	r = token_logout(ag.token);
	if (r != 0)
		log_info_fr(r, "logout (%s)", why);
	else
		log_info_f("locked (%s)", why);
}

/*
 * Checks a private-key request against the snapshot and queues it.
 * Sends the failure itself; returns nothing because the reply comes
 * from dispatch_complete() on success.
 */
static void
queue_job(struct conn *c, struct request *rq, const uint8_t *id,
    uint32_t alg, const uint8_t *in, size_t inlen)
{
	struct job *j;
	int r;

	if (c->inflight >= P11AGENT_MAX_INFLIGHT) {
		send_failure(c, rq->id, P11AGENT_ERR_BUSY, "too many requests "
		    "in flight on this connection; read some replies first");
		return;
	}
	if ((j = job_new(in, inlen)) == NULL) {
		send_status(c, rq->id, P11AGENT_ERR_NO_MEMORY);
		return;
	}
	j->conn_id = c->id;
	j->conn_slot = c->slot;
	j->req_id = rq->id;
	j->type = rq->type;
	j->alg = alg;
	memcpy(j->key_id, id, P11AGENT_KEYID_LEN);
	if ((r = workers_submit(j)) != 0) {
		job_free(j);
		send_failure(c, rq->id, r, "agent busy: the token queue is "
		    "full; try again");
		return;
	}
	c->inflight++;
	ag.last_use = loop_now();
}

/* Handlers */

static void
process_status(struct conn *c, struct request *rq)
{
	struct token_info *ti = NULL;
	struct buf *rep = NULL;
	size_t n = 0, i;
	uint8_t flags;
	int r;

	if ((r = expect_end(rq->body)) != 0 ||
	    (r = token_infos(ag.token, &ti, &n)) != 0)
		goto out;
	if ((rep = reply_new(rq->id)) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	if ((r = buf_put_cstring(rep, P11AGENT_VERSION)) != 0 ||
	    (r = buf_put_u8(rep, !token_logged_in(ag.token))) != 0 ||
	    (r = buf_put_u32(rep, (uint32_t)n)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		flags = (ti[i].present ? P11AGENT_TOKEN_PRESENT : 0) |
		    (ti[i].logged_in ? P11AGENT_TOKEN_LOGGED_IN : 0);
		if ((r = buf_put_cstring(rep, ti[i].label)) != 0 ||
		    (r = buf_put_cstring(rep, ti[i].serial)) != 0 ||
		    (r = buf_put_cstring(rep, ti[i].manufacturer)) != 0 ||
		    (r = buf_put_cstring(rep, ti[i].model)) != 0 ||
		    (r = buf_put_cstring(rep, ti[i].module)) != 0 ||
		    (r = buf_put_u8(rep, flags)) != 0 ||
		    (r = buf_put_u32(rep, ti[i].nkeys)) != 0)
			goto out;
	}
 out:
	reply_done(c, rq->id, rep, r);
	token_infos_free(ti, n);
}

static int
put_key(struct buf *b, const struct token_keyinfo *k)
{
	int r;
	int cert = k->cert != NULL && k->cert_len <= P11AGENT_MAX_CERT;

	if ((r = buf_put_string(b, k->id, P11AGENT_KEYID_LEN)) != 0 ||
	    (r = buf_put_cstring(b, k->label)) != 0 ||
	    (r = buf_put_cstring(b, k->token_label)) != 0 ||
	    (r = buf_put_cstring(b, k->token_serial)) != 0 ||
	    (r = buf_put_u8(b, k->type)) != 0 ||
	    (r = buf_put_u32(b, k->bits)) != 0 ||
	    (r = buf_put_cstring(b, k->curve)) != 0 ||
	    (r = buf_put_u32(b, k->ops)) != 0 ||
	    (r = buf_put_string(b, k->spki, k->spki_len)) != 0 ||
	    (r = buf_put_string(b, cert ? k->cert : NULL,
	    cert ? k->cert_len : 0)) != 0 ||
	    (r = buf_put_string(b, k->ckaid, k->ckaid_len)) != 0 ||
	    (r = buf_put_cstring(b, k->uri)) != 0)
		return r;
	return 0;
}

static void
process_list_keys(struct conn *c, struct request *rq)
{
	struct buf *rep = NULL, *entries = NULL, *one = NULL;
	uint32_t start, count = 0;
	size_t i;
	int r;

	if ((r = buf_get_u32(rq->body, &start)) != 0 ||
	    (r = expect_end(rq->body)) != 0)
		goto out;
	/* A listing starts at 0: take a fresh snapshot for all its pages. */
	if (start == 0)
		refresh_keys();
	if (start > ag.nkeys) {
		send_failure(c, rq->id, P11AGENT_ERR_INVALID_ARGUMENT,
		    "start index beyond the end of the key list");
		return;
	}
	if ((rep = reply_new(rq->id)) == NULL ||
	    (entries = buf_new()) == NULL || (one = buf_new()) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	for (i = start; i < ag.nkeys; i++) {
		buf_reset(one);
		if ((r = put_key(one, &ag.keys[i])) != 0)
			goto out;
		if (count > 0 &&
		    buf_len(entries) + buf_len(one) > P11AGENT_LIST_BUDGET)
			break;
		if ((r = buf_putb(entries, one)) != 0)
			goto out;
		count++;
	}
	if ((r = buf_put_u32(rep, (uint32_t)ag.nkeys)) != 0 ||
	    (r = buf_put_u32(rep, count)) != 0 ||
	    (r = buf_putb(rep, entries)) != 0)
		goto out;
 out:
	reply_done(c, rq->id, rep, r);
	buf_free(entries);
	buf_free(one);
}

/* Common checks of SIGN and DECRYPT: key, algorithm, lock state. */
static int
check_key_alg(const uint8_t *id, uint32_t alg, uint32_t op,
    const struct alg **ap)
{
	const struct token_keyinfo *k;
	const struct alg *a;

	*ap = NULL;
	if (!token_logged_in(ag.token))
		return P11AGENT_ERR_AGENT_LOCKED;
	if ((k = find_key(id)) == NULL)
		return P11AGENT_ERR_KEY_NOT_FOUND;
	if ((a = find_alg(alg)) == NULL || a->op != op ||
	    a->key_type != k->type || (k->ops & op) == 0)
		return P11AGENT_ERR_MECHANISM_UNSUPPORTED;
	*ap = a;
	return 0;
}

static void
process_sign(struct conn *c, struct request *rq)
{
	const uint8_t *id, *digest;
	const struct alg *a;
	size_t dlen;
	uint32_t alg;
	int r;

	if ((r = get_key_id(rq->body, &id)) != 0 ||
	    (r = buf_get_u32(rq->body, &alg)) != 0 ||
	    (r = get_bounded(rq->body, P11AGENT_MAX_DIGEST, &digest,
	    &dlen)) != 0 ||
	    (r = expect_end(rq->body)) != 0 ||
	    (r = check_key_alg(id, alg, P11AGENT_OP_SIGN, &a)) != 0) {
		send_status(c, rq->id, r);
		return;
	}
	if (dlen != a->digest_len) {
		send_status(c, rq->id, P11AGENT_ERR_DIGEST_LENGTH);
		return;
	}
	queue_job(c, rq, id, alg, digest, dlen);
}

static void
process_decrypt(struct conn *c, struct request *rq)
{
	const uint8_t *id, *ct;
	const struct alg *a;
	size_t ctlen;
	uint32_t alg;
	int r;

	if ((r = get_key_id(rq->body, &id)) != 0 ||
	    (r = buf_get_u32(rq->body, &alg)) != 0 ||
	    (r = get_bounded(rq->body, P11AGENT_MAX_RSA_BYTES, &ct,
	    &ctlen)) != 0 ||
	    (r = expect_end(rq->body)) != 0 ||
	    (r = check_key_alg(id, alg, P11AGENT_OP_DECRYPT, &a)) != 0) {
		send_status(c, rq->id, r);
		return;
	}
	if (ctlen == 0) {
		send_failure(c, rq->id, P11AGENT_ERR_DECRYPT_FAILED,
		    "decryption failed");
		return;
	}
	queue_job(c, rq, id, alg, ct, ctlen);
}

static void
process_derive(struct conn *c, struct request *rq)
{
	const struct token_keyinfo *k;
	const uint8_t *id, *peer;
	size_t plen, want;
	int r;

	if ((r = get_key_id(rq->body, &id)) != 0 ||
	    (r = get_bounded(rq->body, P11AGENT_MAX_EC_POINT, &peer,
	    &plen)) != 0 ||
	    (r = expect_end(rq->body)) != 0) {
		send_status(c, rq->id, r);
		return;
	}
	if (!token_logged_in(ag.token)) {
		send_status(c, rq->id, P11AGENT_ERR_AGENT_LOCKED);
		return;
	}
	if ((k = find_key(id)) == NULL) {
		send_status(c, rq->id, P11AGENT_ERR_KEY_NOT_FOUND);
		return;
	}
	if (k->type != P11AGENT_KEY_EC || (k->ops & P11AGENT_OP_DERIVE) == 0) {
		send_status(c, rq->id, P11AGENT_ERR_MECHANISM_UNSUPPORTED);
		return;
	}
	/* Uncompressed point: 04 || X || Y, each coordinate field-sized. */
	want = 1 + 2 * (((size_t)k->bits + 7) / 8);
	if (plen != want || peer[0] != 0x04) {
		send_failure(c, rq->id, P11AGENT_ERR_INVALID_ARGUMENT,
		    "peer point must be an uncompressed point (04 || X || Y) "
		    "on the key's curve");
		return;
	}
	queue_job(c, rq, id, 0, peer, plen);
}

static void
process_lock(struct conn *c, struct request *rq)
{
	char why[96];
	int r;

	if ((r = expect_end(rq->body)) != 0) {
		send_status(c, rq->id, r);
		return;
	}
	snprintf(why, sizeof(why), "requested by %s, uid %ld", c->name,
	    (long)c->uid);
	do_lock(why);
	send_ok_empty(c, rq->id);
}

/* Reads the agent's own PIN source again; only a file can be re-read. */
static int
read_own_pin(char **pinp)
{
	*pinp = NULL;
	if (ag.pin == NULL || ag.pin->kind != PIN_SOURCE_FILE)
		return P11AGENT_ERR_PIN_REQUIRED;
	return pin_read(ag.pin, pinp);
}

static void
process_unlock(struct conn *c, struct request *rq)
{
	const uint8_t *p;
	char *pin = NULL, msg[128];
	size_t len;
	time_t now = loop_now();
	unsigned int delay;
	int r;

	if ((r = get_bounded(rq->body, P11AGENT_MAX_PIN, &p, &len)) != 0 ||
	    (r = expect_end(rq->body)) != 0) {
		send_status(c, rq->id, r);
		return;
	}
	if (len > 0 && memchr(p, '\0', len) != NULL) {
		send_failure(c, rq->id, P11AGENT_ERR_INVALID_FORMAT,
		    "the PIN must not contain a NUL byte");
		return;
	}
	if (token_logged_in(ag.token)) {
		send_ok_empty(c, rq->id);
		return;
	}
	if (now < ag.unlock_not_before) {
		snprintf(msg, sizeof(msg), "unlock refused after a failed "
		    "attempt; try again in %lld s",
		    (long long)(ag.unlock_not_before - now));
		send_failure(c, rq->id, P11AGENT_ERR_BUSY, msg);
		return;
	}
	if (len == 0) {
		if ((r = read_own_pin(&pin)) != 0) {
			send_failure(c, rq->id, r, r ==
			    P11AGENT_ERR_PIN_REQUIRED ? "the agent has no PIN "
			    "source it can read again; give the PIN" : NULL);
			return;
		}
	} else {
		if ((pin = p11agent_secure_alloc(len + 1)) == NULL) {
			send_status(c, rq->id, P11AGENT_ERR_NO_MEMORY);
			return;
		}
		memcpy(pin, p, len);
		pin[len] = '\0';
	}
	r = token_login(ag.token, pin);
	secmem_free(pin);
	pin = NULL;
	if (r != 0) {
		ag.unlock_failures++;
		delay = ag.unlock_failures >= 7 ? UNLOCK_DELAY_MAX :
		    1u << (ag.unlock_failures - 1);
		if (delay > UNLOCK_DELAY_MAX)
			delay = UNLOCK_DELAY_MAX;
		ag.unlock_not_before = loop_now() + delay;
		log_info_fr(r, "unlock by %s, uid %ld failed; next attempt in "
		    "%u s", c->name, (long)c->uid, delay);
		send_status(c, rq->id, r);
		return;
	}
	ag.unlock_failures = 0;
	ag.unlock_not_before = 0;
	ag.last_use = loop_now();
	refresh_keys();
	log_info_f("unlocked by %s, uid %ld", c->name, (long)c->uid);
	send_ok_empty(c, rq->id);
}

static void
process_ping(struct conn *c, struct request *rq)
{
	struct buf *rep = NULL;
	const uint8_t *data;
	size_t len;
	int r;

	if ((r = get_bounded(rq->body, 1024, &data, &len)) != 0 ||
	    (r = expect_end(rq->body)) != 0)
		goto out;
	if ((rep = reply_new(rq->id)) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	r = buf_put_string(rep, data, len);
 out:
	reply_done(c, rq->id, rep, r);
}

/* Entry points */

void
dispatch_request(struct conn *c, struct buf *pt)
{
	const struct handler *h = NULL;
	struct request rq;
	char msg[64];
	size_t i;
	int r;

	memset(&rq, 0, sizeof(rq));
	if ((r = buf_get_u32(pt, &rq.id)) != 0 ||
	    (r = buf_get_u8(pt, &rq.type)) != 0) {
		/* Without an id there is nothing to answer to. */
		conn_fail(c, r, "request shorter than its header");
		return;
	}
	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++)
		if (handlers[i].type == rq.type)
			h = &handlers[i];
	if (h == NULL) {
		snprintf(msg, sizeof(msg), "unknown message type %u",
		    (unsigned int)rq.type);
		send_failure(c, rq.id, P11AGENT_ERR_UNKNOWN_MESSAGE, msg);
		return;
	}
	if (buf_len(pt) > h->max_body) {
		send_failure(c, rq.id, P11AGENT_ERR_INVALID_FORMAT,
		    "request body too long");
		return;
	}
	if ((rq.body = buf_from(buf_ptr(pt), buf_len(pt))) == NULL) {
		send_status(c, rq.id, P11AGENT_ERR_NO_MEMORY);
		return;
	}
	log_debug_f("connection %" PRIu64 " (%s): %s id %" PRIu32, c->id,
	    c->name, h->name, rq.id);
	h->fn(c, &rq);
	buf_free(rq.body);
}

void
dispatch_complete(struct conn *c, struct job *j)
{
	struct buf *rep = NULL;
	char tag[9];
	int r = j->result;

	if (j->type == P11AGENT_MSG_DECRYPT && r != 0 &&
	    r != P11AGENT_ERR_AGENT_LOCKED && r != P11AGENT_ERR_NOT_LOGGED_IN &&
	    r != P11AGENT_ERR_TOKEN_NOT_PRESENT && r != P11AGENT_ERR_NO_MEMORY)
		r = P11AGENT_ERR_DECRYPT_FAILED;	/* no padding oracle */
	log_debug_f("connection %" PRIu64 " (%s): %s key %s alg %" PRIu32
	    " id %" PRIu32 ": %s", c->id, c->name,
	    j->type == P11AGENT_MSG_SIGN ? "sign" :
	    j->type == P11AGENT_MSG_DECRYPT ? "decrypt" : "derive",
	    key_tag(j->key_id, tag), j->alg, j->req_id,
	    r == 0 ? "ok" : p11agent_strerror(r));
	ag.last_use = loop_now();
	if (r == 0) {
		if ((rep = reply_new(j->req_id)) == NULL)
			r = P11AGENT_ERR_NO_MEMORY;
		else
			r = buf_put_string(rep, j->out, j->outlen);
	}
	if (r == P11AGENT_ERR_DECRYPT_FAILED) {
		buf_free(rep);
		send_failure(c, j->req_id, r, "decryption failed");
		return;
	}
	reply_done(c, j->req_id, rep, r);
}

int
dispatch_init(struct token_ctx *t, struct pin_source *pin, int lock_after,
    time_t now)
{
	ag.token = t;
	ag.pin = pin;
	ag.lock_after = lock_after;
	ag.last_use = now;
	refresh_keys();
	return 0;
}

void
dispatch_cleanup(void)
{
	token_keys_free(ag.keys, ag.nkeys);
	ag.keys = NULL;
	ag.nkeys = 0;
}

int
dispatch_tick(time_t now)
{
	time_t idle;

	if (ag.lock_after <= 0 || !token_logged_in(ag.token))
		return -1;
	idle = now - ag.last_use;
	if (idle >= ag.lock_after) {
		do_lock("idle");
		return -1;
	}
	return (int)(ag.lock_after - idle);
}
