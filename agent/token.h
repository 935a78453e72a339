/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * token.h - the agent's view of its PKCS#11 tokens. token.c is the only
 * file that includes libp11.h; it maps CK_RV to P11AGENT_ERR_* (keeping
 * the CKR_* name for the log) and never hands out private key material.
 * token_sign/decrypt/derive may run concurrently on reactor threads, and
 * the login, recovery and state functions from the recovery thread; all
 * are thread-safe. A token whose operation fails as removed is "down"
 * until token_recover() finds it again.
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
 * match any of the RFC 7512 URIs (all tokens when nuris is 0), with the
 * p11-kit helper (kit.h). Fails with P11AGENT_ERR_TOKEN_NOT_FOUND when
 * nothing matches; P11AGENT_ERR_INVALID_ARGUMENT (a bad URI) and
 * P11AGENT_ERR_SYSTEM_ERROR (no p11-kit helper) come with their reason
 * logged in one line. Does not log in; the keys are listed from the
 * tokens' public key objects until it does.
 * On success *tp is owned by the caller; release it with token_close().
 */
int token_open(struct token_ctx **tp, const char *const *modules,
    size_t nmodules, const char *const *uris, size_t nuris);
void token_close(struct token_ctx *t);

/*
 * Logs in to every selected token with pin (NUL-terminated, secret: the
 * caller wipes it) and enumerates their keys and certificates. Checks
 * the token's PIN flags first and never retries. On success the PIN is
 * kept in the PIN cache (pin.h) for token_recover() and for keys that
 * want a login per use; on failure the cache is emptied. A selected
 * token that is missing is marked down. Returns 0 or
 * P11AGENT_ERR_PIN_INCORRECT / _PIN_LOCKED / _PIN_LEN_RANGE /
 * _TOKEN_NOT_PRESENT / _TOKEN_ERROR, or _SYSTEM_ERROR when the p11-kit
 * helper that names the keys failed (logged).
 */
int token_login(struct token_ctx *t, const char *pin);
/* Logs out of every token and forgets the cached PIN; keys stay listed
 * but operations fail with P11AGENT_ERR_AGENT_LOCKED until the next
 * token_login(). */
int token_logout(struct token_ctx *t);
/* 1 when logged in (not locked). */
int token_logged_in(struct token_ctx *t);
/* 1 if the token's login needs a PIN (CKF_LOGIN_REQUIRED, not protected path). */
int token_needs_pin(struct token_ctx *t);

/*
 * Copies of the key list / token list. Free with the matching _free.
 * For the event loop: P11AGENT_ERR_BUSY rather than waiting more than a
 * second behind a login or recovery.
 */
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

/*
 * Recovery. An operation that finds its token gone (removed, connection
 * lost, stale handles) marks the token down and calls the event function
 * (from a reactor thread; it must only wake someone). Operations on a down
 * token wait up to 2 s for it, then fail with
 * P11AGENT_ERR_TOKEN_NOT_PRESENT. token_recover() finds the down tokens
 * again by serial and label (reinitialising a module whose connection
 * broke), logs in with pin (from the cache; never a PIN that failed) and
 * lists their keys again: a key keeps its id only if it has the same
 * public key. Returns 0 when no token is down any more,
 * P11AGENT_ERR_TOKEN_NOT_PRESENT while one still is, or the PIN error
 * that stopped it (the cache is emptied then; lock the agent).
 */
int token_recover(struct token_ctx *t, const char *pin);
/* 1 when a token is down. */
int token_down(struct token_ctx *t);
void token_set_event_fn(struct token_ctx *t, void (*fn)(void *), void *arg);

/*
 * A login asked for on demand (loop thread: begin; recovery thread:
 * end). While it is pending, operations of a locked agent wait for it, at
 * most wait_s seconds; after it failed they get r until the next login
 * or lock.
 */
void token_login_begin(struct token_ctx *t, int wait_s);
void token_login_end(struct token_ctx *t, int r);
int token_login_pending(struct token_ctx *t);

/*
 * Before asking for a PIN: the tokens' current PIN flags. Returns
 * P11AGENT_ERR_PIN_LOCKED (with the reason in warn) when a PIN is locked,
 * else 0, with "token "x": final try" or "...: few tries left" in warn
 * when the token says so ("" otherwise).
 */
int token_pin_check(struct token_ctx *t, char *warn, size_t warnlen);
/*
 * One line for a failed login's r, from the flags the token reported
 * after it: "PIN incorrect, final try", "PIN locked; unblock it ...".
 */
void token_pin_message(struct token_ctx *t, int r, char *buf, size_t len);

/*
 * How many operations the tokens can run at once: per token its
 * ulMaxSessionCount less our login session, or 16 (libp11 0.4.12's pool)
 * when it is unlimited or unknown, at most 16; summed. At least 1.
 */
size_t token_max_parallel(struct token_ctx *t);

#endif /* P11AGENT_TOKEN_H */
