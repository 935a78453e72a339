/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * signature.c - RSA (PKCS#1 v1.5, PSS) and ECDSA signatures by the agent.
 * Signing always sends one digest to the agent: for digest-sign we hash
 * here with the default provider, then make one round trip. The agent
 * knows SHA-1/224/256/384/512, PSS with MGF1 = digest and salt = digest
 * length; anything else is refused with a clear error instead of being
 * silently changed. Verification runs on the public key with the
 * default provider. A context belongs to one thread at a time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <p11agent/client.h>

#include "prov-int.h"

#define ALGID_MAX	128	/* bytes, a DER AlgorithmIdentifier */

/* The digests the agent supports, with its algorithm numbers. */
static const struct prov_digest digests[] = {
	{ "SHA1", NID_sha1, 20, P11AGENT_ALG_RSA_PKCS1_SHA1, 0,
	    P11AGENT_ALG_ECDSA_SHA1, P11AGENT_ALG_RSA_OAEP_SHA1 },
	{ "SHA224", NID_sha224, 28, P11AGENT_ALG_RSA_PKCS1_SHA224,
	    P11AGENT_ALG_RSA_PSS_SHA224, P11AGENT_ALG_ECDSA_SHA224,
	    P11AGENT_ALG_RSA_OAEP_SHA224 },
	{ "SHA256", NID_sha256, 32, P11AGENT_ALG_RSA_PKCS1_SHA256,
	    P11AGENT_ALG_RSA_PSS_SHA256, P11AGENT_ALG_ECDSA_SHA256,
	    P11AGENT_ALG_RSA_OAEP_SHA256 },
	{ "SHA384", NID_sha384, 48, P11AGENT_ALG_RSA_PKCS1_SHA384,
	    P11AGENT_ALG_RSA_PSS_SHA384, P11AGENT_ALG_ECDSA_SHA384,
	    P11AGENT_ALG_RSA_OAEP_SHA384 },
	{ "SHA512", NID_sha512, 64, P11AGENT_ALG_RSA_PKCS1_SHA512,
	    P11AGENT_ALG_RSA_PSS_SHA512, P11AGENT_ALG_ECDSA_SHA512,
	    P11AGENT_ALG_RSA_OAEP_SHA512 },
};

#define NDIGESTS	(sizeof(digests) / sizeof(digests[0]))

const struct prov_digest *
prov_digest_by_nid(int nid)
{
	size_t i;

	for (i = 0; i < NDIGESTS; i++)
		if (digests[i].nid == nid)
			return &digests[i];
	return NULL;
}

const struct prov_digest *
prov_digest_by_len(size_t len)
{
	size_t i;

	for (i = 0; i < NDIGESTS; i++)
		if (digests[i].len == len)
			return &digests[i];
	return NULL;
}

struct sigctx {
	struct provctx *pc;
	int type;			/* P11AGENT_KEY_RSA or _EC */
	struct pkey *key;
	int op;				/* EVP_PKEY_OP_SIGN, _VERIFY, ... */
	int pad;			/* RSA_*_PADDING */
	EVP_MD *md;			/* NULL: not set */
	EVP_MD *mgf1;			/* NULL: same as md */
	int saltlen;			/* RSA_PSS_SALTLEN_* or bytes */
	int saltlen_set;
	EVP_MD_CTX *mdctx;		/* digest-sign/verify only */
	int digest_op;
};

static void *
sig_newctx(void *provctx, const char *propq, int type)
{
	struct sigctx *c;

	if ((c = OPENSSL_zalloc(sizeof(*c))) == NULL)
		return NULL;
	c->pc = provctx;
	c->type = type;
	c->pad = RSA_PKCS1_PADDING;
	return c;
}

static void *
rsa_newctx(void *provctx, const char *propq)
{
	return sig_newctx(provctx, propq, P11AGENT_KEY_RSA);
}

static void *
ecdsa_newctx(void *provctx, const char *propq)
{
	return sig_newctx(provctx, propq, P11AGENT_KEY_EC);
}

static void
sig_freectx(void *vctx)
{
	struct sigctx *c = vctx;

	if (c == NULL)
		return;
	pkey_free(c->key);
	EVP_MD_free(c->md);
	EVP_MD_free(c->mgf1);
	EVP_MD_CTX_free(c->mdctx);
	OPENSSL_free(c);
}

static void *
sig_dupctx(void *vctx)
{
	struct sigctx *c = vctx, *n;

	if ((n = OPENSSL_memdup(c, sizeof(*c))) == NULL)
		return NULL;
	n->key = NULL;
	n->md = n->mgf1 = NULL;
	n->mdctx = NULL;
	if (c->key != NULL && pkey_up_ref(c->key))
		n->key = c->key;
	if ((c->md != NULL && !EVP_MD_up_ref(c->md)) ||
	    (c->mgf1 != NULL && !EVP_MD_up_ref(c->mgf1)))
		goto err;
	n->md = c->md;
	n->mgf1 = c->mgf1;
	if (c->mdctx != NULL &&
	    ((n->mdctx = EVP_MD_CTX_new()) == NULL ||
	    !EVP_MD_CTX_copy_ex(n->mdctx, c->mdctx)))
		goto err;
	return n;
 err:
	sig_freectx(n);
	return NULL;
}

static int
fetch_md(struct sigctx *c, const char *name, EVP_MD **mdp)
{
	EVP_MD *md;

	ERR_set_mark();
	md = EVP_MD_fetch(c->pc->libctx, name, NULL);
	ERR_pop_to_mark();
	if (md == NULL) {
		PROV_ERR(c->pc, PROV_R_UNSUPPORTED_DIGEST,
		    "p11agent: unknown digest %s", name);
		return 0;
	}
	EVP_MD_free(*mdp);
	*mdp = md;
	return 1;
}

/* Padding names as OpenSSL's RSA implementation spells them. */
static const struct {
	int mode;
	const char *name;
} pad_names[] = {
	{ RSA_PKCS1_PADDING,		OSSL_PKEY_RSA_PAD_MODE_PKCSV15 },
	{ RSA_PKCS1_PSS_PADDING,	OSSL_PKEY_RSA_PAD_MODE_PSS },
	{ RSA_NO_PADDING,		OSSL_PKEY_RSA_PAD_MODE_NONE },
	{ RSA_X931_PADDING,		OSSL_PKEY_RSA_PAD_MODE_X931 },
};

#define NPADS	(sizeof(pad_names) / sizeof(pad_names[0]))

static int sig_set_ctx_params(void *vctx, const OSSL_PARAM params[]);

static int
sig_init(struct sigctx *c, void *provkey, const OSSL_PARAM params[],
    int op)
{
	struct pkey *k = provkey;

	if (k != NULL) {
		if (k->type != c->type || k->pub == NULL) {
			PROV_ERR(c->pc, PROV_R_INVALID_KEY,
			    "p11agent: key type does not fit the signature "
			    "algorithm");
			return 0;
		}
		pkey_up_ref(k);
		pkey_free(c->key);
		c->key = k;
	}
	if (c->key == NULL) {
		PROV_ERR(c->pc, PROV_R_INVALID_KEY, "p11agent: no key");
		return 0;
	}
	if (op == EVP_PKEY_OP_SIGN && !c->key->has_priv) {
		PROV_ERR(c->pc, PROV_R_NO_PRIVATE_KEY,
		    "p11agent: not a key held by the agent");
		return 0;
	}
	c->op = op;
	c->pad = RSA_PKCS1_PADDING;
	c->saltlen = RSA_PSS_SALTLEN_DIGEST;
	c->saltlen_set = 0;
	EVP_MD_free(c->md);
	EVP_MD_free(c->mgf1);
	c->md = c->mgf1 = NULL;
	EVP_MD_CTX_free(c->mdctx);
	c->mdctx = NULL;
	c->digest_op = 0;
	return sig_set_ctx_params(c, params);
}

static int
sig_sign_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
	return sig_init(vctx, provkey, params, EVP_PKEY_OP_SIGN);
}

