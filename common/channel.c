/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * channel.c - Noise_IK_25519_ChaChaPoly_BLAKE2b (Noise revision 34) and
 * the sealed transport frames of docs/PROTOCOL.md, on libsodium. Every
 * key, the chaining key and the ephemeral private key live in one
 * sodium_malloc'd block that is wiped on failure and on free. Any
 * failure poisons the channel for good. Not thread-safe per channel.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include <p11agent/err.h>

#include "buf.h"
#include "channel.h"
#include "proto.h"
#include "secmem.h"

#define HASHLEN		64	/* BLAKE2b-512 */
#define BLOCKLEN	128	/* BLAKE2b block, for HMAC */
#define DHLEN		32	/* X25519 */
#define KEYLEN		32	/* ChaCha20-Poly1305 key */
#define TAGLEN		16	/* Poly1305 */
#define NONCELEN	12	/* IETF ChaCha20-Poly1305 */

/* e (32) || encrypted s (32 + 16) || encrypted payload tag (16). */
#define MSG1_OVERHEAD	(DHLEN + DHLEN + TAGLEN + TAGLEN)
/* e (32) || encrypted payload tag (16). */
#define MSG2_OVERHEAD	(DHLEN + TAGLEN)

/*
 * The prologue is "p11agent protocol 1" followed by the version byte.
 * Unit tests that check us against the published Noise test vectors
 * compile this file again with their own prologue.
 */
#ifdef P11AGENT_CHANNEL_TEST_PROLOGUE
static const uint8_t prologue[] = P11AGENT_CHANNEL_TEST_PROLOGUE;
#define PROLOGUE_LEN	(sizeof(prologue) - 1)
#else
static const uint8_t prologue[] = P11AGENT_PROLOGUE "\x01";
#define PROLOGUE_LEN	(sizeof(prologue) - 1)
_Static_assert(sizeof(P11AGENT_PROLOGUE) - 1 == 19 &&
    P11AGENT_PROTOCOL_VERSION == 1, "prologue is 19 bytes + version 0x01");
#endif

_Static_assert(sizeof(P11AGENT_NOISE_NAME) - 1 <= HASHLEN,
    "protocol name is padded, not hashed");
_Static_assert(P11AGENT_KEY_LEN == DHLEN, "key length");
_Static_assert(P11AGENT_AEAD_TAG == TAGLEN, "tag length");

enum channel_state {
	CH_INITIATOR_START,	/* next: write_msg1 */
	CH_INITIATOR_SENT,	/* next: read_msg2 */
	CH_RESPONDER_START,	/* next: read_msg1 */
	CH_RESPONDER_READ,	/* next: write_msg2 */
	CH_ESTABLISHED,		/* seal / open */
	CH_FAILED		/* poisoned: every call returns ch->poison */
};

/* Everything secret, in one guarded, locked allocation. */
struct channel_secrets {
	uint8_t		ck[HASHLEN];	/* chaining key */
	uint8_t		k[KEYLEN];	/* handshake cipher key */
	uint8_t		e[DHLEN];	/* our ephemeral private key */
	uint8_t		fixed_e[DHLEN];	/* test hook: next ephemeral */
	uint8_t		send_k[KEYLEN];
	uint8_t		recv_k[KEYLEN];
};

struct channel {
	enum channel_state	 state;
	int			 poison;	/* the error that failed it */
	int			 initiator;
	const struct channel_keypair *s;
	struct channel_secrets	*sec;
	uint8_t			 h[HASHLEN];
	int			 has_k;		/* handshake cipher keyed */
	uint64_t		 n;		/* handshake nonce */
	int			 has_fixed_e;
	uint8_t			 e_pub[DHLEN];
	uint8_t			 re[DHLEN];
	uint8_t			 rs[DHLEN];
	int			 has_rs;
	uint64_t		 send_n;
	uint64_t		 recv_n;
};

int
channel_global_init(void)
{
	return sodium_init() < 0 ? P11AGENT_ERR_INTERNAL : 0;
}

int
channel_keypair_from_private(const uint8_t priv[P11AGENT_KEY_LEN],
    struct channel_keypair **kpp)
{
	struct channel_keypair *kp = NULL;
	int r = P11AGENT_ERR_INTERNAL;

