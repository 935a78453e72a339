/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * keylist.c - the LIST_KEYS request (PROTOCOL.md §4.2), paged until the
 * agent's total is reached, and KEYREF resolution. A certificate is
 * parsed, here on the client side, only when an e-mail reference may
 * name it (certinfo_has_email()). A key list is immutable once built and
 * may be shared between threads.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>

#include <p11agent/client.h>

#include "buf.h"
#include "proto.h"

#include "certinfo.h"
#include "client-int.h"

#define KEYLIST_MIN_ENTRY	77	/* bytes, an entry with empty fields */
#define KEYLIST_MAX_RESTARTS	3	/* the key set changed while paging */
#define KEYREF_MIN_HEX		8	/* digits, shortest id prefix */

static void
key_clear(struct p11agent_key *k)
{
	free(k->label);
	free(k->token_label);
	free(k->token_serial);
	free(k->curve);
	free(k->spki);
	free(k->cert);
	free(k->ckaid);
	free(k->uri);
	memset(k, 0, sizeof(*k));
}

void
p11agent_keylist_free(struct p11agent_keylist *l)
{
	size_t i;

	if (l == NULL)
		return;
	for (i = 0; i < l->nkeys; i++)
		key_clear(&l->keys[i]);
	free(l->keys);
	free(l);
}

