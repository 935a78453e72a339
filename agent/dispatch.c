/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * dispatch.c - the agent's request handlers. Each request body is parsed
 * exactly (a short field, an over-long string or a trailing byte is
 * FAILURE 6) and every handler sends exactly one reply, now or when its
 * job completes. STATUS, LIST_KEYS and PING are answered here from
 * snapshots; SIGN, DECRYPT and DERIVE are checked against the client's
 * authorized_clients rules and become a job that the calling reactor
 * runs (or the confirmation thread, when a person must say yes). PINs
 * from UNLOCK live in secure memory for one token_login(). Called with
 * the agent lock held (loop.h) by the thread that holds the connection.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11agent/p11agent.h>

#include "audit.h"
#include "buf.h"
#include "channel.h"
#include "confirm.h"
#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "loop.h"
#include "pin.h"
#include "policy.h"
#include "recovery.h"
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
	struct policy *policy;		/* authorized_clients, or NULL */
	const struct policy_keypats *confirm_keys;	/* --confirm */
	struct policy_keyview *kv;	/* certificate e-mails of keys[] */
} ag;

/* Signature and decryption algorithms (PROTOCOL.md section 4.3). */
static const struct alg {
	uint32_t alg;
	uint8_t key_type;
	uint32_t op;
	size_t digest_len;	/* 0 for decryption */
	const char *name;	/* "RSA_PSS_SHA256": the audit log shows
				   "rsa-pss-sha256", as p11 --alg takes it */
} algs[] = {
#define SIG(a, t, n) \
	{ P11AGENT_ALG_##a, P11AGENT_KEY_##t, P11AGENT_OP_SIGN, n, #a }
#define DEC(a) \
	{ P11AGENT_ALG_##a, P11AGENT_KEY_RSA, P11AGENT_OP_DECRYPT, 0, #a }
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
	/* The same with the client's description (PROTOCOL.md 4.4). */
#define DESC_BODY	(4 + P11AGENT_MAX_DESCRIPTION)
	{ P11AGENT_MSG_SIGN2, "sign2", process_sign,
	    4 + P11AGENT_KEYID_LEN + 4 + 4 + P11AGENT_MAX_DIGEST + DESC_BODY },
	{ P11AGENT_MSG_DECRYPT2, "decrypt2", process_decrypt,
	    4 + P11AGENT_KEYID_LEN + 4 + 4 + P11AGENT_MAX_RSA_BYTES +
	    DESC_BODY },
	{ P11AGENT_MSG_DERIVE2, "derive2", process_derive,
	    4 + P11AGENT_KEYID_LEN + 4 + P11AGENT_MAX_EC_POINT + DESC_BODY },
#undef DESC_BODY
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
	/* A failed login says why: "PIN incorrect, final try", ... */
	send_failure(c, id, r, recovery_message(r));
}

/*
 * A failed UNLOCK: the token's words for a PIN (send_status()); a login
 * that failed for another reason (the p11-kit helper, say) is logged,
 * and the client is told so rather than just "system error".
 */
static void
send_unlock_failure(struct conn *c, uint32_t id, int r)
{
	if (r == P11AGENT_ERR_SYSTEM_ERROR)
		send_failure(c, id, r, "the login failed in the agent, not "
		    "for the PIN; the agent's log says why");
	else
		send_status(c, id, r);
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

/* Whether two key snapshots hold the same certificates, in order. */
static int
same_certs(const struct token_keyinfo *a, size_t na,
    const struct token_keyinfo *b, size_t nb)
{
	size_t i;

	if (na != nb)
		return 0;
	for (i = 0; i < na; i++)
		if (a[i].cert_len != b[i].cert_len || (a[i].cert_len > 0 &&
		    memcmp(a[i].cert, b[i].cert, a[i].cert_len) != 0))
			return 0;
	return 1;
}

static void
refresh_keys(void)
{
	struct token_keyinfo *keys;
	size_t nkeys;
	int same;
	int r;

	if ((r = token_keys(ag.token, &keys, &nkeys)) != 0) {
		log_info_fr(r, "cannot refresh the key list");
		return;
	}
	same = ag.kv != NULL && same_certs(ag.keys, ag.nkeys, keys, nkeys);
	token_keys_free(ag.keys, ag.nkeys);
	ag.keys = keys;
	ag.nkeys = nkeys;
	/*
	 * E-mail patterns need the certificates, parsed once per change of
	 * them: every listing takes a snapshot, and parsing them all took
	 * most of a LIST_KEYS request's time.
	 */
	if (same)
		return;
	policy_keyview_free(ag.kv);
	if ((ag.kv = policy_keyview_new(ag.keys, ag.nkeys)) == NULL)
		log_err_f("out of memory: e-mail key patterns match nothing");
}

static const struct token_keyinfo *
find_key(const uint8_t *id, size_t *ip)
{
	size_t i;

	for (i = 0; i < ag.nkeys; i++) {
		if (memcmp(ag.keys[i].id, id, P11AGENT_KEYID_LEN) == 0) {
			*ip = i;
			return &ag.keys[i];
		}
	}
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

/* One private-key request on its way through the checks. */
struct keyop {
	uint8_t type;			/* SIGN, DECRYPT, DERIVE (not ...2) */
	uint32_t op;			/* P11AGENT_OP_* */
	int64_t t0_us;			/* when it came in */
	const uint8_t *id;
	uint32_t alg;			/* 0 for DERIVE */
	const struct alg *a;		/* NULL for DERIVE */
	const uint8_t *in;		/* digest, ciphertext or peer point */
	size_t inlen;
	const uint8_t *desc;		/* the client's description */
	size_t desclen;
	const struct token_keyinfo *k;	/* once the key is found */
	size_t ki;			/* its index in ag.keys */
	struct policy_client *cl;	/* its authorized_clients line */
	int confirm;			/* a person must say yes */
	char why[POLICY_WHY_MAX];	/* the reason of a denial */
};

static void
keyop_start(struct keyop *ko, const struct request *rq)
{
	memset(ko, 0, sizeof(*ko));
	ko->type = rq->type > P11AGENT_MSG_DESC_OFFSET ?
	    rq->type - P11AGENT_MSG_DESC_OFFSET : rq->type;
	ko->op = ko->type == P11AGENT_MSG_SIGN ? P11AGENT_OP_SIGN :
	    ko->type == P11AGENT_MSG_DECRYPT ? P11AGENT_OP_DECRYPT :
	    P11AGENT_OP_DERIVE;
	ko->t0_us = workers_now_us();
}

/* SIGN2, DECRYPT2 and DERIVE2 end with a cstring description. */
static int
get_description(struct request *rq, struct keyop *ko)
{
	int r;

	if (rq->type < P11AGENT_MSG_DESC_OFFSET)
		return 0;
	if ((r = get_bounded(rq->body, P11AGENT_MAX_DESCRIPTION, &ko->desc,
	    &ko->desclen)) != 0)
		return r;
	if (memchr(ko->desc, '\0', ko->desclen) != NULL) {
		ko->desc = NULL;
		ko->desclen = 0;
		return P11AGENT_ERR_INVALID_FORMAT;
	}
	return 0;
}

/* The executable of the peer, read once per connection. */
static const char *
peer_exe(struct conn *c)
{
	char path[64];
	ssize_t n;

	if (c->exe[0] == '\0') {
		snprintf(path, sizeof(path), "/proc/%ld/exe", (long)c->pid);
		if ((n = readlink(path, c->exe, sizeof(c->exe) - 1)) <= 0)
			snprintf(c->exe, sizeof(c->exe), "unknown");
		else
			c->exe[n] = '\0';
	}
	return c->exe;
}

/* Who asked for what: for the audit line and the confirmation prompt. */
static void
fill_meta(struct conn *c, const struct keyop *ko, struct job_meta *m)
{
	const struct alg *a;
	size_t i;

	memset(m, 0, sizeof(*m));
	snprintf(m->client, sizeof(m->client), "%s",
	    policy_client_name(ko->cl));
	m->policy_line = policy_client_line(ko->cl);
	snprintf(m->program, sizeof(m->program), "%s", c->client);
	memcpy(m->client_key, channel_remote_static(c->ch),
	    sizeof(m->client_key));
	m->pid = (long)c->pid;
	m->uid = (long)c->uid;
	snprintf(m->exe, sizeof(m->exe), "%s", peer_exe(c));
	if (ko->k != NULL) {
		snprintf(m->key_label, sizeof(m->key_label), "%s",
		    ko->k->label != NULL ? ko->k->label : "");
		snprintf(m->key_email, sizeof(m->key_email), "%s",
		    policy_keyview_email(ag.kv, ko->ki));
	}
	/* A denial comes before the algorithm is checked: look it up. */
	a = ko->a != NULL || ko->op == P11AGENT_OP_DERIVE ? ko->a :
	    find_alg(ko->alg);
	if (a == NULL)
		snprintf(m->alg, sizeof(m->alg), "%s",
		    ko->op == P11AGENT_OP_DERIVE ? "ecdh" : "unknown");
	else {
		snprintf(m->alg, sizeof(m->alg), "%s", a->name);
		for (i = 0; m->alg[i] != '\0'; i++)
			m->alg[i] = m->alg[i] == '_' ? '-' :
			    (char)tolower((unsigned char)m->alg[i]);
	}
	if (ko->desc != NULL && ko->desclen > 0) {
		m->has_description = 1;
		memcpy(m->description, ko->desc, ko->desclen);
		m->description[ko->desclen] = '\0';
	}
}

/* The line of a denial: written before the reply, synced with the next. */
static void
audit_denial(struct conn *c, const struct keyop *ko, int r)
{
	struct audit_rec rec;
	struct job_meta m;
	struct job j;

	if (!audit_enabled() || ko->k == NULL)
		return;
	memset(&j, 0, sizeof(j));
	fill_meta(c, ko, &m);
	j.type = ko->type;
	memcpy(j.key_id, ko->id, sizeof(j.key_id));
	j.in = (uint8_t *)ko->in;
	j.inlen = ko->inlen;
	j.meta = &m;
	j.t0_us = ko->t0_us;
	j.result = r;
	j.msg = (char *)ko->why;
	job_audit_rec(&j, &rec);
	(void)audit_write(&rec, 0, NULL, 0);
}

/* Sends the failure of a key operation; a denial is logged and audited. */
static void
keyop_fail(struct conn *c, struct request *rq, struct keyop *ko, int r)
{
	if (r == P11AGENT_ERR_DENIED) {
		log_info_f("connection %" PRIu64 " (%s, pid %ld): %s", c->id,
		    c->name, (long)c->pid, ko->why);
		audit_denial(c, ko, r);
	}
	send_failure(c, rq->id, r, ko->why[0] != '\0' ? ko->why : NULL);
}

/* The audit line of LOCK or UNLOCK (c NULL: the agent's own idle lock). */
static void
audit_event(struct conn *c, const char *op, const char *reason, int r)
{
	struct audit_rec rec;
	struct policy_client *cl = NULL;

	if (!audit_enabled())
		return;
	audit_rec_init(&rec);
	rec.op = op;
	if (c != NULL) {
		cl = policy_find(ag.policy, channel_remote_static(c->ch));
		rec.client = policy_client_name(cl);
		rec.client_key = channel_remote_static(c->ch);
		rec.program = c->client;
		rec.pid = (long)c->pid;
		rec.uid = (long)c->uid;
		rec.exe = peer_exe(c);
	}
	rec.reason = reason;
	rec.result = r;
	(void)audit_write(&rec, 0, NULL, 0);
}

/* authorized_clients and --confirm for the key found. */
static int
check_policy(struct conn *c, struct keyop *ko)
{
	int r, confirm = 0;

	ko->cl = NULL;
	if (policy_restricted(ag.policy) && (ko->cl = policy_find(ag.policy,
	    channel_remote_static(c->ch))) == NULL) {
		snprintf(ko->why, sizeof(ko->why), "denied by "
		    "authorized_clients: this client's key is no longer "
		    "listed there");
		return P11AGENT_ERR_DENIED;
	}
	if ((r = policy_check_use(ko->cl, ko->k, ag.kv, ko->ki, ko->op,
	    &confirm, ko->why, sizeof(ko->why))) != 0)
		return r;
	ko->confirm = confirm ||
	    policy_keypats_match(ag.confirm_keys, ko->k, ag.kv, ko->ki);
	return 0;
}

/*
 * Common checks of SIGN, DECRYPT and DERIVE: lock state, key, the
 * client's rules (before anything about the key is told), algorithm.
 */
static int
check_keyop(struct conn *c, struct keyop *ko)
{
	const struct token_keyinfo *k;
	const struct alg *a;
	int r;

	/* With --pinentry a locked agent asks for the PIN (queue_job). */
	if (!token_logged_in(ag.token) && !recovery_can_login())
		return P11AGENT_ERR_AGENT_LOCKED;
	if ((k = find_key(ko->id, &ko->ki)) == NULL)
		return P11AGENT_ERR_KEY_NOT_FOUND;
	ko->k = k;
	if ((r = check_policy(c, ko)) != 0)
		return r;
	if (ko->op == P11AGENT_OP_DERIVE)
		return k->type == P11AGENT_KEY_EC &&
		    (k->ops & P11AGENT_OP_DERIVE) != 0 ? 0 :
		    P11AGENT_ERR_MECHANISM_UNSUPPORTED;
	if ((a = find_alg(ko->alg)) == NULL || a->op != ko->op ||
	    a->key_type != k->type || (k->ops & ko->op) == 0)
		return P11AGENT_ERR_MECHANISM_UNSUPPORTED;
	ko->a = a;
	return 0;
}

/*
 * Queues a checked private-key request: to the confirmation thread when
 * a person must say yes, else for the reactor to run. Sends the failure
 * itself; returns nothing because the reply comes from
 * dispatch_complete() on success.
 */
static void
queue_job(struct conn *c, struct request *rq, struct keyop *ko)
{
	struct job *j;
	int r;

	if (c->inflight >= P11AGENT_MAX_INFLIGHT) {
		send_failure(c, rq->id, P11AGENT_ERR_BUSY, "too many requests "
		    "in flight on this connection; read some replies first");
		return;
	}
	if ((r = policy_charge(ko->cl, ko->why, sizeof(ko->why))) != 0) {
		keyop_fail(c, rq, ko, r);
		return;
	}
	if ((j = job_new(ko->in, ko->inlen)) == NULL) {
		send_status(c, rq->id, P11AGENT_ERR_NO_MEMORY);
		return;
	}
	j->conn_id = c->id;
	j->conn_slot = c->slot;
	j->req_id = rq->id;
	j->type = ko->type;
	j->alg = ko->alg;
	j->t0_us = ko->t0_us;
	memcpy(j->key_id, ko->id, P11AGENT_KEYID_LEN);
	if (audit_enabled() || ko->confirm) {
		if ((j->meta = calloc(1, sizeof(*j->meta))) == NULL) {
			job_free(j);
			send_status(c, rq->id, P11AGENT_ERR_NO_MEMORY);
			return;
		}
		fill_meta(c, ko, j->meta);
	}
	/* The job waits in token.c for the PIN the keeper asks for. */
	if (!token_logged_in(ag.token))
		recovery_request_login(c->name, (long)c->pid);
	if ((r = ko->confirm ? confirm_submit(j) : conn_queue_job(c, j)) != 0) {
		job_free(j);
		send_failure(c, rq->id, r, ko->confirm ? "agent busy: too many "
		    "operations wait for confirmation; try again" :
		    "agent busy: try again");
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

/*
 * LIST_KEYS shows a client only the keys its authorized_clients rules
 * let it use; start and total count those keys alone.
 */
static void
process_list_keys(struct conn *c, struct request *rq)
{
	struct buf *rep = NULL, *entries = NULL, *one = NULL;
	struct policy_client *cl = NULL;
	uint32_t start, count = 0;
	size_t i, total = 0, skip;
	int r;

	if ((r = buf_get_u32(rq->body, &start)) != 0 ||
	    (r = expect_end(rq->body)) != 0)
		goto out;
	if (policy_restricted(ag.policy) && (cl = policy_find(ag.policy,
	    channel_remote_static(c->ch))) == NULL) {
		send_failure(c, rq->id, P11AGENT_ERR_DENIED, "denied by "
		    "authorized_clients: this client's key is no longer "
		    "listed there");
		return;
	}
	/* A listing starts at 0: take a fresh snapshot for all its pages. */
	if (start == 0)
		refresh_keys();
	for (i = 0; i < ag.nkeys; i++)
		total += policy_key_visible(cl, &ag.keys[i], ag.kv, i);
	if (start > total) {
		send_failure(c, rq->id, P11AGENT_ERR_INVALID_ARGUMENT,
		    "start index beyond the end of the key list");
		return;
	}
	if ((rep = reply_new(rq->id)) == NULL ||
	    (entries = buf_new()) == NULL || (one = buf_new()) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	for (i = 0, skip = start; i < ag.nkeys; i++) {
		if (!policy_key_visible(cl, &ag.keys[i], ag.kv, i))
			continue;
		if (skip > 0) {
			skip--;
			continue;
		}
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
	if ((r = buf_put_u32(rep, (uint32_t)total)) != 0 ||
	    (r = buf_put_u32(rep, count)) != 0 ||
	    (r = buf_putb(rep, entries)) != 0)
		goto out;
 out:
	reply_done(c, rq->id, rep, r);
	buf_free(entries);
	buf_free(one);
}

static void
process_sign(struct conn *c, struct request *rq)
{
	struct keyop ko;
	int r;

	keyop_start(&ko, rq);
	if ((r = get_key_id(rq->body, &ko.id)) != 0 ||
	    (r = buf_get_u32(rq->body, &ko.alg)) != 0 ||
	    (r = get_bounded(rq->body, P11AGENT_MAX_DIGEST, &ko.in,
	    &ko.inlen)) != 0 ||
	    (r = get_description(rq, &ko)) != 0 ||
	    (r = expect_end(rq->body)) != 0 ||
	    (r = check_keyop(c, &ko)) != 0) {
		keyop_fail(c, rq, &ko, r);
		return;
	}
	if (ko.inlen != ko.a->digest_len) {
		send_status(c, rq->id, P11AGENT_ERR_DIGEST_LENGTH);
		return;
	}
	queue_job(c, rq, &ko);
}

static void
process_decrypt(struct conn *c, struct request *rq)
{
	struct keyop ko;
	int r;

	keyop_start(&ko, rq);
	if ((r = get_key_id(rq->body, &ko.id)) != 0 ||
	    (r = buf_get_u32(rq->body, &ko.alg)) != 0 ||
	    (r = get_bounded(rq->body, P11AGENT_MAX_RSA_BYTES, &ko.in,
	    &ko.inlen)) != 0 ||
	    (r = get_description(rq, &ko)) != 0 ||
	    (r = expect_end(rq->body)) != 0 ||
	    (r = check_keyop(c, &ko)) != 0) {
		keyop_fail(c, rq, &ko, r);
		return;
	}
	if (ko.inlen == 0) {
		send_failure(c, rq->id, P11AGENT_ERR_DECRYPT_FAILED,
		    "decryption failed");
		return;
	}
	queue_job(c, rq, &ko);
}

static void
process_derive(struct conn *c, struct request *rq)
{
	struct keyop ko;
	size_t want;
	int r;

	keyop_start(&ko, rq);
	if ((r = get_key_id(rq->body, &ko.id)) != 0 ||
	    (r = get_bounded(rq->body, P11AGENT_MAX_EC_POINT, &ko.in,
	    &ko.inlen)) != 0 ||
	    (r = get_description(rq, &ko)) != 0 ||
	    (r = expect_end(rq->body)) != 0 ||
	    (r = check_keyop(c, &ko)) != 0) {
		keyop_fail(c, rq, &ko, r);
		return;
	}
	/* Uncompressed point: 04 || X || Y, each coordinate field-sized. */
	want = 1 + 2 * (((size_t)ko.k->bits + 7) / 8);
	if (ko.inlen != want || ko.in[0] != 0x04) {
		send_failure(c, rq->id, P11AGENT_ERR_INVALID_ARGUMENT,
		    "peer point must be an uncompressed point (04 || X || Y) "
		    "on the key's curve");
		return;
	}
	queue_job(c, rq, &ko);
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
	audit_event(c, "lock", "request", 0);
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
	/* With --pinentry (and no PIN file): ask, and reply when answered. */
	if (len == 0 && recovery_can_login() &&
	    (ag.pin == NULL || ag.pin->kind != PIN_SOURCE_FILE)) {
		if ((r = recovery_unlock_begin(c->id, c->slot, rq->id, c->name,
		    (long)c->pid)) != 0)
			send_status(c, rq->id, r);
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
	audit_event(c, "unlock", len == 0 ? "agent pin source" :
	    "pin from client", r);
	if (r != 0) {
		ag.unlock_failures++;
		delay = ag.unlock_failures >= 7 ? UNLOCK_DELAY_MAX :
		    1u << (ag.unlock_failures - 1);
		if (delay > UNLOCK_DELAY_MAX)
			delay = UNLOCK_DELAY_MAX;
		ag.unlock_not_before = loop_now() + delay;
		log_info_fr(r, "unlock by %s, uid %ld failed; next attempt in "
		    "%u s", c->name, (long)c->uid, delay);
		send_unlock_failure(c, rq->id, r);
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

	/* A failure with a message is the agent's (denied, busy, audit). */
	if (j->type == P11AGENT_MSG_DECRYPT && r != 0 && j->msg == NULL &&
	    r != P11AGENT_ERR_AGENT_LOCKED && r != P11AGENT_ERR_NOT_LOGGED_IN &&
	    r != P11AGENT_ERR_TOKEN_NOT_PRESENT && r != P11AGENT_ERR_NO_MEMORY &&
	    /* A login that failed before the token saw the data. */
	    r != P11AGENT_ERR_PIN_INCORRECT && r != P11AGENT_ERR_PIN_LOCKED &&
	    r != P11AGENT_ERR_PIN_REQUIRED && r != P11AGENT_ERR_TIMEOUT)
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
	if (r == P11AGENT_ERR_DECRYPT_FAILED || (r != 0 && j->msg != NULL)) {
		buf_free(rep);
		send_failure(c, j->req_id, r, r == P11AGENT_ERR_DECRYPT_FAILED ?
		    "decryption failed" : j->msg);
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
dispatch_set_policy(struct policy *p, const struct policy_keypats *confirm)
{
	ag.policy = p;
	ag.confirm_keys = confirm;
}

void
dispatch_cleanup(void)
{
	token_keys_free(ag.keys, ag.nkeys);
	ag.keys = NULL;
	ag.nkeys = 0;
	policy_keyview_free(ag.kv);
	ag.kv = NULL;
	ag.policy = NULL;
	ag.confirm_keys = NULL;
}

/* The reply to an UNLOCK that waited for the pinentry (recovery.c). */
static void
unlock_done(uint64_t conn_id, size_t slot, uint32_t req_id, int r)
{
	struct conn *c;

	if (r == 0) {
		loop_lock();
		ag.last_use = loop_now();
		refresh_keys();
		loop_unlock();
	}
	if ((c = loop_acquire(slot, conn_id)) == NULL)
		return;
	loop_lock();
	if (c->state == CONN_OPEN) {
		audit_event(c, "unlock", "pinentry", r);
		log_info_fr(r, "unlock by %s, uid %ld, through pinentry",
		    c->name, (long)c->uid);
		if (r == 0)
			send_ok_empty(c, req_id);
		else
			send_unlock_failure(c, req_id, r);
	}
	loop_unlock();
	loop_release(c);
}

void
dispatch_unlocks(void)
{
	recovery_unlock_collect(unlock_done);
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
		audit_event(NULL, "lock", "idle", 0);
		return -1;
	}
	return (int)(ag.lock_after - idle);
}
