/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * exchange.c - ECDH by the agent. The agent returns the raw shared
 * secret (the X coordinate); with OSSL_EXCHANGE_PARAM_KDF_TYPE "X963KDF"
 * we run the ANSI X9.63 KDF over it with the default provider, exactly as
 * OpenSSL's own ECDH does, which is what CMS uses for RFC 5753
 * dhSinglePass-stdDH-sha*kdf recipients. Raw secrets are wiped as soon
 * as the KDF has consumed them. A context belongs to one thread.
 */
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <p11agent/client.h>

#include "prov-int.h"

#define GROUP_NAME_MAX	64
#define POINT_MAX	(1 + 2 * 66)	/* bytes, uncompressed P-521 point */

enum kdf_type { KDF_NONE, KDF_X963 };

struct exchctx {
	struct provctx *pc;
	struct pkey *key;
	struct pkey *peer;
	int cofactor_mode;		/* -1: the key's default */
	enum kdf_type kdf;
	EVP_MD *kdf_md;
	size_t kdf_outlen;
	unsigned char *ukm;
	size_t ukmlen;
};

static void *
ecdh_newctx(void *provctx)
{
	struct exchctx *c;

	if ((c = OPENSSL_zalloc(sizeof(*c))) == NULL)
		return NULL;
	c->pc = provctx;
	c->cofactor_mode = -1;
	return c;
}

static void
ecdh_freectx(void *vctx)
{
	struct exchctx *c = vctx;

	if (c == NULL)
		return;
	pkey_free(c->key);
	pkey_free(c->peer);
	EVP_MD_free(c->kdf_md);
	OPENSSL_free(c->ukm);
	OPENSSL_free(c);
}

static void *
ecdh_dupctx(void *vctx)
{
	struct exchctx *c = vctx, *n;

	if ((n = OPENSSL_memdup(c, sizeof(*c))) == NULL)
		return NULL;
	n->key = n->peer = NULL;
	n->kdf_md = NULL;
	n->ukm = NULL;
	if (c->key != NULL && pkey_up_ref(c->key))
		n->key = c->key;
	if (c->peer != NULL && pkey_up_ref(c->peer))
		n->peer = c->peer;
	if (c->kdf_md != NULL) {
		if (!EVP_MD_up_ref(c->kdf_md))
			goto err;
		n->kdf_md = c->kdf_md;
	}
	if (c->ukm != NULL &&
	    (n->ukm = OPENSSL_memdup(c->ukm, c->ukmlen)) == NULL)
		goto err;
	return n;
 err:
	ecdh_freectx(n);
	return NULL;
}

static int ecdh_set_ctx_params(void *vctx, const OSSL_PARAM params[]);

static int
ecdh_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
	struct exchctx *c = vctx;
	struct pkey *k = provkey;

	if (k == NULL || k->type != P11AGENT_KEY_EC || k->pub == NULL) {
		PROV_ERR(c->pc, PROV_R_INVALID_KEY,
		    "p11agent: ECDH needs an EC key");
		return 0;
	}
	if (!k->has_priv) {
		PROV_ERR(c->pc, PROV_R_NO_PRIVATE_KEY,
		    "p11agent: not a key held by the agent");
		return 0;
	}
	pkey_up_ref(k);
	pkey_free(c->key);
	c->key = k;
	c->cofactor_mode = -1;
	c->kdf = KDF_NONE;
	EVP_MD_free(c->kdf_md);
	c->kdf_md = NULL;
	c->kdf_outlen = 0;
	OPENSSL_free(c->ukm);
	c->ukm = NULL;
	c->ukmlen = 0;
	return ecdh_set_ctx_params(c, params);
}

static int
ecdh_set_peer(void *vctx, void *provkey)
{
	struct exchctx *c = vctx;
	struct pkey *peer = provkey;
	char g1[GROUP_NAME_MAX], g2[GROUP_NAME_MAX];

	if (c->key == NULL || peer == NULL || peer->type != P11AGENT_KEY_EC ||
	    !peer->has_pub) {
		PROV_ERR(c->pc, PROV_R_INVALID_KEY,
		    "p11agent: the ECDH peer needs an EC public key");
		return 0;
	}
	if (!pkey_group_name(c->key, g1, sizeof(g1)) ||
	    !pkey_group_name(peer, g2, sizeof(g2)) || strcmp(g1, g2) != 0) {
		PROV_ERR(c->pc, PROV_R_INVALID_KEY,
		    "p11agent: the ECDH peer key is on another curve");
		return 0;
	}
	pkey_up_ref(peer);
	pkey_free(c->peer);
	c->peer = peer;
	return 1;
}

