/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * provider.c - the provider's entry point, algorithm tables, parameters
 * and error reporting. The provider context is created here and lives
 * until teardown; everything else hangs off it. The reason-string table
 * is built once (pthread_once) and is read-only afterwards.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <limits.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include <p11agent/client.h>
#include <p11agent/err.h>

#include "prov-int.h"
#include "provider.h"

#ifndef P11AGENT_PROVIDER_VERSION
#define P11AGENT_PROVIDER_VERSION	"0"
#endif

#define PROPS	"provider=" P11AGENT_PROVIDER_NAME

/*
 * The names must be the ones OpenSSL's default provider uses, so that
 * EVP_PKEY_is_a(), CMS and the name-to-NID mapping treat our keys as
 * ordinary RSA and EC keys.
 */
#define RSA_NAMES	"RSA:rsaEncryption:1.2.840.113549.1.1.1"
#define EC_NAMES	"EC:id-ecPublicKey:1.2.840.10045.2.1"

static const OSSL_ALGORITHM keymgmt_algs[] = {
	{ RSA_NAMES, PROPS, prov_rsa_keymgmt_functions,
	    "p11agent RSA key held by the agent" },
	{ EC_NAMES, PROPS, prov_ec_keymgmt_functions,
	    "p11agent EC key held by the agent" },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM signature_algs[] = {
	{ RSA_NAMES, PROPS, prov_rsa_signature_functions,
	    "RSA PKCS#1 v1.5 and PSS signatures by the agent" },
	{ "ECDSA", PROPS, prov_ecdsa_signature_functions,
	    "ECDSA signatures by the agent" },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM asym_cipher_algs[] = {
	{ RSA_NAMES, PROPS, prov_rsa_asym_cipher_functions,
	    "RSA PKCS#1 v1.5 and OAEP decryption by the agent" },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM keyexch_algs[] = {
	{ "ECDH", PROPS, prov_ecdh_keyexch_functions,
	    "ECDH by the agent" },
	{ NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM store_algs[] = {
	{ P11AGENT_PROVIDER_NAME, PROPS, prov_store_functions,
	    "p11agent: URIs, keys and certificates held by the agent" },
	{ NULL, NULL, NULL, NULL }
};

/* Errors. */

#define NAGENT_REASONS	(-(P11AGENT_ERR_MIN) - 1)

static const struct {
	int reason;
	const char *text;
} own_reasons[] = {
	{ PROV_R_UNSUPPORTED_DIGEST,	"digest not supported by p11agent" },
	{ PROV_R_UNSUPPORTED_PADDING,	"padding not supported by p11agent" },
	{ PROV_R_UNSUPPORTED_SALTLEN,	"PSS salt length not supported" },
	{ PROV_R_NO_PRIVATE_KEY,	"key not held by the agent" },
	{ PROV_R_INVALID_KEY,		"invalid key" },
	{ PROV_R_BUFFER_TOO_SMALL,	"output buffer too small" },
	{ PROV_R_INVALID_URI,		"invalid p11agent URI" },
	{ PROV_R_UNSUPPORTED_LABEL,	"OAEP label not supported" },
	{ PROV_R_INVALID_ARGUMENT,	"invalid argument" },
	{ PROV_R_INTERNAL,		"internal error" },
	{ PROV_R_NOT_SUPPORTED,		"operation not supported" },
	{ PROV_R_PRIVATE_IMPORT,	"private key import refused" },
	{ PROV_R_INVALID_DATA,		"invalid input data" },
	{ PROV_R_LIBCRYPTO,		"OpenSSL operation failed" },
};

#define NOWN_REASONS	(sizeof(own_reasons) / sizeof(own_reasons[0]))

static OSSL_ITEM reason_table[NOWN_REASONS + NAGENT_REASONS + 1];
static pthread_once_t reason_once = PTHREAD_ONCE_INIT;

static void
build_reasons(void)
{
	size_t i, n = 0;
	int code;

	for (i = 0; i < NOWN_REASONS; i++) {
		reason_table[n].id = (unsigned int)own_reasons[i].reason;
		reason_table[n].ptr = (void *)own_reasons[i].text;
		n++;
	}
	/* One reason per agent error code, so the text is the agent's. */
	for (code = -1; code > P11AGENT_ERR_MIN; code--) {
		reason_table[n].id = (unsigned int)(PROV_R_AGENT_BASE - code);
		reason_table[n].ptr = (void *)p11agent_strerror(code);
		n++;
	}
	reason_table[n].id = 0;
	reason_table[n].ptr = NULL;
}

const OSSL_ITEM *
prov_reason_strings(void)
{
	pthread_once(&reason_once, build_reasons);
	return reason_table;
}

void
prov_raise(const struct provctx *pc, const char *file, int line,
    const char *func, int reason, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (pc != NULL && pc->core_new_error != NULL &&
	    pc->core_set_error_debug != NULL && pc->core_vset_error != NULL) {
		pc->core_new_error(pc->handle);
		pc->core_set_error_debug(pc->handle, file, line, func);
		pc->core_vset_error(pc->handle, (uint32_t)reason, fmt, ap);
	} else {
		/* No core (never expected): report as a generic failure. */
		ERR_new();
		ERR_set_debug(file, line, func);
		ERR_vset_error(ERR_LIB_PROV, ERR_R_OPERATION_FAIL, fmt, ap);
	}
	va_end(ap);
}

void
prov_raise_agent(const struct provctx *pc, const char *file, int line,
    const char *func, int r, const char *msg)
{
	const char *what = p11agent_strerror(r);
	int reason = PROV_R_INTERNAL;

	if (r < 0 && r > P11AGENT_ERR_MIN)
		reason = PROV_R_AGENT_BASE - r;
	if (msg != NULL && *msg != '\0' && strcmp(msg, what) != 0)
		prov_raise(pc, file, line, func, reason, "p11agent: %s: %s",
		    what, msg);
	else
		prov_raise(pc, file, line, func, reason, "p11agent: %s", what);
}

/* Provider-level functions. */

static const OSSL_PARAM prov_param_types[] = {
	OSSL_PARAM_DEFN(OSSL_PROV_PARAM_NAME, OSSL_PARAM_UTF8_PTR, NULL, 0),
	OSSL_PARAM_DEFN(OSSL_PROV_PARAM_VERSION, OSSL_PARAM_UTF8_PTR, NULL, 0),
	OSSL_PARAM_DEFN(OSSL_PROV_PARAM_BUILDINFO, OSSL_PARAM_UTF8_PTR, NULL,
	    0),
	OSSL_PARAM_DEFN(OSSL_PROV_PARAM_STATUS, OSSL_PARAM_INTEGER, NULL, 0),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
prov_gettable_params(void *provctx)
{
	return prov_param_types;
}

static int
prov_get_params(void *provctx, OSSL_PARAM params[])
{
	OSSL_PARAM *p;

	if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME)) != NULL &&
	    !OSSL_PARAM_set_utf8_ptr(p, "p11agent PKCS#11 agent provider"))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION)) != NULL &&
	    !OSSL_PARAM_set_utf8_ptr(p, P11AGENT_PROVIDER_VERSION))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO)) !=
	    NULL && !OSSL_PARAM_set_utf8_ptr(p, P11AGENT_PROVIDER_VERSION))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS)) != NULL &&
	    !OSSL_PARAM_set_int(p, 1))
		return 0;
	return 1;
}

