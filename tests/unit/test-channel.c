/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * test-channel.c - the Noise IK handshake and sealed frames: a full
 * handshake between an initiator and a responder, every way a frame or
 * handshake message can be tampered with (each must fail and poison the
 * channel), and a known-answer test. The kat_* outputs below were
 * computed by tests/unit/noise_ik_ref.py, an independent Python model
 * that is itself checked against published Noise test vectors; the
 * noise-ik-ref CTest recomputes them from this file's kat_* inputs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <p11agent/err.h>

#include "buf.h"
#include "channel.h"
#include "proto.h"
#include "tap.h"

/* --- Known-answer inputs ------------------------------------------------ */

static const char kat_client_static[] =
    "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1";
static const char kat_client_ephemeral[] =
    "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a";
static const char kat_agent_static[] =
    "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893";
static const char kat_agent_ephemeral[] =
    "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b";
/* Client hello payload: flags 0, name "p11-test" (PROTOCOL.md §2.1). */
static const char kat_payload1[] =
    "00000000" "00000008" "7031312d74657374";
/* Agent reply payload: result 0, version "0.1.0" (§2.2). */
static const char kat_payload2[] =
    "00000000" "00000005" "302e312e30";
/* PING request id 1, data "ping"; and its OK reply (§3, §4). */
static const char kat_request[] =
    "00000001" "08" "00000004" "70696e67";
static const char kat_reply[] =
    "00000001" "80" "00000004" "70696e67";

/* --- Known-answer outputs (from noise_ik_ref.py --generate) ------------- */

static const char kat_frame_a2c_0[] =
    "0000001deb37a1d2a20bdaaa15d34e467c97cd79660a949051d399e60dc8b89c"
    "b5";
static const char kat_frame_c2a_0[] =
    "0000001d8b7a187046c7eae549d9a03410760db70ded06c5b973d375fa6ee39e"
    "14";
static const char kat_frame_c2a_1[] =
    "0000001d036351eb97877e79f32ed19011d6c837b57cf44b5911eb76c39554f3"
    "3c";
static const char kat_hash[] =
    "fe4237bd98ed66222aa238f1c836ace51e842310e3b861ecf5ad71c8dd2b7b25"
    "1310b316b5cf4d13d91cb0d83de5f82342632eea803e44545225ddb9fa8207ce";
static const char kat_msg1[] =
    "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944"
    "ba83a447b38c83e327ad936929812f624884847b7831e95e197b2f797088efdd"
    "9f0ccd2464cdc3560616775196805b25aa3b23782208edec87911a36e336ee69"
    "ea0cfcf5649bebaeddb938bb079e4605";
static const char kat_msg2[] =
    "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843"
    "d273e9541b7f93896191490feddb3256cdd87c4811c5b523f1b5d93e0e";

/* ------------------------------------------------------------------------ */

struct pair {
	struct channel_keypair	*cs;	/* client static */
	struct channel_keypair	*as;	/* agent static */
	struct channel		*c;	/* initiator */
	struct channel		*a;	/* responder */
};

static void
pair_free(struct pair *p)
{
	channel_free(p->c);
	channel_free(p->a);
	channel_keypair_free(p->cs);
	channel_keypair_free(p->as);
	memset(p, 0, sizeof(*p));
}

/* New key pairs and channels; the client pins the agent's real key. */
static void
pair_new(struct pair *p)
{
	memset(p, 0, sizeof(*p));
	if (channel_keypair_generate(&p->cs) != 0 ||
	    channel_keypair_generate(&p->as) != 0 ||
	    channel_initiator_new(&p->c, p->cs, p->as->pub) != 0 ||
	    channel_responder_new(&p->a, p->as) != 0)
		abort();
}

/* Runs the handshake; returns the first error. */
static int
handshake(struct pair *p)
{
	struct buf *m1 = buf_new(), *m2 = buf_new(), *pl = buf_new();
	int r;

	if ((r = channel_write_msg1(p->c, (const uint8_t *)"hello", 5,
	    m1)) != 0 ||
	    (r = channel_read_msg1(p->a, buf_ptr(m1), buf_len(m1), pl)) != 0 ||
	    (r = channel_write_msg2(p->a, (const uint8_t *)"welcome", 7,
	    m2)) != 0 ||
	    (r = channel_read_msg2(p->c, buf_ptr(m2), buf_len(m2), pl)) != 0)
		goto out;
	r = 0;
 out:
	buf_free(m1);
	buf_free(m2);
	buf_free(pl);
	return r;
}

