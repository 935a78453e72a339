/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * cmd-status.c - "p11 status": the agent's version and lock state, then
 * each token with its identity, module, presence, login and key count.
 */
#include <getopt.h>
#include <stdio.h>

#include <p11agent/client.h>

#include "cli.h"

int
cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ NULL, 0, NULL, 0 }
	};
	struct p11agent_client *c = NULL;
	struct p11agent_status *s = NULL;
	size_t i, n;
	int ch, r, ret;

	while ((ch = cli_getopt(argc, argv, "", longopts)) != -1) {
		if (CLI_GETOPT_DONE(ch))
			return CLI_GETOPT_EXIT(ch);
		return cli_usage("unexpected option");
	}
	if ((ret = cli_no_operands(argc, argv)) != CLI_OK ||
	    (ret = cli_connect(&c)) != CLI_OK)
		return ret;
	if ((r = p11agent_client_status(c, &s)) != 0) {
		ret = cli_report(c, r, NULL);
		goto out;
	}
	n = p11agent_status_token_count(s);
	printf("agent %s at %s: %s, %zu token%s\n",
	    cli_vis(p11agent_status_version(s)), cli_socket_path(),
	    p11agent_status_locked(s) ? "locked" : "unlocked", n,
	    n == 1 ? "" : "s");
	for (i = 0; i < n; i++) {
		printf("token \"%s\"\n",
		    cli_vis(p11agent_status_token_label(s, i)));
		printf("\tserial:       %s\n",
		    cli_vis(p11agent_status_token_serial(s, i)));
		printf("\tmanufacturer: %s\n",
		    cli_vis(p11agent_status_token_manufacturer(s, i)));
		printf("\tmodel:        %s\n",
		    cli_vis(p11agent_status_token_model(s, i)));
		printf("\tmodule:       %s\n",
		    cli_vis(p11agent_status_token_module(s, i)));
		printf("\tstate:        %s, %s\n",
		    p11agent_status_token_present(s, i) ? "present" :
		    "not present",
		    p11agent_status_token_logged_in(s, i) ? "logged in" :
		    "not logged in");
		printf("\tkeys:         %u\n",
		    p11agent_status_token_keys(s, i));
	}
	if (fflush(stdout) != 0) {
		cli_err("cannot write to standard output");
		ret = CLI_USAGE;
		goto out;
	}
	ret = CLI_OK;
 out:
	p11agent_status_free(s);
	p11agent_client_free(c);
	return ret;
}
