/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * jobaudit.c - a finished job's audit record (workers.h), apart from the
 * worker pool so that fuzz-dispatch formats its audit lines with the
 * agent's own code.
 */
#include <p11agent/p11agent.h>

#include "audit.h"
#include "workers.h"

static const char *
op_name(uint8_t type)
{
	switch (type) {
	case P11AGENT_MSG_SIGN:
		return "sign";
	case P11AGENT_MSG_DECRYPT:
		return "decrypt";
	case P11AGENT_MSG_DERIVE:
		return "derive";
	default:
		return "?";
	}
}

void
job_audit_rec(const struct job *j, struct audit_rec *rec)
{
	const struct job_meta *m = j->meta;
	int r = j->result;

	/*
	 * The log says what the client is told: every failure of the token's
	 * decryption is "decrypt_failed". The agent's own failures (denied,
	 * busy, audit) carry a message.
	 */
	if (j->type == P11AGENT_MSG_DECRYPT && r != 0 && j->msg == NULL &&
	    r != P11AGENT_ERR_AGENT_LOCKED && r != P11AGENT_ERR_NOT_LOGGED_IN &&
	    r != P11AGENT_ERR_TOKEN_NOT_PRESENT && r != P11AGENT_ERR_NO_MEMORY)
		r = P11AGENT_ERR_DECRYPT_FAILED;
	audit_rec_init(rec);
	rec->op = op_name(j->type);
	rec->key_id = j->key_id;
	if (m != NULL) {
		rec->client = m->client;
		rec->client_key = m->client_key;
		rec->program = m->program;
		rec->pid = m->pid;
		rec->uid = m->uid;
		rec->exe = m->exe;
		rec->key_label = m->key_label;
		rec->alg = m->alg;
		if (m->has_description)
			rec->description = m->description;
	}
	switch (j->type) {
	case P11AGENT_MSG_SIGN:
		rec->data_field = "digest";
		break;
	case P11AGENT_MSG_DECRYPT:
		rec->data_field = "ciphertext_sha256";
		rec->data_hashed = 1;
		break;
	default:
		rec->data_field = "peer_sha256";
		rec->data_hashed = 1;
		break;
	}
	rec->data = j->in;
	rec->datalen = j->inlen;
	rec->confirmed = j->confirmed;
	rec->result = r;
	rec->message = r != 0 ? j->msg : NULL;
	rec->duration_us = workers_now_us() - j->t0_us;
}