static const OSSL_ALGORITHM *
prov_query_operation(void *provctx, int operation_id, int *no_cache)
{
	*no_cache = 0;
	switch (operation_id) {
	case OSSL_OP_KEYMGMT:
		return keymgmt_algs;
	case OSSL_OP_SIGNATURE:
		return signature_algs;
	case OSSL_OP_ASYM_CIPHER:
		return asym_cipher_algs;
	case OSSL_OP_KEYEXCH:
		return keyexch_algs;
	case OSSL_OP_STORE:
		return store_algs;
	default:
		return NULL;
	}
}

static const OSSL_ITEM *
prov_get_reason_strings(void *provctx)
{
	return prov_reason_strings();
}

static void
provctx_free(struct provctx *pc)
{
	if (pc == NULL)
		return;
	agent_disconnect(pc);
	if (pc->deflt != NULL)
		OSSL_PROVIDER_unload(pc->deflt);
	OSSL_LIB_CTX_free(pc->libctx);
	pthread_mutex_destroy(&pc->lock);
	OPENSSL_free(pc);
}

static void
prov_teardown(void *provctx)
{
	provctx_free(provctx);
}

static const OSSL_DISPATCH prov_functions[] = {
	{ OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))prov_teardown },
	{ OSSL_FUNC_PROVIDER_GETTABLE_PARAMS,
	    (void (*)(void))prov_gettable_params },
	{ OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))prov_get_params },
	{ OSSL_FUNC_PROVIDER_QUERY_OPERATION,
	    (void (*)(void))prov_query_operation },
	{ OSSL_FUNC_PROVIDER_GET_REASON_STRINGS,
	    (void (*)(void))prov_get_reason_strings },
	{ 0, NULL }
};

