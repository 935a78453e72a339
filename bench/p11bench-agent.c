/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * p11bench-agent.c - p11agent's side of the benchmark: N client threads,
 * each with its own connection (libp11agent handles are per thread),
 * sending one request at a time or pipelined batches
 * (p11agent_client_sign_many). Every thread's first result is verified
 * with OpenSSL against the key's SPKI before any timing starts.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <p11agent/p11agent.h>

#include "stats.h"

#define MAX_CLIENTS	256
#define MAX_BATCH	128	/* P11AGENT_MAX_INFLIGHT */

enum op { OP_ECDSA_P256, OP_ECDSA_P384, OP_RSA_SIGN, OP_RSA_DECRYPT,
    OP_ECDH_P256, OP_PING };

static const struct opdef {
	const char *name;
	enum op op;
	const char *key;	/* softhsm-fixtures' label */
	unsigned int alg;
	size_t dlen;
} opdefs[] = {
	{ "ecdsa-p256", OP_ECDSA_P256, "carol", P11AGENT_ALG_ECDSA_SHA256, 32 },
	{ "ecdsa-p384", OP_ECDSA_P384, "dave", P11AGENT_ALG_ECDSA_SHA384, 48 },
	{ "rsa2048-sign", OP_RSA_SIGN, "alice",
	    P11AGENT_ALG_RSA_PKCS1_SHA256, 32 },
	{ "rsa2048-decrypt", OP_RSA_DECRYPT, "alice", P11AGENT_ALG_RSA_PKCS1,
	    0 },
	{ "ecdh-p256", OP_ECDH_P256, "carol", 0, 0 },
	{ "ping", OP_PING, NULL, 0, 0 },
};

/* The P-256 base point: x(d*G) is the key's own public x. */
static const uint8_t p256_g[65] = {
	0x04,
	0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5,
	0x63, 0xa4, 0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0,
	0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96,
	0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a,
	0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce,
	0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
};

static struct {
	const char *sock;
	const struct opdef *op;
	int batch;
	uint8_t key_id[P11AGENT_KEYID_LEN];
	EVP_PKEY *pub;
	uint8_t digest[64];
	uint8_t ct[1024];		/* RSA decrypt input */
	size_t ctlen;
	uint8_t secret[32];		/* its plaintext */
	uint8_t ec_x[32];		/* ECDH: the expected shared secret */
	uint64_t warm_end, end;
	pthread_barrier_t start;
} g;

struct thr {
	pthread_t tid;
	struct p11agent_client *c;
	struct lat_samples lat;
	uint64_t ops, errors, last_ns;
	int first_r;
	int checked;
};

/* 1 if sig is the key's signature over g.digest. */
static int
verify_sig(const uint8_t *sig, size_t siglen)
{
	EVP_PKEY_CTX *pc;
	int ok;

	if ((pc = EVP_PKEY_CTX_new(g.pub, NULL)) == NULL)
		return 0;
	ok = EVP_PKEY_verify_init(pc) == 1 &&
	    (g.op->op != OP_RSA_SIGN ||
	    (EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) == 1)) &&
	    EVP_PKEY_verify(pc, sig, siglen, g.digest, g.op->dlen) == 1;
	EVP_PKEY_CTX_free(pc);
	return ok;
}

/* One request (or one batch); returns 0 or the first error. */
static int
one_op(struct thr *t, int check_it)
{
	const uint8_t *ids[MAX_BATCH], *dg[MAX_BATCH];
	unsigned int algs[MAX_BATCH];
	size_t dlens[MAX_BATCH], lens[MAX_BATCH];
	uint8_t *outs[MAX_BATCH];
	int results[MAX_BATCH];
	uint8_t *out = NULL;
	size_t outlen = 0;
	int r = 0, i;

	if (g.batch > 1) {
		for (i = 0; i < g.batch; i++) {
			ids[i] = g.key_id;
			dg[i] = g.digest;
			algs[i] = g.op->alg;
			dlens[i] = g.op->dlen;
		}
		r = p11agent_client_sign_many(t->c, (size_t)g.batch, ids,
		    algs, dg, dlens, results, outs, lens);
		for (i = 0; i < g.batch; i++) {
			if (r == 0 && results[i] != 0)
				r = results[i];
			if (r == 0 && check_it && !verify_sig(outs[i], lens[i]))
				t->checked = -1;
			p11agent_freezero(outs[i], lens[i]);
		}
		if (check_it && r == 0 && t->checked == 0)
			t->checked = 1;
		return r;
	}

	switch (g.op->op) {
	case OP_ECDSA_P256:
	case OP_ECDSA_P384:
	case OP_RSA_SIGN:
		r = p11agent_client_sign(t->c, g.key_id, g.op->alg, g.digest,
		    g.op->dlen, &out, &outlen);
		if (r == 0 && check_it)
			t->checked = verify_sig(out, outlen) ? 1 : -1;
		break;
	case OP_RSA_DECRYPT:
		r = p11agent_client_decrypt(t->c, g.key_id, g.op->alg, g.ct,
		    g.ctlen, &out, &outlen);
		if (r == 0 && check_it)
			t->checked = outlen == sizeof(g.secret) &&
			    memcmp(out, g.secret, outlen) == 0 ? 1 : -1;
		break;
	case OP_ECDH_P256:
		r = p11agent_client_derive(t->c, g.key_id, p256_g,
		    sizeof(p256_g), &out, &outlen);
		if (r == 0 && check_it)
			t->checked = outlen == sizeof(g.ec_x) &&
			    memcmp(out, g.ec_x, outlen) == 0 ? 1 : -1;
		break;
	case OP_PING:
		r = p11agent_client_ping(t->c);
		if (check_it)
			t->checked = 1;
		break;
	}
	p11agent_freezero(out, outlen);
	return r;
}