static int
sig_verify_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
	return sig_init(vctx, provkey, params, EVP_PKEY_OP_VERIFY);
}

static int
sig_verify_recover_init(void *vctx, void *provkey,
    const OSSL_PARAM params[])
{
	return sig_init(vctx, provkey, params, EVP_PKEY_OP_VERIFYRECOVER);
}

/*
 * PKCS#1 v1.5 without a digest set signs the input as given, which must
 * then be a DigestInfo. The agent adds the DigestInfo itself, so we take
 * it apart; the signature is bit for bit the same.
 */
static const struct prov_digest *
parse_digestinfo(const uint8_t *in, size_t inlen, const uint8_t **dgp)
{
	const struct prov_digest *d = NULL;
	const unsigned char *p = in;
	const X509_ALGOR *alg;
	const ASN1_OCTET_STRING *dg;
	unsigned char *der = NULL;
	X509_SIG *di;
	int ptype, derlen;
	const void *pval;

	*dgp = NULL;
	if (inlen > 256 ||
	    (di = d2i_X509_SIG(NULL, &p, (long)inlen)) == NULL)
		return NULL;
	X509_SIG_get0(di, &alg, &dg);
	X509_ALGOR_get0(NULL, &ptype, &pval, alg);
	/* Only the exact DER encoding, as RSA_sign() would make it. */
	if ((derlen = i2d_X509_SIG(di, &der)) > 0 && (size_t)derlen == inlen &&
	    memcmp(der, in, inlen) == 0 &&
	    (ptype == V_ASN1_NULL || ptype == V_ASN1_UNDEF) &&
	    (d = prov_digest_by_nid(OBJ_obj2nid(alg->algorithm))) != NULL &&
	    (size_t)ASN1_STRING_length(dg) == d->len)
		*dgp = in + inlen - d->len;
	else
		d = NULL;
	OPENSSL_free(der);
	X509_SIG_free(di);
	return d;
}

