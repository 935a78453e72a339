/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * store.c - the store loader for "p11agent:" URIs. The part after the
 * scheme is percent-decoded and names keys like a p11 KEYREF:
 *   p11agent:alice@example.org     certificate e-mail, label or id
 *   p11agent:id=<hex>              key id or a prefix of >= 8 digits
 *   p11agent:label=<label>         CKA_LABEL only
 *   p11agent:pkcs11:...            RFC 7512 URI (passed on undecoded)
 *   p11agent:                      every key of the agent
 * Each key yields its private key (by reference, to our keymgmt) and its
 * certificate (DER), filtered by OSSL_STORE_expect(). The key list is
 * fetched once, at open; a context belongs to one thread.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/store.h>

#include <p11agent/client.h>
#include <p11agent/err.h>

#include "prov-int.h"
#include "provider.h"

#define SCHEME		P11AGENT_PROVIDER_NAME ":"
#define ID_MIN_HEX	8	/* digits, shortest id prefix accepted */
#define REF_MAX		4096	/* bytes, a decoded reference */

enum match_mode { MATCH_ALL, MATCH_ID, MATCH_LABEL, MATCH_KEYREF };

struct storectx {
	struct provctx *pc;
	int expect;			/* OSSL_STORE_INFO_* or 0: all */
	struct p11agent_keylist *list;
	size_t *idx;			/* matching entries of list */
	struct pkey **keys;		/* made when loaded, kept till close */
	size_t n;
	size_t pos;			/* next entry */
	int step;			/* 0: the key, 1: its certificate */
};

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* RFC 3986 percent-decoding; refuses bad escapes and NUL bytes. */
static char *
percent_decode(const char *s)
{
	size_t len = strlen(s), i, o = 0;
	char *out;
	int hi, lo;

	if (len > REF_MAX || (out = OPENSSL_malloc(len + 1)) == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (s[i] != '%') {
			out[o++] = s[i];
			continue;
		}
		if (len - i < 3)
			goto bad;
		if ((hi = hexval((unsigned char)s[i + 1])) < 0 ||
		    (lo = hexval((unsigned char)s[i + 2])) < 0 ||
		    (hi == 0 && lo == 0))
			goto bad;
		out[o++] = (char)(hi << 4 | lo);
		i += 2;
	}
	out[o] = '\0';
	return out;
 bad:
	OPENSSL_free(out);
	return NULL;
}

static int
is_hex_string(const char *s, size_t *lenp)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if (!isxdigit((unsigned char)s[n]))
			return 0;
	*lenp = n;
	return n > 0;
}

static void
st_free(struct storectx *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; s->keys != NULL && i < s->n; i++)
		pkey_free(s->keys[i]);
	OPENSSL_free(s->keys);
	OPENSSL_free(s->idx);
	p11agent_keylist_free(s->list);
	OPENSSL_free(s);
}

static int
add_match(struct storectx *s, size_t i)
{
	size_t cap = p11agent_keylist_count(s->list);

	if (s->idx == NULL &&
	    (s->idx = OPENSSL_zalloc((cap + 1) * sizeof(*s->idx))) == NULL)
		return 0;
	if (s->n >= cap)
		return 0;
	s->idx[s->n++] = i;
	return 1;
}

