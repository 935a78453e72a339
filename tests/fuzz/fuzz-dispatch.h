/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * fuzz-dispatch.h - what fuzz-dispatch.c and fuzz-dispatch-trust.c share:
 * the trust mode (a real authorized_clients policy, audit log and
 * confirmation) and the fake job queue both of them feed.
 */
#ifndef P11AGENT_FUZZ_DISPATCH_H
#define P11AGENT_FUZZ_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

struct conn;
struct job;

/* Clients: ci-signer, mail gateway, alice-laptop, an unlisted key. */
#define TRUST_NCLIENTS	4
#define TRUST_UNLISTED	3	/* a client key not in the file */
#define TRUST_RATE	3	/* ci-signer's rate=3/h */

/* fuzz-dispatch-trust.c */

/*
 * Per input: loads the authorized_clients text, opens the audit log
 * (/dev/null), gives c the handshake of client (0..3) and sets the
 * policy; confirm adds --confirm label:p256. trust_end() undoes it all
 * after dispatch_cleanup().
 */
void trust_begin(struct conn *c, unsigned int client, int confirm);
void trust_end(void);
/* The certificate of fake key i in trust mode, or NULL. */
const uint8_t *trust_cert(size_t i, size_t *lenp);
/* The label of fake key i in trust mode. */
const char *trust_label(size_t i);
/*
 * The rules, written out again: 1 if client may use key i for op
 * (P11AGENT_OP_*), with *confirmp set when a person must say yes.
 */
int trust_allows(unsigned int client, size_t i, uint32_t op, int *confirmp);
/* The number of keys LIST_KEYS shows client. */
size_t trust_visible(unsigned int client);
/* The authorized_clients name of client ("" when unlisted). */
const char *trust_name(unsigned int client);

/* fuzz-dispatch.c: queues j as conn_queue_job() or confirm_submit() would. */
int fake_queue(struct job *j, int confirm);

#endif /* P11AGENT_FUZZ_DISPATCH_H */
