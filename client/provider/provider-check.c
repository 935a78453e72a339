/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * provider-check.c - exercises the provider linked in-process, the way
 * p11 and client/smime use it: p11agent_provider_load() into a library
 * context of its own, a key and certificate from a p11agent: URI, then
 * signing (also from many threads at once, sharing one connection),
 * decryption or ECDH, key matching, and optionally signing again after
 * the agent was restarted. For tests/integ/provider-*.sh; not installed.
 *
 * usage: p11agent-provider-check [-t THREADS] [-r] KEYREF
 *   -r  after the first signature, print "restart" and wait for a line
 *       on stdin (the test restarts the agent), then sign again.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include "provider.h"

#define SIGNS_PER_THREAD	20

static OSSL_LIB_CTX *libctx;
static EVP_PKEY *pkey;
static X509 *cert;
static int failures;

static void
check(int ok, const char *what)
{
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
	if (!ok) {
		failures++;
		ERR_print_errors_fp(stdout);
	}
	ERR_clear_error();
	fflush(stdout);
}

static int
load(const char *uri)
{
	OSSL_STORE_CTX *st;
	OSSL_STORE_INFO *info;

	if ((st = OSSL_STORE_open_ex(uri, libctx, NULL, NULL, NULL, NULL, NULL,
	    NULL)) == NULL)
		return 0;
	while (!OSSL_STORE_eof(st)) {
		if ((info = OSSL_STORE_load(st)) == NULL)
			break;
		switch (OSSL_STORE_INFO_get_type(info)) {
		case OSSL_STORE_INFO_PKEY:
			if (pkey == NULL)
				pkey = OSSL_STORE_INFO_get1_PKEY(info);
			break;
		case OSSL_STORE_INFO_CERT:
			if (cert == NULL)
				cert = OSSL_STORE_INFO_get1_CERT(info);
			break;
		default:
			break;
		}
		OSSL_STORE_INFO_free(info);
	}
	OSSL_STORE_close(st);
	return pkey != NULL && cert != NULL;
}

/* Signs a fresh message and verifies it with the certificate's key. */
static int
sign_once(void)
{
	unsigned char msg[64], sig[1024];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *ctx;
	int ok = 0;

	if (RAND_bytes(msg, sizeof(msg)) != 1 ||
	    (ctx = EVP_MD_CTX_new()) == NULL)
		return 0;
	if (EVP_DigestSignInit_ex(ctx, NULL, "SHA256", libctx, NULL, pkey,
	    NULL) == 1 &&
	    EVP_DigestSign(ctx, sig, &siglen, msg, sizeof(msg)) == 1) {
		EVP_MD_CTX_reset(ctx);
		ok = EVP_DigestVerifyInit_ex(ctx, NULL, "SHA256", libctx, NULL,
		    X509_get0_pubkey(cert), NULL) == 1 &&
		    EVP_DigestVerify(ctx, sig, siglen, msg, sizeof(msg)) == 1;
	}
	EVP_MD_CTX_free(ctx);
	return ok;
}

static void *
signer(void *arg)
{
	int i, *bad = arg;

	for (i = 0; i < SIGNS_PER_THREAD; i++)
		if (!sign_once())
			(*bad)++;
	return NULL;
}

static int
threads(int n)
{
	pthread_t *t;
	int *bad, i, total = 0;

	if ((t = calloc((size_t)n, sizeof(*t))) == NULL ||
	    (bad = calloc((size_t)n, sizeof(*bad))) == NULL)
		return 0;
	for (i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, signer, &bad[i]) != 0)
			return 0;
	for (i = 0; i < n; i++) {
		pthread_join(t[i], NULL);
		total += bad[i];
	}
	free(t);
	free(bad);
	return total == 0;
}

/* RSA: encrypt to the certificate, decrypt with the agent's key. */
static int
decrypt_roundtrip(void)
{
	unsigned char key[32], ct[1024], pt[1024];
	size_t ctlen = sizeof(ct), ptlen = sizeof(pt);
	EVP_PKEY_CTX *c;
	int ok = 0;

	if (RAND_bytes(key, sizeof(key)) != 1)
		return 0;
	c = EVP_PKEY_CTX_new_from_pkey(libctx, X509_get0_pubkey(cert), NULL);
	if (c == NULL || EVP_PKEY_encrypt_init(c) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_encrypt(c, ct, &ctlen, key, sizeof(key)) != 1)
		goto out;
	EVP_PKEY_CTX_free(c);
	c = EVP_PKEY_CTX_new_from_pkey(libctx, pkey, NULL);
	if (c == NULL || EVP_PKEY_decrypt_init(c) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_decrypt(c, pt, &ptlen, ct, ctlen) != 1)
		goto out;
	ok = ptlen == sizeof(key) && memcmp(pt, key, ptlen) == 0;
 out:
	EVP_PKEY_CTX_free(c);
	return ok;
}