static void
established_pair(struct pair *p)
{
	pair_new(p);
	if (handshake(p) != 0)
		abort();
}

/* Seals pt on ch into a fresh buffer. */
static struct buf *
seal(struct channel *ch, const char *pt)
{
	struct buf *f = buf_new();

	if (channel_seal(ch, (const uint8_t *)pt, strlen(pt), f) != 0)
		abort();
	return f;
}

static int
open_frame(struct channel *ch, const struct buf *f, struct buf *pt)
{
	return channel_open(ch, buf_ptr(f), buf_len(f), pt);
}

/* After a failure: every operation refuses, nothing leaks out. */
static void
check_poisoned(struct channel *ch, int want, const char *what)
{
	struct buf *b = buf_new();
	uint8_t k[P11AGENT_KEY_LEN] = { 1 };

	is_int(channel_established(ch), 0, "%s: not established", what);
	is_int(channel_seal(ch, (const uint8_t *)"x", 1, b), want,
	    "%s: seal refused", what);
	is_int(channel_open(ch, (const uint8_t *)"\0\0\0\x11"
	    "0123456789abcdefg", 21, b), want, "%s: open refused", what);
	is_int(channel_write_msg1(ch, NULL, 0, b), want,
	    "%s: write_msg1 refused", what);
	is_int(channel_read_msg2(ch, NULL, 0, b), want,
	    "%s: read_msg2 refused", what);
	is_int(channel_set_ephemeral(ch, k), want,
	    "%s: set_ephemeral refused", what);
	ok(channel_handshake_hash(ch) == NULL, "%s: no handshake hash", what);
	ok(channel_remote_static(ch) == NULL, "%s: no remote static", what);
	is_int(buf_len(b), 0, "%s: nothing written", what);
	buf_free(b);
}

static void
test_keypair(void)
{
	/* RFC 7748 §6.1: Alice's key pair. */
	uint8_t priv[32], pub[32];
	struct channel_keypair *kp, *kp2;

	tap_unhex("77076d0a7318a57d3c16c17251b26645"
	    "df4c2f87ebc0992ab177fba51db92c2a", priv, sizeof(priv));
	tap_unhex("8520f0098930a754748b7ddcb43ef75a"
	    "0dbf3a0d26381af4eba4a98eaa9b4e6a", pub, sizeof(pub));
	is_int(channel_keypair_from_private(priv, &kp), 0, "from_private");
	is_mem(kp->pub, pub, 32, "RFC 7748 public key");
	is_mem(kp->priv, priv, 32, "private key kept");
	channel_keypair_free(kp);
	is_int(channel_keypair_generate(&kp), 0, "generate");
	is_int(channel_keypair_generate(&kp2), 0, "generate again");
	ok(memcmp(kp->pub, kp2->pub, 32) != 0, "two keys differ");
	channel_keypair_free(kp);
	channel_keypair_free(kp2);
	channel_keypair_free(NULL);
	is_int(channel_keypair_generate(NULL), P11AGENT_ERR_INVALID_ARGUMENT,
	    "NULL out-param");
}