/* Fills s->idx; 1, or 0 with the error raised. */
static int
find_keys(struct storectx *s, enum match_mode mode, const char *ref)
{
	const struct p11agent_key *k;
	size_t i, nkeys, hexlen = 0;
	int r;

	nkeys = p11agent_keylist_count(s->list);
	switch (mode) {
	case MATCH_ALL:
		for (i = 0; i < nkeys; i++)
			if (!add_match(s, i))
				return 0;
		return 1;
	case MATCH_KEYREF:
		if ((r = p11agent_keylist_find(s->list, ref, &k)) != 0) {
			prov_raise_agent(s->pc, OPENSSL_FILE, OPENSSL_LINE,
			    OPENSSL_FUNC, r, ref);
			return 0;
		}
		for (i = 0; i < nkeys; i++)
			if (p11agent_keylist_get(s->list, i) == k)
				return add_match(s, i);
		return 0;
	case MATCH_ID:
		if (!is_hex_string(ref, &hexlen) || hexlen < ID_MIN_HEX ||
		    hexlen > 2 * P11AGENT_KEYID_LEN) {
			PROV_ERR(s->pc, PROV_R_INVALID_URI,
			    "p11agent: id= needs %d to %d hex digits",
			    ID_MIN_HEX, 2 * P11AGENT_KEYID_LEN);
			return 0;
		}
		for (i = 0; i < nkeys; i++) {
			k = p11agent_keylist_get(s->list, i);
			if (strncasecmp(p11agent_key_id_hex(k), ref,
			    hexlen) == 0 && !add_match(s, i))
				return 0;
		}
		break;
	case MATCH_LABEL:
		for (i = 0; i < nkeys; i++) {
			k = p11agent_keylist_get(s->list, i);
			if (strcmp(p11agent_key_label(k), ref) == 0 &&
			    !add_match(s, i))
				return 0;
		}
		break;
	}
	if (s->n == 0) {
		prov_raise_agent(s->pc, OPENSSL_FILE, OPENSSL_LINE,
		    OPENSSL_FUNC, P11AGENT_ERR_KEY_NOT_FOUND, ref);
		return 0;
	}
	if (s->n > 1) {
		prov_raise_agent(s->pc, OPENSSL_FILE, OPENSSL_LINE,
		    OPENSSL_FUNC, P11AGENT_ERR_KEY_AMBIGUOUS, ref);
		return 0;
	}
	return 1;
}

static void *
st_open(void *provctx, const char *uri)
{
	struct provctx *pc = provctx;
	struct storectx *s = NULL;
	enum match_mode mode;
	const char *rest;
	char *dec = NULL;
	const char *ref;

	if (uri == NULL || strncasecmp(uri, SCHEME, strlen(SCHEME)) != 0) {
		PROV_ERR(pc, PROV_R_INVALID_URI, "p11agent: not a %s URI",
		    SCHEME);
		return NULL;
	}
	rest = uri + strlen(SCHEME);
	if (strncasecmp(rest, "pkcs11:", 7) == 0) {
		/* RFC 7512 has its own escapes; p11agent decodes them. */
		mode = MATCH_KEYREF;
		ref = rest;
	} else {
		if ((dec = percent_decode(rest)) == NULL) {
			PROV_ERR(pc, PROV_R_INVALID_URI,
			    "p11agent: bad escape or length in %s", uri);
			return NULL;
		}
		ref = dec;
		if (*ref == '\0') {
			mode = MATCH_ALL;
		} else if (strncasecmp(ref, "id=", 3) == 0) {
			mode = MATCH_ID;
			ref += 3;
		} else if (strncasecmp(ref, "label=", 6) == 0) {
			mode = MATCH_LABEL;
			ref += 6;
		} else {
			mode = MATCH_KEYREF;
		}
	}
	if ((s = OPENSSL_zalloc(sizeof(*s))) == NULL)
		goto err;
	s->pc = pc;
	if (!agent_list_keys(pc, &s->list) || !find_keys(s, mode, ref))
		goto err;
	if ((s->keys = OPENSSL_zalloc((s->n + 1) * sizeof(*s->keys))) == NULL)
		goto err;
	OPENSSL_free(dec);
	return s;
 err:
	OPENSSL_free(dec);
	st_free(s);
	return NULL;
}

static int
wanted(const struct storectx *s, size_t pos, int step)
{
	const struct p11agent_key *k;
	size_t len;

	if (step == 0)
		return s->expect == 0 || s->expect == OSSL_STORE_INFO_PKEY ||
		    s->expect == OSSL_STORE_INFO_PUBKEY;
	if (s->expect != 0 && s->expect != OSSL_STORE_INFO_CERT)
		return 0;
	k = p11agent_keylist_get(s->list, s->idx[pos]);
	return p11agent_key_cert(k, &len) != NULL && len > 0;
}

/* Moves to the next object to return; 0 when there is none. */
static int
advance(struct storectx *s)
{
	while (s->pos < s->n) {
		if (wanted(s, s->pos, s->step))
			return 1;
		if (++s->step > 1) {
			s->step = 0;
			s->pos++;
		}
	}
	return 0;
}