static const struct prov_digest *
ctx_digest(struct sigctx *c, const EVP_MD *md)
{
	const struct prov_digest *d;

	if ((d = prov_digest_by_nid(EVP_MD_get_type(md))) == NULL)
		PROV_ERR(c->pc, PROV_R_UNSUPPORTED_DIGEST,
		    "p11agent: the agent does not sign with %s",
		    EVP_MD_get0_name(md));
	return d;
}

/* The PSS salt length the agent will use, or -1 (error raised). */
static int
pss_saltlen(struct sigctx *c, const struct prov_digest *d)
{
	size_t emlen, maxsalt;
	int bits;

	switch (c->saltlen) {
	case RSA_PSS_SALTLEN_DIGEST:
	case RSA_PSS_SALTLEN_AUTO:
		/* "auto" is for verifiers; any length suits them. */
		return (int)d->len;
	case RSA_PSS_SALTLEN_MAX:
		bits = EVP_PKEY_get_bits(c->key->pub);
		emlen = ((size_t)bits - 1 + 7) / 8;
		maxsalt = emlen >= d->len + 2 ? emlen - d->len - 2 : 0;
		if (maxsalt == d->len)
			return (int)d->len;
		break;
	default:
		if (c->saltlen >= 0 && (size_t)c->saltlen == d->len)
			return (int)d->len;
		break;
	}
	PROV_ERR(c->pc, PROV_R_UNSUPPORTED_SALTLEN,
	    "p11agent: the agent signs PSS with salt length = digest length "
	    "(%zu) only", d->len);
	return -1;
}

/*
 * Chooses the agent's algorithm for signing tbs; *dgp is the digest to
 * send (tbs itself or inside a DigestInfo). 0 on error (raised).
 */
static unsigned int
choose_alg(struct sigctx *c, const uint8_t *tbs, size_t tbslen,
    const uint8_t **dgp, size_t *dglenp)
{
	const struct prov_digest *d = NULL;
	const uint8_t *dg = tbs;

	if (c->md != NULL) {
		if ((d = ctx_digest(c, c->md)) == NULL)
			return 0;
		if (tbslen != d->len) {
			PROV_ERR(c->pc, PROV_R_INVALID_DATA,
			    "p11agent: input is %zu bytes, %s needs %zu",
			    tbslen, d->name, d->len);
			return 0;
		}
	} else if (c->type == P11AGENT_KEY_RSA &&
	    c->pad == RSA_PKCS1_PADDING) {
		if ((d = parse_digestinfo(tbs, tbslen, &dg)) == NULL) {
			PROV_ERR(c->pc, PROV_R_UNSUPPORTED_DIGEST,
			    "p11agent: PKCS#1 v1.5 signing needs a digest "
			    "(e.g. -pkeyopt digest:sha256) or a DigestInfo");
			return 0;
		}
	} else if ((d = prov_digest_by_len(tbslen)) == NULL) {
		/* ECDSA and PSS without a digest: it is implied by length. */
		PROV_ERR(c->pc, PROV_R_INVALID_DATA,
		    "p11agent: %zu bytes is no SHA-1/SHA-2 digest length; "
		    "set a digest", tbslen);
		return 0;
	}
	*dgp = dg;
	*dglenp = d->len;
	if (c->type == P11AGENT_KEY_EC)
		return d->ecdsa;
	if (c->pad == RSA_PKCS1_PADDING)
		return d->rsa_pkcs1;
	if (c->pad != RSA_PKCS1_PSS_PADDING) {
		PROV_ERR(c->pc, PROV_R_UNSUPPORTED_PADDING,
		    "p11agent: the agent signs with PKCS#1 v1.5 or PSS only");
		return 0;
	}
	if (c->mgf1 != NULL &&
	    EVP_MD_get_type(c->mgf1) != d->nid) {
		PROV_ERR(c->pc, PROV_R_UNSUPPORTED_DIGEST,
		    "p11agent: the agent uses MGF1 with %s only", d->name);
		return 0;
	}
	if (pss_saltlen(c, d) < 0)
		return 0;
	if (d->rsa_pss == 0) {
		PROV_ERR(c->pc, PROV_R_UNSUPPORTED_DIGEST,
		    "p11agent: the agent does not sign PSS with %s", d->name);
		return 0;
	}
	return d->rsa_pss;
}