static void *
thread_main(void *arg)
{
	struct thr *t = arg;
	uint64_t t0, t1, per = g.batch > 1 ? (uint64_t)g.batch : 1;
	int r;

	t->first_r = one_op(t, 1);
	pthread_barrier_wait(&g.start);
	if (t->first_r != 0 || t->checked != 1)
		return NULL;
	t1 = stats_now_ns();
	while (t1 < g.warm_end) {
		(void)one_op(t, 0);
		t1 = stats_now_ns();
	}
	do {
		t0 = t1;
		r = one_op(t, 0);
		t1 = stats_now_ns();
		if (r != 0)
			t->errors += per;
		else {
			t->ops += per;
			lat_add(&t->lat, t1 - t0);
		}
	} while (t1 < g.end);
	t->last_ns = t1;
	return NULL;
}

/* Key id, public key and the expected results for the op's key. */
static void
prepare(struct p11agent_client *c, const char *keyref)
{
	struct p11agent_keylist *l = NULL;
	const struct p11agent_key *k;
	const uint8_t *spki, *p;
	EVP_PKEY_CTX *pc;
	uint8_t pt[133];
	size_t len, i;
	int r;

	for (i = 0; i < sizeof(g.digest); i++)
		g.digest[i] = (uint8_t)(i * 13 + 1);
	for (i = 0; i < sizeof(g.secret); i++)
		g.secret[i] = (uint8_t)(0xa5 ^ i * 7);
	if (g.op->op == OP_PING)
		return;
	if ((r = p11agent_client_list_keys(c, &l)) != 0)
		stats_die("list keys: %s", p11agent_strerror(r));
	if ((r = p11agent_keylist_find(l, keyref, &k)) != 0)
		stats_die("key \"%s\": %s", keyref, p11agent_strerror(r));
	memcpy(g.key_id, p11agent_key_id(k), sizeof(g.key_id));
	spki = p11agent_key_spki(k, &len);
	p = spki;
	if ((g.pub = d2i_PUBKEY(NULL, &p, (long)len)) == NULL)
		stats_die("key \"%s\": bad SPKI", keyref);
	p11agent_keylist_free(l);

	if (g.op->op == OP_RSA_DECRYPT) {
		g.ctlen = sizeof(g.ct);
		if ((pc = EVP_PKEY_CTX_new(g.pub, NULL)) == NULL ||
		    EVP_PKEY_encrypt_init(pc) != 1 ||
		    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) != 1 ||
		    EVP_PKEY_encrypt(pc, g.ct, &g.ctlen, g.secret,
		    sizeof(g.secret)) != 1)
			stats_die("cannot encrypt to \"%s\"", keyref);
		EVP_PKEY_CTX_free(pc);
	} else if (g.op->op == OP_ECDH_P256) {
		if (EVP_PKEY_get_octet_string_param(g.pub,
		    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, sizeof(pt),
		    &len) != 1 || len != 65 || pt[0] != 0x04)
			stats_die("key \"%s\" is not P-256", keyref);
		memcpy(g.ec_x, pt + 1, 32);
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: p11bench-agent [--socket PATH] --op OP "
	    "[--key KEYREF] [--clients N]\n"
	    "           [--batch N] [--seconds S] [--warmup S]\n"
	    "           [--watch-pid PID]...\n"
	    "OP: ecdsa-p256 ecdsa-p384 rsa2048-sign rsa2048-decrypt "
	    "ecdh-p256 ping\n"
	    "--batch N > 1 pipelines N signatures per "
	    "p11agent_client_sign_many()\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "socket", required_argument, NULL, 'S' },
		{ "op", required_argument, NULL, 'o' },
		{ "key", required_argument, NULL, 'k' },
		{ "clients", required_argument, NULL, 'n' },
		{ "batch", required_argument, NULL, 'b' },
		{ "seconds", required_argument, NULL, 's' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "watch-pid", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 }
	};
	const char *op = NULL, *keyref = NULL;
	struct p11agent_client *c0 = NULL;
	struct lat_samples *lats;
	struct thr *th;
	struct cpu_mark m0, m1;
	int watch[STATS_MAX_WATCH];
	size_t nwatch = 0;
	double secs = 3, warm = -1, p50, p99;
	uint64_t ops = 0, errors = 0, last = 0;
	char unit[32];
	int nclients = 1, ch, i, r;
	size_t k;

	g.batch = 1;
	while ((ch = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (ch) {
		case 'S': g.sock = optarg; break;
		case 'o': op = optarg; break;
		case 'k': keyref = optarg; break;
		case 'n': nclients = atoi(optarg); break;
		case 'b': g.batch = atoi(optarg); break;
		case 's': secs = atof(optarg); break;
		case 'w': warm = atof(optarg); break;
		case 'P':
			if (nwatch == STATS_MAX_WATCH)
				usage();
			watch[nwatch++] = atoi(optarg);
			break;
		default: usage();
		}
	}
	if (op == NULL || nclients < 1 || nclients > MAX_CLIENTS ||
	    g.batch < 1 || g.batch > MAX_BATCH || secs <= 0)
		usage();
	for (k = 0; k < sizeof(opdefs) / sizeof(opdefs[0]); k++)
		if (strcmp(opdefs[k].name, op) == 0)
			g.op = &opdefs[k];
	if (g.op == NULL)
		usage();
	if (g.batch > 1 && (g.op->op == OP_RSA_DECRYPT ||
	    g.op->op == OP_ECDH_P256 || g.op->op == OP_PING))
		stats_die("pipelining: libp11agent has no batch call for %s",
		    op);
	if (keyref == NULL)
		keyref = g.op->key;
	if (warm < 0)
		warm = secs / 5 < 0.3 ? secs / 5 : 0.3;

	/* The first connection creates the client key if it is missing. */
	if ((r = p11agent_client_connect_ex(&c0, g.sock, NULL, NULL,
	    "p11bench")) != 0)
		stats_die("connect: %s", p11agent_strerror(r));
	prepare(c0, keyref);

	if ((th = calloc((size_t)nclients, sizeof(*th))) == NULL ||
	    (lats = calloc((size_t)nclients, sizeof(*lats))) == NULL)
		stats_die("out of memory");
	th[0].c = c0;
	for (i = 1; i < nclients; i++)
		if ((r = p11agent_client_connect_ex(&th[i].c, g.sock, NULL,
		    NULL, "p11bench")) != 0)
			stats_die("connect %d: %s", i, p11agent_strerror(r));
	pthread_barrier_init(&g.start, NULL, (unsigned)nclients + 1);
	for (i = 0; i < nclients; i++)
		if (pthread_create(&th[i].tid, NULL, thread_main, &th[i]) != 0)
			stats_die("pthread_create failed");
	g.warm_end = stats_now_ns() + (uint64_t)(warm * 1e9);
	g.end = g.warm_end + (uint64_t)(secs * 1e9);
	pthread_barrier_wait(&g.start);
	stats_window(watch, nwatch, g.warm_end, g.end, &m0, &m1);
	for (i = 0; i < nclients; i++) {
		pthread_join(th[i].tid, NULL);
		if (th[i].first_r != 0)
			stats_die("%s: %s (%s)", op,
			    p11agent_strerror(th[i].first_r),
			    p11agent_client_last_message(th[i].c));
		if (th[i].checked != 1)
			stats_die("%s: the agent's result did not check out",
			    op);
		ops += th[i].ops;
		errors += th[i].errors;
		if (th[i].last_ns > last)
			last = th[i].last_ns;
		lats[i] = th[i].lat;
	}
	lat_percentiles(lats, (size_t)nclients, &p50, &p99);
	if (g.batch > 1)
		snprintf(unit, sizeof(unit), "batch of %d", g.batch);
	else
		snprintf(unit, sizeof(unit), "op");
	stats_print(ops, errors, (double)(last - g.warm_end) / 1e9, p50, p99,
	    unit, &m0, &m1, NULL);
	for (i = 0; i < nclients; i++) {
		lat_free(&lats[i]);
		p11agent_client_free(th[i].c);
	}
	free(lats);
	free(th);
	EVP_PKEY_free(g.pub);
	return 0;
}
