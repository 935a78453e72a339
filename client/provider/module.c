/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * module.c - the entry point of the loadable module p11agent.so, found by
 * OpenSSL in its modules directory (or $OPENSSL_MODULES) when an
 * application or openssl.cnf loads the provider "p11agent". The version
 * script exports this one symbol.
 */
#include <openssl/core.h>

#include "provider.h"

OSSL_provider_init_fn OSSL_provider_init;

int
OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
    const OSSL_DISPATCH **out, void **provctx)
{
	return p11agent_provider_init(handle, in, out, provctx);
}
