/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * token.h - the agent's view of its PKCS#11 tokens. token.c is the only
 * file that includes libp11.h; it maps CK_RV to P11AGENT_ERR_* (keeping
 * the CKR_* name for the log) and never hands out private key material.
 * token_sign/decrypt/derive may run concurrently on worker threads; the
 * rest is called from the main thread.
 */
#ifndef P11AGENT_TOKEN_H
#define P11AGENT_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include <p11agent/client.h>

struct token_ctx;

/* One private key as listed to clients (a copy; free with token_keys_free). */
struct token_keyinfo {
	uint8_t id[P11AGENT_KEYID_LEN];	/* SHA-256 of the SPKI DER */
	char *label;
	char *token_label;
	char *token_serial;
	uint8_t type;			/* P11AGENT_KEY_RSA or _EC */
	uint32_t bits;
	char *curve;			/* "P-256"...; "" for RSA */
	uint32_t ops;			/* P11AGENT_OP_* */
	uint8_t *spki;
	size_t spki_len;
	uint8_t *cert;			/* NULL if no certificate with this CKA_ID */
	size_t cert_len;
	uint8_t *ckaid;
	size_t ckaid_len;
	char *uri;			/* pkcs11: URI of the private key */
};

/* One token as reported by STATUS (a copy; free with token_infos_free). */
struct token_info {
	char *label;
	char *serial;
	char *manufacturer;
	char *model;
	char *module;
	int present;
	int logged_in;
	uint32_t nkeys;
};

/*
 * Loads the modules (paths, or names of modules registered with p11-kit
 * resolved through p11-kit's configuration) and selects the tokens that
 * match any of the RFC 7512 URIs (all tokens when nuris is 0). Fails with
 * P11AGENT_ERR_TOKEN_NOT_FOUND when nothing matches. Does not log in.
 * On success *tp is owned by the caller; release it with token_close().
 */
int token_open(struct token_ctx **tp, const char *const *modules,
    size_t nmodules, const char *const *uris, size_t nuris);
void token_close(struct token_ctx *t);

/*
 * Logs in to every selected token with pin (NUL-terminated, secret: the
 * caller wipes it) and enumerates their keys and certificates. Checks
 * the token's PIN flags first and never retries. Returns 0 or
 * P11AGENT_ERR_PIN_INCORRECT / _PIN_LOCKED / _PIN_LEN_RANGE /
 * _TOKEN_NOT_PRESENT / _TOKEN_ERROR.
 */
int token_login(struct token_ctx *t, const char *pin);
/* Logs out of every token; keys stay listed but operations fail with
 * P11AGENT_ERR_AGENT_LOCKED until the next token_login(). */
int token_logout(struct token_ctx *t);
/* 1 when logged in (not locked). */
int token_logged_in(struct token_ctx *t);
/* 1 if the token's login needs a PIN (CKF_LOGIN_REQUIRED, not protected path). */
int token_needs_pin(struct token_ctx *t);

/* Copies of the key list / token list. Free with the matching _free. */
int token_keys(struct token_ctx *t, struct token_keyinfo **keysp, size_t *nkeysp);
void token_keys_free(struct token_keyinfo *keys, size_t nkeys);
int token_infos(struct token_ctx *t, struct token_info **infosp, size_t *ninfosp);
void token_infos_free(struct token_info *infos, size_t ninfos);

/*
 * Private-key operations by key id. alg is a P11AGENT_ALG_*; the digest
 * length must match it (P11AGENT_ERR_DIGEST_LENGTH), and the key must
 * support it (P11AGENT_ERR_MECHANISM_UNSUPPORTED). Unknown id:
 * P11AGENT_ERR_KEY_NOT_FOUND. Decryption failures of any kind return
 * P11AGENT_ERR_DECRYPT_FAILED (no padding oracle). Thread-safe.
 * On success *outp is malloc'd, owned by the caller; release it with
 * p11agent_freezero(*outp, *outlenp).
 */
int token_sign(struct token_ctx *t, const uint8_t *id, uint32_t alg,
    const uint8_t *digest, size_t digestlen, uint8_t **outp, size_t *outlenp);
int token_decrypt(struct token_ctx *t, const uint8_t *id, uint32_t alg,
    const uint8_t *in, size_t inlen, uint8_t **outp, size_t *outlenp);
int token_derive(struct token_ctx *t, const uint8_t *id, const uint8_t *peer,
    size_t peerlen, uint8_t **outp, size_t *outlenp);

#endif /* P11AGENT_TOKEN_H */
