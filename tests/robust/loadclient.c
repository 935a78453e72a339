/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * loadclient.c - many concurrent libp11agent clients, each on its own
 * connection, sending a mix of every operation the agent's keys allow:
 * SIGN with every key and every signature algorithm of its type,
 * DECRYPT of values encrypted here in software (PKCS#1 v1.5 and OAEP),
 * DERIVE against peer keys generated here, and PING. Every result is
 * checked in software with OpenSSL from the key's SubjectPublicKeyInfo:
 * each signature is verified, each decryption and each shared secret
 * compared with the expected value. Any error or wrong result fails.
 *
 * usage: loadclient [-o KINDS] [-p PINGS] [-u STOPFILE] SOCKET CLIENTS
 *     REQUESTS
 *   -o: only these operations, a comma-separated subset of
 *   sign,decrypt,derive,ping (to find which one a problem follows).
 *   -p: PINGS pings after each request, a client in quick succession
 *   (the agent then polls for it: agent/loop.c).
 *   Each of CLIENTS threads connects once and sends REQUESTS requests;
 *   with -u it keeps going (REQUESTS at least) until STOPFILE exists.
 *   Prints one summary line; exits 0 only with zero errors and zero
 *   wrong results.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <p11agent/client.h>
#include <p11agent/err.h>
#include <p11agent/p11agent.h>

#define MAX_KEYS	16
#define MAX_OPS		128
#define PEERS		4	/* peer keys per derive key and thread */

enum op_kind { OP_SIGN, OP_DECRYPT, OP_DERIVE, OP_PING, OP_NKINDS };

struct key {
	uint8_t id[P11AGENT_KEYID_LEN];
	char label[64];
	int type;
	EVP_PKEY *pub;
};

struct op {
	enum op_kind kind;
	size_t key;
	unsigned int alg;
	const EVP_MD *md;	/* sign: the digest; decrypt: OAEP hash */
	int pad;		/* RSA padding mode */
};

static struct key keys[MAX_KEYS];
static size_t nkeys;
static struct op ops[MAX_OPS];
static size_t nops;
static const char *sockpath, *stopfile, *only;
static unsigned long npings;
static unsigned long nrequests;

struct stats {
	unsigned long done[OP_NKINDS];
	unsigned long errors;
	unsigned long wrong;
};

static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static struct stats total;

static const char *kind_name[OP_NKINDS] = { "sign", "decrypt", "derive",
	"ping" };

static void
die(const char *what)
{
	fprintf(stderr, "loadclient: %s\n", what);
	exit(2);
}

static void
add_op(enum op_kind kind, size_t key, unsigned int alg, const EVP_MD *md,
    int pad)
{
	if (only != NULL && strstr(only, kind_name[kind]) == NULL)
		return;
	if (nops == MAX_OPS)
		die("too many operations");
	ops[nops].kind = kind;
	ops[nops].key = key;
	ops[nops].alg = alg;
	ops[nops].md = md;
	ops[nops].pad = pad;
	nops++;
}

/* The key list, and every operation each key supports. */
static void
load_keys(void)
{
	struct p11agent_client *c = NULL;
	struct p11agent_keylist *l = NULL;
	const struct p11agent_key *k;
	const uint8_t *spki;
	size_t i, len;
	unsigned int kops;
	int r;

	/* The first connection creates the client key, before the threads. */
	if ((r = p11agent_client_connect(&c, sockpath)) != 0 ||
	    (r = p11agent_client_list_keys(c, &l)) != 0) {
		fprintf(stderr, "loadclient: %s\n", p11agent_strerror(r));
		exit(2);
	}
	for (i = 0; i < p11agent_keylist_count(l) && nkeys < MAX_KEYS; i++) {
		k = p11agent_keylist_get(l, i);
		spki = p11agent_key_spki(k, &len);
		memcpy(keys[nkeys].id, p11agent_key_id(k), P11AGENT_KEYID_LEN);
		snprintf(keys[nkeys].label, sizeof(keys[nkeys].label), "%s",
		    p11agent_key_label(k));
		keys[nkeys].type = p11agent_key_type(k);
		if ((keys[nkeys].pub = d2i_PUBKEY(NULL, &spki,
		    (long)len)) == NULL)
			die("cannot parse a key's SPKI");
		kops = p11agent_key_operations(k);
		if ((kops & P11AGENT_OP_SIGN) &&
		    keys[nkeys].type == P11AGENT_KEY_RSA) {
			add_op(OP_SIGN, nkeys, P11AGENT_ALG_RSA_PKCS1_SHA256,
			    EVP_sha256(), RSA_PKCS1_PADDING);
			add_op(OP_SIGN, nkeys, P11AGENT_ALG_RSA_PKCS1_SHA384,
			    EVP_sha384(), RSA_PKCS1_PADDING);
			add_op(OP_SIGN, nkeys, P11AGENT_ALG_RSA_PKCS1_SHA512,
			    EVP_sha512(), RSA_PKCS1_PADDING);
			add_op(OP_SIGN, nkeys, P11AGENT_ALG_RSA_PSS_SHA256,
			    EVP_sha256(), RSA_PKCS1_PSS_PADDING);
			add_op(OP_SIGN, nkeys, P11AGENT_ALG_RSA_PSS_SHA384,
			    EVP_sha384(), RSA_PKCS1_PSS_PADDING);
			add_op(OP_SIGN, nkeys, P11AGENT_ALG_RSA_PSS_SHA512,
			    EVP_sha512(), RSA_PKCS1_PSS_PADDING);
		} else if (kops & P11AGENT_OP_SIGN) {
			add_op(OP_SIGN, nkeys, P11AGENT_ALG_ECDSA_SHA256,
			    EVP_sha256(), 0);
			add_op(OP_SIGN, nkeys, P11AGENT_ALG_ECDSA_SHA384,
			    EVP_sha384(), 0);
			add_op(OP_SIGN, nkeys, P11AGENT_ALG_ECDSA_SHA512,
			    EVP_sha512(), 0);
		}
		if (kops & P11AGENT_OP_DECRYPT) {
			add_op(OP_DECRYPT, nkeys, P11AGENT_ALG_RSA_PKCS1,
			    NULL, RSA_PKCS1_PADDING);
			add_op(OP_DECRYPT, nkeys, P11AGENT_ALG_RSA_OAEP_SHA1,
			    EVP_sha1(), RSA_PKCS1_OAEP_PADDING);
			add_op(OP_DECRYPT, nkeys, P11AGENT_ALG_RSA_OAEP_SHA256,
			    EVP_sha256(), RSA_PKCS1_OAEP_PADDING);
		}
		if (kops & P11AGENT_OP_DERIVE) {
			/* Weighted like one key's signatures. */
			add_op(OP_DERIVE, nkeys, 0, NULL, 0);
			add_op(OP_DERIVE, nkeys, 0, NULL, 0);
			add_op(OP_DERIVE, nkeys, 0, NULL, 0);
		}
		nkeys++;
	}
	add_op(OP_PING, 0, 0, NULL, 0);
	add_op(OP_PING, 0, 0, NULL, 0);
	add_op(OP_PING, 0, 0, NULL, 0);
	p11agent_keylist_free(l);
	p11agent_client_free(c);
	if (nkeys == 0)
		die("the agent lists no keys");
	if (nops == 0)
		die("no operation left to send");
}

static int
verify(const struct op *o, const uint8_t *dg, size_t dlen,
    const uint8_t *sig, size_t siglen)
{
	EVP_PKEY_CTX *ctx;
	int ok = 0;

	if ((ctx = EVP_PKEY_CTX_new(keys[o->key].pub, NULL)) == NULL)
		return 0;
	if (EVP_PKEY_verify_init(ctx) == 1 &&
	    EVP_PKEY_CTX_set_signature_md(ctx, o->md) == 1 &&
	    (o->pad == 0 || EVP_PKEY_CTX_set_rsa_padding(ctx, o->pad) == 1) &&
	    (o->pad != RSA_PKCS1_PSS_PADDING ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) == 1))
		ok = EVP_PKEY_verify(ctx, sig, siglen, dg, dlen) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

static int
encrypt(const struct op *o, const uint8_t *pt, size_t ptlen, uint8_t *ct,
    size_t *ctlen)
{
	EVP_PKEY_CTX *ctx;
	int ok = 0;

	if ((ctx = EVP_PKEY_CTX_new(keys[o->key].pub, NULL)) == NULL)
		return 0;
	if (EVP_PKEY_encrypt_init(ctx) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx, o->pad) == 1 &&
	    (o->md == NULL || (EVP_PKEY_CTX_set_rsa_oaep_md(ctx, o->md) == 1 &&
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, o->md) == 1)))
		ok = EVP_PKEY_encrypt(ctx, ct, ctlen, pt, ptlen) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

