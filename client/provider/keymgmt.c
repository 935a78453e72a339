/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * keymgmt.c - key management for "RSA" and "EC" keys held by the agent.
 * A key is the agent's key id plus a public EVP_PKEY of our private
 * library context. Only public components and EC domain parameters ever
 * cross the provider boundary, in either direction: export of a key the
 * agent holds refuses a private selection, and import refuses any
 * private component, so OpenSSL falls back to the key's own provider.
 * An import may name an agent key by id (p11agent_provider_key()): a
 * reference like the store's, which the agent still authorizes.
 */
#include <limits.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/x509.h>

#include <p11agent/client.h>

#include "prov-int.h"

#define GROUP_NAME_MAX	64

/* Key objects. */

struct pkey *
pkey_new(struct provctx *pc, int type)
{
	struct pkey *k;

	if ((k = OPENSSL_zalloc(sizeof(*k))) == NULL)
		return NULL;
	k->refs = 1;
	k->pc = pc;
	k->type = type;
	return k;
}

int
pkey_up_ref(struct pkey *k)
{
	__atomic_add_fetch(&k->refs, 1, __ATOMIC_RELAXED);
	return 1;
}

void
pkey_free(struct pkey *k)
{
	if (k == NULL)
		return;
	if (__atomic_sub_fetch(&k->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	EVP_PKEY_free(k->pub);
	OPENSSL_clear_free(k, sizeof(*k));
}

static const char *
type_name(int type)
{
	return type == P11AGENT_KEY_RSA ? "RSA" : "EC";
}

struct pkey *
pkey_from_agent(struct provctx *pc, const struct p11agent_key *ak)
{
	struct pkey *k = NULL;
	const uint8_t *spki, *p;
	size_t spkilen;
	int type = p11agent_key_type(ak);

	if (type != P11AGENT_KEY_RSA && type != P11AGENT_KEY_EC) {
		PROV_ERR(pc, PROV_R_INVALID_KEY, "p11agent: key %s: type %d",
		    p11agent_key_id_hex(ak), type);
		return NULL;
	}
	spki = p11agent_key_spki(ak, &spkilen);
	if ((k = pkey_new(pc, type)) == NULL)
		return NULL;
	p = spki;
	/* The private libctx: default provider only, never us. */
	if (spki == NULL || spkilen > LONG_MAX ||
	    (k->pub = d2i_PUBKEY_ex(NULL, &p, (long)spkilen, pc->libctx,
	    NULL)) == NULL || p != spki + spkilen ||
	    !EVP_PKEY_is_a(k->pub, type_name(type))) {
		PROV_ERR(pc, PROV_R_INVALID_KEY,
		    "p11agent: key %s: unusable public key",
		    p11agent_key_id_hex(ak));
		pkey_free(k);
		return NULL;
	}
	k->has_pub = 1;
	k->has_priv = 1;
	memcpy(k->id, p11agent_key_id(ak), sizeof(k->id));
	k->ops = p11agent_key_operations(ak);
	return k;
}

size_t
pkey_size_bytes(const struct pkey *k)
{
	int bits;

	if (k->pub == NULL || (bits = EVP_PKEY_get_bits(k->pub)) <= 0)
		return 0;
	return ((size_t)bits + 7) / 8;
}

size_t
pkey_max_size(const struct pkey *k)
{
	int n;

	if (k->pub == NULL || (n = EVP_PKEY_get_size(k->pub)) <= 0)
		return 0;
	return (size_t)n;
}

int
pkey_group_name(const struct pkey *k, char *buf, size_t len)
{
	if (k->type != P11AGENT_KEY_EC || k->pub == NULL)
		return 0;
	return EVP_PKEY_get_utf8_string_param(k->pub,
	    OSSL_PKEY_PARAM_GROUP_NAME, buf, len, NULL);
}

/* An EVP_PKEY of the private libctx from public parameters. */
static EVP_PKEY *
pub_fromdata(struct provctx *pc, int type, int selection,
    OSSL_PARAM *params)
{
	EVP_PKEY_CTX *ctx;
	EVP_PKEY *pk = NULL;

	if ((ctx = EVP_PKEY_CTX_new_from_name(pc->libctx, type_name(type),
	    NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pk, selection, params) <= 0)
		pk = NULL;
	EVP_PKEY_CTX_free(ctx);
	return pk;
}

static EVP_PKEY *
ec_params_only(struct provctx *pc, const char *group)
{
	OSSL_PARAM params[2];

	params[0] = OSSL_PARAM_construct_utf8_string(
	    OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0);
	params[1] = OSSL_PARAM_construct_end();
	return pub_fromdata(pc, P11AGENT_KEY_EC, EVP_PKEY_KEY_PARAMETERS,
	    params);
}

/* OSSL_FUNC_keymgmt_* */

static void *
rsa_new(void *provctx)
{
	return pkey_new(provctx, P11AGENT_KEY_RSA);
}

static void *
ec_new(void *provctx)
{
	return pkey_new(provctx, P11AGENT_KEY_EC);
}

static void
km_free(void *keydata)
{
	pkey_free(keydata);
}

/*
 * A reference comes only from our store loader (OpenSSL loads by
 * reference with the keymgmt of the loader's provider): the bytes of a
 * struct pkey pointer that the store context keeps alive until then.
 */
static void *
km_load(const void *reference, size_t reference_sz)
{
	struct pkey *k;

	if (reference == NULL || reference_sz != sizeof(k))
		return NULL;
	memcpy(&k, reference, sizeof(k));
	if (k == NULL)
		return NULL;
	pkey_up_ref(k);
	return k;
}

static int
km_has(const void *keydata, int selection)
{
	const struct pkey *k = keydata;
	int ok = 1;

	if (k == NULL)
		return 0;
	if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0)
		ok = ok && k->has_pub;
	/* "Has a private key" means: the agent can use it for us. */
	if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0)
		ok = ok && k->has_priv;
	if ((selection & OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS) != 0 &&
	    k->type == P11AGENT_KEY_EC)
		ok = ok && k->pub != NULL;
	return ok;
}

static int
km_match(const void *keydata1, const void *keydata2, int selection)
{
	const struct pkey *a = keydata1, *b = keydata2;

	if (a == NULL || b == NULL || a->type != b->type)
		return 0;
	if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0) {
		if (a->has_pub && b->has_pub)
			return EVP_PKEY_eq(a->pub, b->pub) == 1;
		/* Two references to agent keys without public halves. */
		if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) == 0 &&
		    a->has_priv && b->has_priv)
			return memcmp(a->id, b->id, sizeof(a->id)) == 0;
		return 0;
	}
	if ((selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS) != 0 &&
	    a->type == P11AGENT_KEY_EC) {
		if (a->pub == NULL || b->pub == NULL)
			return 0;
		return EVP_PKEY_parameters_eq(a->pub, b->pub) == 1;
	}
	return 1;
}

