/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * test-misc.c - the small common modules: default paths (environment
 * rules), peer credentials over a socketpair, secret memory and process
 * hardening (in a child, since it cannot be undone), and log lines.
 */
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11agent/err.h>

#include "log.h"
#include "paths.h"
#include "peer.h"
#include "secmem.h"
#include "tap.h"

static void
test_paths_socket(void)
{
	char *p = (char *)1, want[128];

	setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
	is_int(paths_default_socket(&p), 0, "socket with XDG_RUNTIME_DIR");
	is_str(p, "/run/user/4242/p11agent/socket", "under XDG_RUNTIME_DIR");
	free(p);
	snprintf(want, sizeof(want), "/tmp/p11agent-%lu/socket",
	    (unsigned long)getuid());
	unsetenv("XDG_RUNTIME_DIR");
	is_int(paths_default_socket(&p), 0, "socket without it");
	is_str(p, want, "/tmp/p11agent-UID/socket");
	free(p);
	setenv("XDG_RUNTIME_DIR", "relative/dir", 1);
	paths_default_socket(&p);
	is_str(p, want, "a relative XDG_RUNTIME_DIR is ignored");
	free(p);
	setenv("XDG_RUNTIME_DIR", "", 1);
	paths_default_socket(&p);
	is_str(p, want, "an empty XDG_RUNTIME_DIR is ignored");
	free(p);

	is_int(paths_socket_pubkey("/run/x/socket", &p), 0, "pubkey path");
	is_str(p, "/run/x/socket.pub", "<socket>.pub");
	free(p);
	p = (char *)1;
	is_int(paths_socket_pubkey(NULL, &p), P11AGENT_ERR_INVALID_ARGUMENT,
	    "NULL socket");
	ok(p == NULL, "out-param cleared");
}

static void
test_paths_config(void)
{
	struct passwd *pw;
	char *p, want[4200];

	setenv("XDG_CONFIG_HOME", "/xdg/config", 1);
	setenv("HOME", "/home/someone", 1);
	is_int(paths_config_dir(&p), 0, "config dir");
	is_str(p, "/xdg/config/p11agent", "under XDG_CONFIG_HOME");
	free(p);
	is_int(paths_config_file("client.key", &p), 0, "config file");
	is_str(p, "/xdg/config/p11agent/client.key", "<dir>/<name>");
	free(p);
	unsetenv("XDG_CONFIG_HOME");
	paths_config_dir(&p);
	is_str(p, "/home/someone/.config/p11agent", "under $HOME/.config");
	free(p);
	setenv("XDG_CONFIG_HOME", "not/absolute", 1);
	paths_config_dir(&p);
	is_str(p, "/home/someone/.config/p11agent",
	    "a relative XDG_CONFIG_HOME is ignored");
	free(p);
	unsetenv("XDG_CONFIG_HOME");
	unsetenv("HOME");
	pw = getpwuid(getuid());
	snprintf(want, sizeof(want), "%s/.config/p11agent",
	    pw != NULL && strcmp(pw->pw_dir, "/") != 0 ? pw->pw_dir : "");
	is_int(paths_config_dir(&p), 0, "config dir without HOME");
	is_str(p, want, "home from the password database");
	free(p);
	is_int(paths_config_file("", &p), P11AGENT_ERR_INVALID_ARGUMENT,
	    "empty name");
}

static void
test_peer(void)
{
	uid_t uid;
	gid_t gid;
	pid_t pid;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		abort();
	is_int(peer_getcred(sv[0], &uid, &gid, &pid), 0, "peer_getcred");
	is_int(uid, getuid(), "peer uid");
	is_int(gid, getgid(), "peer gid");
	is_int(pid, getpid(), "peer pid");
	is_int(peer_getcred(sv[1], &uid, &gid, NULL), 0, "pidp may be NULL");
	close(sv[0]);
	close(sv[1]);
	uid = 0;
	is_int(peer_getcred(-1, &uid, &gid, &pid), P11AGENT_ERR_SYSTEM_ERROR,
	    "bad fd");
	ok(uid == (uid_t)-1, "uid is -1 on failure, never root");
	if (pipe(sv) == -1)
		abort();
	is_int(peer_getcred(sv[0], &uid, NULL, NULL),
	    P11AGENT_ERR_SYSTEM_ERROR, "not a socket");
	close(sv[0]);
	close(sv[1]);
}

