/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * main.c - the p11 command: global options, then one subcommand from the
 * table below (wireguard-tools style, one file per subcommand). Usage and
 * help text come from the table, so "p11 --help", "p11 help CMD" and
 * "p11 CMD --help" never disagree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <getopt.h>

#include <openssl/crypto.h>

#include <p11agent/p11agent.h>

#include "cli.h"

static const struct cli_cmd commands[] = {
	{ "status", cmd_status,
	    "show the agent, its tokens and their login state",
	    "",
	    NULL },
	{ "keys", cmd_keys,
	    "list the keys the agent holds",
	    "[--json]",
	    "  --json              one JSON array of objects (id, label,\n"
	    "                      token, type, bits, curve, operations,\n"
	    "                      subject, emails, uri)\n" },
	{ "sign", cmd_sign,
	    "sign a digest, or the hash of a file, with a key in the agent",
	    "--key KEYREF [--alg ALG] (--digest HEX | --in FILE) "
	    "[--out FILE] [--description TEXT]",
	    "  -k, --key KEYREF    key id (or a prefix of at least 8 hex "
	    "digits),\n"
	    "                      e-mail address, label or pkcs11: URI\n"
	    "  -a, --alg ALG       rsa-pkcs1-sha256|-sha384|-sha512,\n"
	    "                      rsa-pss-sha256|-sha384|-sha512,\n"
	    "                      ecdsa-sha256|-sha384|-sha512 (also -sha224 "
	    "and,\n"
	    "                      except PSS, -sha1); default by key type "
	    "and size\n"
	    "  -d, --digest HEX    the digest to sign, in hex\n"
	    "  -i, --in FILE       hash FILE (\"-\": stdin) and sign the "
	    "digest\n"
	    "  -o, --out FILE      write the raw signature to FILE "
	    "(default: hex\n"
	    "                      on stdout)\n"
	    "  -D, --description TEXT\n"
	    "                      what this signature is for, shown when "
	    "the agent\n"
	    "                      asks a person to confirm (as the "
	    "client's claim)\n"
	    "                      and kept in its audit log; at most 256 "
	    "bytes\n" },
	{ "decrypt", cmd_decrypt,
	    "unwrap a key encrypted to a key in the agent",
	    "--key KEYREF --alg ALG (--in FILE | --hex HEX) [--out FILE]",
	    "  -k, --key KEYREF    key id, e-mail address, label or pkcs11: "
	    "URI\n"
	    "  -a, --alg ALG       rsa-pkcs1, rsa-oaep-sha1, rsa-oaep-sha256\n"
	    "                      (also rsa-oaep-sha224|-sha384|-sha512)\n"
	    "  -i, --in FILE       the ciphertext, raw (\"-\": stdin)\n"
	    "  -x, --hex HEX       the ciphertext, in hex\n"
	    "  -o, --out FILE      write the plaintext to FILE, mode 0600 "
	    "(default:\n"
	    "                      hex on stdout)\n" },
	{ "derive", cmd_derive,
	    "derive an ECDH shared secret with a key in the agent",
	    "--key KEYREF --peer PUBKEY.pem [--out FILE]",
	    "  -k, --key KEYREF    key id, e-mail address, label or pkcs11: "
	    "URI\n"
	    "  -p, --peer FILE     the peer's EC public key (PEM) or "
	    "certificate,\n"
	    "                      on the key's curve\n"
	    "  -o, --out FILE      write the secret to FILE, mode 0600 "
	    "(default:\n"
	    "                      hex on stdout)\n" },
	{ "lock", cmd_lock,
	    "make the agent forget the PIN and log out of its tokens",
	    "",
	    NULL },
	{ "unlock", cmd_unlock,
	    "give the agent the PIN again",
	    "[--pin-fd N | --no-prompt]",
	    "  --pin-fd N          read the PIN from file descriptor N (one "
	    "line)\n"
	    "  --no-prompt         do not prompt; the agent uses its own PIN "
	    "source\n"
	    "                      (also the default when there is no "
	    "terminal)\n" },
	{ "smime", cmd_smime,
	    "sign, verify, encrypt, decrypt and show S/MIME mail",
	    "sign|verify|encrypt|decrypt|show [OPTIONS]",
	    "  run \"p11 smime SUBCOMMAND --help\" for each subcommand's "
	    "options\n" },
	{ "gitsign", cmd_gitsign,
	    "git's x509 signing program (gpg.x509.program p11-gitsign)",
	    "--status-fd=N -bsau KEYREF | --status-fd=N --verify SIGFILE -",
	    "  git runs it as it runs gpgsm: the payload on stdin, the PEM\n"
	    "  signature on stdout, \"[GNUPG:]\" status lines on --status-fd.\n"
	    "  -b, -s, -a, -u KEYREF sign (detached, armored) with KEYREF, "
	    "or the\n"
	    "                      key of the address in \"Name <address>\" "
	    "(git's\n"
	    "                      default), or a certificate's SHA-1 "
	    "fingerprint\n"
	    "  --verify SIGFILE -  verify SIGFILE over standard input\n"
	    "  --CAfile FILE       trust anchors (default: $P11AGENT_CAFILE, "
	    "git\n"
	    "                      config p11.cafile, else the system store)\n"
	    "  --CApath DIR        trust anchors (hashed directory; git "
	    "config\n"
	    "                      p11.capath)\n"
	    "  --certs DIR         intermediates (default: "
	    "$XDG_DATA_HOME/p11agent/certs)\n"
	    "  --digest ALG        sha256, sha384 or sha512 (default: sha256,"
	    " for EC\n"
	    "                      keys the curve's size)\n"
	    "  --status-fd N       where the status lines go\n"
	    "  Exit status as gpgsm's: 0 good, 1 bad or untrusted, 2 "
	    "error.\n" },
	{ "audit", cmd_audit,
	    "check the hash chain of p11agent audit logs",
	    "verify [--continued] [--head HEX] FILE...",
	    "  verify FILE...      check that the lines of the FILEs, oldest "
	    "file\n"
	    "                      first (rotated ones before the current), "
	    "form\n"
	    "                      one unbroken chain; report the first "
	    "edited,\n"
	    "                      removed or reordered line by its number\n"
	    "  --continued         the first FILE continues an older log that "
	    "is\n"
	    "                      not given: accept the hash its first line "
	    "names\n"
	    "  --head HEX          the SHA-256 the last line must have (as the "
	    "agent\n"
	    "                      logs it on rotation and shutdown)\n"
	    "  Exit status: 0 intact, 1 broken, 2 usage or unreadable "
	    "file.\n" },
	{ "client-key", cmd_client_key,
	    "print this client's public key for authorized_clients",
	    "[--comment TEXT]",
	    "  --comment TEXT      the name after the key (default "
	    "user@host)\n" },
};