static int
km_get_params(void *keydata, OSSL_PARAM params[])
{
	struct pkey *k = keydata;

	if (k == NULL)
		return 0;
	if (k->pub == NULL)
		return 1;
	/*
	 * pub holds public components only, so asking the default provider
	 * for everything can never hand out private material.
	 */
	return EVP_PKEY_get_params(k->pub, params);
}

static const OSSL_PARAM rsa_gettable[] = {
	OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM ec_gettable[] = {
	OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_X, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_Y, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
	    NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
rsa_gettable_params(void *provctx)
{
	return rsa_gettable;
}

static const OSSL_PARAM *
ec_gettable_params(void *provctx)
{
	return ec_gettable;
}

/*
 * EVP_PKEY_set1_encoded_public_key(): CMS builds the originator's key for
 * ECDH this way, on a copy of our key's parameters.
 */
static int
ec_set_params(void *keydata, const OSSL_PARAM params[])
{
	struct pkey *k = keydata;
	const OSSL_PARAM *p;
	OSSL_PARAM np[3];
	char group[GROUP_NAME_MAX];
	EVP_PKEY *pk;

	if (k == NULL)
		return 0;
	p = OSSL_PARAM_locate_const(params,
	    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY);
	if (p == NULL)
		return 1;
	if (p->data_type != OSSL_PARAM_OCTET_STRING)
		return 0;
	if (k->has_priv) {
		/* Would separate the public half from the agent's key. */
		PROV_ERR(k->pc, PROV_R_NOT_SUPPORTED,
		    "p11agent: cannot replace the public key of an agent key");
		return 0;
	}
	if (!pkey_group_name(k, group, sizeof(group))) {
		PROV_ERR(k->pc, PROV_R_INVALID_KEY,
		    "p11agent: EC key without a group");
		return 0;
	}
	np[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
	    group, 0);
	np[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
	    p->data, p->data_size);
	np[2] = OSSL_PARAM_construct_end();
	if ((pk = pub_fromdata(k->pc, P11AGENT_KEY_EC, EVP_PKEY_PUBLIC_KEY,
	    np)) == NULL) {
		PROV_ERR(k->pc, PROV_R_INVALID_KEY,
		    "p11agent: invalid EC public key");
		return 0;
	}
	EVP_PKEY_free(k->pub);
	k->pub = pk;
	k->has_pub = 1;
	return 1;
}

static const OSSL_PARAM ec_settable[] = {
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
ec_settable_params(void *provctx)
{
	return ec_settable;
}

/* Import: public components and named-curve parameters only. */

static const char *const private_names[] = {
	OSSL_PKEY_PARAM_PRIV_KEY, OSSL_PKEY_PARAM_RSA_D,
	"rsa-factor", "rsa-exponent", "rsa-coefficient",
};

static int
is_private_param(const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(private_names) / sizeof(private_names[0]);
	    i++)
		if (strncmp(key, private_names[i],
		    strlen(private_names[i])) == 0 &&
		    (i >= 2 || key[strlen(private_names[i])] == '\0'))
			return 1;
	return 0;
}

/*
 * Our own PROV_PARAM_KEY_ID / _OPS (p11agent_provider_key()): *hasp is
 * set when an id is given; it needs a public key to go with it. 1, or 0
 * with an error raised for a malformed one.
 */
static int
import_key_ref(struct pkey *k, const OSSL_PARAM params[], int *hasp,
    uint8_t id[P11AGENT_KEYID_LEN], unsigned int *opsp)
{
	const OSSL_PARAM *p;
	size_t len;
	const void *v;

	*hasp = 0;
	*opsp = 0;
	if ((p = OSSL_PARAM_locate_const(params, PROV_PARAM_KEY_ID)) == NULL)
		return 1;
	if (!OSSL_PARAM_get_octet_string_ptr(p, &v, &len) ||
	    len != P11AGENT_KEYID_LEN) {
		PROV_ERR(k->pc, PROV_R_INVALID_KEY, "p11agent: bad %s",
		    PROV_PARAM_KEY_ID);
		return 0;
	}
	memcpy(id, v, P11AGENT_KEYID_LEN);
	if ((p = OSSL_PARAM_locate_const(params, PROV_PARAM_KEY_OPS)) !=
	    NULL && !OSSL_PARAM_get_uint(p, opsp)) {
		PROV_ERR(k->pc, PROV_R_INVALID_KEY, "p11agent: bad %s",
		    PROV_PARAM_KEY_OPS);
		return 0;
	}
	*hasp = 1;
	return 1;
}

static int
km_import(void *keydata, int selection, const OSSL_PARAM params[])
{
	struct pkey *k = keydata;
	uint8_t id[P11AGENT_KEYID_LEN];
	OSSL_PARAM np[5];
	const OSSL_PARAM *p;
	EVP_PKEY *pk;
	size_t n = 0;
	unsigned int ops;
	int sel, has_pub = 0, has_ref;

	if (k == NULL || params == NULL)
		return 0;
	if ((selection & OSSL_KEYMGMT_SELECT_ALL) == 0)
		return 0;
	for (p = params; p->key != NULL; p++) {
		if (is_private_param(p->key)) {
			/*
			 * Never hold private material. Failing here also
			 * makes OpenSSL run the operation in the provider
			 * that owns the key instead of in ours.
			 */
			PROV_ERR(k->pc, PROV_R_PRIVATE_IMPORT,
			    "p11agent: keys are used through the agent, "
			    "private key material is never imported");
			return 0;
		}
	}
	if (k->type == P11AGENT_KEY_RSA) {
		if ((p = OSSL_PARAM_locate_const(params,
		    OSSL_PKEY_PARAM_RSA_N)) != NULL)
			np[n++] = *p;
		if ((p = OSSL_PARAM_locate_const(params,
		    OSSL_PKEY_PARAM_RSA_E)) != NULL)
			np[n++] = *p;
		if (n != 2)
			return 0;
		has_pub = 1;
	} else {
		if ((p = OSSL_PARAM_locate_const(params,
		    OSSL_PKEY_PARAM_GROUP_NAME)) == NULL)
			return 0;	/* explicit curves: not supported */
		np[n++] = *p;
		if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0 &&
		    (p = OSSL_PARAM_locate_const(params,
		    OSSL_PKEY_PARAM_PUB_KEY)) != NULL) {
			np[n++] = *p;
			has_pub = 1;
		}
		if ((p = OSSL_PARAM_locate_const(params,
		    OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT)) != NULL)
			np[n++] = *p;
		if ((p = OSSL_PARAM_locate_const(params,
		    OSSL_PKEY_PARAM_EC_ENCODING)) != NULL)
			np[n++] = *p;
	}
	np[n] = OSSL_PARAM_construct_end();
	if (!import_key_ref(k, params, &has_ref, id, &ops))
		return 0;
	if (has_ref && !has_pub) {
		PROV_ERR(k->pc, PROV_R_INVALID_KEY,
		    "p11agent: a key id needs its public key");
		return 0;
	}
	sel = has_pub ? EVP_PKEY_PUBLIC_KEY : EVP_PKEY_KEY_PARAMETERS;
	if ((pk = pub_fromdata(k->pc, k->type, sel, np)) == NULL)
		return 0;
	EVP_PKEY_free(k->pub);
	k->pub = pk;
	k->has_pub = has_pub;
	if (has_ref) {
		/* A reference to the agent's key, never its material. */
		memcpy(k->id, id, sizeof(k->id));
		k->ops = ops;
		k->has_priv = 1;
	}
	return 1;
}

static const OSSL_PARAM rsa_io_types[] = {
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
	OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM ec_io_types[] = {
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
	    NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
rsa_io_types_fn(int selection)
{
	return (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0 ?
	    rsa_io_types : NULL;
}

static const OSSL_PARAM *
ec_io_types_fn(int selection)
{
	return (selection & (OSSL_KEYMGMT_SELECT_PUBLIC_KEY |
	    OSSL_KEYMGMT_SELECT_ALL_PARAMETERS)) != 0 ? ec_io_types : NULL;
}

static int
km_export(void *keydata, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
	struct pkey *k = keydata;
	OSSL_PARAM *params = NULL;
	int sel, ok;

	if (k == NULL || k->pub == NULL)
		return 0;
	/*
	 * Be strict: OpenSSL asks for everything when it wants to run an
	 * operation in another provider, and a public copy there could
	 * not sign or decrypt. Saying no makes it use ours.
	 */
	if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && k->has_priv)
		return 0;
	if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0 && k->has_pub)
		sel = EVP_PKEY_PUBLIC_KEY;
	else if ((selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS) != 0)
		sel = EVP_PKEY_KEY_PARAMETERS;
	else
		return 0;
	if (EVP_PKEY_todata(k->pub, sel, &params) != 1)
		return 0;
	ok = cb(params, cbarg);
	OSSL_PARAM_free(params);
	return ok;
}

static void *
km_dup(const void *keydata_from, int selection)
{
	const struct pkey *k = keydata_from;
	struct pkey *n;
	char group[GROUP_NAME_MAX];

	if (k == NULL || (n = pkey_new(k->pc, k->type)) == NULL)
		return NULL;
	if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0 && k->pub != NULL) {
		/* The public EVP_PKEY is never modified; share it. */
		if (!EVP_PKEY_up_ref(k->pub))
			goto err;
		n->pub = k->pub;
		n->has_pub = k->has_pub;
		if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 &&
		    k->has_priv) {
			n->has_priv = 1;
			memcpy(n->id, k->id, sizeof(n->id));
			n->ops = k->ops;
		}
	} else if ((selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS) != 0 &&
	    k->type == P11AGENT_KEY_EC && k->pub != NULL) {
		if (!pkey_group_name(k, group, sizeof(group)) ||
		    (n->pub = ec_params_only(k->pc, group)) == NULL)
			goto err;
	}
	return n;
 err:
	pkey_free(n);
	return NULL;
}

