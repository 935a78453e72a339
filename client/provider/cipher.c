/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * cipher.c - RSA asymmetric cipher: decryption (key unwrap) by the
 * agent with PKCS#1 v1.5 or OAEP (MGF1 = OAEP digest, empty label), and
 * encryption on the public key with the default provider. Plaintext
 * from the agent is secret: it is copied once into the caller's buffer
 * and wiped. A context belongs to one thread at a time.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include <p11agent/client.h>

#include "prov-int.h"

struct cipherctx {
	struct provctx *pc;
	struct pkey *key;
	int op;				/* EVP_PKEY_OP_ENCRYPT or _DECRYPT */
	int pad;			/* RSA_*_PADDING */
	EVP_MD *oaep_md;		/* NULL: SHA-1, OpenSSL's default */
	EVP_MD *mgf1;			/* NULL: same as oaep_md */
	unsigned char *label;
	size_t labellen;
};

static const struct {
	int mode;
	const char *name;
} pad_names[] = {
	{ RSA_PKCS1_PADDING,		OSSL_PKEY_RSA_PAD_MODE_PKCSV15 },
	{ RSA_PKCS1_OAEP_PADDING,	OSSL_PKEY_RSA_PAD_MODE_OAEP },
	{ RSA_NO_PADDING,		OSSL_PKEY_RSA_PAD_MODE_NONE },
	{ RSA_X931_PADDING,		OSSL_PKEY_RSA_PAD_MODE_X931 },
};

#define NPADS	(sizeof(pad_names) / sizeof(pad_names[0]))

static void *
ac_newctx(void *provctx)
{
	struct cipherctx *c;

	if ((c = OPENSSL_zalloc(sizeof(*c))) == NULL)
		return NULL;
	c->pc = provctx;
	c->pad = RSA_PKCS1_PADDING;
	return c;
}

static void
ac_freectx(void *vctx)
{
	struct cipherctx *c = vctx;

	if (c == NULL)
		return;
	pkey_free(c->key);
	EVP_MD_free(c->oaep_md);
	EVP_MD_free(c->mgf1);
	OPENSSL_free(c->label);
	OPENSSL_free(c);
}

static void *
ac_dupctx(void *vctx)
{
	struct cipherctx *c = vctx, *n;

	if ((n = OPENSSL_memdup(c, sizeof(*c))) == NULL)
		return NULL;
	n->key = NULL;
	n->oaep_md = n->mgf1 = NULL;
	n->label = NULL;
	if (c->key != NULL && pkey_up_ref(c->key))
		n->key = c->key;
	if ((c->oaep_md != NULL && !EVP_MD_up_ref(c->oaep_md)) ||
	    (c->mgf1 != NULL && !EVP_MD_up_ref(c->mgf1)))
		goto err;
	n->oaep_md = c->oaep_md;
	n->mgf1 = c->mgf1;
	if (c->label != NULL &&
	    (n->label = OPENSSL_memdup(c->label, c->labellen)) == NULL)
		goto err;
	return n;
 err:
	ac_freectx(n);
	return NULL;
}

static int ac_set_ctx_params(void *vctx, const OSSL_PARAM params[]);

static int
ac_init(struct cipherctx *c, void *provkey, const OSSL_PARAM params[],
    int op)
{
	struct pkey *k = provkey;

	if (k == NULL || k->type != P11AGENT_KEY_RSA || !k->has_pub) {
		PROV_ERR(c->pc, PROV_R_INVALID_KEY,
		    "p11agent: RSA encryption needs an RSA key");
		return 0;
	}
	if (op == EVP_PKEY_OP_DECRYPT && !k->has_priv) {
		PROV_ERR(c->pc, PROV_R_NO_PRIVATE_KEY,
		    "p11agent: not a key held by the agent");
		return 0;
	}
	pkey_up_ref(k);
	pkey_free(c->key);
	c->key = k;
	c->op = op;
	c->pad = RSA_PKCS1_PADDING;
	EVP_MD_free(c->oaep_md);
	EVP_MD_free(c->mgf1);
	c->oaep_md = c->mgf1 = NULL;
	OPENSSL_free(c->label);
	c->label = NULL;
	c->labellen = 0;
	return ac_set_ctx_params(c, params);
}

static int
ac_encrypt_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
	return ac_init(vctx, provkey, params, EVP_PKEY_OP_ENCRYPT);
}

static int
ac_decrypt_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
	return ac_init(vctx, provkey, params, EVP_PKEY_OP_DECRYPT);
}