static void
test_handshake(void)
{
	struct buf *m1 = buf_new(), *m2 = buf_new(), *pl = buf_new();
	const uint8_t *hc, *ha;
	struct pair p;

	pair_new(&p);
	ok(channel_remote_static(p.c) != NULL &&
	    memcmp(channel_remote_static(p.c), p.as->pub, 32) == 0,
	    "initiator knows the pinned key from the start");
	ok(channel_remote_static(p.a) == NULL,
	    "responder knows nobody yet");
	ok(channel_handshake_hash(p.c) == NULL, "no hash before the end");

	is_int(channel_write_msg1(p.c, (const uint8_t *)"hello", 5, m1), 0,
	    "write_msg1");
	is_int(buf_len(m1), 32 + 48 + 5 + 16, "msg1 is e, s, payload + tags");
	is_int(channel_read_msg1(p.a, buf_ptr(m1), buf_len(m1), pl), 0,
	    "read_msg1");
	ok(buf_len(pl) == 5 && memcmp(buf_ptr(pl), "hello", 5) == 0,
	    "client payload delivered");
	ok(channel_remote_static(p.a) != NULL &&
	    memcmp(channel_remote_static(p.a), p.cs->pub, 32) == 0,
	    "responder learned the client's static key");
	is_int(channel_established(p.a), 0, "responder not done yet");

	buf_reset(pl);
	is_int(channel_write_msg2(p.a, (const uint8_t *)"welcome", 7, m2), 0,
	    "write_msg2");
	is_int(buf_len(m2), 32 + 7 + 16, "msg2 is e, payload + tag");
	is_int(channel_established(p.a), 1, "responder established");
	is_int(channel_read_msg2(p.c, buf_ptr(m2), buf_len(m2), pl), 0,
	    "read_msg2");
	ok(buf_len(pl) == 7 && memcmp(buf_ptr(pl), "welcome", 7) == 0,
	    "agent payload delivered");
	is_int(channel_established(p.c), 1, "initiator established");

	hc = channel_handshake_hash(p.c);
	ha = channel_handshake_hash(p.a);
	ok(hc != NULL && ha != NULL, "both have a handshake hash");
	if (hc != NULL && ha != NULL)
		is_mem(hc, ha, 64, "both derive the same handshake hash");
	pair_free(&p);

	/* Empty payloads are fine for the channel layer. */
	pair_new(&p);
	buf_reset(m1);
	buf_reset(m2);
	buf_reset(pl);
	is_int(channel_write_msg1(p.c, NULL, 0, m1), 0, "empty payload 1");
	is_int(buf_len(m1), 96, "minimal msg1");
	is_int(channel_read_msg1(p.a, buf_ptr(m1), buf_len(m1), pl), 0,
	    "read minimal msg1");
	is_int(channel_write_msg2(p.a, NULL, 0, m2), 0, "empty payload 2");
	is_int(channel_read_msg2(p.c, buf_ptr(m2), buf_len(m2), pl), 0,
	    "read minimal msg2");
	is_int(buf_len(pl), 0, "no payload bytes");
	pair_free(&p);
	buf_free(m1);
	buf_free(m2);
	buf_free(pl);
}

static void
test_handshakes_differ(void)
{
	struct pair p, q;
	uint8_t h1[64];

	/* Fresh ephemerals: the same parties never repeat a session. */
	established_pair(&p);
	memcpy(h1, channel_handshake_hash(p.c), 64);
	pair_new(&q);
	channel_keypair_free(q.cs);
	channel_keypair_free(q.as);
	channel_free(q.c);
	channel_free(q.a);
	channel_initiator_new(&q.c, p.cs, p.as->pub);
	channel_responder_new(&q.a, p.as);
	q.cs = NULL;
	q.as = NULL;
	is_int(handshake(&q), 0, "second handshake, same static keys");
	ok(memcmp(h1, channel_handshake_hash(q.c), 64) != 0,
	    "different handshake hash");
	channel_free(q.c);
	channel_free(q.a);
	pair_free(&p);
}

static void
test_seal_open(void)
{
	struct buf *f, *pt = buf_new();
	uint8_t *big;
	struct pair p;
	int i, fine = 1;

	established_pair(&p);
	for (i = 0; i < 5; i++) {
		f = seal(p.c, "request");
		is_int(buf_len(f), 4 + 7 + 16, "frame = length + ct + tag");
		if (open_frame(p.a, f, pt) != 0)
			fine = 0;
		buf_free(f);
		f = seal(p.a, "reply!");
		if (open_frame(p.c, f, pt) != 0)
			fine = 0;
		buf_free(f);
	}
	ok(fine, "5 round trips, both directions");
	is_int(buf_len(pt), 5 * (7 + 6), "all plaintext appended");

	/* Empty plaintext and the largest one. */
	buf_reset(pt);
	f = buf_new();
	is_int(channel_seal(p.c, NULL, 0, f), 0, "seal empty");
	is_int(buf_len(f), 4 + 16, "tag only");
	is_int(open_frame(p.a, f, pt), 0, "open empty");
	is_int(buf_len(pt), 0, "no plaintext");
	buf_reset(f);
	big = malloc(P11AGENT_MAX_PLAINTEXT + 1);
	memset(big, 'A', P11AGENT_MAX_PLAINTEXT + 1);
	is_int(channel_seal(p.c, big, P11AGENT_MAX_PLAINTEXT, f), 0,
	    "seal MAX_PLAINTEXT");
	is_int(buf_len(f), 4 + P11AGENT_MAX_FRAME, "a maximal frame");
	is_int(open_frame(p.a, f, pt), 0, "open maximal frame");
	is_int(buf_len(pt), P11AGENT_MAX_PLAINTEXT, "all of it");
	buf_reset(f);
	is_int(channel_seal(p.c, big, P11AGENT_MAX_PLAINTEXT + 1, f),
	    P11AGENT_ERR_MAX_SIZE, "seal MAX_PLAINTEXT + 1 refused");
	is_int(buf_len(f), 0, "nothing written");
	check_poisoned(p.c, P11AGENT_ERR_MAX_SIZE, "after oversize seal");
	free(big);
	buf_free(f);
	buf_free(pt);
	pair_free(&p);
}

