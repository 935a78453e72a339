/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * client-int.h - libp11agent internals shared by client.c, keylist.c and
 * status.c: the request/reply core and the key list layout. Nothing here
 * is exported (libp11agent.map keeps the ABI to the p11agent_* API).
 */
#ifndef P11AGENT_CLIENT_INT_H
#define P11AGENT_CLIENT_INT_H

#include <stddef.h>
#include <stdint.h>

#include <p11agent/client.h>

struct buf;

#ifndef return_val_if_fail
#define return_val_if_fail(expr, val) do {	\
	if (!(expr))				\
		return (val);			\
} while (0)
#endif

/*
 * One request/reply round trip: sends type with body (may be NULL for an
 * empty body) and waits for the reply with the same id. Returns 0 and an
 * OK reply body in *repp (owned by the caller, buf_free() it), the
 * negated code of a FAILURE reply (its message kept for
 * p11agent_client_last_message()), or a transport error.
 */
int client_roundtrip(struct p11agent_client *c, uint8_t type,
    const struct buf *body, struct buf **repp);

/* Sets c's last message ("" when msg is NULL). */
void client_set_message(struct p11agent_client *c, const char *msg);

/* One key as listed by the agent; see PROTOCOL.md §4.2. */
struct p11agent_key {
	uint8_t id[P11AGENT_KEYID_LEN];
	char id_hex[2 * P11AGENT_KEYID_LEN + 1];
	char *label;
	char *token_label;
	char *token_serial;
	int type;
	unsigned int bits;
	char *curve;
	unsigned int ops;
	uint8_t *spki;
	size_t spki_len;
	uint8_t *cert;			/* NULL when there is none */
	size_t cert_len;
	uint8_t *ckaid;
	size_t ckaid_len;
	char *uri;
};

struct p11agent_keylist {
	struct p11agent_key *keys;
	size_t nkeys;
	size_t alloc;
};

#endif /* P11AGENT_CLIENT_INT_H */