/* The agent's algorithm for the context's settings; 0: error raised. */
static unsigned int
decrypt_alg(struct cipherctx *c)
{
	const struct prov_digest *d;
	int mdnid;

	if (c->pad == RSA_PKCS1_PADDING)
		return P11AGENT_ALG_RSA_PKCS1;
	if (c->pad != RSA_PKCS1_OAEP_PADDING) {
		PROV_ERR(c->pc, PROV_R_UNSUPPORTED_PADDING,
		    "p11agent: the agent decrypts PKCS#1 v1.5 and OAEP only");
		return 0;
	}
	mdnid = c->oaep_md != NULL ? EVP_MD_get_type(c->oaep_md) : NID_sha1;
	if ((d = prov_digest_by_nid(mdnid)) == NULL || d->rsa_oaep == 0) {
		PROV_ERR(c->pc, PROV_R_UNSUPPORTED_DIGEST,
		    "p11agent: the agent does not decrypt OAEP with %s",
		    c->oaep_md != NULL ? EVP_MD_get0_name(c->oaep_md) : "?");
		return 0;
	}
	if (c->mgf1 != NULL && EVP_MD_get_type(c->mgf1) != mdnid) {
		PROV_ERR(c->pc, PROV_R_UNSUPPORTED_DIGEST,
		    "p11agent: the agent uses MGF1 with the OAEP digest only");
		return 0;
	}
	if (c->labellen != 0) {
		PROV_ERR(c->pc, PROV_R_UNSUPPORTED_LABEL,
		    "p11agent: the agent decrypts OAEP with an empty label "
		    "only");
		return 0;
	}
	return d->rsa_oaep;
}

static int
ac_decrypt(void *vctx, unsigned char *out, size_t *outlen, size_t outsize,
    const unsigned char *in, size_t inlen)
{
	struct cipherctx *c = vctx;
	uint8_t *pt = NULL;
	size_t ptlen = 0, size;
	unsigned int alg;
	int ok = 0;

	if (c->key == NULL || (size = pkey_size_bytes(c->key)) == 0) {
		PROV_ERR(c->pc, PROV_R_INVALID_KEY, "p11agent: no key");
		return 0;
	}
	if (out == NULL) {
		*outlen = size;
		return 1;
	}
	if ((alg = decrypt_alg(c)) == 0)
		return 0;
	if (!agent_decrypt(c->pc, c->key->id, alg, in, inlen, &pt, &ptlen))
		return 0;
	if (ptlen > outsize) {
		PROV_ERR(c->pc, PROV_R_BUFFER_TOO_SMALL,
		    "p11agent: plaintext buffer too small");
		goto out;
	}
	memcpy(out, pt, ptlen);
	*outlen = ptlen;
	ok = 1;
 out:
	p11agent_freezero(pt, ptlen);
	return ok;
}

static int
ac_encrypt(void *vctx, unsigned char *out, size_t *outlen, size_t outsize,
    const unsigned char *in, size_t inlen)
{
	struct cipherctx *c = vctx;
	EVP_PKEY_CTX *pctx = NULL;
	OSSL_PARAM params[5], *p = params;
	int ok = 0;

	if (c->key == NULL || !c->key->has_pub) {
		PROV_ERR(c->pc, PROV_R_INVALID_KEY, "p11agent: no public key");
		return 0;
	}
	*p++ = OSSL_PARAM_construct_int(OSSL_ASYM_CIPHER_PARAM_PAD_MODE,
	    &c->pad);
	if (c->oaep_md != NULL)
		*p++ = OSSL_PARAM_construct_utf8_string(
		    OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST,
		    (char *)EVP_MD_get0_name(c->oaep_md), 0);
	if (c->mgf1 != NULL)
		*p++ = OSSL_PARAM_construct_utf8_string(
		    OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST,
		    (char *)EVP_MD_get0_name(c->mgf1), 0);
	if (c->label != NULL)
		*p++ = OSSL_PARAM_construct_octet_string(
		    OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, c->label, c->labellen);
	*p = OSSL_PARAM_construct_end();
	*outlen = outsize;
	/* The public half, in our default-only library context. */
	if ((pctx = EVP_PKEY_CTX_new_from_pkey(c->pc->libctx, c->key->pub,
	    NULL)) != NULL &&
	    EVP_PKEY_encrypt_init(pctx) > 0 &&
	    EVP_PKEY_CTX_set_params(pctx, params) > 0 &&
	    EVP_PKEY_encrypt(pctx, out, outlen, in, inlen) > 0)
		ok = 1;
	EVP_PKEY_CTX_free(pctx);
	return ok;
}

