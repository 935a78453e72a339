/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * policy.h - which client keys may connect: the authorized_clients file
 * (docs/PROTOCOL.md section 6). Without a file every client of our own
 * uid (or root) may connect. A loaded policy is immutable; reloading
 * builds a new one. Loop thread only.
 */
#ifndef P11AGENT_AGENT_POLICY_H
#define P11AGENT_AGENT_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct policy;

/*
 * Loads path ("base64-public-key name" per line, '#' comments, blank
 * lines), or an allow-everyone policy when path is NULL. The file must
 * be owned by us or root and not writable by group or other. On a
 * parse error, writes "FILE:LINE: reason" into err (errlen bytes) and
 * returns P11AGENT_ERR_INVALID_FORMAT; other failures return
 * P11AGENT_ERR_FILE_PERMISSIONS, _IO or _NO_MEMORY with err set too.
 * On success *pp is owned by the caller; release it with policy_free().
 */
int policy_load(const char *path, struct policy **pp, char *err,
    size_t errlen);
void policy_free(struct policy *p);

/*
 * Checks a client's static public key. Returns 0 and sets *namep to the
 * name from the file ("" when no file is configured; borrowed, valid as
 * long as p), or P11AGENT_ERR_UNAUTHORIZED.
 */
int policy_check(const struct policy *p, const uint8_t pub[P11AGENT_KEY_LEN],
    const char **namep);

/* Number of entries (0 when every client is allowed). */
size_t policy_count(const struct policy *p);

#endif /* P11AGENT_AGENT_POLICY_H */
