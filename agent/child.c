/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/* child.c - see child.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* posix_spawn_file_actions_addclosefrom_np */
#endif

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <unistd.h>

#include "child.h"

extern char **environ;

int
child_spawn(const char *prog, char *const argv[], int quiet, pid_t *pidp,
    int *wfdp, int *rfdp)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int to[2], from[2], e;

	*pidp = -1;
	*wfdp = *rfdp = -1;
	if (pipe2(to, O_CLOEXEC) == -1)
		return errno;
	if (pipe2(from, O_CLOEXEC) == -1) {
		e = errno;
		close(to[0]);
		close(to[1]);
		return e;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, to[0], STDIN_FILENO);
	posix_spawn_file_actions_adddup2(&fa, from[1], STDOUT_FILENO);
	if (quiet)
		posix_spawn_file_actions_addopen(&fa, STDERR_FILENO,
		    "/dev/null", O_WRONLY, 0);
	/* Nothing of the agent (sockets, module descriptors) leaks in. */
	posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF);
	if (strchr(prog, '/') != NULL)
		e = posix_spawn(pidp, prog, &fa, &attr, argv, environ);
	else
		e = posix_spawnp(pidp, prog, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(to[0]);
	close(from[1]);
	if (e != 0) {
		*pidp = -1;
		close(to[1]);
		close(from[0]);
		return e;
	}
	*wfdp = to[1];
	*rfdp = from[0];
	return 0;
}