static void
test_secmem(void)
{
	uint8_t *p, *q;

	p = p11agent_secure_alloc(64);
	ok(p != NULL, "secure_alloc");
	memset(p, 0x5a, 64);
	q = p11agent_secure_alloc(64);
	memcpy(q, p, 64);
	is_int(secmem_cmp(p, q, 64), 0, "equal");
	q[63] ^= 1;
	ok(secmem_cmp(p, q, 64) != 0, "differ in the last byte");
	secmem_wipe(q, 64);
	ok(q[0] == 0 && q[63] == 0, "wiped");
	secmem_free(p);
	secmem_free(q);
	secmem_free(NULL);
	p11agent_freezero(NULL, 10);
	p11agent_freezero(malloc(10), 10);
	ok(1, "NULLs are harmless");
}

static void
test_harden(void)
{
	int status = -1;
	pid_t pid;

	/* Irreversible, so in a child. */
	if ((pid = fork()) == 0) {
		struct rlimit rl;

		if (secmem_harden_process() != 0)
			_exit(1);
		if (getrlimit(RLIMIT_CORE, &rl) != 0 || rl.rlim_cur != 0 ||
		    rl.rlim_max != 0)
			_exit(2);
		if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
			_exit(3);
		_exit(0);
	}
	waitpid(pid, &status, 0);
	ok(WIFEXITED(status), "child exited");
	is_int(WEXITSTATUS(status), 0,
	    "no core dumps, not dumpable (1 harden, 2 rlimit, 3 dumpable)");
}

/* Runs fn with stderr captured; returns what it wrote (static). */
static const char *
capture_stderr(void (*fn)(void))
{
	static char out[4096];
	int p[2], saved;
	ssize_t n;

	fflush(stderr);
	if (pipe(p) == -1 || (saved = dup(2)) == -1)
		abort();
	dup2(p[1], 2);
	close(p[1]);
	fn();
	dup2(saved, 2);
	close(saved);
	n = read(p[0], out, sizeof(out) - 1);
	out[n > 0 ? n : 0] = '\0';
	close(p[0]);
	return out;
}

static void
log_some(void)
{
	log_init("/usr/libexec/p11agent-test", LOG_LEVEL_INFO, 1);
	log_err_fr(P11AGENT_ERR_TIMEOUT, "read from %s", "peer");
	log_info_f("client \"%s\" connected", "evil\nname\x1b[0m");
	log_debug_f("not shown at level info");
	log_err_f("plain");
}

static void
test_log(void)
{
	const char *out = capture_stderr(log_some);

	is_str(out,
	    "p11agent-test: log_some: read from peer: timed out\n"
	    "p11agent-test: log_some: client \"evil?name?[0m\" connected\n"
	    "p11agent-test: log_some: plain\n",
	    "progname: func: message[: error], control characters replaced, "
	    "debug filtered");
	is_int(log_get_level(), LOG_LEVEL_INFO, "level kept");
	log_init("p11agent", LOG_LEVEL_ERROR, 1);
}

static const struct tap_case cases[] = {
	{ "/paths/socket", test_paths_socket },
	{ "/paths/config", test_paths_config },
	{ "/peer/getcred", test_peer },
	{ "/secmem/alloc-cmp", test_secmem },
	{ "/secmem/harden", test_harden },
	{ "/log/lines", test_log },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	return tap_main(argc, argv, cases);
}
