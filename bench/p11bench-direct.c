/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * p11bench-direct.c - the limit: the same PKCS#11 calls the agent makes
 * (through libp11), made in-process on a module loaded with dlopen().
 * Pointed at p11-kit-client.so it measures p11-kit's RPC forwarding.
 * Each thread has its own session; the login is the application's, made
 * once. The first result of every thread is checked (C_Verify, the
 * known plaintext, the public point) before any timing starts.
 */
#include <dlfcn.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11-kit/pkcs11.h>

#include "stats.h"

#define MAX_THREADS	64
#define MAX_OUT		1024	/* bytes: signature or plaintext */

enum op { OP_ECDSA_P256, OP_ECDSA_P384, OP_RSA_SIGN, OP_RSA_DECRYPT,
    OP_ECDH_P256 };

static const struct opdef {
	const char *name;
	enum op op;
	const char *default_id;	/* CKA_ID hex, softhsm-fixtures' keys */
} opdefs[] = {
	{ "ecdsa-p256", OP_ECDSA_P256, "03" },		/* carol */
	{ "ecdsa-p384", OP_ECDSA_P384, "04" },		/* dave */
	{ "rsa2048-sign", OP_RSA_SIGN, "01" },		/* alice */
	{ "rsa2048-decrypt", OP_RSA_DECRYPT, "01" },	/* alice */
	{ "ecdh-p256", OP_ECDH_P256, "03" },		/* carol */
};

/* The P-256 base point: a valid peer, and x(d*G) is the key's own x. */
static const uint8_t p256_g[65] = {
	0x04,
	0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5,
	0x63, 0xa4, 0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0,
	0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96,
	0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a,
	0x7c, 0x0f, 0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce,
	0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5,
};

/* DER DigestInfo prefix for SHA-256 (RFC 8017 9.2 note 1). */
static const uint8_t sha256_prefix[19] = {
	0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
	0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
};

static struct {
	CK_FUNCTION_LIST *f;
	CK_SLOT_ID slot;
	CK_OBJECT_HANDLE priv, pub;
	const struct opdef *op;
	uint8_t in[512];		/* digest, DigestInfo or ciphertext */
	CK_ULONG inlen;
	uint8_t secret[32];		/* RSA decrypt: the plaintext */
	uint8_t ec_x[32];		/* ECDH: the expected shared secret */
	uint64_t warm_end, end;		/* ns */
	pthread_barrier_t start;
} g;

struct thr {
	pthread_t tid;
	CK_SESSION_HANDLE s;
	struct lat_samples lat;
	uint64_t ops, errors, last_ns;
	CK_RV first_rv;
	int checked;
};

static const char *
ckr(CK_RV rv)
{
	static char buf[32];

	switch (rv) {
	case CKR_OK: return "CKR_OK";
	case CKR_ARGUMENTS_BAD: return "CKR_ARGUMENTS_BAD";
	case CKR_FUNCTION_FAILED: return "CKR_FUNCTION_FAILED";
	case CKR_GENERAL_ERROR: return "CKR_GENERAL_ERROR";
	case CKR_MECHANISM_INVALID: return "CKR_MECHANISM_INVALID";
	case CKR_MECHANISM_PARAM_INVALID: return "CKR_MECHANISM_PARAM_INVALID";
	case CKR_KEY_TYPE_INCONSISTENT: return "CKR_KEY_TYPE_INCONSISTENT";
	case CKR_PIN_INCORRECT: return "CKR_PIN_INCORRECT";
	case CKR_USER_NOT_LOGGED_IN: return "CKR_USER_NOT_LOGGED_IN";
	case CKR_DEVICE_ERROR: return "CKR_DEVICE_ERROR";
	case CKR_DEVICE_REMOVED: return "CKR_DEVICE_REMOVED";
	case CKR_SIGNATURE_INVALID: return "CKR_SIGNATURE_INVALID";
	case CKR_TEMPLATE_INCONSISTENT: return "CKR_TEMPLATE_INCONSISTENT";
	case CKR_ATTRIBUTE_VALUE_INVALID: return "CKR_ATTRIBUTE_VALUE_INVALID";
	case CKR_FUNCTION_NOT_SUPPORTED: return "CKR_FUNCTION_NOT_SUPPORTED";
	default:
		snprintf(buf, sizeof(buf), "CKR 0x%lx", (unsigned long)rv);
		return buf;
	}
}