static int
sig_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize,
    const unsigned char *tbs, size_t tbslen)
{
	struct sigctx *c = vctx;
	const uint8_t *dg;
	uint8_t *out = NULL;
	size_t max, dglen, outlen = 0;
	unsigned int alg;
	int ok = 0;

	if (c->key == NULL || (max = pkey_max_size(c->key)) == 0) {
		PROV_ERR(c->pc, PROV_R_INVALID_KEY, "p11agent: no key");
		return 0;
	}
	if (sig == NULL) {
		*siglen = max;
		return 1;
	}
	if (sigsize < max) {
		PROV_ERR(c->pc, PROV_R_BUFFER_TOO_SMALL,
		    "p11agent: signature buffer %zu < %zu", sigsize, max);
		return 0;
	}
	if ((alg = choose_alg(c, tbs, tbslen, &dg, &dglen)) == 0)
		return 0;
	if (!agent_sign(c->pc, c->key->id, alg, dg, dglen, &out, &outlen))
		return 0;
	if (outlen == 0 || outlen > sigsize) {
		PROV_ERR(c->pc, PROV_R_INVALID_DATA,
		    "p11agent: the agent returned a %zu-byte signature",
		    outlen);
		goto out;
	}
	memcpy(sig, out, outlen);
	*siglen = outlen;
	ok = 1;
 out:
	p11agent_freezero(out, outlen);
	return ok;
}

/* A default-provider context for c's public key, set up like c. */
static EVP_PKEY_CTX *
public_ctx(struct sigctx *c)
{
	EVP_PKEY_CTX *pctx;
	OSSL_PARAM params[5], *p = params;
	int r;

	if (c->key == NULL || !c->key->has_pub) {
		PROV_ERR(c->pc, PROV_R_INVALID_KEY, "p11agent: no public key");
		return NULL;
	}
	if ((pctx = EVP_PKEY_CTX_new_from_pkey(c->pc->libctx, c->key->pub,
	    NULL)) == NULL)
		return NULL;
	r = c->op == EVP_PKEY_OP_VERIFYRECOVER ?
	    EVP_PKEY_verify_recover_init(pctx) : EVP_PKEY_verify_init(pctx);
	if (r <= 0)
		goto err;
	if (c->type == P11AGENT_KEY_RSA)
		*p++ = OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PAD_MODE,
		    &c->pad);
	if (c->md != NULL)
		*p++ = OSSL_PARAM_construct_utf8_string(
		    OSSL_SIGNATURE_PARAM_DIGEST,
		    (char *)EVP_MD_get0_name(c->md), 0);
	if (c->type == P11AGENT_KEY_RSA && c->pad == RSA_PKCS1_PSS_PADDING) {
		if (c->mgf1 != NULL)
			*p++ = OSSL_PARAM_construct_utf8_string(
			    OSSL_SIGNATURE_PARAM_MGF1_DIGEST,
			    (char *)EVP_MD_get0_name(c->mgf1), 0);
		if (c->saltlen_set)
			*p++ = OSSL_PARAM_construct_int(
			    OSSL_SIGNATURE_PARAM_PSS_SALTLEN, &c->saltlen);
	}
	*p = OSSL_PARAM_construct_end();
	if (EVP_PKEY_CTX_set_params(pctx, params) <= 0)
		goto err;
	return pctx;
 err:
	EVP_PKEY_CTX_free(pctx);
	return NULL;
}