static int
km_validate(const void *keydata, int selection, int checktype)
{
	const struct pkey *k = keydata;
	EVP_PKEY_CTX *ctx;
	int ok = 1;

	if (k == NULL)
		return 0;
	if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 &&
	    !k->has_priv)
		return 0;
	if ((selection & (OSSL_KEYMGMT_SELECT_PUBLIC_KEY |
	    OSSL_KEYMGMT_SELECT_ALL_PARAMETERS)) == 0)
		return 1;
	if (k->pub == NULL)
		return 0;
	if ((ctx = EVP_PKEY_CTX_new_from_pkey(k->pc->libctx, k->pub,
	    NULL)) == NULL)
		return 0;
	if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0)
		ok = k->has_pub && EVP_PKEY_public_check(ctx) == 1;
	else
		ok = EVP_PKEY_param_check(ctx) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok;
}

static const char *
ec_query_operation_name(int operation_id)
{
	switch (operation_id) {
	case OSSL_OP_SIGNATURE:
		return "ECDSA";
	case OSSL_OP_KEYEXCH:
		return "ECDH";
	default:
		return NULL;
	}
}

static const char *
rsa_query_operation_name(int operation_id)
{
	return "RSA";
}

#define FN(id, f)	{ id, (void (*)(void))(f) }