int
p11agent_provider_init(const OSSL_CORE_HANDLE *handle,
    const OSSL_DISPATCH *in, const OSSL_DISPATCH **out, void **provctx)
{
	struct provctx *pc;
	const OSSL_DISPATCH *d;

	*out = NULL;
	*provctx = NULL;
	if ((pc = OPENSSL_zalloc(sizeof(*pc))) == NULL)
		return 0;
	pc->handle = handle;
	pc->magic = PROVCTX_MAGIC;
	for (d = in; d != NULL && d->function_id != 0; d++) {
		switch (d->function_id) {
		case OSSL_FUNC_CORE_NEW_ERROR:
			pc->core_new_error = OSSL_FUNC_core_new_error(d);
			break;
		case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
			pc->core_set_error_debug =
			    OSSL_FUNC_core_set_error_debug(d);
			break;
		case OSSL_FUNC_CORE_VSET_ERROR:
			pc->core_vset_error = OSSL_FUNC_core_vset_error(d);
			break;
		default:
			break;
		}
	}
	if (pthread_mutex_init(&pc->lock, NULL) != 0) {
		OPENSSL_free(pc);
		return 0;
	}
	/*
	 * A library context of our own with only the default provider: our
	 * internal crypto (public-key parsing, hashing, verification,
	 * encryption, KDFs) can never be routed back into this provider,
	 * whatever providers and properties the application configures.
	 */
	if ((pc->libctx = OSSL_LIB_CTX_new()) == NULL ||
	    (pc->deflt = OSSL_PROVIDER_load(pc->libctx, "default")) == NULL) {
		provctx_free(pc);
		return 0;
	}
	(void)prov_reason_strings();
	*out = prov_functions;
	*provctx = pc;
	return 1;
}

int
p11agent_provider_load(OSSL_LIB_CTX *libctx, OSSL_PROVIDER **provp)
{
	OSSL_PROVIDER *p;

	if (provp == NULL)
		return 0;
	*provp = NULL;
	/* A second registration fails harmlessly; the first one stands. */
	ERR_set_mark();
	(void)OSSL_PROVIDER_add_builtin(libctx, P11AGENT_PROVIDER_NAME,
	    p11agent_provider_init);
	ERR_pop_to_mark();
	/* retain_fallbacks: loading us must not unload "default". */
	if ((p = OSSL_PROVIDER_try_load(libctx, P11AGENT_PROVIDER_NAME, 1)) ==
	    NULL)
		return 0;
	/*
	 * OpenSSL 3.0 answers a fetch without properties with the first
	 * provider in its store that has the algorithm; asking for
	 * "default" activates the fallback and orders the store so that
	 * "default" comes first. Generic work (key generation, imports of
	 * software keys) then stays in the default provider, while
	 * operations on our keys still come to us: OpenSSL retries them in
	 * the key's own provider. (openssl(1) users get the same with
	 * "-provider default -provider p11agent".)
	 */
	(void)OSSL_PROVIDER_available(libctx, "default");
	*provp = p;
	return 1;
}

