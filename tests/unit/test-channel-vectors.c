/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * test-channel-vectors.c - common/channel.c against outside references.
 * The file is compiled in here with the prologue of the published Noise
 * test vectors ("John Galt"), so the real handshake code must reproduce
 * the Noise_IK_25519_ChaChaPoly_BLAKE2b vector of the cacophony set byte
 * for byte, transport messages included. Its static HMAC-BLAKE2b, HKDF
 * and HASH are checked against Python's hmac/hashlib (the kat_* outputs
 * come from tests/unit/noise_ik_ref.py; the noise-ik-ref CTest rechecks
 * them, and this file's copy of the published vector).
 */
#define P11AGENT_CHANNEL_TEST_PROLOGUE	"John Galt"
#include "../../common/channel.c"

#include "tap.h"

/* --- HMAC / HKDF / HASH inputs ------------------------------------------ */

static const char kat_hmac_key[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";
static const char kat_hmac_data[] =
    "4869205468657265" "2c2074686973206973206d6f7265207468616e206f6e65"
    "20626c6f636b206f66206461746120666f722074686520696e6e657220686173"
    "682c206174206c65617374207768656e20746865206b65792069732070616464"
    "65642e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e2e";
static const char kat_hkdf_ck[] =
    "4e6f6973655f494b5f32353531395f436861436861506f6c795f424c414b4532"
    "6200000000000000000000000000000000000000000000000000000000000000";
static const char kat_hkdf_ikm[] =
    "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0efeeedecebeae9e8e7e6e5e4e3e2e1e0";

/* --- The published vector (a copy; noise-ik-ref checks it) -------------- */

static const char kat_cacophony_init_static[] =
    "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1";
static const char kat_cacophony_init_ephemeral[] =
    "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a";
static const char kat_cacophony_resp_static[] =
    "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893";
static const char kat_cacophony_resp_ephemeral[] =
    "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b";

/*
 * --- Outputs (noise_ik_ref.py --generate) -------------------------------
 * kat_cacophony_payload* and _message* are the published vector's;
 * kat_cacophony_h is the final h of the Python model, whose definition of
 * h is pinned by the noise-c vectors (the cacophony file's own
 * "handshake_hash" field is not the final h, so it is not used).
 */
static const char kat_cacophony_h[] =
    "1c8fa891cb414fedba6daa7c6f4ae0a6d98e5f9768cc9cecd27e805614943ee9"
    "c8a1b27fbfb76dc197255c8aa69f6b4285c423840b8bedf45e652ca64f797d81";
static const char kat_cacophony_message0[] =
    "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944"
    "ba83a447b38c83e327ad936929812f624884847b7831e95e197b2f797088efdd"
    "2f88f1db7e1fb0e99c64419097af91cee64e470f4b6fcd9298ce0b56fe20f86e"
    "13bf70439c538e3602a7127af71a29cc";
static const char kat_cacophony_message1[] =
    "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843"
    "9f069b267a06b3de3ecb1043bcb098e9af91d9c64748d998c7b47890871571";
static const char kat_cacophony_message2[] =
    "cd54383060e7a28434cca27fb1cc524cfbabeb18181589df219d07";
static const char kat_cacophony_message3[] =
    "a856d3bf0246bfc476c655009cd1ed677b8dcc5b349ae8ef2a05f2";
static const char kat_cacophony_message4[] =
    "49063084b2c51f098337cb8a13739ac848f907e67cfb2cc8a8b60586467aa02f"
    "c7";
static const char kat_cacophony_message5[] =
    "8b9709d23b47e4639df7678d7a21741eba4ef1e9c60383001c7435549c20f9d5"
    "6f30e935d3";
static const char kat_cacophony_payload0[] =
    "4c756477696720766f6e204d69736573";
static const char kat_cacophony_payload1[] =
    "4d757272617920526f746862617264";
static const char kat_cacophony_payload2[] =
    "462e20412e20486179656b";
static const char kat_cacophony_payload3[] =
    "4361726c204d656e676572";
static const char kat_cacophony_payload4[] =
    "4a65616e2d426170746973746520536179";
static const char kat_cacophony_payload5[] =
    "457567656e2042f6686d20766f6e2042617765726b";
static const char kat_hash_out[] =
    "3543e5e257d2d483ed3b26569d26f822c707e3429c053f7bc87cfda57454d5c3"
    "eb4b5e84ec34abfb4817b71d8d5dcf23e90e0d73ee32525e1f4469ee8229e73a";
static const char kat_hkdf_empty_out1[] =
    "b9ea539c5510cdf61c7c5eb3836c2f33209c1be5af958889e7b063ef5604d833"
    "5205927d7c9ad59314c4294c26ffa17e492a898d3bd43015e66ea68cf7cf4ab9";
static const char kat_hkdf_empty_out2[] =
    "31263d1e1883c1b3265751009e1689e63f8daef4e839260baf3ce221c7c3587d"
    "6668af47641d9434d824544e97f0d428f51ea4d376123b02b1f66f8312ee90d0";
static const char kat_hkdf_out1[] =
    "9ad3af5892a358478360fe5e4dbd84c1946ee1aa3a033b1202410fa44bd6c366"
    "fd90e8c73637a0ec224cf694300b8ef65dbe1c47b98c3469b5b9fb5d3b9527a3";
static const char kat_hkdf_out2[] =
    "f20e4c2b2c564e99d10f3f3ebb7d4e7dfe501e8aba0a65803fda3df9e593016f"
    "fdac32fcd2705c8b17fb8a384566a6483e78e8d75f31774973f8523037875724";
static const char kat_hmac_longkey_out[] =
    "14a9eca9fd63d58571a08dcaa400a0bcad0558041e2ae7ab37ef81ab8af57c06"
    "b8a21ecdc65184fa91c2a2c52c3c7484d9eacdf6f56e91f29d06c108341704e2";
static const char kat_hmac_out[] =
    "049a3462e4300496fb10c9fe7b4fb578a579a81ca30826fd1066b1038f8f3a06"
    "2baa051a1814aa04fd32f004e35e95b2cb777783158ca309b8bb619808ba99e4";

/* ------------------------------------------------------------------------ */

static void
test_hmac(void)
{
	uint8_t key[128], data[256], out[HASHLEN], want[HASHLEN];
	size_t keylen, datalen, half;

	keylen = tap_unhex(kat_hmac_key, key, sizeof(key));
	datalen = tap_unhex(kat_hmac_data, data, sizeof(data));
	tap_unhex(kat_hmac_out, want, sizeof(want));
	hmac(out, key, keylen, data, datalen, NULL, 0);
	is_mem(out, want, HASHLEN, "HMAC-BLAKE2b, 64-byte key");
	/* Split input: the d1 || d2 form used by HKDF. */
	half = datalen / 2;
	hmac(out, key, keylen, data, half, data + half, datalen - half);
	is_mem(out, want, HASHLEN, "HMAC-BLAKE2b over two pieces");

	/* A key of exactly one block is used as it is, not hashed. */
	memcpy(key + keylen, key, keylen);
	tap_unhex(kat_hmac_longkey_out, want, sizeof(want));
	hmac(out, key, 2 * keylen, data, datalen, NULL, 0);
	is_mem(out, want, HASHLEN, "HMAC-BLAKE2b, 128-byte key");

	tap_unhex(kat_hash_out, want, sizeof(want));
	hash2(out, data, half, data + half, datalen - half);
	is_mem(out, want, HASHLEN, "HASH = BLAKE2b-512");
}

static void
test_hkdf(void)
{
	uint8_t ck[HASHLEN], ikm[DHLEN], o1[HASHLEN], o2[HASHLEN],
	    want[HASHLEN];

	tap_unhex(kat_hkdf_ck, ck, sizeof(ck));
	tap_unhex(kat_hkdf_ikm, ikm, sizeof(ikm));
	hkdf2(ck, ikm, sizeof(ikm), o1, o2);
	tap_unhex(kat_hkdf_out1, want, sizeof(want));
	is_mem(o1, want, HASHLEN, "HKDF output 1");
	tap_unhex(kat_hkdf_out2, want, sizeof(want));
	is_mem(o2, want, HASHLEN, "HKDF output 2");

	/* Zero-length input, as Split() uses it. */
	hkdf2(ck, NULL, 0, o1, o2);
	tap_unhex(kat_hkdf_empty_out1, want, sizeof(want));
	is_mem(o1, want, HASHLEN, "HKDF(ck, empty) output 1");
	tap_unhex(kat_hkdf_empty_out2, want, sizeof(want));
	is_mem(o2, want, HASHLEN, "HKDF(ck, empty) output 2");

	/* Output aliasing the chaining key, as MixKey does. */
	hkdf2(ck, ikm, sizeof(ikm), ck, o2);
	tap_unhex(kat_hkdf_out1, want, sizeof(want));
	is_mem(ck, want, HASHLEN, "HKDF with out1 == ck");
}

/* A transport message of the vector: ChaChaPoly with empty AD. */
static void
check_transport(const uint8_t *k, uint64_t n, const char *pthex,
    const char *cthex, const char *what)
{
	uint8_t pt[128], ct[160], got[160], nonce[NONCELEN];
	size_t ptlen, ctlen;
	unsigned long long glen;

	ptlen = tap_unhex(pthex, pt, sizeof(pt));
	ctlen = tap_unhex(cthex, ct, sizeof(ct));
	make_nonce(nonce, n);
	crypto_aead_chacha20poly1305_ietf_encrypt(got, &glen, pt, ptlen,
	    NULL, 0, NULL, nonce, k);
	is_int(glen, ctlen, "%s: length", what);
	is_mem(got, ct, ctlen, "%s: bytes", what);
}

static void
test_cacophony_ik(void)
{
	uint8_t is[32], ie[32], rs[32], re[32], p[64], want[256];
	size_t plen, n;
	struct channel_keypair *ikp, *rkp;
	struct channel *c, *a;
	struct buf *m1 = buf_new(), *m2 = buf_new(), *pl = buf_new();

	tap_unhex(kat_cacophony_init_static, is, sizeof(is));
	tap_unhex(kat_cacophony_init_ephemeral, ie, sizeof(ie));
	tap_unhex(kat_cacophony_resp_static, rs, sizeof(rs));
	tap_unhex(kat_cacophony_resp_ephemeral, re, sizeof(re));
	channel_keypair_from_private(is, &ikp);
	channel_keypair_from_private(rs, &rkp);
	channel_initiator_new(&c, ikp, rkp->pub);
	channel_responder_new(&a, rkp);
	channel_set_ephemeral(c, ie);
	channel_set_ephemeral(a, re);

	plen = tap_unhex(kat_cacophony_payload0, p, sizeof(p));
	is_int(channel_write_msg1(c, p, plen, m1), 0, "write message 0");
	n = tap_unhex(kat_cacophony_message0, want, sizeof(want));
	is_int(buf_len(m1), n, "message 0 length");
	is_mem(buf_ptr(m1), want, n, "message 0 = published bytes");
	is_int(channel_read_msg1(a, buf_ptr(m1), buf_len(m1), pl), 0,
	    "read message 0");
	is_mem(buf_ptr(pl), p, plen, "payload 0 decrypted");

	plen = tap_unhex(kat_cacophony_payload1, p, sizeof(p));
	is_int(channel_write_msg2(a, p, plen, m2), 0, "write message 1");
	n = tap_unhex(kat_cacophony_message1, want, sizeof(want));
	is_int(buf_len(m2), n, "message 1 length");
	is_mem(buf_ptr(m2), want, n, "message 1 = published bytes");
	buf_reset(pl);
	is_int(channel_read_msg2(c, buf_ptr(m2), buf_len(m2), pl), 0,
	    "read message 1");
	is_mem(buf_ptr(pl), p, plen, "payload 1 decrypted");

	n = tap_unhex(kat_cacophony_h, want, sizeof(want));
	is_mem(channel_handshake_hash(c), want, n, "initiator h");
	is_mem(channel_handshake_hash(a), want, n, "responder h");

	/* Split(): c1 initiator -> responder, c2 back; nonces count up. */
	check_transport(c->sec->send_k, 0, kat_cacophony_payload2,
	    kat_cacophony_message2, "message 2 (initiator, n = 0)");
	check_transport(a->sec->send_k, 0, kat_cacophony_payload3,
	    kat_cacophony_message3, "message 3 (responder, n = 0)");
	check_transport(c->sec->send_k, 1, kat_cacophony_payload4,
	    kat_cacophony_message4, "message 4 (initiator, n = 1)");
	check_transport(a->sec->send_k, 1, kat_cacophony_payload5,
	    kat_cacophony_message5, "message 5 (responder, n = 1)");
	is_mem(c->sec->send_k, a->sec->recv_k, KEYLEN, "keys pair up (1)");
	is_mem(c->sec->recv_k, a->sec->send_k, KEYLEN, "keys pair up (2)");

	channel_free(c);
	channel_free(a);
	channel_keypair_free(ikp);
	channel_keypair_free(rkp);
	buf_free(m1);
	buf_free(m2);
	buf_free(pl);
}

static const struct tap_case cases[] = {
	{ "/channel-vectors/hmac", test_hmac },
	{ "/channel-vectors/hkdf", test_hkdf },
	{ "/channel-vectors/cacophony-ik", test_cacophony_ik },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	if (channel_global_init() != 0)
		return 1;
	return tap_main(argc, argv, cases);
}