/* The peer's point as 04 || X || Y, whatever its stored encoding. */
static int
peer_point(struct exchctx *c, unsigned char *buf, size_t *lenp)
{
	BIGNUM *x = NULL, *y = NULL;
	size_t flen = pkey_size_bytes(c->key);
	int ok = 0;

	if (flen == 0 || 1 + 2 * flen > POINT_MAX ||
	    !EVP_PKEY_get_bn_param(c->peer->pub, OSSL_PKEY_PARAM_EC_PUB_X,
	    &x) ||
	    !EVP_PKEY_get_bn_param(c->peer->pub, OSSL_PKEY_PARAM_EC_PUB_Y,
	    &y))
		goto out;
	buf[0] = 0x04;
	if (BN_bn2binpad(x, buf + 1, (int)flen) < 0 ||
	    BN_bn2binpad(y, buf + 1 + flen, (int)flen) < 0)
		goto out;
	*lenp = 1 + 2 * flen;
	ok = 1;
 out:
	BN_free(x);
	BN_free(y);
	if (!ok)
		PROV_ERR(c->pc, PROV_R_INVALID_KEY,
		    "p11agent: cannot encode the ECDH peer point");
	return ok;
}

/* The raw shared secret from the agent; *zp is secret. */
static int
raw_derive(struct exchctx *c, uint8_t **zp, size_t *zlenp)
{
	unsigned char pt[POINT_MAX];
	size_t ptlen = 0;

	if (c->peer == NULL) {
		PROV_ERR(c->pc, PROV_R_INVALID_KEY, "p11agent: no ECDH peer");
		return 0;
	}
	if (!peer_point(c, pt, &ptlen))
		return 0;
	return agent_derive(c->pc, c->key->id, pt, ptlen, zp, zlenp);
}

static int
x963_kdf(struct exchctx *c, unsigned char *out, size_t outlen,
    const uint8_t *z, size_t zlen)
{
	EVP_KDF *kdf;
	EVP_KDF_CTX *kctx = NULL;
	OSSL_PARAM params[4], *p = params;
	int ok = 0;

	if ((kdf = EVP_KDF_fetch(c->pc->libctx, OSSL_KDF_NAME_X963KDF,
	    NULL)) == NULL || (kctx = EVP_KDF_CTX_new(kdf)) == NULL)
		goto out;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
	    (char *)EVP_MD_get0_name(c->kdf_md), 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
	    (void *)z, zlen);
	if (c->ukm != NULL)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
		    c->ukm, c->ukmlen);
	*p = OSSL_PARAM_construct_end();
	ok = EVP_KDF_derive(kctx, out, outlen, params) > 0;
 out:
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return ok;
}

static int
ecdh_derive(void *vctx, unsigned char *secret, size_t *secretlen,
    size_t outlen)
{
	struct exchctx *c = vctx;
	uint8_t *z = NULL;
	size_t zlen = 0, size;
	int ok = 0;

	if (c->key == NULL || (size = pkey_size_bytes(c->key)) == 0) {
		PROV_ERR(c->pc, PROV_R_INVALID_KEY, "p11agent: no key");
		return 0;
	}
	if (c->kdf == KDF_X963) {
		if (c->kdf_md == NULL || c->kdf_outlen == 0) {
			PROV_ERR(c->pc, PROV_R_INVALID_ARGUMENT,
			    "p11agent: X9.63 KDF needs a digest and a length");
			return 0;
		}
		if (secret == NULL) {
			*secretlen = c->kdf_outlen;
			return 1;
		}
		if (outlen < c->kdf_outlen) {
			PROV_ERR(c->pc, PROV_R_BUFFER_TOO_SMALL,
			    "p11agent: derived key buffer too small");
			return 0;
		}
		if (!raw_derive(c, &z, &zlen))
			return 0;
		if (!x963_kdf(c, secret, c->kdf_outlen, z, zlen)) {
			PROV_ERR(c->pc, PROV_R_LIBCRYPTO,
			    "p11agent: X9.63 KDF failed");
			goto out;
		}
		*secretlen = c->kdf_outlen;
		ok = 1;
		goto out;
	}
	if (secret == NULL) {
		*secretlen = size;
		return 1;
	}
	if (!raw_derive(c, &z, &zlen))
		return 0;
	/* Like OpenSSL's ECDH: a short buffer truncates, it is no error.
	 * zlen stays the allocation's size so the whole secret is wiped. */
	memcpy(secret, z, zlen > outlen ? outlen : zlen);
	*secretlen = zlen > outlen ? outlen : zlen;
	ok = 1;
 out:
	p11agent_freezero(z, zlen);
	return ok;
}