static void
hex_encode(const uint8_t *p, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

static int
parse_entry(struct buf *rep, struct p11agent_key *k)
{
	const uint8_t *id;
	size_t idlen;
	uint8_t type;
	uint32_t bits, ops;

	if (buf_get_string_direct(rep, &id, &idlen) != 0 ||
	    idlen != P11AGENT_KEYID_LEN)
		return P11AGENT_ERR_INVALID_FORMAT;
	memcpy(k->id, id, P11AGENT_KEYID_LEN);
	hex_encode(k->id, P11AGENT_KEYID_LEN, k->id_hex);
	if (buf_get_cstring(rep, &k->label, NULL) != 0 ||
	    buf_get_cstring(rep, &k->token_label, NULL) != 0 ||
	    buf_get_cstring(rep, &k->token_serial, NULL) != 0 ||
	    buf_get_u8(rep, &type) != 0 ||
	    buf_get_u32(rep, &bits) != 0 ||
	    buf_get_cstring(rep, &k->curve, NULL) != 0 ||
	    buf_get_u32(rep, &ops) != 0 ||
	    buf_get_string(rep, &k->spki, &k->spki_len) != 0 ||
	    buf_get_string(rep, &k->cert, &k->cert_len) != 0 ||
	    buf_get_string(rep, &k->ckaid, &k->ckaid_len) != 0 ||
	    buf_get_cstring(rep, &k->uri, NULL) != 0)
		return P11AGENT_ERR_INVALID_FORMAT;
	k->type = type;
	k->bits = bits;
	k->ops = ops;
	if (k->cert_len == 0) {
		free(k->cert);
		k->cert = NULL;
	}
	return 0;
}

static int
keylist_grow(struct p11agent_keylist *l, size_t more)
{
	struct p11agent_key *keys;
	size_t want;

	if (more > SIZE_MAX / sizeof(*keys) - l->nkeys)
		return P11AGENT_ERR_NO_MEMORY;
	want = l->nkeys + more;
	if (want <= l->alloc)
		return 0;
	if ((keys = realloc(l->keys, want * sizeof(*keys))) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	memset(keys + l->alloc, 0, (want - l->alloc) * sizeof(*keys));
	l->keys = keys;
	l->alloc = want;
	return 0;
}

/* One pass over the agent's list; P11AGENT_ERR_BUSY if it changed meanwhile. */
static int
list_pass(struct p11agent_client *c, struct p11agent_keylist *l)
{
	struct buf *req = NULL, *rep = NULL;
	uint32_t start = 0, total = 0, t, count, i;
	int r = P11AGENT_ERR_INTERNAL, first = 1;

	for (;;) {
		if ((req = buf_new()) == NULL) {
			r = P11AGENT_ERR_NO_MEMORY;
			goto out;
		}
		if ((r = buf_put_u32(req, start)) != 0 ||
		    (r = client_roundtrip(c, P11AGENT_MSG_LIST_KEYS, req,
		    &rep)) != 0)
			goto out;
		if (buf_get_u32(rep, &t) != 0 ||
		    buf_get_u32(rep, &count) != 0) {
			r = P11AGENT_ERR_INVALID_FORMAT;
			goto out;
		}
		if (first)
			total = t;
		else if (t != total) {
			r = P11AGENT_ERR_BUSY;
			goto out;
		}
		first = 0;
		/* Always progress, never past total, never more than fits. */
		if ((count == 0 && start < total) || count > total - start ||
		    count > buf_len(rep) / KEYLIST_MIN_ENTRY) {
			r = P11AGENT_ERR_INVALID_FORMAT;
			goto out;
		}
		if ((r = keylist_grow(l, count)) != 0)
			goto out;
		for (i = 0; i < count; i++) {
			r = parse_entry(rep, &l->keys[l->nkeys]);
			l->nkeys++;	/* free() clears a partial entry */
			if (r != 0)
				goto out;
		}
		if (buf_len(rep) != 0) {
			r = P11AGENT_ERR_INVALID_FORMAT;
			goto out;
		}
		start += count;
		buf_free(req);
		buf_free(rep);
		req = rep = NULL;
		if (start >= total)
			break;
	}
	r = 0;
 out:
	buf_free(req);
	buf_free(rep);
	return r;
}

int
p11agent_client_list_keys(struct p11agent_client *c,
    struct p11agent_keylist **lp)
{
	struct p11agent_keylist *l = NULL;
	int r = P11AGENT_ERR_INTERNAL, tries;

	return_val_if_fail(lp != NULL, P11AGENT_ERR_INVALID_ARGUMENT);
	*lp = NULL;
	return_val_if_fail(c != NULL, P11AGENT_ERR_INVALID_ARGUMENT);
	for (tries = 0; tries < KEYLIST_MAX_RESTARTS; tries++) {
		p11agent_keylist_free(l);
		if ((l = calloc(1, sizeof(*l))) == NULL) {
			r = P11AGENT_ERR_NO_MEMORY;
			goto out;
		}
		/* A token came or went between pages: start again. */
		if ((r = list_pass(c, l)) != P11AGENT_ERR_BUSY)
			break;
	}
	if (r != 0)
		goto out;
	*lp = l;
	l = NULL;
 out:
	p11agent_keylist_free(l);
	return r;
}

size_t
p11agent_keylist_count(const struct p11agent_keylist *l)
{
	return l != NULL ? l->nkeys : 0;
}

const struct p11agent_key *
p11agent_keylist_get(const struct p11agent_keylist *l, size_t i)
{
	if (l == NULL || i >= l->nkeys)
		return NULL;
	return &l->keys[i];
}

/* KEYREF resolution. */

static void
pad_field(unsigned char *dst, size_t dstlen, const char *src)
{
	size_t n = strlen(src);

	if (n > dstlen)
		n = dstlen;
	memset(dst, ' ', dstlen);
	memcpy(dst, src, n);
}

/*
 * p11-kit parses and matches pkcs11: URI references. It is loaded when
 * the first one comes, not with the library: most processes never see
 * one, and libp11-kit with its libffi made every process that links us
 * start about 0.4 ms later (`p11 smime sign` runs once per message).
 * Once loaded it stays (p11-kit is linked NODELETE anyway).
 */
#define P11KIT_SONAME	"libp11-kit.so.0"

#define PK_FN(f)	__typeof__(p11_kit_##f) *f
static struct {
	PK_FN(uri_new);
	PK_FN(uri_parse);
	PK_FN(uri_free);
	PK_FN(uri_any_unrecognized);
	PK_FN(uri_get_attribute);
	PK_FN(uri_get_module_info);
	PK_FN(uri_get_slot_info);
	PK_FN(uri_get_token_info);
	PK_FN(uri_get_slot_id);
	PK_FN(uri_match_module_info);
	PK_FN(uri_match_slot_info);
	PK_FN(uri_match_token_info);
} pk;
static pthread_once_t pk_once = PTHREAD_ONCE_INIT;
static int pk_ready;

static void
pk_load(void)
{
	void *h;

	if ((h = dlopen(P11KIT_SONAME, RTLD_NOW | RTLD_LOCAL)) == NULL)
		return;
#define PK_SYM(f) \
	if ((*(void **)&pk.f = dlsym(h, "p11_kit_" #f)) == NULL) \
		return
	PK_SYM(uri_new);
	PK_SYM(uri_parse);
	PK_SYM(uri_free);
	PK_SYM(uri_any_unrecognized);
	PK_SYM(uri_get_attribute);
	PK_SYM(uri_get_module_info);
	PK_SYM(uri_get_slot_info);
	PK_SYM(uri_get_token_info);
	PK_SYM(uri_get_slot_id);
	PK_SYM(uri_match_module_info);
	PK_SYM(uri_match_slot_info);
	PK_SYM(uri_match_token_info);
#undef PK_SYM
	pk_ready = 1;
}

/* 0, or P11AGENT_ERR_NOT_SUPPORTED without a usable libp11-kit. */
static int
pk_init(void)
{
	if (pthread_once(&pk_once, pk_load) != 0 || !pk_ready)
		return P11AGENT_ERR_NOT_SUPPORTED;
	return 0;
}

static int
attr_equals(CK_ATTRIBUTE_PTR a, const void *v, size_t len)
{
	return a->ulValueLen == len &&
	    (len == 0 || memcmp(a->pValue, v, len) == 0);
}

/*
 * Does the reference URI name this key? Object attributes are compared
 * with the key's own; token, slot and module attributes with the key's
 * URI as the agent gave it (it names the private key). A reference to
 * the public key or certificate of the pair names the key too.
 */
static int
uri_matches(P11KitUri *ref, const struct p11agent_key *k)
{
	P11KitUri *kuri = NULL;
	CK_ATTRIBUTE_PTR a;
	CK_OBJECT_CLASS cls;
	CK_TOKEN_INFO tinfo, *tip;
	CK_SLOT_ID sid;
	int ok = 0, have_kuri;

	if ((a = pk.uri_get_attribute(ref, CKA_ID)) != NULL &&
	    !attr_equals(a, k->ckaid, k->ckaid_len))
		goto out;
	if ((a = pk.uri_get_attribute(ref, CKA_LABEL)) != NULL &&
	    !attr_equals(a, k->label, strlen(k->label)))
		goto out;
	if ((a = pk.uri_get_attribute(ref, CKA_CLASS)) != NULL) {
		if (a->ulValueLen != sizeof(cls))
			goto out;
		memcpy(&cls, a->pValue, sizeof(cls));
		if (cls != CKO_PRIVATE_KEY && cls != CKO_PUBLIC_KEY &&
		    cls != CKO_CERTIFICATE)
			goto out;
	}
	if ((kuri = pk.uri_new()) == NULL)
		goto out;
	have_kuri = pk.uri_parse(k->uri, P11_KIT_URI_FOR_ANY, kuri) ==
	    P11_KIT_URI_OK;
	/* Token label and serial from the list win over the URI's. */
	if (have_kuri)
		tinfo = *pk.uri_get_token_info(kuri);
	else
		memset(&tinfo, 0, sizeof(tinfo));
	pad_field(tinfo.label, sizeof(tinfo.label), k->token_label);
	pad_field(tinfo.serialNumber, sizeof(tinfo.serialNumber),
	    k->token_serial);
	tip = &tinfo;
	if (!pk.uri_match_token_info(ref, tip))
		goto out;
	if (have_kuri) {
		if (!pk.uri_match_module_info(ref,
		    pk.uri_get_module_info(kuri)) ||
		    !pk.uri_match_slot_info(ref,
		    pk.uri_get_slot_info(kuri)))
			goto out;
		sid = pk.uri_get_slot_id(ref);
		if (sid != (CK_SLOT_ID)-1 &&
		    sid != pk.uri_get_slot_id(kuri))
			goto out;
	} else {
		CK_INFO minfo;
		CK_SLOT_INFO sinfo;

		/* Unknown module and slot: only a reference silent on them. */
		memset(&minfo, 0, sizeof(minfo));
		memset(&sinfo, 0, sizeof(sinfo));
		minfo.libraryVersion.major = minfo.libraryVersion.minor =
		    (CK_BYTE)-1;
		if (!pk.uri_match_module_info(ref, &minfo) ||
		    !pk.uri_match_slot_info(ref, &sinfo) ||
		    pk.uri_get_slot_id(ref) != (CK_SLOT_ID)-1)
			goto out;
	}
	ok = 1;
 out:
	pk.uri_free(kuri);
	return ok;
}

static int
is_hex(const char *s, size_t *lenp)
{
	size_t n = strspn(s, "0123456789abcdefABCDEF");

	*lenp = n;
	return s[n] == '\0';
}

/*
 * Several matches are one key when they share the key id (the same key
 * seen on two tokens, or by label and by address): the agent signs by id.
 */
static int
note_match(const struct p11agent_key *k, const struct p11agent_key **found)
{
	if (*found == NULL) {
		*found = k;
		return 0;
	}
	if (memcmp((*found)->id, k->id, P11AGENT_KEYID_LEN) == 0)
		return 0;
	return P11AGENT_ERR_KEY_AMBIGUOUS;
}

int
p11agent_keylist_find(const struct p11agent_keylist *l, const char *ref,
    const struct p11agent_key **kp)
{
	const struct p11agent_key *found = NULL, *k;
	P11KitUri *uri = NULL;
	size_t i, hexlen;
	int r = P11AGENT_ERR_INTERNAL, hex, email, m = 0, ambiguous = 0;

	return_val_if_fail(kp != NULL, P11AGENT_ERR_INVALID_ARGUMENT);
	*kp = NULL;
	return_val_if_fail(l != NULL && ref != NULL,
	    P11AGENT_ERR_INVALID_ARGUMENT);
	if (*ref == '\0')
		return P11AGENT_ERR_KEY_NOT_FOUND;

	if (strncasecmp(ref, "pkcs11:", 7) == 0) {
		if ((r = pk_init()) != 0)
			return r;
		if ((uri = pk.uri_new()) == NULL)
			return P11AGENT_ERR_NO_MEMORY;
		if (pk.uri_parse(ref, P11_KIT_URI_FOR_ANY, uri) !=
		    P11_KIT_URI_OK) {
			r = P11AGENT_ERR_INVALID_ARGUMENT;
			goto out;
		}
		/* RFC 7512: an attribute we do not know cannot match. */
		if (pk.uri_any_unrecognized(uri)) {
			r = P11AGENT_ERR_KEY_NOT_FOUND;
			goto out;
		}
		for (i = 0; i < l->nkeys; i++)
			if (uri_matches(uri, &l->keys[i]) &&
			    note_match(&l->keys[i], &found) != 0)
				ambiguous = 1;
		goto done;
	}

	hex = is_hex(ref, &hexlen) && hexlen >= KEYREF_MIN_HEX &&
	    hexlen <= 2 * P11AGENT_KEYID_LEN;
	email = strchr(ref, '@') != NULL;
	/* A whole id names its key whatever else matches. */
	if (hex && hexlen == 2 * P11AGENT_KEYID_LEN) {
		for (i = 0; i < l->nkeys; i++) {
			if (strcasecmp(l->keys[i].id_hex, ref) == 0) {
				*kp = &l->keys[i];
				return 0;
			}
		}
	}
	/* Otherwise every way of naming a key counts; two keys is too many. */
	for (i = 0; i < l->nkeys; i++) {
		k = &l->keys[i];
		/* Case-insensitive e-mail: common practice, if not RFC 5321. */
		if (email && (m = certinfo_has_email(k->cert, k->cert_len,
		    ref)) < 0) {
			r = m;
			goto out;
		}
		if ((hex && strncasecmp(k->id_hex, ref, hexlen) == 0) ||
		    (email && m) || strcmp(k->label, ref) == 0)
			if (note_match(k, &found) != 0)
				ambiguous = 1;
	}
 done:
	if (ambiguous)
		r = P11AGENT_ERR_KEY_AMBIGUOUS;
	else if (found == NULL)
		r = P11AGENT_ERR_KEY_NOT_FOUND;
	else {
		*kp = found;
		r = 0;
	}
 out:
	if (uri != NULL)
		pk.uri_free(uri);
	return r;
}

/* Accessors. */

#define KEY_STR(k, field) \
	((k) != NULL && (k)->field != NULL ? (k)->field : "")

const uint8_t *
p11agent_key_id(const struct p11agent_key *k)
{
	return k != NULL ? k->id : NULL;
}

const char *
p11agent_key_id_hex(const struct p11agent_key *k)
{
	return k != NULL ? k->id_hex : "";
}

const char *
p11agent_key_label(const struct p11agent_key *k)
{
	return KEY_STR(k, label);
}

const char *
p11agent_key_token_label(const struct p11agent_key *k)
{
	return KEY_STR(k, token_label);
}

const char *
p11agent_key_token_serial(const struct p11agent_key *k)
{
	return KEY_STR(k, token_serial);
}

int
p11agent_key_type(const struct p11agent_key *k)
{
	return k != NULL ? k->type : 0;
}

unsigned int
p11agent_key_bits(const struct p11agent_key *k)
{
	return k != NULL ? k->bits : 0;
}

const char *
p11agent_key_curve(const struct p11agent_key *k)
{
	return KEY_STR(k, curve);
}

unsigned int
p11agent_key_operations(const struct p11agent_key *k)
{
	return k != NULL ? k->ops : 0;
}

const uint8_t *
p11agent_key_spki(const struct p11agent_key *k, size_t *lenp)
{
	if (lenp != NULL)
		*lenp = k != NULL ? k->spki_len : 0;
	return k != NULL ? k->spki : NULL;
}

const uint8_t *
p11agent_key_cert(const struct p11agent_key *k, size_t *lenp)
{
	if (lenp != NULL)
		*lenp = k != NULL && k->cert != NULL ? k->cert_len : 0;
	return k != NULL ? k->cert : NULL;
}

const uint8_t *
p11agent_key_ckaid(const struct p11agent_key *k, size_t *lenp)
{
	if (lenp != NULL)
		*lenp = k != NULL ? k->ckaid_len : 0;
	return k != NULL ? k->ckaid : NULL;
}

const char *
p11agent_key_uri(const struct p11agent_key *k)
{
	return KEY_STR(k, uri);
}
