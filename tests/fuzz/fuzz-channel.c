/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * fuzz-channel.c - arbitrary bytes where the channel expects a peer's
 * handshake message or sealed frames. The first byte picks the target:
 * 0 a responder's read_msg1, 1 an initiator's read_msg2, 2 and 3 a
 * stream of frames to channel_open on the agent / client side of an
 * established channel. Keys and ephemerals are the known-answer ones of
 * tests/unit/test-channel.c, so the committed seeds decrypt.
 */
#include <string.h>

#include <p11agent/err.h>

#include "buf.h"
#include "channel.h"
#include "fuzz.h"
#include "proto.h"
#include "wire.h"

static const uint8_t client_static[32] = {
	0xe6, 0x1e, 0xf9, 0x91, 0x9c, 0xde, 0x45, 0xdd, 0x5f, 0x82, 0x16,
	0x64, 0x04, 0xbd, 0x08, 0xe3, 0x8b, 0xce, 0xb5, 0xdf, 0xdf, 0xde,
	0xd0, 0xa3, 0x4c, 0x8d, 0xf7, 0xed, 0x54, 0x22, 0x14, 0xd1,
};
static const uint8_t client_ephemeral[32] = {
	0x89, 0x3e, 0x28, 0xb9, 0xdc, 0x6c, 0xa8, 0xd6, 0x11, 0xab, 0x66,
	0x47, 0x54, 0xb8, 0xce, 0xb7, 0xba, 0xc5, 0x11, 0x73, 0x49, 0xa4,
	0x43, 0x9a, 0x6b, 0x05, 0x69, 0xda, 0x97, 0x7c, 0x46, 0x4a,
};
static const uint8_t agent_static[32] = {
	0x4a, 0x3a, 0xcb, 0xfd, 0xb1, 0x63, 0xde, 0xc6, 0x51, 0xdf, 0xa3,
	0x19, 0x4d, 0xec, 0xe6, 0x76, 0xd4, 0x37, 0x02, 0x9c, 0x62, 0xa4,
	0x08, 0xb4, 0xc5, 0xea, 0x91, 0x14, 0x24, 0x6e, 0x48, 0x93,
};
static const uint8_t agent_ephemeral[32] = {
	0xbb, 0xdb, 0x4c, 0xdb, 0xd3, 0x09, 0xf1, 0xa1, 0xf2, 0xe1, 0x45,
	0x69, 0x67, 0xfe, 0x28, 0x8c, 0xad, 0xd6, 0xf7, 0x12, 0xd6, 0x5d,
	0xc7, 0xb7, 0x79, 0x3d, 0x5e, 0x63, 0xda, 0x6b, 0x37, 0x5b,
};
/* The handshake payloads of the known-answer test. */
static const uint8_t payload1[] = {
	0, 0, 0, 0, 0, 0, 0, 8, 'p', '1', '1', '-', 't', 'e', 's', 't',
};
static const uint8_t payload2[] = {
	0, 0, 0, 0, 0, 0, 0, 5, '0', '.', '1', '.', '0',
};

static struct channel_keypair *cs, *as;

static void
init(void)
{
	if (cs != NULL)
		return;
	FUZZ_ASSERT(channel_global_init() == 0);
	FUZZ_ASSERT(channel_keypair_from_private(client_static, &cs) == 0);
	FUZZ_ASSERT(channel_keypair_from_private(agent_static, &as) == 0);
}

/* A fresh, deterministic pair; established when full is set. */
static void
make_pair(struct channel **c, struct channel **a, int full)
{
	struct buf *m = buf_new(), *pl = buf_new();

	FUZZ_ASSERT(channel_initiator_new(c, cs, as->pub) == 0);
	FUZZ_ASSERT(channel_responder_new(a, as) == 0);
	FUZZ_ASSERT(channel_set_ephemeral(*c, client_ephemeral) == 0);
	FUZZ_ASSERT(channel_set_ephemeral(*a, agent_ephemeral) == 0);
	FUZZ_ASSERT(channel_write_msg1(*c, payload1, sizeof(payload1),
	    m) == 0);
	if (full) {
		FUZZ_ASSERT(channel_read_msg1(*a, buf_ptr(m), buf_len(m),
		    pl) == 0);
		buf_reset(m);
		FUZZ_ASSERT(channel_write_msg2(*a, payload2,
		    sizeof(payload2), m) == 0);
		FUZZ_ASSERT(channel_read_msg2(*c, buf_ptr(m), buf_len(m),
		    pl) == 0);
	}
	buf_free(m);
	buf_free(pl);
}

/* Feeds frames to ch until one fails; a failure must poison it. */
static void
open_stream(struct channel *ch, const uint8_t *data, size_t size)
{
	struct buf *in = buf_from(data, size), *pt = buf_new();
	size_t framelen, before;
	int r = 0;

	FUZZ_ASSERT(in != NULL && pt != NULL);
	while (wire_frame_check(in, P11AGENT_MAX_FRAME, &framelen) == 0) {
		before = buf_len(pt);
		r = channel_open(ch, buf_ptr(in), framelen, pt);
		if (r != 0) {
			FUZZ_ASSERT(buf_len(pt) == before);
			break;
		}
		FUZZ_ASSERT(buf_len(pt) == before + framelen - 4 - 16);
		buf_consume(in, framelen);
	}
	/* Whatever is left, unframed, as one more (bad) frame. */
	if (r == 0 && buf_len(in) > 0)
		r = channel_open(ch, buf_ptr(in), buf_len(in), pt);
	if (r != 0) {
		FUZZ_ASSERT(!channel_established(ch));
		FUZZ_ASSERT(channel_seal(ch, (const uint8_t *)"x", 1, pt) == r);
	}
	buf_free(in);
	buf_free(pt);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct channel *c = NULL, *a = NULL;
	struct buf *pl, *m;
	int r;

	init();
	if (size < 1)
		return 0;
	pl = buf_new();
	m = buf_new();
	switch (data[0] % 4) {
	case 0:
		FUZZ_ASSERT(channel_responder_new(&a, as) == 0);
		r = channel_read_msg1(a, data + 1, size - 1, pl);
		if (r == 0) {
			FUZZ_ASSERT(channel_remote_static(a) != NULL);
			FUZZ_ASSERT(channel_write_msg2(a, NULL, 0, m) == 0);
			FUZZ_ASSERT(channel_established(a));
		} else {
			FUZZ_ASSERT(buf_len(pl) == 0);
			FUZZ_ASSERT(channel_remote_static(a) == NULL);
		}
		break;
	case 1:
		make_pair(&c, &a, 0);
		r = channel_read_msg2(c, data + 1, size - 1, pl);
		FUZZ_ASSERT(r != 0 || channel_established(c));
		if (r != 0)
			FUZZ_ASSERT(buf_len(pl) == 0);
		break;
	case 2:
		make_pair(&c, &a, 1);
		open_stream(a, data + 1, size - 1);
		break;
	default:
		make_pair(&c, &a, 1);
		open_stream(c, data + 1, size - 1);
		break;
	}
	channel_free(c);
	channel_free(a);
	buf_free(pl);
	buf_free(m);
	return 0;
}
