/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * secmem.c - wiping frees, guarded allocations for keys and PINs, and
 * process hardening. Secure allocations come from sodium_malloc(): guard
 * pages, a canary, and mlock() where the system allows it (a failed
 * mlock is tolerated there, silently). Thread-safe.
 */
#include <sys/prctl.h>
#include <sys/resource.h>

#include <stdlib.h>

#include <sodium.h>

#include <p11agent/err.h>

#include "secmem.h"

void
p11agent_freezero(void *p, size_t len)
{
	if (p == NULL)
		return;
	if (len != 0)
		sodium_memzero(p, len);
	free(p);
}

void
secmem_wipe(void *p, size_t len)
{
	if (p != NULL && len != 0)
		sodium_memzero(p, len);
}

void *
p11agent_secure_alloc(size_t len)
{
	/*
	 * sodium_malloc() relies on state that sodium_init() sets up (the
	 * page size, the canary); calling it again is cheap and idempotent,
	 * and spares every caller the ordering rule.
	 */
	if (sodium_init() < 0)
		return NULL;
	return sodium_malloc(len);
}

void
secmem_free(void *p)
{
	if (p != NULL)
		sodium_free(p);
}

int
secmem_cmp(const void *a, const void *b, size_t len)
{
	return sodium_memcmp(a, b, len) == 0 ? 0 : 1;
}

int
secmem_harden_process(void)
{
	struct rlimit rl = { 0, 0 };

	if (setrlimit(RLIMIT_CORE, &rl) == -1)
		return P11AGENT_ERR_SYSTEM_ERROR;
	/* Also keeps same-uid processes from ptrace-attaching. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		return P11AGENT_ERR_SYSTEM_ERROR;
	return 0;
}
