/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * fuzz-buf.c - arbitrary bytes as a stream of frames, and each frame
 * body as a request of typed fields, the way the agent reads them. Every
 * field that parses is written back out and must read back identically;
 * a failed read must leave the buffer untouched.
 */
#include <string.h>

#include <p11agent/err.h>

#include "buf.h"
#include "fuzz.h"
#include "proto.h"
#include "secmem.h"
#include "wire.h"

/* Reads one field of the kind selected by sel; 1 if it parsed. */
static int
read_field(struct buf *b, uint8_t sel, struct buf *out)
{
	size_t before = buf_len(b), len;
	const uint8_t *p, *at = buf_ptr(b);
	uint8_t *s, v8;
	uint32_t v32;
	uint64_t v64;
	char *cs;
	int r;

	switch (sel % 6) {
	case 0:
		if ((r = buf_get_u8(b, &v8)) == 0)
			FUZZ_ASSERT(buf_put_u8(out, v8) == 0);
		break;
	case 1:
		if ((r = buf_get_u32(b, &v32)) == 0)
			FUZZ_ASSERT(buf_put_u32(out, v32) == 0);
		break;
	case 2:
		if ((r = buf_get_u64(b, &v64)) == 0)
			FUZZ_ASSERT(buf_put_u64(out, v64) == 0);
		break;
	case 3:
		if ((r = buf_get_string(b, &s, &len)) == 0) {
			FUZZ_ASSERT(s[len] == '\0');
			FUZZ_ASSERT(buf_put_string(out, s, len) == 0);
			p11agent_freezero(s, len + 1);
		} else
			FUZZ_ASSERT(s == NULL && len == 0);
		break;
	case 4:
		if ((r = buf_get_cstring(b, &cs, &len)) == 0) {
			FUZZ_ASSERT(strlen(cs) == len);
			FUZZ_ASSERT(buf_put_cstring(out, cs) == 0);
			free(cs);
		} else
			FUZZ_ASSERT(cs == NULL && len == 0);
		break;
	default:
		if ((r = buf_get_string_direct(b, &p, &len)) == 0) {
			FUZZ_ASSERT(p == at + 4);
			FUZZ_ASSERT(buf_put_string(out, p, len) == 0);
		}
		break;
	}
	if (r != 0) {
		FUZZ_ASSERT(r == P11AGENT_ERR_MESSAGE_INCOMPLETE ||
		    r == P11AGENT_ERR_INVALID_FORMAT);
		FUZZ_ASSERT(buf_len(b) == before && buf_ptr(b) == at);
		return 0;
	}
	/* What was consumed is exactly what was re-encoded. */
	FUZZ_ASSERT(before - buf_len(b) <= buf_len(out));
	FUZZ_ASSERT(memcmp(at, buf_ptr(out) + buf_len(out) -
	    (before - buf_len(b)), before - buf_len(b)) == 0);
	return 1;
}

/* A request body: id, type, then fields chosen by the type byte. */
static void
parse_body(const uint8_t *p, size_t len)
{
	struct buf *b = buf_from(p, len), *out = buf_new();
	uint32_t id, peek;
	uint8_t type, sel;
	int i;

	FUZZ_ASSERT(b != NULL && out != NULL);
	buf_set_max(out, 4 * P11AGENT_MAX_FRAME);
	if (buf_get_u32(b, &id) == 0 && buf_get_u8(b, &type) == 0) {
		sel = type;
		for (i = 0; i < 64 && buf_len(b) > 0; i++) {
			(void)buf_peek_u32(b, sel % 8, &peek);
			if (!read_field(b, sel, out))
				sel++;		/* try another kind next */
			sel = (uint8_t)(sel * 31 + 7);
		}
	}
	buf_free(b);
	buf_free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf *in, *copy;
	size_t framelen;
	int r;

	/* As a read-only view, frame by frame. */
	in = buf_from(data, size);
	FUZZ_ASSERT(in != NULL);
	while ((r = wire_frame_check(in, P11AGENT_MAX_FRAME,
	    &framelen)) == 0) {
		FUZZ_ASSERT(framelen > 4 && framelen <= buf_len(in));
		parse_body(buf_ptr(in) + 4, framelen - 4);
		FUZZ_ASSERT(buf_consume(in, framelen) == 0);
	}
	FUZZ_ASSERT(r == P11AGENT_ERR_MESSAGE_INCOMPLETE ||
	    r == P11AGENT_ERR_MAX_SIZE || r == P11AGENT_ERR_INVALID_FORMAT);
	buf_free(in);

	/* The whole input as one body, too: fields need not be framed. */
	parse_body(data, size);

	/* Into a small writable buffer, in pieces, the way reads arrive. */
	copy = buf_new();
	FUZZ_ASSERT(copy != NULL);
	buf_set_max(copy, 512);
	while (size > 0) {
		size_t n = size < 97 ? size : 97;

		if (buf_put(copy, data, n) != 0) {
			FUZZ_ASSERT(buf_len(copy) + n > 512);
			buf_consume(copy, buf_len(copy) / 2 + 1);
			continue;
		}
		data += n;
		size -= n;
		while (wire_frame_check(copy, 256, &framelen) == 0)
			buf_consume(copy, framelen);
	}
	buf_free(copy);
	return 0;
}