/* One operation; out gets the result. Returns the CK_RV. */
static CK_RV
one_op(CK_SESSION_HANDLE s, uint8_t *out, CK_ULONG *outlen)
{
	CK_MECHANISM m = { 0, NULL, 0 };
	CK_RV rv;

	switch (g.op->op) {
	case OP_ECDSA_P256:
	case OP_ECDSA_P384:
	case OP_RSA_SIGN:
		m.mechanism = g.op->op == OP_RSA_SIGN ? CKM_RSA_PKCS :
		    CKM_ECDSA;
		if ((rv = g.f->C_SignInit(s, &m, g.priv)) != CKR_OK)
			return rv;
		return g.f->C_Sign(s, g.in, g.inlen, out, outlen);
	case OP_RSA_DECRYPT:
		m.mechanism = CKM_RSA_PKCS;
		if ((rv = g.f->C_DecryptInit(s, &m, g.priv)) != CKR_OK)
			return rv;
		return g.f->C_Decrypt(s, g.in, g.inlen, out, outlen);
	case OP_ECDH_P256: {
		/* libp11's template and calls (pkcs11_ecdh_derive). */
		CK_ECDH1_DERIVE_PARAMS p;
		CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
		CK_KEY_TYPE kt = CKK_GENERIC_SECRET;
		CK_ULONG vlen = 32;
		CK_BBOOL no = CK_FALSE, yes = CK_TRUE;
		CK_ATTRIBUTE tmpl[] = {
			{ CKA_TOKEN, &no, sizeof(no) },
			{ CKA_CLASS, &cls, sizeof(cls) },
			{ CKA_KEY_TYPE, &kt, sizeof(kt) },
			{ CKA_VALUE_LEN, &vlen, sizeof(vlen) },
			{ CKA_SENSITIVE, &no, sizeof(no) },
			{ CKA_EXTRACTABLE, &yes, sizeof(yes) },
			{ CKA_DERIVE, &yes, sizeof(yes) },
		};
		CK_ATTRIBUTE val = { CKA_VALUE, out, *outlen };
		CK_OBJECT_HANDLE k = CK_INVALID_HANDLE;

		p.kdf = CKD_NULL;
		p.shared_data = NULL;
		p.shared_data_len = 0;
		p.public_data = (uint8_t *)p256_g;
		p.public_data_len = sizeof(p256_g);
		m.mechanism = CKM_ECDH1_DERIVE;
		m.pParameter = &p;
		m.ulParameterLen = sizeof(p);
		if ((rv = g.f->C_DeriveKey(s, &m, g.priv, tmpl,
		    sizeof(tmpl) / sizeof(tmpl[0]), &k)) != CKR_OK)
			return rv;
		rv = g.f->C_GetAttributeValue(s, k, &val, 1);
		*outlen = val.ulValueLen;
		g.f->C_DestroyObject(s, k);
		return rv;
	}
	}
	return CKR_GENERAL_ERROR;
}

/* Checks a result: 0 good, -1 wrong. */
static int
check(CK_SESSION_HANDLE s, const uint8_t *out, CK_ULONG outlen)
{
	CK_MECHANISM m = { 0, NULL, 0 };

	switch (g.op->op) {
	case OP_ECDSA_P256:
	case OP_ECDSA_P384:
	case OP_RSA_SIGN:
		m.mechanism = g.op->op == OP_RSA_SIGN ? CKM_RSA_PKCS :
		    CKM_ECDSA;
		if (g.f->C_VerifyInit(s, &m, g.pub) != CKR_OK)
			return -1;
		return g.f->C_Verify(s, g.in, g.inlen, (uint8_t *)out,
		    outlen) == CKR_OK ? 0 : -1;
	case OP_RSA_DECRYPT:
		return outlen == sizeof(g.secret) &&
		    memcmp(out, g.secret, outlen) == 0 ? 0 : -1;
	case OP_ECDH_P256:
		return outlen == sizeof(g.ec_x) &&
		    memcmp(out, g.ec_x, outlen) == 0 ? 0 : -1;
	}
	return -1;
}