static int
ecdh_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
	struct exchctx *c = vctx;
	const OSSL_PARAM *p;
	const char *s;
	EVP_MD *md;
	void *ukm = NULL;
	size_t ukmlen = 0;
	int mode;

	if (c == NULL)
		return 0;
	if (params == NULL)
		return 1;
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE)) != NULL) {
		/* P-256/384/521 have cofactor 1: every mode is the same. */
		if (!OSSL_PARAM_get_int(p, &mode) || mode < -1 || mode > 1)
			return 0;
		c->cofactor_mode = mode;
	}
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_EXCHANGE_PARAM_KDF_TYPE)) != NULL) {
		if (!OSSL_PARAM_get_utf8_string_ptr(p, &s))
			return 0;
		if (*s == '\0')
			c->kdf = KDF_NONE;
		else if (strcasecmp(s, OSSL_KDF_NAME_X963KDF) == 0)
			c->kdf = KDF_X963;
		else {
			PROV_ERR(c->pc, PROV_R_NOT_SUPPORTED,
			    "p11agent: KDF %s not supported", s);
			return 0;
		}
	}
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_EXCHANGE_PARAM_KDF_DIGEST)) != NULL) {
		if (!OSSL_PARAM_get_utf8_string_ptr(p, &s))
			return 0;
		ERR_set_mark();
		md = EVP_MD_fetch(c->pc->libctx, s, NULL);
		ERR_pop_to_mark();
		if (md == NULL) {
			PROV_ERR(c->pc, PROV_R_UNSUPPORTED_DIGEST,
			    "p11agent: unknown digest %s", s);
			return 0;
		}
		EVP_MD_free(c->kdf_md);
		c->kdf_md = md;
	}
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_EXCHANGE_PARAM_KDF_OUTLEN)) != NULL &&
	    !OSSL_PARAM_get_size_t(p, &c->kdf_outlen))
		return 0;
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_EXCHANGE_PARAM_KDF_UKM)) != NULL) {
		/* Copied: EVP_PKEY_CTX_set0_ecdh_kdf_ukm() frees its own. */
		if (!OSSL_PARAM_get_octet_string(p, &ukm, 0, &ukmlen))
			return 0;
		OPENSSL_free(c->ukm);
		c->ukm = ukm;
		c->ukmlen = ukmlen;
	}
	return 1;
}

static int
ecdh_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
	struct exchctx *c = vctx;
	OSSL_PARAM *p;

	if (c == NULL)
		return 0;
	if ((p = OSSL_PARAM_locate(params,
	    OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE)) != NULL &&
	    !OSSL_PARAM_set_int(p, c->cofactor_mode < 0 ? 0 :
	    c->cofactor_mode))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_KDF_TYPE)) !=
	    NULL && !OSSL_PARAM_set_utf8_string(p,
	    c->kdf == KDF_X963 ? OSSL_KDF_NAME_X963KDF : ""))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_KDF_DIGEST)) !=
	    NULL && !OSSL_PARAM_set_utf8_string(p,
	    c->kdf_md != NULL ? EVP_MD_get0_name(c->kdf_md) : ""))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_KDF_OUTLEN)) !=
	    NULL && !OSSL_PARAM_set_size_t(p, c->kdf_outlen))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_EXCHANGE_PARAM_KDF_UKM)) !=
	    NULL && !OSSL_PARAM_set_octet_ptr(p, c->ukm, c->ukmlen))
		return 0;
	return 1;
}

static const OSSL_PARAM ecdh_settable[] = {
	OSSL_PARAM_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE, NULL),
	OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST_PROPS, NULL, 0),
	OSSL_PARAM_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, NULL),
	OSSL_PARAM_octet_string(OSSL_EXCHANGE_PARAM_KDF_UKM, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM ecdh_gettable[] = {
	OSSL_PARAM_int(OSSL_EXCHANGE_PARAM_EC_ECDH_COFACTOR_MODE, NULL),
	OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_TYPE, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_EXCHANGE_PARAM_KDF_DIGEST, NULL, 0),
	OSSL_PARAM_size_t(OSSL_EXCHANGE_PARAM_KDF_OUTLEN, NULL),
	OSSL_PARAM_DEFN(OSSL_EXCHANGE_PARAM_KDF_UKM, OSSL_PARAM_OCTET_PTR,
	    NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
ecdh_settable_ctx_params(void *vctx, void *provctx)
{
	return ecdh_settable;
}

static const OSSL_PARAM *
ecdh_gettable_ctx_params(void *vctx, void *provctx)
{
	return ecdh_gettable;
}

#define FN(id, f)	{ id, (void (*)(void))(f) }

const OSSL_DISPATCH prov_ecdh_keyexch_functions[] = {
	FN(OSSL_FUNC_KEYEXCH_NEWCTX, ecdh_newctx),
	FN(OSSL_FUNC_KEYEXCH_INIT, ecdh_init),
	FN(OSSL_FUNC_KEYEXCH_SET_PEER, ecdh_set_peer),
	FN(OSSL_FUNC_KEYEXCH_DERIVE, ecdh_derive),
	FN(OSSL_FUNC_KEYEXCH_FREECTX, ecdh_freectx),
	FN(OSSL_FUNC_KEYEXCH_DUPCTX, ecdh_dupctx),
	FN(OSSL_FUNC_KEYEXCH_SET_CTX_PARAMS, ecdh_set_ctx_params),
	FN(OSSL_FUNC_KEYEXCH_SETTABLE_CTX_PARAMS, ecdh_settable_ctx_params),
	FN(OSSL_FUNC_KEYEXCH_GET_CTX_PARAMS, ecdh_get_ctx_params),
	FN(OSSL_FUNC_KEYEXCH_GETTABLE_CTX_PARAMS, ecdh_gettable_ctx_params),
	{ 0, NULL }
};
