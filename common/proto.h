/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * proto.h - message numbers and limits of the p11agent wire protocol.
 * docs/PROTOCOL.md documents every value here; change both together.
 */
#ifndef P11AGENT_PROTO_H
#define P11AGENT_PROTO_H

#include <p11agent/client.h>

#define P11AGENT_PROTOCOL_VERSION	1
#define P11AGENT_PROLOGUE		"p11agent protocol 1"
#define P11AGENT_NOISE_NAME		"Noise_IK_25519_ChaChaPoly_BLAKE2b"

/* Limits. */
#define P11AGENT_MAX_FRAME		65536	/* bytes, frame body after the length */
#define P11AGENT_FRAME_HDR		4	/* bytes, the uint32 length prefix */
#define P11AGENT_AEAD_TAG		16	/* bytes, Poly1305 tag per sealed frame */
#define P11AGENT_MAX_PLAINTEXT		(P11AGENT_MAX_FRAME - P11AGENT_AEAD_TAG)
#define P11AGENT_MAX_HS_PAYLOAD		1024	/* bytes, handshake payloads */
#define P11AGENT_MAX_DIGEST		64	/* bytes, SHA-512 */
#define P11AGENT_MAX_RSA_BYTES		1024	/* bytes, 8192-bit modulus */
#define P11AGENT_MAX_EC_POINT		133	/* bytes, uncompressed P-521 */
#define P11AGENT_MAX_PIN		256	/* bytes */
#define P11AGENT_MAX_NAME		256	/* bytes, labels, names, URIs */
/* P11AGENT_MAX_DESCRIPTION (client.h): 256 bytes, a client's description */
#define P11AGENT_MAX_CERT		16384	/* bytes, DER certificate in a key list */
#define P11AGENT_LIST_BUDGET		49152	/* bytes, key entries in one LIST_KEYS reply */
#define P11AGENT_MAX_CONNS		1024	/* connections at once */
#define P11AGENT_MAX_INFLIGHT		128	/* requests per connection awaiting reply */
#define P11AGENT_HANDSHAKE_TIMEOUT	10	/* seconds, accept to handshake done */
#define P11AGENT_KEY_LEN		32	/* bytes, X25519 keys */
/* The agent's p11-kit helper, p11agent-p11kit (agent/kit.h). */
#define P11AGENT_KIT_PROTOCOL		"1"	/* its argv[1] */
#define P11AGENT_KIT_LINE_MAX		32768	/* bytes, a request or answer with its LF */
#define P11AGENT_KIT_FIELD_MAX		4096	/* bytes, a string of a request, before hex */
#define P11AGENT_KIT_TIMEOUT		30	/* seconds, for each answer */

/* Handshake status byte (first byte of the responder's first frame). */
#define P11AGENT_HS_PROCEED		0
#define P11AGENT_HS_BAD_VERSION		1

/* Requests (client to agent). */
#define P11AGENT_MSG_STATUS		1
#define P11AGENT_MSG_LIST_KEYS		2
#define P11AGENT_MSG_SIGN		3
#define P11AGENT_MSG_DECRYPT		4
#define P11AGENT_MSG_DERIVE		5
#define P11AGENT_MSG_LOCK		6
#define P11AGENT_MSG_UNLOCK		7
#define P11AGENT_MSG_PING		8
/* SIGN, DECRYPT, DERIVE + 16: the same body, then a description. */
#define P11AGENT_MSG_DESC_OFFSET	16
#define P11AGENT_MSG_SIGN2		19
#define P11AGENT_MSG_DECRYPT2		20
#define P11AGENT_MSG_DERIVE2		21

/* Replies (agent to client). */
#define P11AGENT_MSG_OK			0x80
#define P11AGENT_MSG_FAILURE		0x81

/* Token flags in a STATUS reply. */
#define P11AGENT_TOKEN_PRESENT		0x01
#define P11AGENT_TOKEN_LOGGED_IN	0x02

#endif /* P11AGENT_PROTO_H */