static int
sig_verify(void *vctx, const unsigned char *sig, size_t siglen,
    const unsigned char *tbs, size_t tbslen)
{
	struct sigctx *c = vctx;
	EVP_PKEY_CTX *pctx;
	int r;

	if ((pctx = public_ctx(c)) == NULL)
		return 0;
	r = EVP_PKEY_verify(pctx, sig, siglen, tbs, tbslen);
	EVP_PKEY_CTX_free(pctx);
	return r == 1;
}

static int
sig_verify_recover(void *vctx, unsigned char *rout, size_t *routlen,
    size_t routsize, const unsigned char *sig, size_t siglen)
{
	struct sigctx *c = vctx;
	EVP_PKEY_CTX *pctx;
	int r;

	if ((pctx = public_ctx(c)) == NULL)
		return 0;
	*routlen = routsize;
	r = EVP_PKEY_verify_recover(pctx, rout, routlen, sig, siglen);
	EVP_PKEY_CTX_free(pctx);
	return r == 1;
}

/* Digest-sign and digest-verify: hash here, then one operation. */

static int
sig_digest_init(struct sigctx *c, const char *mdname, void *provkey,
    const OSSL_PARAM params[], int op)
{
	if (!sig_init(c, provkey, NULL, op))
		return 0;
	/* libcrypto passes the key's default digest when none is given. */
	if (!fetch_md(c, mdname != NULL ? mdname : "SHA256", &c->md))
		return 0;
	if (op == EVP_PKEY_OP_SIGN && ctx_digest(c, c->md) == NULL)
		return 0;
	if ((c->mdctx = EVP_MD_CTX_new()) == NULL ||
	    !EVP_DigestInit_ex2(c->mdctx, c->md, NULL))
		return 0;
	c->digest_op = 1;
	return sig_set_ctx_params(c, params);
}

static int
sig_digest_sign_init(void *vctx, const char *mdname, void *provkey,
    const OSSL_PARAM params[])
{
	return sig_digest_init(vctx, mdname, provkey, params,
	    EVP_PKEY_OP_SIGN);
}

static int
sig_digest_verify_init(void *vctx, const char *mdname, void *provkey,
    const OSSL_PARAM params[])
{
	return sig_digest_init(vctx, mdname, provkey, params,
	    EVP_PKEY_OP_VERIFY);
}

static int
sig_digest_update(void *vctx, const unsigned char *data, size_t datalen)
{
	struct sigctx *c = vctx;

	if (c->mdctx == NULL)
		return 0;
	return EVP_DigestUpdate(c->mdctx, data, datalen);
}

static int
sig_digest_sign_final(void *vctx, unsigned char *sig, size_t *siglen,
    size_t sigsize)
{
	struct sigctx *c = vctx;
	unsigned char dg[EVP_MAX_MD_SIZE];
	unsigned int dglen = 0;
	int ok;

	if (c->mdctx == NULL)
		return 0;
	/* A size query must leave the running digest untouched. */
	if (sig == NULL)
		return sig_sign(c, NULL, siglen, 0, NULL, 0);
	if (!EVP_DigestFinal_ex(c->mdctx, dg, &dglen))
		return 0;
	ok = sig_sign(c, sig, siglen, sigsize, dg, dglen);
	OPENSSL_cleanse(dg, sizeof(dg));
	return ok;
}

static int
sig_digest_verify_final(void *vctx, const unsigned char *sig,
    size_t siglen)
{
	struct sigctx *c = vctx;
	unsigned char dg[EVP_MAX_MD_SIZE];
	unsigned int dglen = 0;

	if (c->mdctx == NULL || !EVP_DigestFinal_ex(c->mdctx, dg, &dglen))
		return 0;
	return sig_verify(c, sig, siglen, dg, dglen);
}

/* Parameters. */

