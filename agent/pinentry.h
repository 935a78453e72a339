/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * pinentry.h - a client of the Assuan protocol spoken by the standard
 * pinentry programs (pinentry-tty, -curses, -gnome3...). Each call runs
 * the program once, asks one thing, and waits for it to exit. Blocking:
 * call from a worker or helper thread, never from the event loop.
 */
#ifndef P11AGENT_PINENTRY_H
#define P11AGENT_PINENTRY_H

/*
 * Asks for a PIN. program NULL: "pinentry". title, desc and prompt are
 * shown as SETTITLE/SETDESC/SETPROMPT (percent-escaped here); error, if
 * not NULL, as SETERROR (e.g. "PIN incorrect, 2 tries left"). Returns 0
 * and *pinp (NUL-terminated, in secure memory; release with
 * secmem_free()), P11AGENT_ERR_DENIED when the user cancelled,
 * P11AGENT_ERR_PIN_REQUIRED when the program cannot run or has no
 * display/terminal, P11AGENT_ERR_TIMEOUT after timeout_s seconds (0: none).
 */
int pinentry_getpin(const char *program, const char *title, const char *desc,
    const char *prompt, const char *error, int timeout_s, char **pinp);

/*
 * Asks yes/no (CONFIRM). Returns 0 when the user allowed it,
 * P11AGENT_ERR_DENIED when they refused or cancelled, _TIMEOUT, or
 * P11AGENT_ERR_PIN_REQUIRED when no pinentry could run.
 */
int pinentry_confirm(const char *program, const char *title, const char *desc,
    int timeout_s);

/*
 * Terminal and locale passed to every later pinentry as OPTION ttyname,
 * ttytype and lc-ctype (pinentry-tty and -curses need a terminal; the
 * agent's own stdio is /dev/null once it detaches). NULL leaves an
 * option out. Copies the strings; call before the threads start.
 */
void pinentry_set_tty(const char *ttyname, const char *ttytype,
    const char *lc_ctype);

/*
 * Ends every conversation in progress and refuses new ones (the programs
 * are killed; the callers get P11AGENT_ERR_PIN_REQUIRED). For shutdown;
 * async-signal-safe, irreversible.
 */
void pinentry_abort(void);

#endif /* P11AGENT_PINENTRY_H */
