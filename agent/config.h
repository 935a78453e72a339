/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * config.h - the agent's settings, from the command line and from the
 * "key = value" config file (keys named as the long options). The
 * command line wins; a repeatable option given there replaces the
 * file's list. No setting ever carries a PIN. Main thread only.
 */
#ifndef P11AGENT_AGENT_CONFIG_H
#define P11AGENT_AGENT_CONFIG_H

#include <stddef.h>

#define CONFIG_MAX_WORKERS	256	/* threads */
#define CONFIG_MAX_LOCK_AFTER	(7 * 24 * 3600)	/* seconds */

/* Strings are malloc'd; -1 / NULL mean "not set" until config_finish(). */
struct config {
	int foreground;
	int debug;
	int csh;			/* 1 csh syntax, 0 sh, -1 from $SHELL */
	char **modules;
	size_t nmodules;
	char **tokens;
	size_t ntokens;
	char *socket;
	char *config_file;
	char *pin_file;
	int pin_fd;
	int pin_prompt;
	char *authorized_clients;
	char *audit_log;		/* --audit-log FILE, or NULL */
	int audit_fail_continue;	/* --audit-fail=continue */
	char **confirm;			/* --confirm KEYREF (repeatable) */
	size_t nconfirm;
	char *agent_key;
	int workers;			/* -1 until main.c asks the tokens */
	int lock_after;			/* seconds, 0: never */
	int use_pinentry;		/* --pinentry: ask when first needed */
	char *pinentry;			/* its program; NULL: "pinentry" */
	int pin_max_lifetime;		/* seconds, 0: no limit */
};

/*
 * Parses argv and the config file (--config, else the default one if it
 * exists) into cfg and fills in the defaults. Returns 0 to go on, or 1
 * to stop with exit status *exitp (0 after --help/--version, 1 runtime
 * error, 2 usage error; the reason is already on stderr). Release cfg
 * with config_free() in every case.
 */
int config_load(struct config *cfg, int argc, char **argv, int *exitp);
void config_free(struct config *cfg);

#endif /* P11AGENT_AGENT_CONFIG_H */