static int
algid_der(struct sigctx *c, unsigned char *buf, size_t *lenp)
{
	X509_ALGOR *alg = NULL, *h = NULL, *mgf = NULL;
	RSA_PSS_PARAMS *pss = NULL;
	ASN1_STRING *s = NULL;
	unsigned char *der = NULL;
	int snid, mdnid, mgfnid, len, ok = 0, salt;
	const struct prov_digest *d;

	*lenp = 0;
	if (c->md == NULL)
		return 1;	/* unknown until a digest is set */
	mdnid = EVP_MD_get_type(c->md);
	if ((alg = X509_ALGOR_new()) == NULL)
		goto out;
	if (c->type == P11AGENT_KEY_EC) {
		if (!OBJ_find_sigid_by_algs(&snid, mdnid,
		    NID_X9_62_id_ecPublicKey))
			goto unknown;
		X509_ALGOR_set0(alg, OBJ_nid2obj(snid), V_ASN1_UNDEF, NULL);
	} else if (c->pad == RSA_PKCS1_PADDING) {
		if (!OBJ_find_sigid_by_algs(&snid, mdnid, NID_rsaEncryption))
			goto unknown;
		X509_ALGOR_set0(alg, OBJ_nid2obj(snid), V_ASN1_NULL, NULL);
	} else if (c->pad == RSA_PKCS1_PSS_PADDING) {
		/* RFC 4055 RSASSA-PSS-params with what the agent will do. */
		if ((d = prov_digest_by_nid(mdnid)) == NULL)
			goto unknown;
		salt = c->op == EVP_PKEY_OP_SIGN ? pss_saltlen(c, d) :
		    (c->saltlen >= 0 ? c->saltlen : (int)d->len);
		if (salt < 0)
			goto out;
		mgfnid = c->mgf1 != NULL ? EVP_MD_get_type(c->mgf1) : mdnid;
		if ((pss = RSA_PSS_PARAMS_new()) == NULL)
			goto out;
		if (mdnid != NID_sha1) {
			if ((pss->hashAlgorithm = X509_ALGOR_new()) == NULL)
				goto out;
			X509_ALGOR_set0(pss->hashAlgorithm, OBJ_nid2obj(mdnid),
			    V_ASN1_NULL, NULL);
		}
		if (mgfnid != NID_sha1) {
			if ((h = X509_ALGOR_new()) == NULL ||
			    (mgf = X509_ALGOR_new()) == NULL)
				goto out;
			X509_ALGOR_set0(h, OBJ_nid2obj(mgfnid), V_ASN1_NULL,
			    NULL);
			if ((s = ASN1_item_pack(h, ASN1_ITEM_rptr(X509_ALGOR),
			    NULL)) == NULL)
				goto out;
			X509_ALGOR_set0(mgf, OBJ_nid2obj(NID_mgf1),
			    V_ASN1_SEQUENCE, s);
			s = NULL;
			pss->maskGenAlgorithm = mgf;
			mgf = NULL;
		}
		if (salt != 20) {
			if ((pss->saltLength = ASN1_INTEGER_new()) == NULL ||
			    !ASN1_INTEGER_set(pss->saltLength, salt))
				goto out;
		}
		if ((s = ASN1_item_pack(pss, ASN1_ITEM_rptr(RSA_PSS_PARAMS),
		    NULL)) == NULL)
			goto out;
		X509_ALGOR_set0(alg, OBJ_nid2obj(NID_rsassaPss),
		    V_ASN1_SEQUENCE, s);
		s = NULL;
	} else {
		goto unknown;
	}
	if ((len = i2d_X509_ALGOR(alg, &der)) <= 0 || len > ALGID_MAX)
		goto out;
	memcpy(buf, der, (size_t)len);
	*lenp = (size_t)len;
 unknown:
	ok = 1;
 out:
	OPENSSL_free(der);
	ASN1_STRING_free(s);
	X509_ALGOR_free(h);
	X509_ALGOR_free(mgf);
	RSA_PSS_PARAMS_free(pss);
	X509_ALGOR_free(alg);
	return ok;
}

