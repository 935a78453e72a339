/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * client.h - libp11agent, the client side of the p11agent protocol.
 * A struct p11agent_client is one authenticated, encrypted connection to
 * the agent. Handles are not thread-safe: use one per thread, or lock.
 * Every function returns 0 or a negative P11AGENT_ERR_* (see err.h).
 */
#ifndef P11AGENT_CLIENT_H
#define P11AGENT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <p11agent/err.h>

#ifdef __cplusplus
extern "C" {
#endif

#define P11AGENT_KEYID_LEN		32	/* bytes: SHA-256 of the SPKI DER */
#define P11AGENT_MAX_DESCRIPTION	256	/* bytes, p11agent_client_set_description() */

/* Key types (p11agent_key_type()). */
#define P11AGENT_KEY_RSA		1
#define P11AGENT_KEY_EC			2

/* Operation bits (p11agent_key_operations()). */
#define P11AGENT_OP_SIGN		0x01
#define P11AGENT_OP_DECRYPT		0x02
#define P11AGENT_OP_DERIVE		0x04

/* Signature algorithms: the digest is computed by the caller. */
#define P11AGENT_ALG_RSA_PKCS1_SHA256	1
#define P11AGENT_ALG_RSA_PKCS1_SHA384	2
#define P11AGENT_ALG_RSA_PKCS1_SHA512	3
#define P11AGENT_ALG_RSA_PSS_SHA256	4	/* MGF1 same hash, salt = hash length */
#define P11AGENT_ALG_RSA_PSS_SHA384	5
#define P11AGENT_ALG_RSA_PSS_SHA512	6
#define P11AGENT_ALG_ECDSA_SHA256	7	/* DER Ecdsa-Sig-Value */
#define P11AGENT_ALG_ECDSA_SHA384	8
#define P11AGENT_ALG_ECDSA_SHA512	9
#define P11AGENT_ALG_RSA_PKCS1_SHA224	10
#define P11AGENT_ALG_RSA_PKCS1_SHA1	11	/* legacy peers only */
#define P11AGENT_ALG_ECDSA_SHA224	12
#define P11AGENT_ALG_ECDSA_SHA1		13
#define P11AGENT_ALG_RSA_PSS_SHA224	14
/* Decryption (key unwrap) algorithms. */
#define P11AGENT_ALG_RSA_PKCS1		16
#define P11AGENT_ALG_RSA_OAEP_SHA1	17	/* MGF1 same hash, empty label */
#define P11AGENT_ALG_RSA_OAEP_SHA256	18
#define P11AGENT_ALG_RSA_OAEP_SHA384	19
#define P11AGENT_ALG_RSA_OAEP_SHA512	20
#define P11AGENT_ALG_RSA_OAEP_SHA224	21

struct p11agent_client;
struct p11agent_keylist;
struct p11agent_key;
struct p11agent_status;

/*
 * Connects to the agent at sock (NULL: $P11AGENT_SOCK, else the default
 * $XDG_RUNTIME_DIR/p11agent/socket), pins the agent's public key from
 * "<sock>.pub" and authenticates with the client key under
 * $XDG_CONFIG_HOME/p11agent/ (created on first use). On success *cp is
 * owned by the caller; release it with p11agent_client_free().
 */
int p11agent_client_connect(struct p11agent_client **cp, const char *sock);

/*
 * As p11agent_client_connect(), with the agent's public key given
 * (32 bytes, NULL: read "<sock>.pub"), the client key file (NULL:
 * default) and a short client name for the agent's logs (may be NULL).
 */
int p11agent_client_connect_ex(struct p11agent_client **cp, const char *sock,
    const uint8_t *agent_pub, const char *client_key_file, const char *name);

/* Closes the connection and wipes the session keys. NULL is allowed. */
void p11agent_client_free(struct p11agent_client *c);

/*
 * The agent's human-readable message for the last failed request on c,
 * or "" if none. Valid until the next call on c.
 */
const char *p11agent_client_last_message(const struct p11agent_client *c);

/* Sets the time limit for one request, in milliseconds (0: no limit). */
void p11agent_client_set_timeout(struct p11agent_client *c, int ms);

/*
 * Attaches a short description of what the following key operations on
 * c are for (e.g. "mail to bob@example.org, Subject: ...") until it is
 * changed; NULL or "" removes it. The agent shows it, marked as the
 * client's unverified claim, to a person asked to confirm the use of a
 * key, and writes it to its audit log. At most P11AGENT_MAX_DESCRIPTION
 * bytes of UTF-8 (P11AGENT_ERR_INVALID_ARGUMENT otherwise). An agent too
 * old to take one gets the operations without it.
 */
int p11agent_client_set_description(struct p11agent_client *c,
    const char *desc);

/*
 * Lists the agent's keys. On success *lp is owned by the caller;
 * release it with p11agent_keylist_free().
 */
int p11agent_client_list_keys(struct p11agent_client *c,
    struct p11agent_keylist **lp);
size_t p11agent_keylist_count(const struct p11agent_keylist *l);
const struct p11agent_key *p11agent_keylist_get(const struct p11agent_keylist *l,
    size_t i);
void p11agent_keylist_free(struct p11agent_keylist *l);

/*
 * Finds one key by reference: a hex key id or unique prefix of at least
 * 8 digits, an e-mail address in the certificate, a label, or a pkcs11:
 * URI. Returns P11AGENT_ERR_KEY_NOT_FOUND or P11AGENT_ERR_KEY_AMBIGUOUS
 * when it does not name exactly one key. *kp points into l. A pkcs11:
 * URI is read with libp11-kit, loaded on the first one:
 * P11AGENT_ERR_NOT_SUPPORTED when it cannot be loaded.
 */
int p11agent_keylist_find(const struct p11agent_keylist *l, const char *ref,
    const struct p11agent_key **kp);

/* Accessors; strings are never NULL (may be ""). Pointers live as long as l. */
const uint8_t *p11agent_key_id(const struct p11agent_key *k);	/* KEYID_LEN bytes */
const char *p11agent_key_id_hex(const struct p11agent_key *k);	/* 64 hex digits */
const char *p11agent_key_label(const struct p11agent_key *k);
const char *p11agent_key_token_label(const struct p11agent_key *k);
const char *p11agent_key_token_serial(const struct p11agent_key *k);
int p11agent_key_type(const struct p11agent_key *k);		/* P11AGENT_KEY_* */
unsigned int p11agent_key_bits(const struct p11agent_key *k);
const char *p11agent_key_curve(const struct p11agent_key *k);	/* "P-256", "" for RSA */
unsigned int p11agent_key_operations(const struct p11agent_key *k); /* P11AGENT_OP_* */
const uint8_t *p11agent_key_spki(const struct p11agent_key *k, size_t *lenp);
const uint8_t *p11agent_key_cert(const struct p11agent_key *k, size_t *lenp); /* NULL, 0 if none */
const uint8_t *p11agent_key_ckaid(const struct p11agent_key *k, size_t *lenp);
const char *p11agent_key_uri(const struct p11agent_key *k);

/*
 * Signs a digest with key id (P11AGENT_KEYID_LEN bytes) and alg
 * (P11AGENT_ALG_*). On success *sigp is owned by the caller; release it
 * with p11agent_freezero(*sigp, *siglenp).
 */
int p11agent_client_sign(struct p11agent_client *c, const uint8_t *id,
    unsigned int alg, const uint8_t *digest, size_t digestlen,
    uint8_t **sigp, size_t *siglenp);

/*
 * Unwraps ciphertext with the key's private half. On success *outp is
 * secret and owned by the caller; release it with p11agent_freezero().
 */
int p11agent_client_decrypt(struct p11agent_client *c, const uint8_t *id,
    unsigned int alg, const uint8_t *in, size_t inlen,
    uint8_t **outp, size_t *outlenp);

/*
 * ECDH with the key and a peer point (uncompressed, 0x04 || X || Y).
 * *outp is the raw shared secret (X coordinate), secret, owned by the
 * caller; release it with p11agent_freezero().
 */
int p11agent_client_derive(struct p11agent_client *c, const uint8_t *id,
    const uint8_t *peer, size_t peerlen, uint8_t **outp, size_t *outlenp);

/*
 * Pipelined signing: sends n requests before reading any reply, so the
 * agent works on them in parallel. results[i] is 0 or an error for
 * request i; sigs[i] and siglens[i] as for p11agent_client_sign().
 */
int p11agent_client_sign_many(struct p11agent_client *c, size_t n,
    const uint8_t *const *ids, const unsigned int *algs,
    const uint8_t *const *digests, const size_t *digestlens,
    int *results, uint8_t **sigs, size_t *siglens);

/* Forgets the PIN and logs out of every token. */
int p11agent_client_lock(struct p11agent_client *c);

/* Logs in again; pin NULL asks the agent to use its own PIN source. */
int p11agent_client_unlock(struct p11agent_client *c, const char *pin);

/* Round trip with no token involved; for health checks and benchmarks. */
int p11agent_client_ping(struct p11agent_client *c);

/*
 * Agent and token state. On success *sp is owned by the caller; release
 * it with p11agent_status_free().
 */
int p11agent_client_status(struct p11agent_client *c,
    struct p11agent_status **sp);
const char *p11agent_status_version(const struct p11agent_status *s);
int p11agent_status_locked(const struct p11agent_status *s);
size_t p11agent_status_token_count(const struct p11agent_status *s);
const char *p11agent_status_token_label(const struct p11agent_status *s, size_t i);
const char *p11agent_status_token_serial(const struct p11agent_status *s, size_t i);
const char *p11agent_status_token_manufacturer(const struct p11agent_status *s, size_t i);
const char *p11agent_status_token_model(const struct p11agent_status *s, size_t i);
const char *p11agent_status_token_module(const struct p11agent_status *s, size_t i);
int p11agent_status_token_present(const struct p11agent_status *s, size_t i);
int p11agent_status_token_logged_in(const struct p11agent_status *s, size_t i);
unsigned int p11agent_status_token_keys(const struct p11agent_status *s, size_t i);
void p11agent_status_free(struct p11agent_status *s);

/* The client's public key (base64, as in authorized_clients). */
int p11agent_client_public_key(const char *client_key_file, char **b64p);

/* Wipes and frees; NULL is allowed. */
void p11agent_freezero(void *p, size_t len);

/* Default socket path (static storage) or NULL if none can be formed. */
const char *p11agent_default_socket(void);

#ifdef __cplusplus
}
#endif
#endif /* P11AGENT_CLIENT_H */
