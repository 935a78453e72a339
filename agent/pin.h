/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * pin.h - where the agent gets the token PIN from: a 0600 file, an
 * inherited file descriptor, or a prompt on the controlling terminal.
 * Never argv, never the environment. PINs are returned in secure memory.
 */
#ifndef P11AGENT_PIN_H
#define P11AGENT_PIN_H

enum pin_source_kind { PIN_SOURCE_NONE = 0, PIN_SOURCE_FILE, PIN_SOURCE_FD,
	PIN_SOURCE_PROMPT };

struct pin_source {
	enum pin_source_kind kind;
	const char *file;	/* PIN_SOURCE_FILE */
	int fd;			/* PIN_SOURCE_FD; read once, then closed */
	const char *prompt;	/* PIN_SOURCE_PROMPT: text shown, e.g. token label */
};

/*
 * Reads the PIN (one line; the trailing newline, if any, is dropped).
 * FILE: refuses a file readable by group/other or not owned by us
 * (P11AGENT_ERR_FILE_PERMISSIONS). FD: reads to EOF or newline; a second
 * call fails with P11AGENT_ERR_PIN_REQUIRED (the fd is consumed).
 * PROMPT: /dev/tty with echo off; P11AGENT_ERR_PIN_REQUIRED if there is
 * no terminal. On success *pinp is NUL-terminated in secure memory; the
 * caller releases it with secmem_free().
 */
int pin_read(struct pin_source *src, char **pinp);

#endif /* P11AGENT_PIN_H */