static int
derive(EVP_PKEY *priv, EVP_PKEY *peer, unsigned char *out, size_t *outlen)
{
	EVP_PKEY_CTX *c;
	int ok;

	c = EVP_PKEY_CTX_new_from_pkey(libctx, priv, NULL);
	ok = c != NULL && EVP_PKEY_derive_init(c) == 1 &&
	    EVP_PKEY_derive_set_peer(c, peer) == 1 &&
	    EVP_PKEY_derive(c, out, outlen) == 1;
	EVP_PKEY_CTX_free(c);
	return ok;
}

/* EC: ECDH with an ephemeral software key, computed from both sides. */
static int
derive_roundtrip(void)
{
	unsigned char z1[80], z2[80];
	size_t z1len = sizeof(z1), z2len = sizeof(z2);
	unsigned char *der = NULL;
	const unsigned char *p;
	char group[64];
	EVP_PKEY *eph, *ephpub = NULL;
	int ok = 0, len;

	if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, sizeof(group), NULL) ||
	    (eph = EVP_PKEY_Q_keygen(libctx, NULL, "EC", group)) == NULL)
		return 0;
	/* The peer is a public key, as in CMS (a key pair is refused). */
	if ((len = i2d_PUBKEY(eph, &der)) > 0) {
		p = der;
		ephpub = d2i_PUBKEY_ex(NULL, &p, len, libctx, NULL);
	}
	ok = ephpub != NULL && derive(pkey, ephpub, z1, &z1len) &&
	    derive(eph, X509_get0_pubkey(cert), z2, &z2len) &&
	    z1len == z2len && memcmp(z1, z2, z1len) == 0;
	OPENSSL_free(der);
	EVP_PKEY_free(ephpub);
	EVP_PKEY_free(eph);
	return ok;
}

int
main(int argc, char **argv)
{
	OSSL_PROVIDER *prov = NULL;
	EVP_PKEY *soft;
	char uri[512], line[16];
	int ch, nthreads = 0, restart = 0;

	while ((ch = getopt(argc, argv, "rt:")) != -1) {
		switch (ch) {
		case 'r':
			restart = 1;
			break;
		case 't':
			nthreads = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 1)
		goto usage;
	snprintf(uri, sizeof(uri), "%s%s", strncmp(argv[optind],
	    "p11agent:", 9) == 0 ? "" : "p11agent:", argv[optind]);

	/* Not the default libctx: nothing may depend on global state. */
	if ((libctx = OSSL_LIB_CTX_new()) == NULL)
		return 2;
	check(p11agent_provider_load(libctx, &prov),
	    "provider loads in-process");
	check(load(uri), "store yields key and certificate");
	if (pkey == NULL || cert == NULL)
		return 1;
	check(X509_check_private_key(cert, pkey) == 1,
	    "key matches its certificate");
	check(sign_once(), "digest-sign, verified with the certificate");
	if (EVP_PKEY_is_a(pkey, "RSA"))
		check(decrypt_roundtrip(), "RSA-OAEP decrypt by the agent");
	else
		check(derive_roundtrip(), "ECDH by the agent");
	/* Generic work must stay with the default provider. */
	soft = EVP_PKEY_Q_keygen(libctx, NULL, "EC", "P-256");
	check(soft != NULL, "software key generation still works");
	EVP_PKEY_free(soft);
	if (nthreads > 0)
		check(threads(nthreads), "concurrent signing from threads");
	if (restart) {
		printf("restart\n");
		fflush(stdout);
		if (fgets(line, sizeof(line), stdin) == NULL)
			return 2;
		check(sign_once(), "signing after the agent restarted");
	}
	EVP_PKEY_free(pkey);
	X509_free(cert);
	OSSL_PROVIDER_unload(prov);
	OSSL_LIB_CTX_free(libctx);
	return failures == 0 ? 0 : 1;
 usage:
	fprintf(stderr, "usage: p11agent-provider-check [-t THREADS] [-r] "
	    "KEYREF\n");
	return 2;
}