static int
sig_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
	struct sigctx *c = vctx;
	unsigned char aid[ALGID_MAX];
	size_t aidlen, i;
	OSSL_PARAM *p;

	if (c == NULL)
		return 0;
	if ((p = OSSL_PARAM_locate(params,
	    OSSL_SIGNATURE_PARAM_ALGORITHM_ID)) != NULL) {
		if (!algid_der(c, aid, &aidlen) ||
		    !OSSL_PARAM_set_octet_string(p, aidlen != 0 ? aid : NULL,
		    aidlen))
			return 0;
	}
	if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST)) !=
	    NULL && !OSSL_PARAM_set_utf8_string(p,
	    c->md != NULL ? EVP_MD_get0_name(c->md) : ""))
		return 0;
	if ((p = OSSL_PARAM_locate(params,
	    OSSL_SIGNATURE_PARAM_DIGEST_SIZE)) != NULL &&
	    !OSSL_PARAM_set_size_t(p,
	    c->md != NULL ? (size_t)EVP_MD_get_size(c->md) : 0))
		return 0;
	if (c->type != P11AGENT_KEY_RSA)
		return 1;
	if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE)) !=
	    NULL) {
		if (p->data_type == OSSL_PARAM_UTF8_STRING) {
			for (i = 0; i < NPADS; i++)
				if (pad_names[i].mode == c->pad)
					break;
			if (i == NPADS ||
			    !OSSL_PARAM_set_utf8_string(p, pad_names[i].name))
				return 0;
		} else if (!OSSL_PARAM_set_int(p, c->pad)) {
			return 0;
		}
	}
	if ((p = OSSL_PARAM_locate(params,
	    OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) != NULL) {
		const EVP_MD *m = c->mgf1 != NULL ? c->mgf1 : c->md;

		if (!OSSL_PARAM_set_utf8_string(p,
		    m != NULL ? EVP_MD_get0_name(m) : ""))
			return 0;
	}
	if ((p = OSSL_PARAM_locate(params,
	    OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) != NULL) {
		if (p->data_type == OSSL_PARAM_UTF8_STRING) {
			char num[16];
			const char *v = num;

			switch (c->saltlen) {
			case RSA_PSS_SALTLEN_DIGEST:
				v = OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST;
				break;
			case RSA_PSS_SALTLEN_MAX:
				v = OSSL_PKEY_RSA_PSS_SALT_LEN_MAX;
				break;
			case RSA_PSS_SALTLEN_AUTO:
				v = OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO;
				break;
			default:
				snprintf(num, sizeof(num), "%d", c->saltlen);
				break;
			}
			if (!OSSL_PARAM_set_utf8_string(p, v))
				return 0;
		} else if (!OSSL_PARAM_set_int(p, c->saltlen)) {
			return 0;
		}
	}
	return 1;
}

static int
set_pad_mode(struct sigctx *c, const OSSL_PARAM *p)
{
	const char *s = NULL;
	size_t i;
	int mode = -1;

	if (p->data_type == OSSL_PARAM_UTF8_STRING) {
		if (!OSSL_PARAM_get_utf8_string_ptr(p, &s))
			return 0;
		for (i = 0; i < NPADS; i++)
			if (strcmp(s, pad_names[i].name) == 0)
				mode = pad_names[i].mode;
	} else if (!OSSL_PARAM_get_int(p, &mode)) {
		return 0;
	}
	for (i = 0; i < NPADS; i++)
		if (pad_names[i].mode == mode)
			break;
	if (i == NPADS || (c->op == EVP_PKEY_OP_SIGN &&
	    mode != RSA_PKCS1_PADDING && mode != RSA_PKCS1_PSS_PADDING)) {
		PROV_ERR(c->pc, PROV_R_UNSUPPORTED_PADDING,
		    "p11agent: padding %s not supported for signing",
		    s != NULL ? s : "mode");
		return 0;
	}
	c->pad = mode;
	return 1;
}

static int
set_saltlen(struct sigctx *c, const OSSL_PARAM *p)
{
	const char *s;
	int v;

	if (p->data_type == OSSL_PARAM_UTF8_STRING) {
		if (!OSSL_PARAM_get_utf8_string_ptr(p, &s))
			return 0;
		if (strcmp(s, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST) == 0)
			v = RSA_PSS_SALTLEN_DIGEST;
		else if (strcmp(s, OSSL_PKEY_RSA_PSS_SALT_LEN_MAX) == 0)
			v = RSA_PSS_SALTLEN_MAX;
		else if (strcmp(s, OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO) == 0)
			v = RSA_PSS_SALTLEN_AUTO;
		else
			v = atoi(s);
	} else if (!OSSL_PARAM_get_int(p, &v)) {
		return 0;
	}
	if (v < RSA_PSS_SALTLEN_MAX) {
		PROV_ERR(c->pc, PROV_R_UNSUPPORTED_SALTLEN,
		    "p11agent: invalid PSS salt length %d", v);
		return 0;
	}
	c->saltlen = v;
	c->saltlen_set = 1;
	return 1;
}

static int
sig_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
	struct sigctx *c = vctx;
	const OSSL_PARAM *p;
	const char *s;
	EVP_MD *md = NULL;

	if (c == NULL)
		return 0;
	if (params == NULL)
		return 1;
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_SIGNATURE_PARAM_DIGEST)) != NULL) {
		if (!OSSL_PARAM_get_utf8_string_ptr(p, &s) ||
		    !fetch_md(c, s, &md))
			return 0;
		if (c->digest_op && c->md != NULL &&
		    EVP_MD_get_type(md) != EVP_MD_get_type(c->md)) {
			EVP_MD_free(md);
			PROV_ERR(c->pc, PROV_R_INVALID_ARGUMENT,
			    "p11agent: digest is fixed once hashing started");
			return 0;
		}
		if (c->op == EVP_PKEY_OP_SIGN && ctx_digest(c, md) == NULL) {
			EVP_MD_free(md);
			return 0;
		}
		EVP_MD_free(c->md);
		c->md = md;
	}
	if (c->type != P11AGENT_KEY_RSA)
		return 1;
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_SIGNATURE_PARAM_PAD_MODE)) != NULL && !set_pad_mode(c, p))
		return 0;
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) != NULL && !set_saltlen(c, p))
		return 0;
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) != NULL) {
		if (!OSSL_PARAM_get_utf8_string_ptr(p, &s) ||
		    !fetch_md(c, s, &c->mgf1))
			return 0;
	}
	return 1;
}

