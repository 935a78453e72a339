/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * cli.h - what the p11 subcommands share: the command table entry, the
 * one-line error convention ("p11: sign: message; hint"), connecting,
 * key lookup and output files. Exit codes: 0 ok, 1 the operation
 * failed, 2 usage or environment (options, files, no agent).
 */
#ifndef P11AGENT_CLI_H
#define P11AGENT_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <p11agent/client.h>

#define CLI_OK		0
#define CLI_FAIL	1
#define CLI_USAGE	2

struct cli_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;	/* one line, lowercase, no full stop */
	const char *usage;	/* the arguments after "p11 NAME" */
	const char *help;	/* option lines for --help */
};

/* The subcommands. */
int cmd_status(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_decrypt(int argc, char **argv);
int cmd_derive(int argc, char **argv);
int cmd_lock(int argc, char **argv);
int cmd_unlock(int argc, char **argv);
int cmd_client_key(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_smime(int argc, char **argv);
int cmd_gitsign(int argc, char **argv);

/* The table entry of the running command (for usage lines). */
extern const struct cli_cmd *cli_cmd;
/* --socket, or NULL. */
extern const char *cli_socket_opt;

const struct cli_cmd *cli_find_cmd(const char *name);
void cli_print_help(FILE *f, const struct cli_cmd *cmd);

/* "p11: CMD: message" on stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* As cli_err, then the usage line; returns CLI_USAGE. */
int cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * getopt_long() for subcommands: adds --socket and --help to longopts'
 * handling. Returns the option character, -1 at the end, or a negative
 * exit code - 1 (-1 - CLI_USAGE, or -1 - CLI_OK after --help) when the
 * caller must return; use cli_getopt_exit() to get the exit code.
 */
struct option;
int cli_getopt(int argc, char **argv, const char *shortopts,
    const struct option *longopts);
#define CLI_GETOPT_DONE(ch)	((ch) < -1)
#define CLI_GETOPT_EXIT(ch)	(-(ch) - 2)
/* Fails with a usage error when operands are left after the options. */
int cli_no_operands(int argc, char **argv);

/* --socket, else $P11AGENT_SOCK, else the default; NULL if none. */
const char *cli_socket_path(void);
/* Connects and prints a one-line error with a hint on failure.
 * Returns CLI_OK or the exit code. */
int cli_connect(struct p11agent_client **cp);
/* Prints an agent error for operation what ("sign"...); returns 1 or 2. */
int cli_report(struct p11agent_client *c, int r, const char *context);

/*
 * Lists the keys and finds ref; checks that the key allows op
 * (P11AGENT_OP_*, 0: any). Prints the error; returns CLI_OK or the exit
 * code. *kp points into *lp, which the caller frees.
 */
int cli_find_key(struct p11agent_client *c, const char *ref, unsigned int op,
    struct p11agent_keylist **lp, const struct p11agent_key **kp);
/* Label, or the short id when the key has no label. */
const char *cli_key_name(const struct p11agent_key *k);
/* "rsa2048", "ec P-256". */
void cli_key_type(const struct p11agent_key *k, char *out, size_t outlen);
/* "sign,decrypt"; "-" when none. */
void cli_key_ops(unsigned int ops, char *out, size_t outlen);

/*
 * s with terminal controls (C0, DEL, C1) replaced by '?', for printing
 * names that come from tokens and certificates. Returns one of a few
 * rotating static buffers (long strings are cut).
 */
const char *cli_vis(const char *s);

/* Hex without separators; 0 or -1 (not hex, odd length, too long). */
int cli_hex_decode(const char *hex, uint8_t *out, size_t outmax, size_t *lenp);

/*
 * Writes an operation's result: to path as raw bytes via a temporary
 * file in the same directory renamed on success (mode 0600 when secret,
 * else 0666 less umask), "-" raw to stdout, NULL lowercase hex and a
 * newline to stdout. Prints the error; returns CLI_OK or CLI_USAGE.
 */
int cli_write_output(const char *path, const uint8_t *p, size_t len,
    int secret);

/*
 * Reads a whole small file ("-": stdin) of at most max bytes. Prints the
 * error; returns CLI_OK, or CLI_USAGE (unreadable or too large).
 */
int cli_read_small_file(const char *path, size_t max, uint8_t **outp,
    size_t *lenp);

#endif /* P11AGENT_CLI_H */
