/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * child.h - starts the agent's helper programs (pinentry, the p11-kit
 * helper) from a process that runs threads: posix_spawn, never fork.
 */
#ifndef P11AGENT_AGENT_CHILD_H
#define P11AGENT_AGENT_CHILD_H

#include <sys/types.h>

/*
 * Starts prog with argv (prog is looked up in PATH when it has no '/').
 * Its stdin and stdout are pipes whose other ends come back in *wfdp and
 * *rfdp (close-on-exec); its stderr is the agent's, or /dev/null when
 * quiet; no other descriptor of the agent reaches it, and it starts with
 * no signal blocked or ignored (reactors block every signal, the agent
 * ignores SIGPIPE). Returns 0 with *pidp, or an errno value.
 */
int child_spawn(const char *prog, char *const argv[], int quiet,
    pid_t *pidp, int *wfdp, int *rfdp);

#endif /* P11AGENT_AGENT_CHILD_H */