/* Our context behind prov, or NULL when prov is not this provider. */
static struct provctx *
own_provctx(const OSSL_PROVIDER *prov)
{
	struct provctx *pc;

	if (prov == NULL || strcmp(OSSL_PROVIDER_get0_name(prov),
	    P11AGENT_PROVIDER_NAME) != 0 ||
	    (pc = OSSL_PROVIDER_get0_provider_ctx(prov)) == NULL ||
	    pc->magic != PROVCTX_MAGIC)
		return NULL;
	return pc;
}

int
p11agent_provider_use_client(OSSL_PROVIDER *prov, struct p11agent_client *c)
{
	struct provctx *pc;

	if ((pc = own_provctx(prov)) == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	agent_use_client(pc, c);
	return 0;
}

/* params with the key id and operations appended; OPENSSL_free() it. */
static OSSL_PARAM *
with_key_ref(const OSSL_PARAM *params, const struct p11agent_key *k,
    unsigned int *ops)
{
	OSSL_PARAM *np;
	size_t n = 0;

	while (params[n].key != NULL)
		n++;
	if ((np = OPENSSL_malloc((n + 3) * sizeof(*np))) == NULL)
		return NULL;
	memcpy(np, params, n * sizeof(*np));
	np[n++] = OSSL_PARAM_construct_octet_string(PROV_PARAM_KEY_ID,
	    (void *)p11agent_key_id(k), P11AGENT_KEYID_LEN);
	np[n++] = OSSL_PARAM_construct_uint(PROV_PARAM_KEY_OPS, ops);
	np[n] = OSSL_PARAM_construct_end();
	return np;
}

/*
 * The public key is decoded in the caller's library context (where the
 * certificate is decoded anyway) and handed to our key management as
 * parameters: no store, no second decoder set-up in our own context.
 */
int
p11agent_provider_key(OSSL_LIB_CTX *libctx, const struct p11agent_key *k,
    EVP_PKEY **keyp)
{
	const uint8_t *spki, *p;
	OSSL_PARAM *params = NULL, *np = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pub = NULL, *pk = NULL;
	unsigned int ops;
	size_t len;
	int type, r = P11AGENT_ERR_LIBCRYPTO;

	if (keyp == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	*keyp = NULL;
	if (k == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	type = p11agent_key_type(k);
	if (type != P11AGENT_KEY_RSA && type != P11AGENT_KEY_EC)
		return P11AGENT_ERR_KEY_TYPE;
	ops = p11agent_key_operations(k);
	if ((p = spki = p11agent_key_spki(k, &len)) == NULL ||
	    len > LONG_MAX)
		return P11AGENT_ERR_INVALID_FORMAT;
	if ((pub = d2i_PUBKEY_ex(NULL, &p, (long)len, libctx, NULL)) ==
	    NULL || p != spki + len) {
		r = P11AGENT_ERR_INVALID_FORMAT;
		goto out;
	}
	if (!EVP_PKEY_is_a(pub, type == P11AGENT_KEY_RSA ? "RSA" : "EC")) {
		r = P11AGENT_ERR_KEY_TYPE;
		goto out;
	}
	if (EVP_PKEY_todata(pub, EVP_PKEY_PUBLIC_KEY, &params) != 1)
		goto out;
	if ((np = with_key_ref(params, k, &ops)) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	if ((ctx = EVP_PKEY_CTX_new_from_name(libctx, type ==
	    P11AGENT_KEY_RSA ? "RSA" : "EC", PROPS)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, np) <= 0)
		goto out;
	*keyp = pk;
	pk = NULL;
	r = 0;
 out:
	EVP_PKEY_free(pk);
	EVP_PKEY_CTX_free(ctx);
	OPENSSL_free(np);
	OSSL_PARAM_free(params);
	EVP_PKEY_free(pub);
	return r;
}