static void *
thread_main(void *arg)
{
	struct thr *t = arg;
	uint8_t out[MAX_OUT];
	CK_ULONG outlen;
	uint64_t t0, t1;
	CK_RV rv;

	/* Verified once, outside the timing. */
	outlen = sizeof(out);
	if ((t->first_rv = one_op(t->s, out, &outlen)) == CKR_OK)
		t->checked = check(t->s, out, outlen) == 0;
	pthread_barrier_wait(&g.start);
	if (t->first_rv != CKR_OK || !t->checked)
		return NULL;
	t1 = stats_now_ns();
	while (t1 < g.warm_end) {
		outlen = sizeof(out);
		(void)one_op(t->s, out, &outlen);
		t1 = stats_now_ns();
	}
	do {
		t0 = t1;
		outlen = sizeof(out);
		rv = one_op(t->s, out, &outlen);
		t1 = stats_now_ns();
		if (rv != CKR_OK)
			t->errors++;
		else {
			t->ops++;
			lat_add(&t->lat, t1 - t0);
		}
	} while (t1 < g.end);
	t->last_ns = t1;
	return NULL;
}

static CK_OBJECT_HANDLE
find(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const uint8_t *id,
    size_t idlen)
{
	CK_ATTRIBUTE tmpl[] = {
		{ CKA_CLASS, &cls, sizeof(cls) },
		{ CKA_ID, (void *)id, idlen },
	};
	CK_OBJECT_HANDLE h[2];
	CK_ULONG n = 0;
	CK_RV rv;

	if ((rv = g.f->C_FindObjectsInit(s, tmpl, 2)) != CKR_OK)
		stats_die("C_FindObjectsInit: %s", ckr(rv));
	if ((rv = g.f->C_FindObjects(s, h, 2, &n)) != CKR_OK)
		stats_die("C_FindObjects: %s", ckr(rv));
	g.f->C_FindObjectsFinal(s);
	if (n != 1)
		stats_die("%lu objects of class %lu with that CKA_ID, want 1",
		    (unsigned long)n, (unsigned long)cls);
	return h[0];
}

