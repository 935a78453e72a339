/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * err.c - names and messages for the P11AGENT_ERR_* codes. The messages
 * are the "meaning" column of docs/PROTOCOL.md §5, word for word; the
 * table is indexed by the code's magnitude. Static data, thread-safe.
 */
#include <stddef.h>

#include <p11agent/err.h>

struct err_entry {
	const char	*name;
	const char	*message;
};

#define E(code, msg)	[-(P11AGENT_ERR_ ## code)] = \
	{ "P11AGENT_ERR_" #code, msg }

static const struct err_entry err_table[] = {
	[0] = { "P11AGENT_OK", "success" },
	E(INTERNAL,		"internal error"),
	E(INVALID_ARGUMENT,	"invalid argument"),
	E(NO_MEMORY,		"out of memory"),
	E(MESSAGE_INCOMPLETE,	"message incomplete"),
	E(MAX_SIZE,		"message too large"),
	E(INVALID_FORMAT,	"invalid message format"),
	E(MAC_INVALID,		"message authentication failed"),
	E(PROTOCOL_VERSION,	"unsupported protocol version"),
	E(HANDSHAKE,		"handshake failed"),
	E(AGENT_UNREACHABLE,	"agent not reachable"),
	E(AGENT_KEY_MISMATCH,	"agent key does not match the pinned key"),
	E(UNAUTHORIZED,		"client key not authorized"),
	E(PEER_UID,		"peer uid not allowed"),
	E(KEY_NOT_FOUND,	"key not found"),
	E(KEY_AMBIGUOUS,	"key reference matches several keys"),
	E(MECHANISM_UNSUPPORTED, "algorithm not supported for this key"),
	E(TOKEN_NOT_PRESENT,	"token not present"),
	E(TOKEN_NOT_FOUND,	"token not found"),
	E(PIN_INCORRECT,	"PIN incorrect"),
	E(PIN_LOCKED,		"PIN locked"),
	E(PIN_LEN_RANGE,	"PIN length out of range"),
	E(NOT_LOGGED_IN,	"token not logged in"),
	E(AGENT_LOCKED,		"agent is locked"),
	E(DECRYPT_FAILED,	"decryption failed"),
	E(TOKEN_ERROR,		"token error"),
	E(LIBCRYPTO,		"OpenSSL error"),
	E(SYSTEM_ERROR,		"system error"),
	E(CONNECTION_CLOSED,	"connection closed"),
	E(TIMEOUT,		"timed out"),
	E(UNKNOWN_MESSAGE,	"unknown message type"),
	E(DIGEST_LENGTH,	"digest length does not match the algorithm"),
	E(BUSY,			"agent busy, try again"),
	E(DENIED,		"operation denied by policy"),
	E(FILE_PERMISSIONS,	"file permissions too open"),
	E(IO,			"I/O error"),
	E(KEY_TYPE,		"wrong key type"),
	E(PIN_REQUIRED,		"PIN required"),
	E(NOT_SUPPORTED,	"not supported"),
};

_Static_assert(sizeof(err_table) / sizeof(err_table[0]) ==
    (size_t)-(P11AGENT_ERR_MIN), "err_table covers every code in err.h");

static const struct err_entry *
lookup(int err)
{
	if (err > 0 || err <= P11AGENT_ERR_MIN)
		return NULL;
	return err_table[-err].name != NULL ? &err_table[-err] : NULL;
}

const char *
p11agent_strerror(int err)
{
	const struct err_entry *e = lookup(err);

	return e != NULL ? e->message : "unknown error";
}

const char *
p11agent_strerror_name(int err)
{
	const struct err_entry *e = lookup(err);

	return e != NULL ? e->name : "P11AGENT_ERR_UNKNOWN";
}