static const OSSL_PARAM rsa_settable[] = {
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_PROPERTIES, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM rsa_gettable[] = {
	OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_size_t(OSSL_SIGNATURE_PARAM_DIGEST_SIZE, NULL),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM ecdsa_settable[] = {
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM ecdsa_gettable[] = {
	OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_size_t(OSSL_SIGNATURE_PARAM_DIGEST_SIZE, NULL),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
rsa_settable_ctx_params(void *vctx, void *provctx)
{
	return rsa_settable;
}

static const OSSL_PARAM *
rsa_gettable_ctx_params(void *vctx, void *provctx)
{
	return rsa_gettable;
}

static const OSSL_PARAM *
ecdsa_settable_ctx_params(void *vctx, void *provctx)
{
	return ecdsa_settable;
}

static const OSSL_PARAM *
ecdsa_gettable_ctx_params(void *vctx, void *provctx)
{
	return ecdsa_gettable;
}

#define FN(id, f)	{ id, (void (*)(void))(f) }

#define COMMON_SIG_FUNCTIONS						\
	FN(OSSL_FUNC_SIGNATURE_FREECTX, sig_freectx),			\
	FN(OSSL_FUNC_SIGNATURE_DUPCTX, sig_dupctx),			\
	FN(OSSL_FUNC_SIGNATURE_SIGN_INIT, sig_sign_init),		\
	FN(OSSL_FUNC_SIGNATURE_SIGN, sig_sign),				\
	FN(OSSL_FUNC_SIGNATURE_VERIFY_INIT, sig_verify_init),		\
	FN(OSSL_FUNC_SIGNATURE_VERIFY, sig_verify),			\
	FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, sig_digest_sign_init),	\
	FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, sig_digest_update),	\
	FN(OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, sig_digest_sign_final), \
	FN(OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, sig_digest_verify_init), \
	FN(OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, sig_digest_update), \
	FN(OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL,			\
	    sig_digest_verify_final),					\
	FN(OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, sig_get_ctx_params),	\
	FN(OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, sig_set_ctx_params)

const OSSL_DISPATCH prov_rsa_signature_functions[] = {
	FN(OSSL_FUNC_SIGNATURE_NEWCTX, rsa_newctx),
	COMMON_SIG_FUNCTIONS,
	FN(OSSL_FUNC_SIGNATURE_VERIFY_RECOVER_INIT, sig_verify_recover_init),
	FN(OSSL_FUNC_SIGNATURE_VERIFY_RECOVER, sig_verify_recover),
	FN(OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, rsa_gettable_ctx_params),
	FN(OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, rsa_settable_ctx_params),
	{ 0, NULL }
};

const OSSL_DISPATCH prov_ecdsa_signature_functions[] = {
	FN(OSSL_FUNC_SIGNATURE_NEWCTX, ecdsa_newctx),
	COMMON_SIG_FUNCTIONS,
	FN(OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS,
	    ecdsa_gettable_ctx_params),
	FN(OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS,
	    ecdsa_settable_ctx_params),
	{ 0, NULL }
};
