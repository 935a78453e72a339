/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * provider.h - the OpenSSL 3 provider "p11agent", linked in-process.
 * The same code is built as the loadable module p11agent.so (entry point
 * OSSL_provider_init) and as the static library p11agent_provider, which
 * `p11` and client/smime link so that they need no module on disk.
 * The provider reaches the agent only through libp11agent.
 */
#ifndef P11AGENT_PROVIDER_H
#define P11AGENT_PROVIDER_H

#include <openssl/core.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The provider's name and the scheme of its store loader ("p11agent:"). */
#define P11AGENT_PROVIDER_NAME		"p11agent"

/*
 * The provider entry point (an OSSL_provider_init_fn), for
 * OSSL_PROVIDER_add_builtin(). Returns 1 on success, 0 on failure.
 * Opens no connection: the agent is reached on the first operation that
 * needs it, at $P11AGENT_SOCK or the default socket.
 */
int p11agent_provider_init(const OSSL_CORE_HANDLE *handle,
    const OSSL_DISPATCH *in, const OSSL_DISPATCH **out, void **provctx);

/*
 * Registers the built-in provider with libctx (NULL: the default library
 * context) and loads it, keeping OpenSSL's fallback ("default" provider)
 * available as if nothing had been loaded explicitly. Returns 1 and the
 * loaded provider in *provp (release it with OSSL_PROVIDER_unload()), or
 * 0 with the reason on the OpenSSL error queue. Calling it again for
 * the same libctx loads the same provider once more (a new reference).
 *
 * Keys then come from OSSL_STORE_open_ex(uri, libctx, ...) with
 * "p11agent:" URIs: "p11agent:alice@example.org", "p11agent:id=<hex>",
 * "p11agent:label=<label>", "p11agent:<any p11 KEYREF>". The provider
 * needs the "default" provider in the same libctx for public-key
 * operations on certificates and for hashing.
 */
int p11agent_provider_load(OSSL_LIB_CTX *libctx, OSSL_PROVIDER **provp);

struct p11agent_client;
struct p11agent_key;

/*
 * In-process only: makes c the provider's agent connection, so that the
 * caller's key list and the provider's operations share one connection
 * (one handshake). c stays the caller's: the provider never frees,
 * replaces or retries it, and the caller must not use it while another
 * thread runs an operation through the provider. Call again with NULL
 * before freeing c. Returns 0, or P11AGENT_ERR_INVALID_ARGUMENT when
 * prov is not this provider.
 */
int p11agent_provider_use_client(OSSL_PROVIDER *prov,
    struct p11agent_client *c);

/*
 * In-process only: the agent key k (an entry of p11agent_client_list_keys())
 * as an EVP_PKEY of libctx (NULL: the default), made by this provider's
 * key management from the key's public half and id, without the store
 * or decoders. Private operations go to the agent. libctx must have the
 * provider loaded. Returns 0 or a negative P11AGENT_ERR_* (_LIBCRYPTO
 * with the reason on the OpenSSL error queue); on success *keyp is the
 * caller's (EVP_PKEY_free()).
 */
int p11agent_provider_key(OSSL_LIB_CTX *libctx, const struct p11agent_key *k,
    EVP_PKEY **keyp);

#ifdef __cplusplus
}
#endif
#endif /* P11AGENT_PROVIDER_H */