#define NCOMMANDS	(sizeof(commands) / sizeof(commands[0]))

const struct cli_cmd *
cli_find_cmd(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void
main_usage(FILE *f)
{
	size_t i;

	fputs("usage: p11 [--socket PATH] COMMAND [OPTIONS]\n"
	    "       p11 help COMMAND | --help | --version\n\n"
	    "Commands:\n", f);
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-12s  %s\n", commands[i].name,
		    commands[i].summary);
	fputs("\nKEYREF is a key id (or a prefix of at least 8 hex digits), "
	    "an e-mail\naddress in the key's certificate, a label, or a "
	    "pkcs11: URI.\n"
	    "The agent's socket is --socket, else $P11AGENT_SOCK, else the "
	    "default.\n"
	    "Run \"p11 help COMMAND\" for a command's options.\n", f);
}

static int
help(int argc, char **argv)
{
	const struct cli_cmd *cmd;

	if (argc < 2) {
		main_usage(stdout);
		return CLI_OK;
	}
	if ((cmd = cli_find_cmd(argv[1])) == NULL) {
		fprintf(stderr, "p11: help: unknown command \"%s\"; run "
		    "p11 --help\n", argv[1]);
		return CLI_USAGE;
	}
	cli_print_help(stdout, cmd);
	return CLI_OK;
}

int
main(int argc, char **argv)
{
	const struct cli_cmd *cmd;
	const char *base;
	int i;

	/*
	 * A command is one short process (one per message for S/MIME):
	 * OpenSSL's clean-up at exit freed what the exit frees anyway, and
	 * cost 3% of `p11 smime sign`. Our own secrets (the channel keys)
	 * are wiped when each command closes its connection.
	 */
	(void)OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);

	/* git runs gpg.x509.program without a shell, so it cannot be
	 * "p11 gitsign": p11-gitsign is a link to p11. */
	base = argc > 0 ? strrchr(argv[0], '/') : NULL;
	base = base != NULL ? base + 1 : argc > 0 ? argv[0] : "p11";
	if (strcmp(base, "p11-gitsign") == 0) {
		cli_cmd = cli_find_cmd("gitsign");
		optind = 0;
		return cmd_gitsign(argc, argv);
	}

	/* Global options, before the command. */
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			main_usage(stdout);
			return CLI_OK;
		} else if (strcmp(argv[i], "--version") == 0 ||
		    strcmp(argv[i], "-V") == 0) {
			printf("p11 %s\n", P11AGENT_VERSION);
			return CLI_OK;
		} else if (strcmp(argv[i], "--socket") == 0) {
			if (i + 1 >= argc) {
				fputs("p11: option --socket needs an "
				    "argument\n", stderr);
				return CLI_USAGE;
			}
			cli_socket_opt = argv[++i];
		} else if (strncmp(argv[i], "--socket=", 9) == 0) {
			cli_socket_opt = argv[i] + 9;
		} else if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		} else {
			fprintf(stderr, "p11: unknown option %s\n", argv[i]);
			main_usage(stderr);
			return CLI_USAGE;
		}
	}
	if (i >= argc) {
		main_usage(stderr);
		return CLI_USAGE;
	}
	if (strcmp(argv[i], "help") == 0)
		return help(argc - i, argv + i);
	if ((cmd = cli_find_cmd(argv[i])) == NULL) {
		fprintf(stderr, "p11: unknown command \"%s\"; run p11 --help\n",
		    argv[i]);
		return CLI_USAGE;
	}
	cli_cmd = cmd;
	optind = 0;	/* glibc: start afresh with argv[1] of the command */
	return cmd->fn(argc - i, argv + i);
}