static void
test_tamper_ciphertext(void)
{
	struct buf *f1, *f2, *pt = buf_new();
	uint8_t *d;
	struct pair p;
	size_t i;
	int all = 1;

	/* Every single bit flip, in header, body and tag, is caught. */
	established_pair(&p);
	f1 = seal(p.c, "sign this");
	d = malloc(buf_len(f1));
	for (i = 0; i < buf_len(f1) * 8; i++) {
		struct pair q;
		struct buf *g;

		/* Each try needs a fresh channel: a failure poisons. */
		if (i % 8 != 0 && i > 64 && i < buf_len(f1) * 8 - 64)
			continue;
		established_pair(&q);
		g = seal(q.c, "sign this");
		memcpy(d, buf_ptr(g), buf_len(g));
		d[i / 8] ^= (uint8_t)(1 << (i % 8));
		if (channel_open(q.a, d, buf_len(g), pt) !=
		    P11AGENT_ERR_MAC_INVALID)
			all = 0;
		buf_free(g);
		pair_free(&q);
	}
	ok(all, "bit flips anywhere in the frame are refused");
	is_int(buf_len(pt), 0, "no plaintext from any of them");

	memcpy(d, buf_ptr(f1), buf_len(f1));
	d[10] ^= 0x01;
	is_int(channel_open(p.a, d, buf_len(f1), pt),
	    P11AGENT_ERR_MAC_INVALID, "tampered ciphertext");
	is_int(open_frame(p.a, f1, pt), P11AGENT_ERR_MAC_INVALID,
	    "the genuine frame after it is refused too");
	check_poisoned(p.a, P11AGENT_ERR_MAC_INVALID, "after tampering");
	/* The other direction of the other side is not affected. */
	f2 = seal(p.c, "more");
	ok(f2 != NULL, "the sender can still seal");
	free(d);
	buf_free(f1);
	buf_free(f2);
	buf_free(pt);
	pair_free(&p);
}

static void
test_tamper_length(void)
{
	struct buf *f, *pt = buf_new();
	uint8_t d[64];
	struct pair p;
	size_t len;

	/* A length changed and the body cut to match: the AD differs. */
	established_pair(&p);
	f = seal(p.c, "0123456789");
	len = buf_len(f);
	memcpy(d, buf_ptr(f), len);
	d[3] -= 1;
	is_int(channel_open(p.a, d, len - 1, pt), P11AGENT_ERR_MAC_INVALID,
	    "shortened length prefix and body");
	check_poisoned(p.a, P11AGENT_ERR_MAC_INVALID, "after length change");
	buf_free(f);
	pair_free(&p);

	/* A length that disagrees with the frame. */
	established_pair(&p);
	f = seal(p.c, "0123456789");
	memcpy(d, buf_ptr(f), buf_len(f));
	d[3] += 1;
	is_int(channel_open(p.a, d, buf_len(f), pt), P11AGENT_ERR_MAC_INVALID,
	    "length prefix larger than the frame");
	buf_free(f);
	pair_free(&p);

	established_pair(&p);
	f = seal(p.c, "0123456789");
	memcpy(d, buf_ptr(f), buf_len(f));
	d[0] = 0x80;
	is_int(channel_open(p.a, d, buf_len(f), pt), P11AGENT_ERR_MAC_INVALID,
	    "high length byte set");
	is_int(buf_len(pt), 0, "no plaintext");
	buf_free(f);
	buf_free(pt);
	pair_free(&p);
}

static void
test_replay(void)
{
	struct buf *f, *pt = buf_new();
	struct pair p;

	established_pair(&p);
	f = seal(p.c, "transfer");
	is_int(open_frame(p.a, f, pt), 0, "first delivery");
	is_int(open_frame(p.a, f, pt), P11AGENT_ERR_MAC_INVALID,
	    "replayed frame refused");
	is_int(buf_len(pt), 8, "only one plaintext");
	check_poisoned(p.a, P11AGENT_ERR_MAC_INVALID, "after replay");
	buf_free(f);
	buf_free(pt);
	pair_free(&p);
}

