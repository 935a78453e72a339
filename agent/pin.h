/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * pin.h - where the agent gets the token PIN from: a 0600 file, an
 * inherited file descriptor, or a prompt on the controlling terminal
 * (pinentry.h asks through a pinentry program). Never argv, never the
 * environment. PINs are returned in secure memory. The PIN cache keeps
 * the PIN of the current login for re-login after a token comes back and
 * for context-specific logins; it is thread-safe.
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

/*
 * The PIN cache: at most one PIN, in secure memory, set by a successful
 * login and forgotten (wiped) by a lock, an idle lock, a failed login or
 * its maximum lifetime. Thread-safe; never logs the PIN.
 *
 * pin_cache_set copies pin (NUL-terminated) and restarts the lifetime;
 * returns 0 or P11AGENT_ERR_NO_MEMORY (the old PIN is forgotten then).
 * pin_cache_get returns 0 and a copy in *pinp (secure memory; release
 * with secmem_free()), or P11AGENT_ERR_PIN_REQUIRED when nothing is
 * cached or the PIN outlived its maximum lifetime.
 */
int pin_cache_set(const char *pin);
int pin_cache_get(char **pinp);
/* 1 when a PIN is cached (and not expired). */
int pin_cache_has(void);
void pin_cache_forget(void);
/* Maximum lifetime of a cached PIN in seconds from its entry; 0: none. */
void pin_cache_set_max_lifetime(long seconds);
/*
 * Monotonic seconds at which the cached PIN expires, or 0 when nothing
 * is cached or there is no maximum lifetime.
 */
long pin_cache_deadline(void);

#endif /* P11AGENT_PIN_H */
