/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * err.h - error codes shared by the agent, the wire protocol and
 * libp11agent. Every function returns 0 or one of these negative values;
 * on the wire the code travels as its magnitude (a uint32).
 */
#ifndef P11AGENT_ERR_H
#define P11AGENT_ERR_H

#ifdef __cplusplus
extern "C" {
#endif

#define P11AGENT_OK				0
#define P11AGENT_ERR_INTERNAL			-1
#define P11AGENT_ERR_INVALID_ARGUMENT		-2
#define P11AGENT_ERR_NO_MEMORY			-3
#define P11AGENT_ERR_MESSAGE_INCOMPLETE		-4
#define P11AGENT_ERR_MAX_SIZE			-5
#define P11AGENT_ERR_INVALID_FORMAT		-6
#define P11AGENT_ERR_MAC_INVALID		-7
#define P11AGENT_ERR_PROTOCOL_VERSION		-8
#define P11AGENT_ERR_HANDSHAKE			-9
#define P11AGENT_ERR_AGENT_UNREACHABLE		-10
#define P11AGENT_ERR_AGENT_KEY_MISMATCH		-11
#define P11AGENT_ERR_UNAUTHORIZED		-12
#define P11AGENT_ERR_PEER_UID			-13
#define P11AGENT_ERR_KEY_NOT_FOUND		-14
#define P11AGENT_ERR_KEY_AMBIGUOUS		-15
#define P11AGENT_ERR_MECHANISM_UNSUPPORTED	-16
#define P11AGENT_ERR_TOKEN_NOT_PRESENT		-17
#define P11AGENT_ERR_TOKEN_NOT_FOUND		-18
#define P11AGENT_ERR_PIN_INCORRECT		-19
#define P11AGENT_ERR_PIN_LOCKED			-20
#define P11AGENT_ERR_PIN_LEN_RANGE		-21
#define P11AGENT_ERR_NOT_LOGGED_IN		-22
#define P11AGENT_ERR_AGENT_LOCKED		-23
#define P11AGENT_ERR_DECRYPT_FAILED		-24
#define P11AGENT_ERR_TOKEN_ERROR		-25
#define P11AGENT_ERR_LIBCRYPTO			-26
#define P11AGENT_ERR_SYSTEM_ERROR		-27
#define P11AGENT_ERR_CONNECTION_CLOSED		-28
#define P11AGENT_ERR_TIMEOUT			-29
#define P11AGENT_ERR_UNKNOWN_MESSAGE		-30
#define P11AGENT_ERR_DIGEST_LENGTH		-31
#define P11AGENT_ERR_BUSY			-32
#define P11AGENT_ERR_DENIED			-33
#define P11AGENT_ERR_FILE_PERMISSIONS		-34
#define P11AGENT_ERR_IO				-35
#define P11AGENT_ERR_KEY_TYPE			-36
#define P11AGENT_ERR_PIN_REQUIRED		-37
#define P11AGENT_ERR_NOT_SUPPORTED		-38
/* One past the most negative code; keep in step with common/err.c. */
#define P11AGENT_ERR_MIN			-39

/*
 * Returns a static, human-readable sentence for a code ("token not
 * present"); never NULL, also for unknown codes.
 */
const char *p11agent_strerror(int err);

/*
 * Returns the symbolic name ("P11AGENT_ERR_TOKEN_NOT_PRESENT"); never NULL.
 */
const char *p11agent_strerror_name(int err);

#ifdef __cplusplus
}
#endif
#endif /* P11AGENT_ERR_H */