static void
test_reorder(void)
{
	struct buf *f1, *f2, *pt = buf_new();
	struct pair p;

	established_pair(&p);
	f1 = seal(p.c, "one");
	f2 = seal(p.c, "two");
	is_int(open_frame(p.a, f2, pt), P11AGENT_ERR_MAC_INVALID,
	    "second frame first: refused");
	is_int(open_frame(p.a, f1, pt), P11AGENT_ERR_MAC_INVALID,
	    "and the channel is dead");
	check_poisoned(p.a, P11AGENT_ERR_MAC_INVALID, "after reordering");
	buf_free(f1);
	buf_free(f2);
	buf_free(pt);
	pair_free(&p);
}

static void
test_truncated(void)
{
	struct buf *f, *pt = buf_new();
	struct pair p;
	size_t cut[] = { 0, 1, 3, 4, 5, 19, 20 };
	size_t i;
	int all = 1;

	for (i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		established_pair(&p);
		f = seal(p.c, "abcdefgh");
		/* Keep only the first cut[i] bytes (or drop the last one). */
		if (channel_open(p.a, buf_ptr(f),
		    cut[i] < buf_len(f) ? cut[i] : buf_len(f) - 1, pt) !=
		    P11AGENT_ERR_MAC_INVALID)
			all = 0;
		if (channel_established(p.a))
			all = 0;
		buf_free(f);
		pair_free(&p);
	}
	ok(all, "truncated frames (0..20 bytes) refused, channel poisoned");

	established_pair(&p);
	f = seal(p.c, "abcdefgh");
	is_int(channel_open(p.a, buf_ptr(f), buf_len(f) - 1, pt),
	    P11AGENT_ERR_MAC_INVALID, "last byte missing");
	buf_free(f);
	pair_free(&p);

	/* A valid frame with a byte appended. */
	established_pair(&p);
	f = seal(p.c, "abcdefgh");
	buf_put_u8(f, 0);
	is_int(open_frame(p.a, f, pt), P11AGENT_ERR_MAC_INVALID,
	    "trailing byte refused");
	is_int(buf_len(pt), 0, "no plaintext");
	buf_free(f);
	buf_free(pt);
	pair_free(&p);
}

static void
test_wrong_direction(void)
{
	struct buf *f, *pt = buf_new();
	struct pair p;

	/* A client frame reflected back to the client. */
	established_pair(&p);
	f = seal(p.c, "reflect me");
	is_int(open_frame(p.c, f, pt), P11AGENT_ERR_MAC_INVALID,
	    "own frame reflected to the initiator");
	buf_free(f);
	pair_free(&p);

	/* An agent frame reflected back to the agent. */
	established_pair(&p);
	f = seal(p.a, "reflect me");
	is_int(open_frame(p.a, f, pt), P11AGENT_ERR_MAC_INVALID,
	    "own frame reflected to the responder");
	check_poisoned(p.a, P11AGENT_ERR_MAC_INVALID, "after reflection");
	buf_free(f);
	pair_free(&p);

	/* A frame from another session. */
	{
		struct pair q;

		established_pair(&p);
		established_pair(&q);
		f = seal(q.c, "elsewhere");
		is_int(open_frame(p.a, f, pt), P11AGENT_ERR_MAC_INVALID,
		    "frame from another session");
		buf_free(f);
		pair_free(&q);
		pair_free(&p);
	}
	is_int(buf_len(pt), 0, "no plaintext");
	buf_free(pt);
}

static void
test_wrong_pinned_key(void)
{
	struct channel_keypair *other;
	struct buf *m1 = buf_new(), *pl = buf_new();
	struct pair p;

	/* The client pinned some other agent's key. */
	pair_new(&p);
	channel_free(p.c);
	channel_keypair_generate(&other);
	channel_initiator_new(&p.c, p.cs, other->pub);
	is_int(channel_write_msg1(p.c, (const uint8_t *)"hi", 2, m1), 0,
	    "initiator writes msg1 for the wrong key");
	is_int(channel_read_msg1(p.a, buf_ptr(m1), buf_len(m1), pl),
	    P11AGENT_ERR_MAC_INVALID, "responder cannot decrypt it");
	is_int(buf_len(pl), 0, "no payload");
	check_poisoned(p.a, P11AGENT_ERR_MAC_INVALID, "responder");
	channel_keypair_free(other);
	pair_free(&p);
	buf_free(m1);
	buf_free(pl);
}