static int
fetch_md(struct cipherctx *c, const char *name, EVP_MD **mdp)
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

static int
ac_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
	struct cipherctx *c = vctx;
	const OSSL_PARAM *p;
	const char *s = NULL;
	void *label = NULL;
	size_t i, labellen = 0;
	int mode = -1;

	if (c == NULL)
		return 0;
	if (params == NULL)
		return 1;
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_ASYM_CIPHER_PARAM_PAD_MODE)) != NULL) {
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
		if (i == NPADS) {
			PROV_ERR(c->pc, PROV_R_UNSUPPORTED_PADDING,
			    "p11agent: unsupported RSA padding");
			return 0;
		}
		c->pad = mode;
	}
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST)) != NULL &&
	    (!OSSL_PARAM_get_utf8_string_ptr(p, &s) ||
	    !fetch_md(c, s, &c->oaep_md)))
		return 0;
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST)) != NULL &&
	    (!OSSL_PARAM_get_utf8_string_ptr(p, &s) ||
	    !fetch_md(c, s, &c->mgf1)))
		return 0;
	if ((p = OSSL_PARAM_locate_const(params,
	    OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL)) != NULL) {
		if (!OSSL_PARAM_get_octet_string(p, &label, 0, &labellen))
			return 0;
		OPENSSL_free(c->label);
		c->label = label;
		c->labellen = labellen;
	}
	return 1;
}

static int
ac_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
	struct cipherctx *c = vctx;
	OSSL_PARAM *p;
	const EVP_MD *m;
	size_t i;

	if (c == NULL)
		return 0;
	if ((p = OSSL_PARAM_locate(params,
	    OSSL_ASYM_CIPHER_PARAM_PAD_MODE)) != NULL) {
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
	    OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST)) != NULL &&
	    !OSSL_PARAM_set_utf8_string(p, c->oaep_md != NULL ?
	    EVP_MD_get0_name(c->oaep_md) : "SHA1"))
		return 0;
	if ((p = OSSL_PARAM_locate(params,
	    OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST)) != NULL) {
		m = c->mgf1 != NULL ? c->mgf1 : c->oaep_md;
		if (!OSSL_PARAM_set_utf8_string(p,
		    m != NULL ? EVP_MD_get0_name(m) : "SHA1"))
			return 0;
	}
	if ((p = OSSL_PARAM_locate(params,
	    OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL)) != NULL &&
	    !OSSL_PARAM_set_octet_ptr(p, c->label, c->labellen))
		return 0;
	return 1;
}

static const OSSL_PARAM ac_settable[] = {
	OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST_PROPS,
	    NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST_PROPS,
	    NULL, 0),
	OSSL_PARAM_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM ac_gettable[] = {
	OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, NULL, 0),
	OSSL_PARAM_DEFN(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, OSSL_PARAM_OCTET_PTR,
	    NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
ac_settable_ctx_params(void *vctx, void *provctx)
{
	return ac_settable;
}

static const OSSL_PARAM *
ac_gettable_ctx_params(void *vctx, void *provctx)
{
	return ac_gettable;
}

#define FN(id, f)	{ id, (void (*)(void))(f) }

const OSSL_DISPATCH prov_rsa_asym_cipher_functions[] = {
	FN(OSSL_FUNC_ASYM_CIPHER_NEWCTX, ac_newctx),
	FN(OSSL_FUNC_ASYM_CIPHER_FREECTX, ac_freectx),
	FN(OSSL_FUNC_ASYM_CIPHER_DUPCTX, ac_dupctx),
	FN(OSSL_FUNC_ASYM_CIPHER_ENCRYPT_INIT, ac_encrypt_init),
	FN(OSSL_FUNC_ASYM_CIPHER_ENCRYPT, ac_encrypt),
	FN(OSSL_FUNC_ASYM_CIPHER_DECRYPT_INIT, ac_decrypt_init),
	FN(OSSL_FUNC_ASYM_CIPHER_DECRYPT, ac_decrypt),
	FN(OSSL_FUNC_ASYM_CIPHER_GET_CTX_PARAMS, ac_get_ctx_params),
	FN(OSSL_FUNC_ASYM_CIPHER_GETTABLE_CTX_PARAMS, ac_gettable_ctx_params),
	FN(OSSL_FUNC_ASYM_CIPHER_SET_CTX_PARAMS, ac_set_ctx_params),
	FN(OSSL_FUNC_ASYM_CIPHER_SETTABLE_CTX_PARAMS, ac_settable_ctx_params),
	{ 0, NULL }
};
