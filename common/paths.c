/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * paths.c - default locations shared by the agent and its clients.
 * Environment variables are read with secure_getenv() and used only when
 * they hold an absolute path (the XDG rule for relative values: ignore
 * them). Every result is malloc'd and owned by the caller. Thread-safe.
 */
#include <sys/types.h>

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11agent/err.h>

#include "paths.h"

/* The variable's value if it is set to an absolute path, else NULL. */
static const char *
abs_env(const char *name)
{
	const char *v = secure_getenv(name);

	return v != NULL && v[0] == '/' ? v : NULL;
}

/* *pathp = a || b */
static int
join(char **pathp, const char *a, const char *b)
{
	if (asprintf(pathp, "%s%s", a, b) == -1) {
		*pathp = NULL;
		return P11AGENT_ERR_NO_MEMORY;
	}
	return 0;
}

int
paths_default_socket(char **pathp)
{
	const char *runtime;

	if (pathp == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	*pathp = NULL;
	if ((runtime = abs_env("XDG_RUNTIME_DIR")) != NULL)
		return join(pathp, runtime, "/p11agent/socket");
	if (asprintf(pathp, "/tmp/p11agent-%lu/socket",
	    (unsigned long)getuid()) == -1) {
		*pathp = NULL;
		return P11AGENT_ERR_NO_MEMORY;
	}
	return 0;
}

int
paths_socket_pubkey(const char *sock, char **pathp)
{
	if (pathp == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	*pathp = NULL;
	if (sock == NULL || *sock == '\0')
		return P11AGENT_ERR_INVALID_ARGUMENT;
	return join(pathp, sock, ".pub");
}

/* $HOME, or the password database's home directory when HOME is unset. */
static int
home_dir(char **homep)
{
	struct passwd pw, *pwp = NULL;
	const char *home;
	char *pwbuf = NULL;
	long bufsize;
	int r = P11AGENT_ERR_INTERNAL;

	*homep = NULL;
	if ((home = abs_env("HOME")) != NULL) {
		if ((*homep = strdup(home)) == NULL)
			return P11AGENT_ERR_NO_MEMORY;
		return 0;
	}
	if ((bufsize = sysconf(_SC_GETPW_R_SIZE_MAX)) <= 0)
		bufsize = 16384;
	if ((pwbuf = malloc((size_t)bufsize)) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	if (getpwuid_r(getuid(), &pw, pwbuf, (size_t)bufsize, &pwp) != 0 ||
	    pwp == NULL || pw.pw_dir == NULL || pw.pw_dir[0] != '/') {
		r = P11AGENT_ERR_SYSTEM_ERROR;
		goto out;
	}
	if ((*homep = strdup(pw.pw_dir)) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	r = 0;
 out:
	free(pwbuf);
	return r;
}

int
paths_config_dir(char **pathp)
{
	const char *config;
	char *home = NULL;
	int r;

	if (pathp == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	*pathp = NULL;
	if ((config = abs_env("XDG_CONFIG_HOME")) != NULL)
		return join(pathp, config, "/p11agent");
	if ((r = home_dir(&home)) != 0)
		return r;
	r = join(pathp, strcmp(home, "/") == 0 ? "" : home,
	    "/.config/p11agent");
	free(home);
	return r;
}

int
paths_config_file(const char *name, char **pathp)
{
	char *dir = NULL;
	int r;

	if (pathp == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	*pathp = NULL;
	if (name == NULL || *name == '\0')
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if ((r = paths_config_dir(&dir)) != 0)
		return r;
	if (asprintf(pathp, "%s/%s", dir, name) == -1) {
		*pathp = NULL;
		r = P11AGENT_ERR_NO_MEMORY;
	}
	free(dir);
	return r;
}
