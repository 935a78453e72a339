/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * fuzz-dispatch.c - arbitrary decrypted requests into agent/dispatch.c's
 * message table, with the connection, the worker pool, the token, the
 * PIN source and the clock replaced by fakes (so no sockets, threads or
 * PKCS#11). The fakes check the dispatcher's contract on every input:
 *  - every request gets exactly one reply: sent at once, or one job
 *    queued whose completion sends it; only a request too short for its
 *    header closes the connection instead;
 *  - a reply carries the request's id and is OK or FAILURE; a FAILURE
 *    body is exactly a non-zero code and one cstring line of at most 256
 *    bytes; PING echoes its data; a job's OK reply is its output;
 *  - a job is only queued for a key of the snapshot, logged in, with a
 *    digest of the algorithm's length (SIGN) or a field-sized
 *    uncompressed point (DERIVE).
 * In trust mode (fuzz-dispatch-trust.c: a real authorized_clients
 * policy, audit log and confirmation) also:
 *  - a job is queued only when the rules, written out again in
 *    trust_allows(), let the client use the key for the operation, at
 *    most 3 times for the rate-limited client, and goes to confirmation
 *    exactly when a rule or --confirm asks for it, with its meta filled;
 *  - a FAILURE 33 (denied) comes only from such a rule, with the
 *    authorized_clients reason, and never in the default mode;
 *  - LIST_KEYS counts only the keys the client may see.
 *
 * Input: byte 0 sets the initial state (bit 0 logged in, bit 1 the PIN
 * source can be read again, bit 2 an idle lock of 5 s, bit 3 trust mode,
 * bits 4-5 its client: ci-signer, mail gateway, alice, unlisted; bit 6
 * --confirm label:p256). Then records: byte ctl, uint16 length
 * (big-endian), that many bytes of request plaintext (id, type, body).
 * ctl bit 0: complete the queued jobs after this request; bits 1-2: how
 * they complete (ok, token error, locked, decryption failure); bit 3:
 * advance the clock by 100 s first; bit 4: run the idle-lock timer; bit
 * 5: a person refuses the jobs waiting for confirmation.
 * mkcorpus-dispatch.py writes the seeds.
 */
#include <string.h>

#include <p11agent/err.h>
#include <p11agent/p11agent.h>

#include "buf.h"
#include "conn.h"
#include "audit.h"
#include "dispatch.h"
#include "fuzz-dispatch.h"
#include "fuzz.h"
#include "loop.h"
#include "pin.h"
#include "proto.h"
#include "secmem.h"
#include "token.h"
#include "workers.h"

#define NKEYS	4
#define MAXJOBS	(2 * P11AGENT_MAX_INFLIGHT)

/* The fake token: RSA-2048, RSA-3072, EC P-256, EC P-384. */
static const struct {
	uint8_t type;
	uint32_t bits;
	const char *curve;
	uint32_t ops;
} fake_keys[NKEYS] = {
	{ P11AGENT_KEY_RSA, 2048, "", P11AGENT_OP_SIGN | P11AGENT_OP_DECRYPT },
	{ P11AGENT_KEY_RSA, 3072, "", P11AGENT_OP_SIGN },
	{ P11AGENT_KEY_EC, 256, "P-256", P11AGENT_OP_SIGN | P11AGENT_OP_DERIVE },
	{ P11AGENT_KEY_EC, 384, "P-384", P11AGENT_OP_SIGN },
};

static struct {
	int logged_in;
	int pin_readable;
	time_t now;
	/* Trust mode. */
	int trust;
	unsigned int client;
	int confirm_opt;
	unsigned int charged;	/* ci-signer's rate */
	/* The current request and what it produced. */
	uint32_t req_id;
	uint8_t req_type;
	const uint8_t *req_body;
	size_t req_body_len;
	unsigned int replies;
	unsigned int submitted;
	int failed;
	int denied;		/* a FAILURE 33 for this request */
	int policy_denial;	/* its message blames authorized_clients */
	/* Queued jobs. */
	struct job *jobs[MAXJOBS];
	int confirming[MAXJOBS];	/* waits for a person */
	size_t njobs;
	int job_outcome;
	int completing;
	uint32_t last_code;	/* of the last reply; 0: OK */
} fk;

static struct conn fake_conn;

static void
fake_id(uint8_t id[P11AGENT_KEYID_LEN], size_t i)
{
	memset(id, (int)(0x11 * (i + 1)), P11AGENT_KEYID_LEN);
}

static char *
dupstr(const char *s)
{
	char *p = strdup(s);

	FUZZ_ASSERT(p != NULL);
	return p;
}

/* token.h */

int
token_login(struct token_ctx *t, const char *pin)
{
	(void)t;
	if (strcmp(pin, "1234") != 0)
		return P11AGENT_ERR_PIN_INCORRECT;
	fk.logged_in = 1;
	return 0;
}

int
token_logout(struct token_ctx *t)
{
	(void)t;
	fk.logged_in = 0;
	return 0;
}

int
token_logged_in(struct token_ctx *t)
{
	(void)t;
	return fk.logged_in;
}

int
token_keys(struct token_ctx *t, struct token_keyinfo **keysp,
    size_t *nkeysp)
{
	struct token_keyinfo *k;
	const uint8_t *cert;
	size_t i, certlen;

	(void)t;
	k = calloc(NKEYS, sizeof(*k));
	FUZZ_ASSERT(k != NULL);
	for (i = 0; i < NKEYS; i++) {
		fake_id(k[i].id, i);
		k[i].label = dupstr(fk.trust ? trust_label(i) : "key");
		if (fk.trust && (cert = trust_cert(i, &certlen)) != NULL) {
			FUZZ_ASSERT((k[i].cert = malloc(certlen)) != NULL);
			memcpy(k[i].cert, cert, certlen);
			k[i].cert_len = certlen;
		}
		k[i].token_label = dupstr("fuzz");
		k[i].token_serial = dupstr("0001");
		k[i].type = fake_keys[i].type;
		k[i].bits = fake_keys[i].bits;
		k[i].curve = dupstr(fake_keys[i].curve);
		k[i].ops = fake_keys[i].ops;
		k[i].spki = malloc(16);
		FUZZ_ASSERT(k[i].spki != NULL);
		memset(k[i].spki, 0x30, 16);
		k[i].spki_len = 16;
		k[i].uri = dupstr("pkcs11:token=fuzz");
	}
	*keysp = k;
	*nkeysp = NKEYS;
	return 0;
}

void
token_keys_free(struct token_keyinfo *keys, size_t nkeys)
{
	size_t i;

	for (i = 0; i < nkeys; i++) {
		free(keys[i].label);
		free(keys[i].token_label);
		free(keys[i].token_serial);
		free(keys[i].curve);
		free(keys[i].spki);
		free(keys[i].cert);
		free(keys[i].ckaid);
		free(keys[i].uri);
	}
	free(keys);
}

int
token_infos(struct token_ctx *t, struct token_info **infosp,
    size_t *ninfosp)
{
	struct token_info *ti;

	(void)t;
	ti = calloc(1, sizeof(*ti));
	FUZZ_ASSERT(ti != NULL);
	ti->label = dupstr("fuzz");
	ti->serial = dupstr("0001");
	ti->manufacturer = dupstr("p11agent");
	ti->model = dupstr("fake");
	ti->module = dupstr("fake.so");
	ti->present = 1;
	ti->logged_in = fk.logged_in;
	ti->nkeys = NKEYS;
	*infosp = ti;
	*ninfosp = 1;
	return 0;
}

void
token_infos_free(struct token_info *infos, size_t ninfos)
{
	size_t i;

	for (i = 0; i < ninfos; i++) {
		free(infos[i].label);
		free(infos[i].serial);
		free(infos[i].manufacturer);
		free(infos[i].model);
		free(infos[i].module);
	}
	free(infos);
}

/* pin.h */

int
pin_read(struct pin_source *src, char **pinp)
{
	(void)src;
	*pinp = NULL;
	if (!fk.pin_readable)
		return P11AGENT_ERR_PIN_REQUIRED;
	if ((*pinp = p11agent_secure_alloc(5)) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	memcpy(*pinp, "1234", 5);
	return 0;
}

/* loop.h */

time_t
loop_now(void)
{
	return fk.now;
}

/* workers.h */

struct job *
job_new(const uint8_t *in, size_t inlen)
{
	struct job *j = calloc(1, sizeof(*j));

	FUZZ_ASSERT(j != NULL);
	j->in = malloc(inlen ? inlen : 1);
	FUZZ_ASSERT(j->in != NULL);
	memcpy(j->in, in, inlen);
	j->inlen = inlen;
	return j;
}

void
job_free(struct job *j)
{
	if (j == NULL)
		return;
	free(j->in);
	free(j->out);
	free(j->meta);
	free(j->msg);
	free(j);
}

/* The index of a key of the snapshot, or -1. */
static int
snapshot_key(const uint8_t *id)
{
	size_t i;
	uint8_t want[P11AGENT_KEYID_LEN];

	for (i = 0; i < NKEYS; i++) {
		fake_id(want, i);
		if (memcmp(want, id, sizeof(want)) == 0)
			return (int)i;
	}
	return -1;
}

static uint32_t
op_of(uint8_t type)
{
	return type == P11AGENT_MSG_SIGN ? P11AGENT_OP_SIGN :
	    type == P11AGENT_MSG_DECRYPT ? P11AGENT_OP_DECRYPT :
	    P11AGENT_OP_DERIVE;
}

/* The key and operation a SIGN, DECRYPT or DERIVE (or *2) names. */
static int
request_keyop(const uint8_t *p, size_t len, size_t *kip, uint32_t *opp)
{
	uint8_t type;
	int ki;

	if (len < 5 + 4 + P11AGENT_KEYID_LEN)
		return 0;
	type = p[4] > P11AGENT_MSG_DESC_OFFSET ?
	    p[4] - P11AGENT_MSG_DESC_OFFSET : p[4];
	if (type < P11AGENT_MSG_SIGN || type > P11AGENT_MSG_DERIVE)
		return 0;
	if (p[5] != 0 || p[6] != 0 || p[7] != 0 || p[8] != P11AGENT_KEYID_LEN ||
	    (ki = snapshot_key(p + 9)) < 0)
		return 0;
	*kip = (size_t)ki;
	*opp = op_of(type);
	return 1;
}

/* The reactor (or the confirmation thread) would run it; here it waits. */
int
fake_queue(struct job *j, int confirm)
{
	int ki, conf;

	FUZZ_ASSERT(!fk.completing);
	/* SIGN2, DECRYPT2 and DERIVE2 make the same jobs. */
	FUZZ_ASSERT(j->req_id == fk.req_id && j->type ==
	    (fk.req_type > P11AGENT_MSG_DESC_OFFSET ?
	    fk.req_type - P11AGENT_MSG_DESC_OFFSET : fk.req_type));
	FUZZ_ASSERT(j->type == P11AGENT_MSG_SIGN ||
	    j->type == P11AGENT_MSG_DECRYPT || j->type == P11AGENT_MSG_DERIVE);
	FUZZ_ASSERT(fk.logged_in);
	FUZZ_ASSERT((ki = snapshot_key(j->key_id)) >= 0);
	if (fk.trust) {
		FUZZ_ASSERT(trust_allows(fk.client, (size_t)ki, op_of(j->type),
		    &conf));
		FUZZ_ASSERT(confirm == (conf || (fk.confirm_opt && ki == 2)));
		FUZZ_ASSERT(j->meta != NULL && j->meta->policy_line ==
		    fk.client + 2 && strcmp(j->meta->client,
		    trust_name(fk.client)) == 0 &&
		    strcmp(j->meta->key_label, trust_label((size_t)ki)) == 0);
		/* policy_charge() took one before the job was made. */
		if (fk.client == 0) {
			FUZZ_ASSERT(fk.charged < TRUST_RATE);
			fk.charged++;
		}
	} else
		FUZZ_ASSERT(!confirm && j->meta == NULL);
	FUZZ_ASSERT(j->inlen > 0);
	if (j->type == P11AGENT_MSG_DERIVE)
		FUZZ_ASSERT(j->in[0] == 0x04 && (j->inlen == 65 ||
		    j->inlen == 97));
	if (j->type == P11AGENT_MSG_SIGN)
		FUZZ_ASSERT(j->inlen <= P11AGENT_MAX_DIGEST);
	if (fk.njobs == MAXJOBS)
		return P11AGENT_ERR_BUSY;
	fk.confirming[fk.njobs] = confirm;
	fk.jobs[fk.njobs++] = j;
	fk.submitted++;
	return 0;
}

/* conn.h */
int
conn_queue_job(struct conn *c, struct job *j)
{
	FUZZ_ASSERT(c == &fake_conn);
	return fake_queue(j, 0);
}

/* conn.h */

void
conn_send(struct conn *c, const uint8_t *pt, size_t len)
{
	struct buf *b = buf_from(pt, len);
	uint32_t id, code;
	uint8_t type;
	char *msg = NULL;
	size_t msglen;
	const uint8_t *data;
	size_t dlen;
	uint32_t total;

	FUZZ_ASSERT(c == &fake_conn && b != NULL);
	FUZZ_ASSERT(c->state == CONN_OPEN);
	FUZZ_ASSERT(len <= P11AGENT_MAX_PLAINTEXT);
	FUZZ_ASSERT(buf_get_u32(b, &id) == 0 && buf_get_u8(b, &type) == 0);
	FUZZ_ASSERT(type == P11AGENT_MSG_OK || type == P11AGENT_MSG_FAILURE);
	if (type == P11AGENT_MSG_FAILURE) {
		FUZZ_ASSERT(buf_get_u32(b, &code) == 0);
		FUZZ_ASSERT(code != 0 && code <= 0xffff);
		FUZZ_ASSERT(buf_get_cstring(b, &msg, &msglen) == 0);
		FUZZ_ASSERT(msglen <= 256 && strcspn(msg, "\r\n") == msglen);
		FUZZ_ASSERT(buf_len(b) == 0);
		fk.last_code = code;
		if (!fk.completing && code == (uint32_t)-P11AGENT_ERR_DENIED) {
			fk.denied = 1;
			fk.policy_denial = strncmp(msg, "denied by "
			    "authorized_clients", 28) == 0;
		}
		free(msg);
	} else if (!fk.completing && fk.req_type == P11AGENT_MSG_PING) {
		FUZZ_ASSERT(buf_get_string_direct(b, &data, &dlen) == 0);
		FUZZ_ASSERT(buf_len(b) == 0);
		/* The request body is string data: the same bytes. */
		FUZZ_ASSERT(dlen + 4 == fk.req_body_len &&
		    memcmp(data, fk.req_body + 4, dlen) == 0);
	} else if (!fk.completing && fk.req_type == P11AGENT_MSG_LIST_KEYS) {
		/* Only the keys the client's rules let it see. */
		FUZZ_ASSERT(buf_get_u32(b, &total) == 0);
		FUZZ_ASSERT(total == (fk.trust ? trust_visible(fk.client) :
		    NKEYS));
	}
	if (type == P11AGENT_MSG_OK)
		fk.last_code = 0;
	if (!fk.completing)
		FUZZ_ASSERT(id == fk.req_id);
	buf_free(b);
	fk.replies++;
}

void
conn_fail(struct conn *c, int r, const char *what)
{
	(void)r;
	(void)what;
	FUZZ_ASSERT(c == &fake_conn);
	c->state = CONN_DEAD;
	fk.failed = 1;
}

/*
 * The fake worker pool (and confirmation thread) finishes every queued
 * job, and writes its audit line as workers.c does.
 */
static void
complete_jobs(int outcome, int refuse)
{
	static const int errs[] = { 0, P11AGENT_ERR_TOKEN_ERROR,
		P11AGENT_ERR_AGENT_LOCKED, P11AGENT_ERR_DECRYPT_FAILED };
	struct audit_rec rec;
	struct job *j;
	size_t i;
	unsigned int before;
	int refused;

	fk.completing = 1;
	for (i = 0; i < fk.njobs; i++) {
		j = fk.jobs[i];
		/* The loop drops the replies of a closed connection. */
		if (fake_conn.state != CONN_OPEN) {
			job_free(j);
			continue;
		}
		refused = fk.confirming[i] && refuse;
		if (refused) {
			/* confirm.c: job_fail(j, DENIED, "denied by user"). */
			j->result = P11AGENT_ERR_DENIED;
			j->msg = dupstr("denied by user");
		} else {
			j->confirmed = fk.confirming[i];
			j->result = errs[outcome & 3];
		}
		if (j->result == 0) {
			j->outlen = j->type == P11AGENT_MSG_SIGN ? 72 : 32;
			j->out = malloc(j->outlen);
			FUZZ_ASSERT(j->out != NULL);
			memset(j->out, 0xa5, j->outlen);
		}
		if (audit_enabled()) {
			FUZZ_ASSERT(j->meta != NULL);
			job_audit_rec(j, &rec);
			FUZZ_ASSERT(audit_write(&rec, 1, NULL, 0) == 0);
		}
		before = fk.replies;
		dispatch_complete(&fake_conn, j);
		FUZZ_ASSERT(fk.replies == before + 1);
		if (refused)
			FUZZ_ASSERT(fk.last_code ==
			    (uint32_t)-P11AGENT_ERR_DENIED);
		FUZZ_ASSERT(fake_conn.inflight > 0);
		fake_conn.inflight--;
		job_free(j);
	}
	fk.njobs = 0;
	fk.completing = 0;
}

static void
one_request(const uint8_t *p, size_t len)
{
	struct buf *pt = buf_from(p, len);
	unsigned int replies = fk.replies, submitted = fk.submitted;
	size_t ki;
	uint32_t op;
	int conf;

	FUZZ_ASSERT(pt != NULL);
	fk.denied = fk.policy_denial = 0;
	fk.req_id = len >= 4 ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3] : 0;
	fk.req_type = len >= 5 ? p[4] : 0;
	fk.req_body = len >= 5 ? p + 5 : NULL;
	fk.req_body_len = len >= 5 ? len - 5 : 0;
	dispatch_request(&fake_conn, pt);
	buf_free(pt);
	if (len < 5) {
		FUZZ_ASSERT(fk.failed && fk.replies == replies &&
		    fk.submitted == submitted);
		return;
	}
	FUZZ_ASSERT(!fk.failed);
	/* Exactly one reply now, or exactly one job that will send it. */
	FUZZ_ASSERT((fk.replies - replies) + (fk.submitted - submitted) == 1);
	if (!fk.denied)
		return;
	/* Only authorized_clients denies at once, and only what it must. */
	FUZZ_ASSERT(fk.trust && fk.policy_denial && fk.submitted == submitted);
	if (fk.req_type == P11AGENT_MSG_LIST_KEYS) {
		FUZZ_ASSERT(fk.client == TRUST_UNLISTED);
		return;
	}
	FUZZ_ASSERT(request_keyop(p, len, &ki, &op));
	FUZZ_ASSERT(!trust_allows(fk.client, ki, op, &conf) ||
	    (fk.client == 0 && fk.charged >= TRUST_RATE));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pin_source src = { PIN_SOURCE_FILE, "/nonexistent",
		-1, NULL };
	size_t off = 1, len;
	uint8_t ctl;

	if (size < 1)
		return 0;
	memset(&fk, 0, sizeof(fk));
	memset(&fake_conn, 0, sizeof(fake_conn));
	fake_conn.state = CONN_OPEN;
	fake_conn.id = 1;
	fake_conn.uid = 1000;
	memcpy(fake_conn.name, "fuzz", 5);
	fk.logged_in = data[0] & 1;
	fk.pin_readable = (data[0] >> 1) & 1;
	fk.trust = (data[0] >> 3) & 1;
	fk.client = (data[0] >> 4) & 3;
	fk.confirm_opt = (data[0] >> 6) & 1;
	/* Far beyond any unlock back-off of an earlier input. */
	{
		static time_t epoch = 1000;

		epoch += 100000;
		fk.now = epoch;
	}
	/* First: dispatch_init() takes the snapshot, with its certificates. */
	if (fk.trust)
		trust_begin(&fake_conn, fk.client, fk.confirm_opt);
	FUZZ_ASSERT(dispatch_init(NULL, &src, (data[0] & 4) ? 5 : 0,
	    fk.now) == 0);
	while (off + 3 <= size && !fk.failed) {
		ctl = data[off];
		len = (size_t)data[off + 1] << 8 | data[off + 2];
		off += 3;
		if (len > size - off)
			len = size - off;
		if (ctl & 8)
			fk.now += 100;
		if (ctl & 16)
			(void)dispatch_tick(fk.now);
		one_request(data + off, len);
		off += len;
		/* Past P11AGENT_MAX_INFLIGHT the dispatcher answers BUSY. */
		if ((ctl & 1) || fk.njobs == MAXJOBS)
			complete_jobs((ctl >> 1) & 3, (ctl >> 5) & 1);
	}
	complete_jobs(0, 0);
	dispatch_cleanup();
	if (fk.trust)
		trust_end();
	return 0;
}