	if (kpp == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	*kpp = NULL;
	if (priv == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if ((kp = calloc(1, sizeof(*kp))) == NULL ||
	    (kp->priv = p11agent_secure_alloc(P11AGENT_KEY_LEN)) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	memcpy(kp->priv, priv, P11AGENT_KEY_LEN);
	if (crypto_scalarmult_base(kp->pub, kp->priv) != 0) {
		r = P11AGENT_ERR_INTERNAL;
		goto out;
	}
	*kpp = kp;
	kp = NULL;
	r = 0;
 out:
	channel_keypair_free(kp);
	return r;
}

int
channel_keypair_generate(struct channel_keypair **kpp)
{
	uint8_t *priv;
	int r;

	if (kpp == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	*kpp = NULL;
	if ((priv = p11agent_secure_alloc(P11AGENT_KEY_LEN)) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	randombytes_buf(priv, P11AGENT_KEY_LEN);
	r = channel_keypair_from_private(priv, kpp);
	secmem_free(priv);
	return r;
}

void
channel_keypair_free(struct channel_keypair *kp)
{
	if (kp == NULL)
		return;
	secmem_free(kp->priv);
	sodium_memzero(kp, sizeof(*kp));
	free(kp);
}

/* HASH(a || b): BLAKE2b with a 64-byte output and no key. */
static void
hash2(uint8_t out[HASHLEN], const uint8_t *a, size_t alen,
    const uint8_t *b, size_t blen)
{
	crypto_generichash_state st;

	/* These fail only for invalid lengths, and ours are constants. */
	(void)crypto_generichash_init(&st, NULL, 0, HASHLEN);
	(void)crypto_generichash_update(&st, a, alen);
	if (blen != 0)
		(void)crypto_generichash_update(&st, b, blen);
	(void)crypto_generichash_final(&st, out, HASHLEN);
	sodium_memzero(&st, sizeof(st));
}

/*
 * HMAC-BLAKE2b (RFC 2104 with B = 128, L = 64), over d1 || d2. Noise
 * §4.3 requires HMAC here, not BLAKE2b's own keyed mode. Keys are at
 * most HASHLEN bytes, so no key hashing is needed.
 */
static void
hmac(uint8_t out[HASHLEN], const uint8_t *key, size_t keylen,
    const uint8_t *d1, size_t l1, const uint8_t *d2, size_t l2)
{
	crypto_generichash_state st;
	uint8_t pad[BLOCKLEN], inner[HASHLEN];
	size_t i;

	memset(pad, 0, sizeof(pad));
	memcpy(pad, key, keylen);
	for (i = 0; i < sizeof(pad); i++)
		pad[i] ^= 0x36;
	(void)crypto_generichash_init(&st, NULL, 0, HASHLEN);
	(void)crypto_generichash_update(&st, pad, sizeof(pad));
	if (l1 != 0)
		(void)crypto_generichash_update(&st, d1, l1);
	if (l2 != 0)
		(void)crypto_generichash_update(&st, d2, l2);
	(void)crypto_generichash_final(&st, inner, sizeof(inner));

	for (i = 0; i < sizeof(pad); i++)
		pad[i] ^= 0x36 ^ 0x5c;
	(void)crypto_generichash_init(&st, NULL, 0, HASHLEN);
	(void)crypto_generichash_update(&st, pad, sizeof(pad));
	(void)crypto_generichash_update(&st, inner, sizeof(inner));
	(void)crypto_generichash_final(&st, out, HASHLEN);

	sodium_memzero(&st, sizeof(st));
	sodium_memzero(pad, sizeof(pad));
	sodium_memzero(inner, sizeof(inner));
}

/* HKDF(chaining_key, ikm, 2) of Noise §4.3. Outputs may alias ck. */
static void
hkdf2(const uint8_t ck[HASHLEN], const uint8_t *ikm, size_t ikmlen,
    uint8_t out1[HASHLEN], uint8_t out2[HASHLEN])
{
	static const uint8_t one = 0x01, two = 0x02;
	uint8_t temp[HASHLEN], o1[HASHLEN], o2[HASHLEN];

	hmac(temp, ck, HASHLEN, ikm, ikmlen, NULL, 0);
	hmac(o1, temp, HASHLEN, &one, 1, NULL, 0);
	hmac(o2, temp, HASHLEN, o1, HASHLEN, &two, 1);
	memcpy(out1, o1, HASHLEN);
	memcpy(out2, o2, HASHLEN);
	sodium_memzero(temp, sizeof(temp));
	sodium_memzero(o1, sizeof(o1));
	sodium_memzero(o2, sizeof(o2));
}

/* The 96-bit ChaChaPoly nonce of Noise: 32 zero bits, then n little-endian. */
static void
make_nonce(uint8_t nonce[NONCELEN], uint64_t n)
{
	int i;

	memset(nonce, 0, 4);
	for (i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

/* DH(priv, pub); an all-zero result (a low-order point) is an error. */
static int
dh(uint8_t out[DHLEN], const uint8_t priv[DHLEN], const uint8_t pub[DHLEN])
{
	if (crypto_scalarmult(out, priv, pub) != 0 ||
	    sodium_is_zero(out, DHLEN)) {
		sodium_memzero(out, DHLEN);
		return P11AGENT_ERR_HANDSHAKE;
	}
	return 0;
}

static void
mix_hash(struct channel *ch, const uint8_t *data, size_t len)
{
	hash2(ch->h, ch->h, HASHLEN, data, len);
}

static void
mix_key(struct channel *ch, const uint8_t *ikm, size_t len)
{
	uint8_t temp_k[HASHLEN];

	hkdf2(ch->sec->ck, ikm, len, ch->sec->ck, temp_k);
	memcpy(ch->sec->k, temp_k, KEYLEN);	/* HASHLEN 64: truncate */
	sodium_memzero(temp_k, sizeof(temp_k));
	ch->has_k = 1;
	ch->n = 0;
}

/* MixKey(DH(priv, pub)). */
static int
mix_dh(struct channel *ch, const uint8_t priv[DHLEN], const uint8_t pub[DHLEN])
{
	uint8_t shared[DHLEN];
	int r;

	if ((r = dh(shared, priv, pub)) != 0)
		return r;
	mix_key(ch, shared, sizeof(shared));
	sodium_memzero(shared, sizeof(shared));
	return 0;
}

/* EncryptAndHash: writes len (+ TAGLEN once keyed) bytes to out. */
static int
encrypt_and_hash(struct channel *ch, const uint8_t *pt, size_t len,
    uint8_t *out)
{
	uint8_t nonce[NONCELEN];
	unsigned long long clen;

	if (!ch->has_k) {
		if (len != 0)
			memcpy(out, pt, len);
		mix_hash(ch, out, len);
		return 0;
	}
	if (ch->n == UINT64_MAX)
		return P11AGENT_ERR_HANDSHAKE;
	make_nonce(nonce, ch->n);
	if (crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen,
	    len != 0 ? pt : out, len, ch->h, HASHLEN, NULL, nonce,
	    ch->sec->k) != 0)
		return P11AGENT_ERR_INTERNAL;
	ch->n++;
	mix_hash(ch, out, (size_t)clen);
	return 0;
}

/* DecryptAndHash: ct is len bytes; writes len - TAGLEN (keyed) to out. */
static int
decrypt_and_hash(struct channel *ch, const uint8_t *ct, size_t len,
    uint8_t *out)
{
	uint8_t nonce[NONCELEN];
	unsigned long long mlen;

	if (!ch->has_k) {
		if (len != 0)
			memcpy(out, ct, len);
		mix_hash(ch, ct, len);
		return 0;
	}
	if (len < TAGLEN)
		return P11AGENT_ERR_INVALID_FORMAT;
	if (ch->n == UINT64_MAX)
		return P11AGENT_ERR_HANDSHAKE;
	make_nonce(nonce, ch->n);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &mlen, NULL,
	    ct, len, ch->h, HASHLEN, nonce, ch->sec->k) != 0)
		return P11AGENT_ERR_MAC_INVALID;
	ch->n++;
	mix_hash(ch, ct, len);
	return 0;
}

/*
 * Split(): the first key encrypts initiator -> responder (client ->
 * agent), the second the other way. The handshake secrets go at once.
 */
static void
split(struct channel *ch)
{
	uint8_t t1[HASHLEN], t2[HASHLEN];

	hkdf2(ch->sec->ck, NULL, 0, t1, t2);
	if (ch->initiator) {
		memcpy(ch->sec->send_k, t1, KEYLEN);
		memcpy(ch->sec->recv_k, t2, KEYLEN);
	} else {
		memcpy(ch->sec->send_k, t2, KEYLEN);
		memcpy(ch->sec->recv_k, t1, KEYLEN);
	}
	sodium_memzero(t1, sizeof(t1));
	sodium_memzero(t2, sizeof(t2));
	sodium_memzero(ch->sec->ck, sizeof(ch->sec->ck));
	sodium_memzero(ch->sec->k, sizeof(ch->sec->k));
	sodium_memzero(ch->sec->e, sizeof(ch->sec->e));
	ch->has_k = 0;
	ch->send_n = ch->recv_n = 0;
	ch->state = CH_ESTABLISHED;
}

/* GENERATE_KEYPAIR() for e, or the key fixed by channel_set_ephemeral(). */
static int
generate_ephemeral(struct channel *ch)
{
	if (ch->has_fixed_e) {
		memcpy(ch->sec->e, ch->sec->fixed_e, DHLEN);
		sodium_memzero(ch->sec->fixed_e, DHLEN);
		ch->has_fixed_e = 0;
	} else
		randombytes_buf(ch->sec->e, DHLEN);
	if (crypto_scalarmult_base(ch->e_pub, ch->sec->e) != 0)
		return P11AGENT_ERR_INTERNAL;
	return 0;
}

/* Poisons the channel: forget every secret, refuse all further use. */
static int
channel_fail(struct channel *ch, int r)
{
	if (r == 0)
		r = P11AGENT_ERR_INTERNAL;
	if (ch->state != CH_FAILED) {
		ch->state = CH_FAILED;
		ch->poison = r;
	}
	sodium_memzero(ch->sec, sizeof(*ch->sec));
	sodium_memzero(ch->h, sizeof(ch->h));
	sodium_memzero(ch->e_pub, sizeof(ch->e_pub));
	sodium_memzero(ch->re, sizeof(ch->re));
	ch->has_k = ch->has_fixed_e = 0;
	return ch->poison;
}

/* InitializeSymmetric, MixHash(prologue), then the pre-message "<- s". */
static int
channel_new(struct channel **chp, const struct channel_keypair *s,
    const uint8_t *rs, int initiator)
{
	struct channel *ch = NULL;

	if (chp == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	*chp = NULL;
	if (s == NULL || s->priv == NULL || (initiator && rs == NULL))
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if ((ch = calloc(1, sizeof(*ch))) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	if ((ch->sec = p11agent_secure_alloc(sizeof(*ch->sec))) == NULL) {
		free(ch);
		return P11AGENT_ERR_NO_MEMORY;
	}
	sodium_memzero(ch->sec, sizeof(*ch->sec));
	ch->initiator = initiator;
	ch->s = s;
	ch->state = initiator ? CH_INITIATOR_START : CH_RESPONDER_START;

	memset(ch->h, 0, sizeof(ch->h));
	memcpy(ch->h, P11AGENT_NOISE_NAME, sizeof(P11AGENT_NOISE_NAME) - 1);
	memcpy(ch->sec->ck, ch->h, HASHLEN);
	mix_hash(ch, prologue, PROLOGUE_LEN);
	if (initiator) {
		memcpy(ch->rs, rs, DHLEN);
		ch->has_rs = 1;
		mix_hash(ch, ch->rs, DHLEN);
	} else
		mix_hash(ch, s->pub, DHLEN);
	*chp = ch;
	return 0;
}

int
channel_initiator_new(struct channel **chp, const struct channel_keypair *s,
    const uint8_t rs[P11AGENT_KEY_LEN])
{
	return channel_new(chp, s, rs, 1);
}

int
channel_responder_new(struct channel **chp, const struct channel_keypair *s)
{
	return channel_new(chp, s, NULL, 0);
}

void
channel_free(struct channel *ch)
{
	if (ch == NULL)
		return;
	secmem_free(ch->sec);
	sodium_memzero(ch, sizeof(*ch));
	free(ch);
}

int
channel_set_ephemeral(struct channel *ch, const uint8_t priv[P11AGENT_KEY_LEN])
{
	if (ch == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if (ch->state == CH_FAILED)
		return ch->poison;
	if (priv == NULL)
		return channel_fail(ch, P11AGENT_ERR_INVALID_ARGUMENT);
	/* Only meaningful before this side writes its e. */
	if (ch->state != CH_INITIATOR_START &&
	    ch->state != CH_RESPONDER_START &&
	    ch->state != CH_RESPONDER_READ)
		return channel_fail(ch, P11AGENT_ERR_HANDSHAKE);
	memcpy(ch->sec->fixed_e, priv, DHLEN);
	ch->has_fixed_e = 1;
	return 0;
}

/* -> e, es, s, ss */
int
channel_write_msg1(struct channel *ch, const uint8_t *payload, size_t plen,
    struct buf *out)
{
	uint8_t *dp = NULL;
	size_t total = 0;
	int r;

	if (ch == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if (ch->state == CH_FAILED)
		return ch->poison;
	if (ch->state != CH_INITIATOR_START)
		return channel_fail(ch, P11AGENT_ERR_HANDSHAKE);
	if (out == NULL || (payload == NULL && plen != 0))
		return channel_fail(ch, P11AGENT_ERR_INVALID_ARGUMENT);
	if (plen > P11AGENT_MAX_HS_PAYLOAD)
		return channel_fail(ch, P11AGENT_ERR_MAX_SIZE);
	total = MSG1_OVERHEAD + plen;
	if ((r = buf_reserve(out, total, &dp)) != 0)
		return channel_fail(ch, r);

	if ((r = generate_ephemeral(ch)) != 0)
		goto out;
	memcpy(dp, ch->e_pub, DHLEN);
	mix_hash(ch, ch->e_pub, DHLEN);
	if ((r = mix_dh(ch, ch->sec->e, ch->rs)) != 0 ||		/* es */
	    (r = encrypt_and_hash(ch, ch->s->pub, DHLEN, dp + DHLEN)) != 0 ||
	    (r = mix_dh(ch, ch->s->priv, ch->rs)) != 0 ||		/* ss */
	    (r = encrypt_and_hash(ch, payload, plen,
	    dp + DHLEN + DHLEN + TAGLEN)) != 0)
		goto out;
	ch->state = CH_INITIATOR_SENT;
	r = 0;
 out:
	if (r != 0) {
		buf_consume_end(out, total);
		return channel_fail(ch, r);
	}
	return 0;
}

int
channel_read_msg1(struct channel *ch, const uint8_t *msg, size_t len,
    struct buf *payload)
{
	uint8_t *dp = NULL;
	size_t plen = 0;
	int reserved = 0, r;

	if (ch == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if (ch->state == CH_FAILED)
		return ch->poison;
	if (ch->state != CH_RESPONDER_START)
		return channel_fail(ch, P11AGENT_ERR_HANDSHAKE);
	if (payload == NULL || (msg == NULL && len != 0))
		return channel_fail(ch, P11AGENT_ERR_INVALID_ARGUMENT);
	/* Subtract only after the guard, so the check cannot wrap. */
	if (len < MSG1_OVERHEAD ||
	    len - MSG1_OVERHEAD > P11AGENT_MAX_HS_PAYLOAD)
		return channel_fail(ch, P11AGENT_ERR_INVALID_FORMAT);
	plen = len - MSG1_OVERHEAD;

	memcpy(ch->re, msg, DHLEN);
	mix_hash(ch, ch->re, DHLEN);
	if ((r = mix_dh(ch, ch->s->priv, ch->re)) != 0 ||		/* es */
	    (r = decrypt_and_hash(ch, msg + DHLEN, DHLEN + TAGLEN,
	    ch->rs)) != 0)
		goto out;
	ch->has_rs = 1;
	if ((r = mix_dh(ch, ch->s->priv, ch->rs)) != 0 ||		/* ss */
	    (r = buf_reserve(payload, plen, &dp)) != 0)
		goto out;
	reserved = 1;
	if ((r = decrypt_and_hash(ch, msg + DHLEN + DHLEN + TAGLEN,
	    plen + TAGLEN, dp)) != 0)
		goto out;
	ch->state = CH_RESPONDER_READ;
	r = 0;
 out:
	if (r != 0) {
		if (reserved)
			buf_consume_end(payload, plen);
		ch->has_rs = 0;
		sodium_memzero(ch->rs, sizeof(ch->rs));
		return channel_fail(ch, r);
	}
	return 0;
}

/* <- e, ee, se */
int
channel_write_msg2(struct channel *ch, const uint8_t *payload, size_t plen,
    struct buf *out)
{
	uint8_t *dp = NULL;
	size_t total = 0;
	int r;

	if (ch == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if (ch->state == CH_FAILED)
		return ch->poison;
	if (ch->state != CH_RESPONDER_READ)
		return channel_fail(ch, P11AGENT_ERR_HANDSHAKE);
	if (out == NULL || (payload == NULL && plen != 0))
		return channel_fail(ch, P11AGENT_ERR_INVALID_ARGUMENT);
	if (plen > P11AGENT_MAX_HS_PAYLOAD)
		return channel_fail(ch, P11AGENT_ERR_MAX_SIZE);
	total = MSG2_OVERHEAD + plen;
	if ((r = buf_reserve(out, total, &dp)) != 0)
		return channel_fail(ch, r);

	if ((r = generate_ephemeral(ch)) != 0)
		goto out;
	memcpy(dp, ch->e_pub, DHLEN);
	mix_hash(ch, ch->e_pub, DHLEN);
	if ((r = mix_dh(ch, ch->sec->e, ch->re)) != 0 ||		/* ee */
	    (r = mix_dh(ch, ch->sec->e, ch->rs)) != 0 ||		/* se */
	    (r = encrypt_and_hash(ch, payload, plen, dp + DHLEN)) != 0)
		goto out;
	split(ch);
	r = 0;
 out:
	if (r != 0) {
		buf_consume_end(out, total);
		return channel_fail(ch, r);
	}
	return 0;
}

int
channel_read_msg2(struct channel *ch, const uint8_t *msg, size_t len,
    struct buf *payload)
{
	uint8_t *dp = NULL;
	size_t plen = 0;
	int reserved = 0, r;

	if (ch == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if (ch->state == CH_FAILED)
		return ch->poison;
	if (ch->state != CH_INITIATOR_SENT)
		return channel_fail(ch, P11AGENT_ERR_HANDSHAKE);
	if (payload == NULL || (msg == NULL && len != 0))
		return channel_fail(ch, P11AGENT_ERR_INVALID_ARGUMENT);
	if (len < MSG2_OVERHEAD ||
	    len - MSG2_OVERHEAD > P11AGENT_MAX_HS_PAYLOAD)
		return channel_fail(ch, P11AGENT_ERR_INVALID_FORMAT);
	plen = len - MSG2_OVERHEAD;

	memcpy(ch->re, msg, DHLEN);
	mix_hash(ch, ch->re, DHLEN);
	if ((r = mix_dh(ch, ch->sec->e, ch->re)) != 0 ||		/* ee */
	    (r = mix_dh(ch, ch->s->priv, ch->re)) != 0 ||		/* se */
	    (r = buf_reserve(payload, plen, &dp)) != 0)
		goto out;
	reserved = 1;
	if ((r = decrypt_and_hash(ch, msg + DHLEN, plen + TAGLEN, dp)) != 0)
		goto out;
	split(ch);
	r = 0;
 out:
	if (r != 0) {
		if (reserved)
			buf_consume_end(payload, plen);
		return channel_fail(ch, r);
	}
	return 0;
}

int
channel_established(const struct channel *ch)
{
	return ch != NULL && ch->state == CH_ESTABLISHED;
}

const uint8_t *
channel_remote_static(const struct channel *ch)
{
	if (ch == NULL || ch->state == CH_FAILED || !ch->has_rs)
		return NULL;
	return ch->rs;
}

const uint8_t *
channel_handshake_hash(const struct channel *ch)
{
	/* Only the final h binds the whole handshake. */
	if (ch == NULL || ch->state != CH_ESTABLISHED)
		return NULL;
	return ch->h;
}

int
channel_seal(struct channel *ch, const uint8_t *pt, size_t ptlen,
    struct buf *out)
{
	uint8_t nonce[NONCELEN], *dp;
	unsigned long long clen;
	size_t len;
	int r;

	if (ch == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if (ch->state == CH_FAILED)
		return ch->poison;
	if (ch->state != CH_ESTABLISHED)
		return channel_fail(ch, P11AGENT_ERR_HANDSHAKE);
	if (out == NULL || (pt == NULL && ptlen != 0))
		return channel_fail(ch, P11AGENT_ERR_INVALID_ARGUMENT);
	if (ptlen > P11AGENT_MAX_PLAINTEXT)
		return channel_fail(ch, P11AGENT_ERR_MAX_SIZE);
	/* Noise reserves 2^64 - 1; there is no rekeying, so stop here. */
	if (ch->send_n == UINT64_MAX)
		return channel_fail(ch, P11AGENT_ERR_NOT_SUPPORTED);
	len = ptlen + TAGLEN;
	if ((r = buf_reserve(out, P11AGENT_FRAME_HDR + len, &dp)) != 0)
		return channel_fail(ch, r);
	dp[0] = (uint8_t)(len >> 24);
	dp[1] = (uint8_t)(len >> 16);
	dp[2] = (uint8_t)(len >> 8);
	dp[3] = (uint8_t)len;
	make_nonce(nonce, ch->send_n);
	/* The length prefix is the associated data: it cannot be altered. */
	if (crypto_aead_chacha20poly1305_ietf_encrypt(dp + P11AGENT_FRAME_HDR,
	    &clen, ptlen != 0 ? pt : dp, ptlen, dp, P11AGENT_FRAME_HDR, NULL,
	    nonce, ch->sec->send_k) != 0 || clen != len) {
		buf_consume_end(out, P11AGENT_FRAME_HDR + len);
		return channel_fail(ch, P11AGENT_ERR_INTERNAL);
	}
	ch->send_n++;
	return 0;
}

int
channel_open(struct channel *ch, const uint8_t *frame, size_t framelen,
    struct buf *pt)
{
	uint8_t nonce[NONCELEN], *dp;
	unsigned long long mlen;
	size_t remaining;
	uint32_t len;
	int r;

	if (ch == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if (ch->state == CH_FAILED)
		return ch->poison;
	if (ch->state != CH_ESTABLISHED)
		return channel_fail(ch, P11AGENT_ERR_HANDSHAKE);
	if (pt == NULL || (frame == NULL && framelen != 0))
		return channel_fail(ch, P11AGENT_ERR_INVALID_ARGUMENT);
	/*
	 * A frame whose prefix disagrees with its size was cut or padded
	 * in transit; like a bad tag, that is tampering.
	 */
	if (framelen < P11AGENT_FRAME_HDR)
		return channel_fail(ch, P11AGENT_ERR_MAC_INVALID);
	remaining = framelen - P11AGENT_FRAME_HDR;
	len = (uint32_t)frame[0] << 24 | (uint32_t)frame[1] << 16 |
	    (uint32_t)frame[2] << 8 | (uint32_t)frame[3];
	if (remaining != len || len < TAGLEN || len > P11AGENT_MAX_FRAME)
		return channel_fail(ch, P11AGENT_ERR_MAC_INVALID);
	if (ch->recv_n == UINT64_MAX)
		return channel_fail(ch, P11AGENT_ERR_MAC_INVALID);
	if ((r = buf_reserve(pt, len - TAGLEN, &dp)) != 0)
		return channel_fail(ch, r);
	make_nonce(nonce, ch->recv_n);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(dp, &mlen, NULL,
	    frame + P11AGENT_FRAME_HDR, len, frame, P11AGENT_FRAME_HDR, nonce,
	    ch->sec->recv_k) != 0) {
		buf_consume_end(pt, len - TAGLEN);
		return channel_fail(ch, P11AGENT_ERR_MAC_INVALID);
	}
	ch->recv_n++;
	return 0;
}
