/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * channel.h - the secure channel: a Noise_IK_25519_ChaChaPoly_BLAKE2b
 * handshake and sealed transport frames, built on libsodium. This is
 * the only module that calls the AEAD and X25519 functions. The code
 * does no I/O: callers move the bytes. Not thread-safe per channel.
 * docs/PROTOCOL.md gives the exact construction.
 */
#ifndef P11AGENT_CHANNEL_H
#define P11AGENT_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct buf;
struct channel;

/* A static X25519 key pair; priv lives in secure memory. */
struct channel_keypair {
	uint8_t pub[P11AGENT_KEY_LEN];
	uint8_t *priv;		/* P11AGENT_KEY_LEN bytes, p11agent_secure_alloc */
};

/* Must be called once before anything else (sodium_init). Returns 0 or an error. */
int channel_global_init(void);

/* New random key pair / from a private key. Free with channel_keypair_free(). */
int channel_keypair_generate(struct channel_keypair **kpp);
int channel_keypair_from_private(const uint8_t priv[P11AGENT_KEY_LEN],
    struct channel_keypair **kpp);
void channel_keypair_free(struct channel_keypair *kp);

/*
 * Initiator (client): knows its static key s and the responder's public
 * key rs (pinned). Responder (agent): knows its static key s. The
 * keypair must outlive the channel.
 */
int channel_initiator_new(struct channel **chp, const struct channel_keypair *s,
    const uint8_t rs[P11AGENT_KEY_LEN]);
int channel_responder_new(struct channel **chp, const struct channel_keypair *s);
/* Wipes all keys and frees; NULL is allowed. */
void channel_free(struct channel *ch);

/* Test hook: fix the next ephemeral private key (known-answer tests). */
int channel_set_ephemeral(struct channel *ch, const uint8_t priv[P11AGENT_KEY_LEN]);

/*
 * Handshake. write_msg1 (initiator) appends the Noise message "e, es, s,
 * ss" with payload to out; read_msg1 (responder) processes it and appends
 * the decrypted payload to payload. write_msg2 (responder) appends "e,
 * ee, se" + payload and completes the responder; read_msg2 completes the
 * initiator. Bytes are the Noise message only (no version, no length).
 * Failures: P11AGENT_ERR_HANDSHAKE (state), _MAC_INVALID (decrypt),
 * _INVALID_FORMAT (length). A failed channel must be freed.
 */
int channel_write_msg1(struct channel *ch, const uint8_t *payload, size_t plen,
    struct buf *out);
int channel_read_msg1(struct channel *ch, const uint8_t *msg, size_t len,
    struct buf *payload);
int channel_write_msg2(struct channel *ch, const uint8_t *payload, size_t plen,
    struct buf *out);
int channel_read_msg2(struct channel *ch, const uint8_t *msg, size_t len,
    struct buf *payload);

/* 1 once the handshake is complete. */
int channel_established(const struct channel *ch);
/* The peer's static public key (valid after read_msg1 / at initiator creation). */
const uint8_t *channel_remote_static(const struct channel *ch);
/* The 64-byte handshake hash h, for channel binding and tests. */
const uint8_t *channel_handshake_hash(const struct channel *ch);

/*
 * Transport. seal appends one whole frame to out: uint32 length (=
 * ptlen + 16) then ChaCha20-Poly1305 of pt, with the length bytes as
 * associated data and the per-direction counter as nonce. open takes one
 * whole frame (length prefix included, as wire_frame_check() found it)
 * and appends the plaintext to pt; P11AGENT_ERR_MAC_INVALID on any
 * tampering, replay, reordering or truncation. After a failure the
 * channel refuses all further use (the connection must be closed).
 */
int channel_seal(struct channel *ch, const uint8_t *pt, size_t ptlen,
    struct buf *out);
int channel_open(struct channel *ch, const uint8_t *frame, size_t framelen,
    struct buf *pt);

#endif /* P11AGENT_CHANNEL_H */