struct peer {
	uint8_t point[133];
	size_t pointlen;
	uint8_t secret[66];
	size_t secretlen;
};

/* A peer key on k's curve: its public point and the expected secret. */
static int
make_peer(const struct key *k, struct peer *p)
{
	char curve[64];
	EVP_PKEY *eph = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	int ok = 0;

	if (EVP_PKEY_get_utf8_string_param(k->pub, OSSL_PKEY_PARAM_GROUP_NAME,
	    curve, sizeof(curve), NULL) != 1 ||
	    (eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve)) == NULL)
		goto out;
	if (EVP_PKEY_get_octet_string_param(eph,
	    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, p->point, sizeof(p->point),
	    &p->pointlen) != 1 || p->point[0] != 0x04)
		goto out;
	p->secretlen = sizeof(p->secret);
	if ((ctx = EVP_PKEY_CTX_new(eph, NULL)) == NULL ||
	    EVP_PKEY_derive_init(ctx) != 1 ||
	    EVP_PKEY_derive_set_peer(ctx, k->pub) != 1 ||
	    EVP_PKEY_derive(ctx, p->secret, &p->secretlen) != 1)
		goto out;
	ok = 1;
 out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(eph);
	return ok;
}

static uint64_t
next_rand(uint64_t *s)
{
	/* xorshift64*: a reproducible mix per thread. */
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static void
report(unsigned long tid, unsigned long i, const struct op *o, int r,
    const char *what)
{
	fprintf(stderr, "loadclient: client %lu request %lu: %s %s alg %u: "
	    "%s\n", tid, i, kind_name[o->kind], keys[o->key].label, o->alg,
	    r != 0 ? p11agent_strerror(r) : what);
}

static void *
client_thread(void *arg)
{
	unsigned long tid = (unsigned long)(uintptr_t)arg, i;
	struct p11agent_client *c = NULL;
	struct peer mypeers[MAX_KEYS][PEERS];
	struct stats st;
	uint8_t dg[64], pt[32], ct[1024], *out = NULL;
	size_t ctlen, outlen = 0, k, j, dlen;
	uint64_t seed = 0x9e3779b97f4a7c15ULL * (tid + 1);
	const struct op *o;
	int r;

	memset(&st, 0, sizeof(st));
	for (k = 0; k < nkeys; k++)
		for (j = 0; j < PEERS; j++)
			if (keys[k].type == P11AGENT_KEY_EC &&
			    !make_peer(&keys[k], &mypeers[k][j]))
				die("cannot make an EC peer key");
	if ((r = p11agent_client_connect(&c, sockpath)) != 0) {
		fprintf(stderr, "loadclient: client %lu: connect: %s\n", tid,
		    p11agent_strerror(r));
		st.errors++;
		goto done;
	}
	for (i = 0; i < nrequests ||
	    (stopfile != NULL && access(stopfile, F_OK) != 0); i++) {
		o = &ops[next_rand(&seed) % nops];
		r = 0;
		switch (o->kind) {
		case OP_SIGN:
			dlen = (size_t)EVP_MD_get_size(o->md);
			RAND_bytes(dg, (int)dlen);
			r = p11agent_client_sign(c, keys[o->key].id, o->alg, dg,
			    dlen, &out, &outlen);
			if (r == 0 && !verify(o, dg, dlen, out, outlen)) {
				report(tid, i, o, 0, "signature does not "
				    "verify");
				st.wrong++;
			}
			break;
		case OP_DECRYPT:
			RAND_bytes(pt, sizeof(pt));
			ctlen = sizeof(ct);
			if (!encrypt(o, pt, sizeof(pt), ct, &ctlen))
				die("software encryption failed");
			r = p11agent_client_decrypt(c, keys[o->key].id, o->alg,
			    ct, ctlen, &out, &outlen);
			if (r == 0 && (outlen != sizeof(pt) ||
			    memcmp(out, pt, outlen) != 0)) {
				report(tid, i, o, 0, "wrong plaintext");
				st.wrong++;
			}
			break;
		case OP_DERIVE:
			j = next_rand(&seed) % PEERS;
			r = p11agent_client_derive(c, keys[o->key].id,
			    mypeers[o->key][j].point,
			    mypeers[o->key][j].pointlen, &out, &outlen);
			if (r == 0 && (outlen != mypeers[o->key][j].secretlen ||
			    memcmp(out, mypeers[o->key][j].secret,
			    outlen) != 0)) {
				report(tid, i, o, 0, "wrong shared secret");
				st.wrong++;
			}
			break;
		default:
			r = p11agent_client_ping(c);
			break;
		}
		p11agent_freezero(out, outlen);
		out = NULL;
		outlen = 0;
		if (r != 0) {
			report(tid, i, o, r, NULL);
			st.errors++;
			/* A broken connection would only repeat the error. */
			if (st.errors > 10)
				break;
		} else {
			st.done[o->kind]++;
		}
		for (j = 0; j < npings && r == 0; j++) {
			if ((r = p11agent_client_ping(c)) != 0) {
				report(tid, i, &ops[0], r, "ping");
				st.errors++;
			} else
				st.done[OP_PING]++;
		}
	}
 done:
	p11agent_client_free(c);
	pthread_mutex_lock(&stats_lock);
	for (k = 0; k < OP_NKINDS; k++)
		total.done[k] += st.done[k];
	total.errors += st.errors;
	total.wrong += st.wrong;
	pthread_mutex_unlock(&stats_lock);
	return NULL;
}

int
main(int argc, char **argv)
{
	struct timespec t0, t1;
	pthread_t *threads;
	unsigned long nclients, i, sum = 0;
	double secs;
	int ch;

	while ((ch = getopt(argc, argv, "o:p:u:")) != -1) {
		switch (ch) {
		case 'o':
			only = optarg;
			break;
		case 'p':
			npings = strtoul(optarg, NULL, 10);
			break;
		case 'u':
			stopfile = optarg;
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 3)
		goto usage;
	sockpath = argv[optind];
	nclients = strtoul(argv[optind + 1], NULL, 10);
	nrequests = strtoul(argv[optind + 2], NULL, 10);
	if (nclients == 0 || nclients > 1024)
		goto usage;
	load_keys();
	if ((threads = calloc(nclients, sizeof(*threads))) == NULL)
		die("out of memory");
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < nclients; i++)
		if (pthread_create(&threads[i], NULL, client_thread,
		    (void *)(uintptr_t)i) != 0)
			die("pthread_create");
	for (i = 0; i < nclients; i++)
		pthread_join(threads[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	for (i = 0; i < OP_NKINDS; i++)
		sum += total.done[i];
	printf("loadclient: %lu clients, %lu ok (sign %lu, decrypt %lu, "
	    "derive %lu, ping %lu), %lu errors, %lu wrong, %.1f s, %.0f/s, "
	    "%zu keys, %zu operation kinds\n", nclients, sum,
	    total.done[OP_SIGN], total.done[OP_DECRYPT], total.done[OP_DERIVE],
	    total.done[OP_PING], total.errors, total.wrong, secs,
	    secs > 0 ? (double)sum / secs : 0.0, nkeys, nops);
	for (i = 0; i < nkeys; i++)
		EVP_PKEY_free(keys[i].pub);
	free(threads);
	return total.errors == 0 && total.wrong == 0 &&
	    sum >= nclients * nrequests ? 0 : 1;
usage:
	fprintf(stderr, "usage: loadclient [-o KINDS] [-p PINGS] [-u STOPFILE] "
	    "SOCKET CLIENTS REQUESTS\n");
	return 2;
}
