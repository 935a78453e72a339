/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * audit.h - the tamper-evident audit log (--audit-log FILE): one JSON
 * line per operation, each carrying the SHA-256 of the line before it,
 * so that `p11 audit verify` finds any edited, removed or reordered
 * line. The format is in docs/AUDIT.md. Thread-safe: workers write the
 * lines of their operations (and wait for them to reach the disk) before
 * the reply is released; denials and lock/unlock lines under the agent
 * lock.
 */
#ifndef P11AGENT_AGENT_AUDIT_H
#define P11AGENT_AGENT_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#define AUDIT_ERR_MAX		128	/* bytes, a failure message */

/* One record. NULL strings and negative numbers are left out of the line. */
struct audit_rec {
	const char *op;		/* "sign", "decrypt", "lock"... */
	const char *client;	/* authorized_clients name ("" without) */
	const char *program;	/* the client's own name: its claim */
	const uint8_t *client_key; /* P11AGENT_KEY_LEN bytes, or NULL */
	long pid;
	long uid;
	const char *exe;
	const uint8_t *key_id;	/* P11AGENT_KEYID_LEN bytes, or NULL */
	const char *key_label;
	const char *alg;
	const char *data_field;	/* "digest", "ciphertext_sha256"... */
	const uint8_t *data;
	size_t datalen;
	int data_hashed;	/* 1: SHA-256(data) in hex; 0: data in hex */
	const char *description; /* the client's claim, or NULL */
	int confirmed;		/* 1: a person allowed it */
	const char *reason;	/* lock: "request" or "idle" */
	int result;		/* 0 or a P11AGENT_ERR_* */
	const char *message;	/* detail of a failure, or NULL */
	int64_t duration_us;
};

/*
 * Opens path for appending (created 0600), continues the chain of a
 * non-empty file from its last line, and writes the "open" line. path
 * NULL: no audit log. fail_continue: when a line cannot be written, send
 * it to syslog and carry on instead of refusing the operation. Returns 0
 * or P11AGENT_ERR_IO / _INVALID_FORMAT / _NO_MEMORY with the reason in
 * err. Call before any other thread starts.
 */
int audit_open(const char *path, int fail_continue, char *err, size_t errlen);

/* 1 when an audit log is configured. */
int audit_enabled(void);

/* Initialises rec to "nothing": NULL strings, pid/uid/duration -1. */
void audit_rec_init(struct audit_rec *rec);

/*
 * Appends one line for rec. sync: return only once it is on the disk
 * (fdatasync; concurrent writers share one). Returns 0, or when the line
 * cannot be written (and the mode is not "continue") P11AGENT_ERR_IO with
 * "audit log not writable: REASON" in err (AUDIT_ERR_MAX bytes).
 */
int audit_write(const struct audit_rec *rec, int sync, char *err,
    size_t errlen);

/*
 * SIGHUP: when the file at the path is no longer the one open (it was
 * rotated), closes the old file with a "close" line and starts the new
 * one with an "open" line that carries the hash of that "close" line.
 * Failures are logged; the old file stays in use.
 */
void audit_reopen(void);

/* Writes the "close" line, syncs and closes. Call after the workers stop. */
void audit_close(void);

#endif /* P11AGENT_AGENT_AUDIT_H */