static void
test_impostor_agent(void)
{
	struct buf *m1 = buf_new(), *m2 = buf_new(), *pl = buf_new();
	struct channel_keypair *fake;
	struct channel *imp;
	struct pair p;

	/*
	 * Someone without the agent's private key answers the client: it
	 * cannot even read msg1, and a msg2 it makes up (its own static
	 * key, reusing the client's e) does not verify.
	 */
	pair_new(&p);
	channel_keypair_generate(&fake);
	channel_responder_new(&imp, fake);
	channel_write_msg1(p.c, (const uint8_t *)"hi", 2, m1);
	is_int(channel_read_msg1(imp, buf_ptr(m1), buf_len(m1), pl),
	    P11AGENT_ERR_MAC_INVALID, "impostor cannot read msg1");
	/* Feed the client a well-formed msg2 from a real, other session. */
	{
		struct pair q;

		pair_new(&q);
		channel_write_msg1(q.c, NULL, 0, pl);
		buf_reset(m1);
		channel_read_msg1(q.a, buf_ptr(pl), buf_len(pl), m1);
		channel_write_msg2(q.a, NULL, 0, m2);
		buf_reset(pl);
		is_int(channel_read_msg2(p.c, buf_ptr(m2), buf_len(m2), pl),
		    P11AGENT_ERR_MAC_INVALID, "foreign msg2 refused");
		check_poisoned(p.c, P11AGENT_ERR_MAC_INVALID, "initiator");
		pair_free(&q);
	}
	channel_free(imp);
	channel_keypair_free(fake);
	pair_free(&p);
	buf_free(m1);
	buf_free(m2);
	buf_free(pl);
}

static void
test_tamper_handshake(void)
{
	struct buf *m1 = buf_new(), *m2 = buf_new(), *pl = buf_new();
	uint8_t d[256];
	/* msg1 here is 101 bytes, msg2 50. */
	size_t spots1[] = { 0, 31, 32, 79, 80, 96, 100 };
	size_t spots2[] = { 0, 31, 32, 33, 34, 49 };
	struct pair p;
	size_t i;
	int all = 1;

	for (i = 0; i < sizeof(spots1) / sizeof(spots1[0]); i++) {
		pair_new(&p);
		buf_reset(m1);
		buf_reset(pl);
		channel_write_msg1(p.c, (const uint8_t *)"hello", 5, m1);
		memcpy(d, buf_ptr(m1), buf_len(m1));
		d[spots1[i]] ^= 0x40;
		if (channel_read_msg1(p.a, d, buf_len(m1), pl) == 0 ||
		    buf_len(pl) != 0 || channel_remote_static(p.a) != NULL)
			all = 0;
		pair_free(&p);
	}
	ok(all, "msg1 with a flipped byte (e, s, tag, payload) refused");

	all = 1;
	for (i = 0; i < sizeof(spots2) / sizeof(spots2[0]); i++) {
		pair_new(&p);
		buf_reset(m1);
		buf_reset(m2);
		buf_reset(pl);
		channel_write_msg1(p.c, (const uint8_t *)"hello", 5, m1);
		channel_read_msg1(p.a, buf_ptr(m1), buf_len(m1), pl);
		channel_write_msg2(p.a, (const uint8_t *)"ok", 2, m2);
		memcpy(d, buf_ptr(m2), buf_len(m2));
		d[spots2[i]] ^= 0x40;
		buf_reset(pl);
		if (channel_read_msg2(p.c, d, buf_len(m2), pl) == 0 ||
		    buf_len(pl) != 0 || channel_established(p.c))
			all = 0;
		pair_free(&p);
	}
	ok(all, "msg2 with a flipped byte (e, tag, payload) refused");

	/* A low-order point as e: the DH result is zero, which is fatal. */
	pair_new(&p);
	memset(d, 0, 96);
	is_int(channel_read_msg1(p.a, d, 96, pl), P11AGENT_ERR_HANDSHAKE,
	    "all-zero e refused");
	check_poisoned(p.a, P11AGENT_ERR_HANDSHAKE, "after zero e");
	pair_free(&p);
	buf_free(m1);
	buf_free(m2);
	buf_free(pl);
}