static CK_SLOT_ID
find_slot(const char *label)
{
	CK_SLOT_ID slots[64];
	CK_ULONG n = 64, i;
	CK_TOKEN_INFO ti;
	char want[32];
	size_t len = strlen(label);
	CK_RV rv;

	if (len > sizeof(want))
		stats_die("token label too long");
	memset(want, ' ', sizeof(want));
	memcpy(want, label, len);
	if ((rv = g.f->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK)
		stats_die("C_GetSlotList: %s", ckr(rv));
	for (i = 0; i < n; i++)
		if (g.f->C_GetTokenInfo(slots[i], &ti) == CKR_OK &&
		    memcmp(ti.label, want, sizeof(want)) == 0)
			return slots[i];
	stats_die("no token labelled \"%s\"", label);
}

/* The inputs, and what a correct result is. */
static void
prepare(CK_SESSION_HANDLE s)
{
	CK_MECHANISM m = { CKM_RSA_PKCS, NULL, 0 };
	CK_ATTRIBUTE a;
	uint8_t pt[128];
	CK_ULONG n;
	size_t i, dlen;
	CK_RV rv;

	for (i = 0; i < sizeof(g.secret); i++)
		g.secret[i] = (uint8_t)(0xa5 ^ i * 7);
	switch (g.op->op) {
	case OP_ECDSA_P256:
	case OP_ECDSA_P384:
		/* A digest: SHA-256 / SHA-384 sized, as the agent gets. */
		dlen = g.op->op == OP_ECDSA_P256 ? 32 : 48;
		for (i = 0; i < dlen; i++)
			g.in[i] = (uint8_t)(i * 13 + 1);
		g.inlen = dlen;
		break;
	case OP_RSA_SIGN:
		/* What RSA_sign() hands libp11 for CKM_RSA_PKCS. */
		memcpy(g.in, sha256_prefix, sizeof(sha256_prefix));
		for (i = 0; i < 32; i++)
			g.in[sizeof(sha256_prefix) + i] = (uint8_t)(i * 13 + 1);
		g.inlen = sizeof(sha256_prefix) + 32;
		break;
	case OP_RSA_DECRYPT:
		/* A wrapped 32-byte key, as in S/MIME KeyTransRecipientInfo. */
		if ((rv = g.f->C_EncryptInit(s, &m, g.pub)) != CKR_OK)
			stats_die("C_EncryptInit: %s", ckr(rv));
		memcpy(pt, g.secret, sizeof(g.secret));
		n = sizeof(g.in);
		if ((rv = g.f->C_Encrypt(s, pt, sizeof(g.secret), g.in,
		    &n)) != CKR_OK)
			stats_die("C_Encrypt: %s", ckr(rv));
		g.inlen = n;
		break;
	case OP_ECDH_P256:
		/* CKA_EC_POINT: DER OCTET STRING 04 41 || 04 || X || Y. */
		a.type = CKA_EC_POINT;
		a.pValue = pt;
		a.ulValueLen = sizeof(pt);
		if ((rv = g.f->C_GetAttributeValue(s, g.pub, &a, 1)) !=
		    CKR_OK)
			stats_die("CKA_EC_POINT: %s", ckr(rv));
		if (a.ulValueLen == 67 && pt[0] == 0x04 && pt[2] == 0x04)
			memcpy(g.ec_x, pt + 3, 32);
		else if (a.ulValueLen == 65 && pt[0] == 0x04)
			memcpy(g.ec_x, pt + 1, 32);
		else
			stats_die("not a P-256 public key");
		break;
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: p11bench-direct --module SO --token LABEL "
	    "--pin-file FILE --op OP [--id HEX]\n"
	    "           [--threads N] [--seconds S] [--warmup S]\n"
	    "           [--watch-pid PID]...\n"
	    "OP: ecdsa-p256 ecdsa-p384 rsa2048-sign rsa2048-decrypt "
	    "ecdh-p256\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "module", required_argument, NULL, 'm' },
		{ "token", required_argument, NULL, 't' },
		{ "pin-file", required_argument, NULL, 'p' },
		{ "op", required_argument, NULL, 'o' },
		{ "id", required_argument, NULL, 'i' },
		{ "threads", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 's' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "watch-pid", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 }
	};
	const char *module = NULL, *token = NULL, *pinfile = NULL, *op = NULL;
	const char *idhex = NULL;
	CK_RV (*getfl)(CK_FUNCTION_LIST_PTR_PTR);
	CK_C_INITIALIZE_ARGS ia;
	CK_SESSION_HANDLE s;
	struct thr *th;
	uint8_t id[64];
	char pin[256];
	struct cpu_mark m0, m1;
	int watch[STATS_MAX_WATCH];
	size_t nwatch = 0;
	double secs = 3, warm = -1, p50, p99, elapsed;
	uint64_t ops = 0, errors = 0, last = 0;
	struct lat_samples *lats;
	void *dl;
	int nthreads = 1, idlen, c, i;
	size_t k;
	CK_RV rv;

	while ((c = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (c) {
		case 'm': module = optarg; break;
		case 't': token = optarg; break;
		case 'p': pinfile = optarg; break;
		case 'o': op = optarg; break;
		case 'i': idhex = optarg; break;
		case 'n': nthreads = atoi(optarg); break;
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
	if (module == NULL || token == NULL || pinfile == NULL || op == NULL ||
	    nthreads < 1 || nthreads > MAX_THREADS || secs <= 0)
		usage();
	for (k = 0; k < sizeof(opdefs) / sizeof(opdefs[0]); k++)
		if (strcmp(opdefs[k].name, op) == 0)
			g.op = &opdefs[k];
	if (g.op == NULL)
		usage();
	if (warm < 0)
		warm = secs / 5 < 0.3 ? secs / 5 : 0.3;
	if ((idlen = stats_unhex(idhex != NULL ? idhex : g.op->default_id, id,
	    sizeof(id))) <= 0)
		usage();
	if (stats_read_pin(pinfile, pin, sizeof(pin)) != 0)
		stats_die("cannot read %s", pinfile);

	if ((dl = dlopen(module, RTLD_NOW | RTLD_LOCAL)) == NULL)
		stats_die("dlopen: %s", dlerror());
	if ((getfl = (CK_RV (*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(dl,
	    "C_GetFunctionList")) == NULL || getfl(&g.f) != CKR_OK)
		stats_die("%s: no C_GetFunctionList", module);
	memset(&ia, 0, sizeof(ia));
	ia.flags = CKF_OS_LOCKING_OK;
	if ((rv = g.f->C_Initialize(&ia)) != CKR_OK)
		stats_die("C_Initialize: %s", ckr(rv));
	g.slot = find_slot(token);
	if ((rv = g.f->C_OpenSession(g.slot, CKF_SERIAL_SESSION, NULL, NULL,
	    &s)) != CKR_OK)
		stats_die("C_OpenSession: %s", ckr(rv));
	rv = g.f->C_Login(s, CKU_USER, (uint8_t *)pin, strlen(pin));
	memset(pin, 0, sizeof(pin));
	if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
		stats_die("C_Login: %s", ckr(rv));
	g.priv = find(s, CKO_PRIVATE_KEY, id, (size_t)idlen);
	g.pub = find(s, CKO_PUBLIC_KEY, id, (size_t)idlen);
	prepare(s);

	if ((th = calloc((size_t)nthreads, sizeof(*th))) == NULL ||
	    (lats = calloc((size_t)nthreads, sizeof(*lats))) == NULL)
		stats_die("out of memory");
	pthread_barrier_init(&g.start, NULL, (unsigned)nthreads + 1);
	for (i = 0; i < nthreads; i++) {
		if ((rv = g.f->C_OpenSession(g.slot, CKF_SERIAL_SESSION, NULL,
		    NULL, &th[i].s)) != CKR_OK)
			stats_die("C_OpenSession: %s", ckr(rv));
		if (pthread_create(&th[i].tid, NULL, thread_main, &th[i]) != 0)
			stats_die("pthread_create failed");
	}
	/* Set before the barrier releases the threads. */
	g.warm_end = stats_now_ns() + (uint64_t)(warm * 1e9);
	g.end = g.warm_end + (uint64_t)(secs * 1e9);
	pthread_barrier_wait(&g.start);
	stats_window(watch, nwatch, g.warm_end, g.end, &m0, &m1);
	for (i = 0; i < nthreads; i++) {
		pthread_join(th[i].tid, NULL);
		if (th[i].first_rv != CKR_OK)
			stats_die("%s: %s", op, ckr(th[i].first_rv));
		if (!th[i].checked)
			stats_die("%s: wrong result from the token", op);
		ops += th[i].ops;
		errors += th[i].errors;
		if (th[i].last_ns > last)
			last = th[i].last_ns;
		lats[i] = th[i].lat;
		g.f->C_CloseSession(th[i].s);
	}
	elapsed = (double)(last - g.warm_end) / 1e9;
	lat_percentiles(lats, (size_t)nthreads, &p50, &p99);
	stats_print(ops, errors, elapsed, p50, p99, "op", &m0, &m1, NULL);
	for (i = 0; i < nthreads; i++)
		lat_free(&lats[i]);
	free(lats);
	free(th);
	g.f->C_Logout(s);
	g.f->C_CloseSession(s);
	g.f->C_Finalize(NULL);
	return 0;
}
