/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * fuzz-dispatch-trust.c - the rest of the fakes for fuzz-dispatch: the
 * confirmation thread and the pool's clock and audit record. The target
 * links the real agent/policy.c and agent/audit.c; without an
 * authorized_clients file, --confirm or --audit-log (as here) nothing
 * may reach the confirmation thread.
 */
#include <string.h>

#include <p11agent/err.h>

#include "audit.h"
#include "confirm.h"
#include "fuzz.h"
#include "workers.h"

int
confirm_submit(struct job *j)
{
	(void)j;
	FUZZ_ASSERT(0);
	return P11AGENT_ERR_BUSY;
}

int64_t
workers_now_us(void)
{
	return 0;
}

void
job_audit_rec(const struct job *j, struct audit_rec *rec)
{
	audit_rec_init(rec);
	rec->op = "sign";
	rec->key_id = j->key_id;
	rec->result = j->result;
}