static void
test_handshake_lengths(void)
{
	struct buf *m1 = buf_new(), *pl = buf_new();
	uint8_t *big = calloc(1, 2 * P11AGENT_MAX_HS_PAYLOAD);
	struct pair p;

	pair_new(&p);
	is_int(channel_write_msg1(p.c, big, P11AGENT_MAX_HS_PAYLOAD + 1, m1),
	    P11AGENT_ERR_MAX_SIZE, "oversize msg1 payload refused");
	is_int(buf_len(m1), 0, "nothing written");
	pair_free(&p);

	pair_new(&p);
	is_int(channel_write_msg1(p.c, big, P11AGENT_MAX_HS_PAYLOAD, m1), 0,
	    "largest msg1 payload");
	is_int(channel_read_msg1(p.a, buf_ptr(m1), buf_len(m1), pl), 0,
	    "read largest msg1");
	pair_free(&p);

	pair_new(&p);
	is_int(channel_read_msg1(p.a, big, 95, pl), P11AGENT_ERR_INVALID_FORMAT,
	    "95-byte msg1 refused");
	pair_free(&p);
	pair_new(&p);
	is_int(channel_read_msg1(p.a, big, 96 + P11AGENT_MAX_HS_PAYLOAD + 1,
	    pl), P11AGENT_ERR_INVALID_FORMAT, "overlong msg1 refused");
	pair_free(&p);
	pair_new(&p);
	buf_reset(m1);
	channel_write_msg1(p.c, NULL, 0, m1);
	is_int(channel_read_msg2(p.c, big, 47, pl), P11AGENT_ERR_INVALID_FORMAT,
	    "47-byte msg2 refused");
	pair_free(&p);
	free(big);
	buf_free(m1);
	buf_free(pl);
}

static void
test_state_errors(void)
{
	struct buf *b = buf_new(), *pl = buf_new();
	struct pair p;

	pair_new(&p);
	is_int(channel_seal(p.c, (const uint8_t *)"x", 1, b),
	    P11AGENT_ERR_HANDSHAKE, "seal before the handshake");
	check_poisoned(p.c, P11AGENT_ERR_HANDSHAKE, "early seal");
	is_int(channel_write_msg1(p.a, NULL, 0, b), P11AGENT_ERR_HANDSHAKE,
	    "responder cannot write msg1");
	pair_free(&p);

	pair_new(&p);
	is_int(channel_write_msg2(p.a, NULL, 0, b), P11AGENT_ERR_HANDSHAKE,
	    "write_msg2 before read_msg1");
	pair_free(&p);

	pair_new(&p);
	channel_write_msg1(p.c, NULL, 0, b);
	is_int(channel_read_msg1(p.a, buf_ptr(b), buf_len(b), pl), 0,
	    "read_msg1");
	is_int(channel_read_msg1(p.a, buf_ptr(b), buf_len(b), pl),
	    P11AGENT_ERR_HANDSHAKE, "read_msg1 twice");
	is_int(channel_write_msg1(p.c, NULL, 0, b), P11AGENT_ERR_HANDSHAKE,
	    "write_msg1 twice");
	pair_free(&p);

	is_int(channel_initiator_new(NULL, NULL, NULL),
	    P11AGENT_ERR_INVALID_ARGUMENT, "initiator_new(NULL)");
	{
		struct channel *ch = (struct channel *)1;
		struct channel_keypair *kp;

		channel_keypair_generate(&kp);
		is_int(channel_initiator_new(&ch, kp, NULL),
		    P11AGENT_ERR_INVALID_ARGUMENT, "initiator without rs");
		ok(ch == NULL, "out-param cleared");
		channel_keypair_free(kp);
	}
	is_int(channel_seal(NULL, NULL, 0, b), P11AGENT_ERR_INVALID_ARGUMENT,
	    "seal(NULL)");
	ok(channel_established(NULL) == 0, "established(NULL)");
	channel_free(NULL);
	buf_free(b);
	buf_free(pl);
}