static int
st_eof(void *loaderctx)
{
	return !advance(loaderctx);
}

static int
st_load(void *loaderctx, OSSL_CALLBACK *object_cb, void *object_cbarg,
    OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
	struct storectx *s = loaderctx;
	const struct p11agent_key *ak;
	const uint8_t *der;
	OSSL_PARAM params[6], *p = params;
	struct pkey *k;
	char desc[160];
	size_t derlen, pos;
	int type, step;
	const char *dtype;

	if (!advance(s))
		return 0;
	pos = s->pos;
	step = s->step;
	if (++s->step > 1) {
		s->step = 0;
		s->pos++;
	}
	ak = p11agent_keylist_get(s->list, s->idx[pos]);
	dtype = p11agent_key_type(ak) == P11AGENT_KEY_RSA ? "RSA" : "EC";
	snprintf(desc, sizeof(desc), "p11agent %s key \"%s\" id %.16s",
	    dtype, p11agent_key_label(ak), p11agent_key_id_hex(ak));
	if (step == 1) {
		type = OSSL_OBJECT_CERT;
		der = p11agent_key_cert(ak, &derlen);
		*p++ = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type);
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA,
		    (void *)der, derlen);
	} else if (s->expect == OSSL_STORE_INFO_PUBKEY) {
		/* By value: the public key decodes in any provider. */
		type = OSSL_OBJECT_PKEY;
		der = p11agent_key_spki(ak, &derlen);
		*p++ = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type);
		*p++ = OSSL_PARAM_construct_utf8_string(
		    OSSL_OBJECT_PARAM_DATA_TYPE, (char *)dtype, 0);
		*p++ = OSSL_PARAM_construct_utf8_string(
		    OSSL_OBJECT_PARAM_DATA_STRUCTURE,
		    "SubjectPublicKeyInfo", 0);
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA,
		    (void *)der, derlen);
	} else {
		if (s->keys[pos] == NULL &&
		    (s->keys[pos] = pkey_from_agent(s->pc, ak)) == NULL)
			return 0;
		k = s->keys[pos];
		type = OSSL_OBJECT_PKEY;
		*p++ = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type);
		*p++ = OSSL_PARAM_construct_utf8_string(
		    OSSL_OBJECT_PARAM_DATA_TYPE, (char *)dtype, 0);
		/* km_load() takes its own reference; ours lives till close. */
		*p++ = OSSL_PARAM_construct_octet_string(
		    OSSL_OBJECT_PARAM_REFERENCE, &k, sizeof(k));
	}
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DESC, desc,
	    0);
	*p = OSSL_PARAM_construct_end();
	return object_cb(params, object_cbarg);
}

static int
st_set_ctx_params(void *loaderctx, const OSSL_PARAM params[])
{
	struct storectx *s = loaderctx;
	const OSSL_PARAM *p;
	int expect;

	if (params == NULL)
		return 1;
	if ((p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_EXPECT)) !=
	    NULL) {
		if (!OSSL_PARAM_get_int(p, &expect))
			return 0;
		s->expect = expect;
	}
	/* Input types, properties and the like do not apply to us. */
	return 1;
}

static const OSSL_PARAM st_settable[] = {
	OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, NULL),
	OSSL_PARAM_END
};

static const OSSL_PARAM *
st_settable_ctx_params(void *provctx)
{
	return st_settable;
}

static int
st_close(void *loaderctx)
{
	st_free(loaderctx);
	return 1;
}

#define FN(id, f)	{ id, (void (*)(void))(f) }

const OSSL_DISPATCH prov_store_functions[] = {
	FN(OSSL_FUNC_STORE_OPEN, st_open),
	FN(OSSL_FUNC_STORE_SETTABLE_CTX_PARAMS, st_settable_ctx_params),
	FN(OSSL_FUNC_STORE_SET_CTX_PARAMS, st_set_ctx_params),
	FN(OSSL_FUNC_STORE_LOAD, st_load),
	FN(OSSL_FUNC_STORE_EOF, st_eof),
	FN(OSSL_FUNC_STORE_CLOSE, st_close),
	{ 0, NULL }
};