const OSSL_DISPATCH prov_rsa_keymgmt_functions[] = {
	FN(OSSL_FUNC_KEYMGMT_NEW, rsa_new),
	FN(OSSL_FUNC_KEYMGMT_FREE, km_free),
	FN(OSSL_FUNC_KEYMGMT_LOAD, km_load),
	FN(OSSL_FUNC_KEYMGMT_HAS, km_has),
	FN(OSSL_FUNC_KEYMGMT_MATCH, km_match),
	FN(OSSL_FUNC_KEYMGMT_VALIDATE, km_validate),
	FN(OSSL_FUNC_KEYMGMT_GET_PARAMS, km_get_params),
	FN(OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, rsa_gettable_params),
	FN(OSSL_FUNC_KEYMGMT_IMPORT, km_import),
	FN(OSSL_FUNC_KEYMGMT_IMPORT_TYPES, rsa_io_types_fn),
	FN(OSSL_FUNC_KEYMGMT_EXPORT, km_export),
	FN(OSSL_FUNC_KEYMGMT_EXPORT_TYPES, rsa_io_types_fn),
	FN(OSSL_FUNC_KEYMGMT_DUP, km_dup),
	FN(OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, rsa_query_operation_name),
	{ 0, NULL }
};

const OSSL_DISPATCH prov_ec_keymgmt_functions[] = {
	FN(OSSL_FUNC_KEYMGMT_NEW, ec_new),
	FN(OSSL_FUNC_KEYMGMT_FREE, km_free),
	FN(OSSL_FUNC_KEYMGMT_LOAD, km_load),
	FN(OSSL_FUNC_KEYMGMT_HAS, km_has),
	FN(OSSL_FUNC_KEYMGMT_MATCH, km_match),
	FN(OSSL_FUNC_KEYMGMT_VALIDATE, km_validate),
	FN(OSSL_FUNC_KEYMGMT_GET_PARAMS, km_get_params),
	FN(OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, ec_gettable_params),
	FN(OSSL_FUNC_KEYMGMT_SET_PARAMS, ec_set_params),
	FN(OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS, ec_settable_params),
	FN(OSSL_FUNC_KEYMGMT_IMPORT, km_import),
	FN(OSSL_FUNC_KEYMGMT_IMPORT_TYPES, ec_io_types_fn),
	FN(OSSL_FUNC_KEYMGMT_EXPORT, km_export),
	FN(OSSL_FUNC_KEYMGMT_EXPORT_TYPES, ec_io_types_fn),
	FN(OSSL_FUNC_KEYMGMT_DUP, km_dup),
	FN(OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, ec_query_operation_name),
	{ 0, NULL }
};
