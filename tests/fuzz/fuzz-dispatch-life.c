/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * fuzz-dispatch-life.c - fakes of the token keeper (agent/recovery.h)
 * and of loop.h's lock and connections for fuzz-dispatch: no pinentry,
 * so a locked agent stays locked and every failure carries the code's
 * own text.
 */
#include <stddef.h>
#include <stdint.h>

#include <p11agent/err.h>

#include "loop.h"
#include "recovery.h"

int
recovery_can_login(void)
{
	return 0;
}

void
recovery_request_login(const char *client, long pid)
{
	(void)client;
	(void)pid;
}

const char *
recovery_message(int r)
{
	(void)r;
	return NULL;
}

int
recovery_unlock_begin(uint64_t conn_id, size_t slot, uint32_t req_id,
    const char *client, long pid)
{
	(void)conn_id;
	(void)slot;
	(void)req_id;
	(void)client;
	(void)pid;
	return P11AGENT_ERR_PIN_REQUIRED;
}

void
recovery_unlock_collect(void (*done)(uint64_t, size_t, uint32_t, int))
{
	(void)done;
}

/* loop.h: no late replies here, so no connection is ever looked up. */
struct conn *
loop_acquire(size_t slot, uint64_t id)
{
	(void)slot;
	(void)id;
	return NULL;
}

void
loop_release(struct conn *c)
{
	(void)c;
}

/* One thread: the agent lock guards nothing here. */
void
loop_lock(void)
{
}

void
loop_unlock(void)
{
}
