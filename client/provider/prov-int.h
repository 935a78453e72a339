/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * prov-int.h - internals of the p11agent provider: the provider context
 * (one agent connection behind a mutex, a private library context with
 * only OpenSSL's "default" provider), key objects, error helpers and the
 * dispatch tables of each operation. Key objects are immutable once
 * built and reference counted, so any thread may use them.
 */
#ifndef P11AGENT_PROV_INT_H
#define P11AGENT_PROV_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/evp.h>

#include <p11agent/client.h>

struct p11agent_keylist;

struct provctx {
	const OSSL_CORE_HANDLE *handle;
	/*
	 * Our own library context holding only the "default" provider: we
	 * parse public keys, hash, verify, encrypt and run KDFs there, so
	 * nothing we do can come back into this provider.
	 */
	OSSL_LIB_CTX *libctx;
	OSSL_PROVIDER *deflt;
	OSSL_FUNC_core_new_error_fn *core_new_error;
	OSSL_FUNC_core_set_error_debug_fn *core_set_error_debug;
	OSSL_FUNC_core_vset_error_fn *core_vset_error;

	/* The agent connection; created on first use, guarded by lock. */
	pthread_mutex_t lock;
	struct p11agent_client *client;
	pid_t client_pid;		/* a child must not reuse the channel */
	/* client is the in-process caller's (p11agent_provider_use_client):
	 * used, never freed or replaced by us. */
	int client_borrowed;
	uint32_t magic;			/* PROVCTX_MAGIC */
};

#define PROVCTX_MAGIC	0x70313161u	/* "p11a": a provctx of ours */

/*
 * Import parameters of our own (p11agent_provider_key): the agent's key
 * id, which makes an imported public key usable for private operations
 * through the agent, and its P11AGENT_OP_* bits. A reference, never key
 * material; the agent still decides what each key may do.
 */
#define PROV_PARAM_KEY_ID	"p11agent-key-id"	/* octet string */
#define PROV_PARAM_KEY_OPS	"p11agent-key-ops"	/* unsigned int */

/*
 * A key known to the provider. type is P11AGENT_KEY_RSA or _EC. pub is a
 * key of pc->libctx holding the public key (has_pub), or for EC only the
 * group (a parameter key); NULL for an empty key. has_priv means the
 * agent holds the private half under id: "private" is usable, never
 * present.
 */
struct pkey {
	int refs;			/* atomic */
	struct provctx *pc;
	int type;
	EVP_PKEY *pub;
	int has_pub;
	int has_priv;
	uint8_t id[P11AGENT_KEYID_LEN];
	unsigned int ops;		/* P11AGENT_OP_*, 0 when unknown */
};

/* Reasons for our errors (provider-specific, see provider.c). */
#define PROV_R_AGENT_BASE		100	/* + |P11AGENT_ERR_*| */
#define PROV_R_UNSUPPORTED_DIGEST	1
#define PROV_R_UNSUPPORTED_PADDING	2
#define PROV_R_UNSUPPORTED_SALTLEN	3
#define PROV_R_NO_PRIVATE_KEY		4
#define PROV_R_INVALID_KEY		5
#define PROV_R_BUFFER_TOO_SMALL		6
#define PROV_R_INVALID_URI		7
#define PROV_R_UNSUPPORTED_LABEL	8
#define PROV_R_INVALID_ARGUMENT		9
#define PROV_R_INTERNAL			10
#define PROV_R_NOT_SUPPORTED		11
#define PROV_R_PRIVATE_IMPORT		12
#define PROV_R_INVALID_DATA		13
#define PROV_R_LIBCRYPTO		14

/* Raises an error on the OpenSSL queue through the core's upcalls. */
void prov_raise(const struct provctx *pc, const char *file, int line,
    const char *func, int reason, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
#define PROV_ERR(pc, reason, ...)					\
	prov_raise((pc), OPENSSL_FILE, OPENSSL_LINE, OPENSSL_FUNC,	\
	    (reason), __VA_ARGS__)

/* Raises a failed agent request: "p11agent: <strerror>[: <message>]". */
void prov_raise_agent(const struct provctx *pc, const char *file, int line,
    const char *func, int r, const char *msg);

/* The reason-string table for OSSL_FUNC_PROVIDER_GET_REASON_STRINGS. */
const OSSL_ITEM *prov_reason_strings(void);

/*
 * Agent requests (conn.c): one connection per provider context, made on
 * first use, reconnected once when it turns out to have dropped.
 * Return 1 on success, 0 with an error raised. Outputs are owned by the
 * caller; *sigp is public, *outp secret: release it with
 * p11agent_freezero().
 */
int agent_list_keys(struct provctx *pc, struct p11agent_keylist **lp);
int agent_sign(struct provctx *pc, const uint8_t *id, unsigned int alg,
    const uint8_t *dg, size_t dglen, uint8_t **sigp, size_t *siglenp);
int agent_decrypt(struct provctx *pc, const uint8_t *id, unsigned int alg,
    const uint8_t *in, size_t inlen, uint8_t **outp, size_t *outlenp);
int agent_derive(struct provctx *pc, const uint8_t *id, const uint8_t *peer,
    size_t peerlen, uint8_t **outp, size_t *outlenp);
/* Drops the connection (provider teardown); a borrowed one is only
 * forgotten. */
void agent_disconnect(struct provctx *pc);
/* Makes c (borrowed, may be NULL) the connection, replacing ours. */
void agent_use_client(struct provctx *pc, struct p11agent_client *c);

/* Key objects (keymgmt.c). */
struct pkey *pkey_new(struct provctx *pc, int type);
/* Builds a usable key from one entry of the agent's key list. */
struct pkey *pkey_from_agent(struct provctx *pc,
    const struct p11agent_key *k);
int pkey_up_ref(struct pkey *k);
void pkey_free(struct pkey *k);
/* Field size in bytes (EC) or modulus size (RSA); 0 when unknown. */
size_t pkey_size_bytes(const struct pkey *k);
/* Largest signature / ciphertext (EVP_PKEY_get_size() of pub). */
size_t pkey_max_size(const struct pkey *k);
/* The EC group's short name ("prime256v1"), or NULL. */
int pkey_group_name(const struct pkey *k, char *buf, size_t len);

/* The digests the agent knows (signature.c); NULL if not one. */
struct prov_digest {
	const char *name;		/* OpenSSL's canonical name */
	int nid;
	size_t len;
	unsigned int rsa_pkcs1, rsa_pss, ecdsa, rsa_oaep; /* 0: none */
};
const struct prov_digest *prov_digest_by_nid(int nid);
const struct prov_digest *prov_digest_by_len(size_t len);

/* Dispatch tables. */
extern const OSSL_DISPATCH prov_rsa_keymgmt_functions[];
extern const OSSL_DISPATCH prov_ec_keymgmt_functions[];
extern const OSSL_DISPATCH prov_rsa_signature_functions[];
extern const OSSL_DISPATCH prov_ecdsa_signature_functions[];
extern const OSSL_DISPATCH prov_rsa_asym_cipher_functions[];
extern const OSSL_DISPATCH prov_ecdh_keyexch_functions[];
extern const OSSL_DISPATCH prov_store_functions[];

#endif /* P11AGENT_PROV_INT_H */
