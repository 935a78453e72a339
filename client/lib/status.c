/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * status.c - the STATUS request (PROTOCOL.md §4.1) and its accessors.
 * The reply is parsed whole into a struct p11agent_status that the
 * caller owns; the token count is checked against the bytes present
 * before anything is allocated for it.
 */
#include <stdlib.h>

#include <p11agent/client.h>

#include "buf.h"
#include "proto.h"

#include "client-int.h"

struct status_token {
	char *label;
	char *serial;
	char *manufacturer;
	char *model;
	char *module;
	uint8_t flags;
	uint32_t nkeys;
};

struct p11agent_status {
	char *version;
	int locked;
	size_t ntokens;
	struct status_token *tokens;
};

void
p11agent_status_free(struct p11agent_status *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->ntokens; i++) {
		free(s->tokens[i].label);
		free(s->tokens[i].serial);
		free(s->tokens[i].manufacturer);
		free(s->tokens[i].model);
		free(s->tokens[i].module);
	}
	free(s->tokens);
	free(s->version);
	free(s);
}

static int
parse_status(struct buf *rep, struct p11agent_status *s)
{
	struct status_token *t;
	uint32_t n;
	uint8_t locked;
	size_t i;
	int r;

	if ((r = buf_get_cstring(rep, &s->version, NULL)) != 0 ||
	    (r = buf_get_u8(rep, &locked)) != 0 ||
	    (r = buf_get_u32(rep, &n)) != 0)
		return P11AGENT_ERR_INVALID_FORMAT;
	s->locked = locked != 0;
	/* A token takes 25 bytes or more: allocate only what can be there. */
	if (n > buf_len(rep) / 25)
		return P11AGENT_ERR_INVALID_FORMAT;
	if (n > 0 && (s->tokens = calloc(n, sizeof(*s->tokens))) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	for (i = 0; i < n; i++) {
		t = &s->tokens[i];
		s->ntokens = i + 1;
		if (buf_get_cstring(rep, &t->label, NULL) != 0 ||
		    buf_get_cstring(rep, &t->serial, NULL) != 0 ||
		    buf_get_cstring(rep, &t->manufacturer, NULL) != 0 ||
		    buf_get_cstring(rep, &t->model, NULL) != 0 ||
		    buf_get_cstring(rep, &t->module, NULL) != 0 ||
		    buf_get_u8(rep, &t->flags) != 0 ||
		    buf_get_u32(rep, &t->nkeys) != 0)
			return P11AGENT_ERR_INVALID_FORMAT;
	}
	return buf_len(rep) == 0 ? 0 : P11AGENT_ERR_INVALID_FORMAT;
}

int
p11agent_client_status(struct p11agent_client *c, struct p11agent_status **sp)
{
	struct p11agent_status *s = NULL;
	struct buf *rep = NULL;
	int r = P11AGENT_ERR_INTERNAL;

	return_val_if_fail(sp != NULL, P11AGENT_ERR_INVALID_ARGUMENT);
	*sp = NULL;
	return_val_if_fail(c != NULL, P11AGENT_ERR_INVALID_ARGUMENT);
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	if ((r = client_roundtrip(c, P11AGENT_MSG_STATUS, NULL, &rep)) != 0 ||
	    (r = parse_status(rep, s)) != 0)
		goto out;
	*sp = s;
	s = NULL;
	r = 0;
 out:
	p11agent_status_free(s);
	buf_free(rep);
	return r;
}

static const struct status_token *
status_token(const struct p11agent_status *s, size_t i)
{
	if (s == NULL || i >= s->ntokens)
		return NULL;
	return &s->tokens[i];
}

#define TOKEN_STR(s, i, field) \
	(status_token((s), (i)) != NULL ? status_token((s), (i))->field : "")

const char *
p11agent_status_version(const struct p11agent_status *s)
{
	return s != NULL && s->version != NULL ? s->version : "";
}

int
p11agent_status_locked(const struct p11agent_status *s)
{
	return s != NULL ? s->locked : 0;
}

size_t
p11agent_status_token_count(const struct p11agent_status *s)
{
	return s != NULL ? s->ntokens : 0;
}

const char *
p11agent_status_token_label(const struct p11agent_status *s, size_t i)
{
	return TOKEN_STR(s, i, label);
}

const char *
p11agent_status_token_serial(const struct p11agent_status *s, size_t i)
{
	return TOKEN_STR(s, i, serial);
}

const char *
p11agent_status_token_manufacturer(const struct p11agent_status *s, size_t i)
{
	return TOKEN_STR(s, i, manufacturer);
}

const char *
p11agent_status_token_model(const struct p11agent_status *s, size_t i)
{
	return TOKEN_STR(s, i, model);
}

const char *
p11agent_status_token_module(const struct p11agent_status *s, size_t i)
{
	return TOKEN_STR(s, i, module);
}

int
p11agent_status_token_present(const struct p11agent_status *s, size_t i)
{
	const struct status_token *t = status_token(s, i);

	return t != NULL && (t->flags & P11AGENT_TOKEN_PRESENT) != 0;
}

int
p11agent_status_token_logged_in(const struct p11agent_status *s, size_t i)
{
	const struct status_token *t = status_token(s, i);

	return t != NULL && (t->flags & P11AGENT_TOKEN_LOGGED_IN) != 0;
}

unsigned int
p11agent_status_token_keys(const struct p11agent_status *s, size_t i)
{
	const struct status_token *t = status_token(s, i);

	return t != NULL ? t->nkeys : 0;
}
