/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * cmd-client-key.c - "p11 client-key": print this client's public key as
 * a line for the agent's authorized_clients file, creating the key on
 * first use. Needs no agent.
 */
#include <getopt.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11agent/client.h>

#include "paths.h"

#include "cli.h"

int
cmd_client_key(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "comment", required_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	const char *comment = NULL;
	struct passwd *pw;
	char *b64 = NULL, *path = NULL, host[256], name[512];
	int ch, r, ret;

	while ((ch = cli_getopt(argc, argv, "", longopts)) != -1) {
		if (CLI_GETOPT_DONE(ch))
			return CLI_GETOPT_EXIT(ch);
		switch (ch) {
		case 'c':
			comment = optarg;
			break;
		default:
			return cli_usage("unexpected option");
		}
	}
	if ((ret = cli_no_operands(argc, argv)) != CLI_OK)
		return ret;
	if (comment != NULL && strpbrk(comment, "\n\r") != NULL)
		return cli_usage("--comment must be one line");
	if (comment == NULL) {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		pw = getpwuid(getuid());
		if (pw != NULL)
			snprintf(name, sizeof(name), "%s@%s", pw->pw_name,
			    host);
		else
			snprintf(name, sizeof(name), "uid%u@%s",
			    (unsigned int)getuid(), host);
		comment = name;
	}
	if ((r = p11agent_client_public_key(NULL, &b64)) != 0) {
		if (paths_config_file("client.key", &path) != 0)
			path = NULL;
		if (r == P11AGENT_ERR_FILE_PERMISSIONS)
			cli_err("client key %s is accessible by others; run "
			    "chmod 600 %s", path != NULL ? path : "client.key",
			    path != NULL ? path : "client.key");
		else
			cli_err("cannot load or create client key %s: %s",
			    path != NULL ? path : "client.key",
			    p11agent_strerror(r));
		free(path);
		return CLI_USAGE;
	}
	printf("%s %s\n", b64, comment);
	free(b64);
	if (fflush(stdout) != 0) {
		cli_err("cannot write to standard output");
		return CLI_USAGE;
	}
	return CLI_OK;
}