static void
test_kat(void)
{
	uint8_t cs[32], ce[32], as[32], ae[32], p1[64], p2[64], rq[64],
	    rp[64], want[512];
	size_t p1len, p2len, rqlen, rplen, n;
	struct channel_keypair *ckp, *akp;
	struct channel *c, *a;
	struct buf *m1 = buf_new(), *m2 = buf_new(), *pl = buf_new(),
	    *f = buf_new();

	tap_unhex(kat_client_static, cs, sizeof(cs));
	tap_unhex(kat_client_ephemeral, ce, sizeof(ce));
	tap_unhex(kat_agent_static, as, sizeof(as));
	tap_unhex(kat_agent_ephemeral, ae, sizeof(ae));
	p1len = tap_unhex(kat_payload1, p1, sizeof(p1));
	p2len = tap_unhex(kat_payload2, p2, sizeof(p2));
	rqlen = tap_unhex(kat_request, rq, sizeof(rq));
	rplen = tap_unhex(kat_reply, rp, sizeof(rp));

	channel_keypair_from_private(cs, &ckp);
	channel_keypair_from_private(as, &akp);
	channel_initiator_new(&c, ckp, akp->pub);
	channel_responder_new(&a, akp);
	is_int(channel_set_ephemeral(c, ce), 0, "fix client ephemeral");
	is_int(channel_set_ephemeral(a, ae), 0, "fix agent ephemeral");

	is_int(channel_write_msg1(c, p1, p1len, m1), 0, "kat: write_msg1");
	n = tap_unhex(kat_msg1, want, sizeof(want));
	is_int(buf_len(m1), n, "kat: msg1 length");
	is_mem(buf_ptr(m1), want, n, "kat: msg1 bytes");
	is_int(channel_read_msg1(a, buf_ptr(m1), buf_len(m1), pl), 0,
	    "kat: read_msg1");
	is_int(channel_write_msg2(a, p2, p2len, m2), 0, "kat: write_msg2");
	n = tap_unhex(kat_msg2, want, sizeof(want));
	is_int(buf_len(m2), n, "kat: msg2 length");
	is_mem(buf_ptr(m2), want, n, "kat: msg2 bytes");
	is_int(channel_read_msg2(c, buf_ptr(m2), buf_len(m2), pl), 0,
	    "kat: read_msg2");
	n = tap_unhex(kat_hash, want, sizeof(want));
	is_mem(channel_handshake_hash(c), want, n, "kat: initiator h");
	is_mem(channel_handshake_hash(a), want, n, "kat: responder h");

	/* Transport: two client frames (n = 0, 1), one agent frame. */
	channel_seal(c, rq, rqlen, f);
	n = tap_unhex(kat_frame_c2a_0, want, sizeof(want));
	is_int(buf_len(f), n, "kat: first request frame length");
	is_mem(buf_ptr(f), want, n, "kat: first request frame");
	buf_reset(f);
	channel_seal(c, rq, rqlen, f);
	n = tap_unhex(kat_frame_c2a_1, want, sizeof(want));
	is_mem(buf_ptr(f), want, n, "kat: second request frame (n = 1)");
	buf_reset(f);
	channel_seal(a, rp, rplen, f);
	n = tap_unhex(kat_frame_a2c_0, want, sizeof(want));
	is_mem(buf_ptr(f), want, n, "kat: first reply frame");

	channel_free(c);
	channel_free(a);
	channel_keypair_free(ckp);
	channel_keypair_free(akp);
	buf_free(m1);
	buf_free(m2);
	buf_free(pl);
	buf_free(f);
}

static void
test_set_ephemeral_once(void)
{
	struct buf *m1 = buf_new(), *m2 = buf_new();
	uint8_t e[32];
	struct pair p, q;

	/* The fixed key applies to the next handshake message only. */
	memset(e, 0x42, sizeof(e));
	pair_new(&p);
	pair_new(&q);
	channel_free(q.c);
	channel_initiator_new(&q.c, p.cs, p.as->pub);
	channel_set_ephemeral(p.c, e);
	channel_set_ephemeral(q.c, e);
	channel_write_msg1(p.c, NULL, 0, m1);
	channel_write_msg1(q.c, NULL, 0, m2);
	ok(buf_len(m1) == buf_len(m2) &&
	    memcmp(buf_ptr(m1), buf_ptr(m2), buf_len(m1)) == 0,
	    "same keys and ephemeral: same msg1");
	is_int(channel_set_ephemeral(p.c, e), P11AGENT_ERR_HANDSHAKE,
	    "too late to fix the ephemeral");
	pair_free(&p);
	pair_free(&q);
	buf_free(m1);
	buf_free(m2);
}

static const struct tap_case cases[] = {
	{ "/channel/keypair", test_keypair },
	{ "/channel/handshake", test_handshake },
	{ "/channel/handshakes-differ", test_handshakes_differ },
	{ "/channel/seal-open", test_seal_open },
	{ "/channel/tamper-ciphertext", test_tamper_ciphertext },
	{ "/channel/tamper-length", test_tamper_length },
	{ "/channel/replay", test_replay },
	{ "/channel/reorder", test_reorder },
	{ "/channel/truncated", test_truncated },
	{ "/channel/wrong-direction", test_wrong_direction },
	{ "/channel/wrong-pinned-key", test_wrong_pinned_key },
	{ "/channel/impostor-agent", test_impostor_agent },
	{ "/channel/tamper-handshake", test_tamper_handshake },
	{ "/channel/handshake-lengths", test_handshake_lengths },
	{ "/channel/state-errors", test_state_errors },
	{ "/channel/set-ephemeral-once", test_set_ephemeral_once },
	{ "/channel/kat", test_kat },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	if (channel_global_init() != 0)
		return 1;
	return tap_main(argc, argv, cases);
}
