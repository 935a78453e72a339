/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * secmem.h - secret memory: wiping frees, locked allocations for keys
 * and PINs (sodium_malloc: guard pages, mlock where the system allows),
 * and process hardening for the agent.
 */
#ifndef P11AGENT_SECMEM_H
#define P11AGENT_SECMEM_H

#include <stddef.h>

/* Wipes len bytes at p, then free(p). NULL is allowed. */
void p11agent_freezero(void *p, size_t len);
/* Wipes without freeing (sodium_memzero). */
void secmem_wipe(void *p, size_t len);
/* Locked, guarded allocation; NULL on failure. Free with secmem_free(). */
void *p11agent_secure_alloc(size_t len);
/* Wipes and frees memory from p11agent_secure_alloc(); NULL is allowed. */
void secmem_free(void *p);
/* Constant-time comparison; 0 when equal. */
int secmem_cmp(const void *a, const void *b, size_t len);
/*
 * Core dumps off (RLIMIT_CORE 0), not dumpable / not ptrace-attachable
 * by same-uid processes (PR_SET_DUMPABLE 0). Returns 0 or
 * P11AGENT_ERR_SYSTEM_ERROR.
 */
int secmem_harden_process(void);

#endif /* P11AGENT_SECMEM_H */
