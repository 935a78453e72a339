/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * policy.h - who may do what: the authorized_clients file (which client
 * keys may connect, and per client which keys, which operations, how
 * often, and whether a person must confirm each use; grammar in
 * docs/AUTHORIZED_CLIENTS.md) and key patterns (KEYREF) such as the
 * agent's --confirm option. Without a file every client of our own uid
 * (or root) may do everything. A loaded policy's rules are immutable;
 * reloading builds a new one. Only the rate buckets change (and carry
 * over a reload). Agent lock held (loop.h).
 */
#ifndef P11AGENT_AGENT_POLICY_H
#define P11AGENT_AGENT_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "proto.h"

struct policy;
struct policy_client;
struct policy_keypats;
struct policy_keyview;
struct token_keyinfo;

#define POLICY_WHY_MAX		256	/* bytes, a denial message */

/*
 * Loads path (one client per line: "base64-public-key name [rule...]",
 * '#' comments, blank lines), or an allow-everyone policy when path is
 * NULL. The file must be owned by us or root and not writable by group
 * or other. On a parse error, writes "FILE:LINE: reason" into err
 * (errlen bytes) and returns P11AGENT_ERR_INVALID_FORMAT; other failures
 * return P11AGENT_ERR_FILE_PERMISSIONS, _IO or _NO_MEMORY with err set
 * too. On success *pp is owned by the caller; release it with
 * policy_free().
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

/*
 * Keeps the rate buckets of the clients whose key and rate= are the same
 * in p as in old, so that a reload (SIGHUP, also sent for log rotation)
 * does not refill them. old may be NULL.
 */
void policy_carry_rates(struct policy *p, const struct policy *old);

/* Number of entries (0 when every client is allowed). */
size_t policy_count(const struct policy *p);

/* 1 when an authorized_clients file is in force. */
int policy_restricted(const struct policy *p);

/*
 * The entry for a client key, or NULL (no file, or the key is not
 * listed, e.g. removed by a reload since the client connected). Valid
 * as long as p.
 */
struct policy_client *policy_find(struct policy *p,
    const uint8_t pub[P11AGENT_KEY_LEN]);
const char *policy_client_name(const struct policy_client *cl);
size_t policy_client_line(const struct policy_client *cl);

/*
 * Key patterns: a comma-separated list of "*", "id:HEX", "label:GLOB",
 * "email:GLOB" or a bare address (contains '@'); GLOB may use '*'.
 * Parses every spec of specs into one set. On error writes the reason
 * into err and returns P11AGENT_ERR_INVALID_FORMAT. On success *kpp is
 * owned by the caller; release it with policy_keypats_free().
 */
int policy_keypats_parse(const char *const *specs, size_t nspecs,
    struct policy_keypats **kpp, char *err, size_t errlen);
void policy_keypats_free(struct policy_keypats *kp);

/*
 * What the patterns match against besides the key list itself: the
 * e-mail addresses of each key's certificate, read once per key-list
 * snapshot. keys must stay unchanged while the view is used. Returns
 * NULL when out of memory. Release with policy_keyview_free().
 */
struct policy_keyview *policy_keyview_new(const struct token_keyinfo *keys,
    size_t nkeys);
void policy_keyview_free(struct policy_keyview *kv);
/* The first e-mail address of key i's certificate, or "" (for display). */
const char *policy_keyview_email(const struct policy_keyview *kv, size_t i);

/* 1 if key i of the view (kv may be NULL) matches any pattern of kp. */
int policy_keypats_match(const struct policy_keypats *kp,
    const struct token_keyinfo *k, const struct policy_keyview *kv, size_t i);

/*
 * May client cl (NULL: no rules) see and use key i? Returns 1 or 0.
 */
int policy_key_visible(const struct policy_client *cl,
    const struct token_keyinfo *k, const struct policy_keyview *kv, size_t i);

/*
 * Checks one private-key operation (op: P11AGENT_OP_*) of client cl
 * (NULL: no rules) with key i. Returns 0, or P11AGENT_ERR_DENIED with
 * the reason in why (naming the authorized_clients line and the rule).
 * Does not charge the rate limit; see policy_charge(). *confirmp is set
 * to 1 when the client's rules ask for confirmation of each use.
 */
int policy_check_use(const struct policy_client *cl,
    const struct token_keyinfo *k, const struct policy_keyview *kv, size_t i,
    uint32_t op, int *confirmp, char *why, size_t whylen);

/*
 * Takes one operation from cl's rate limit (no limit, or cl NULL: always
 * 0). Returns 0 or P11AGENT_ERR_DENIED with the reason in why.
 */
int policy_charge(struct policy_client *cl, char *why, size_t whylen);

#endif /* P11AGENT_AGENT_POLICY_H */
