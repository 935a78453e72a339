/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * main.c - p11agent start-up and shutdown. Hardening comes first, in the
 * order style.md gives: umask, a private socket directory, no core
 * dumps, sane stdio; then the token login (the PIN is wiped on the next
 * line), and only then the socket. Without --foreground the work is done
 * in a child, and the parent prints the shell lines only once the child
 * listens, so "eval $(p11agent ...)" never races a first client.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11agent/p11agent.h>

#include "audit.h"
#include "channel.h"
#include "config.h"
#include "confirm.h"
#include "conn.h"
#include "dispatch.h"
#include "keyfile.h"
#include "log.h"
#include "loop.h"
#include "paths.h"
#include "pin.h"
#include "pinentry.h"
#include "policy.h"
#include "recovery.h"
#include "secmem.h"
#include "token.h"
#include "workers.h"

#define LISTEN_BACKLOG		128	/* pending connections */
#define SD_LISTEN_FDS_START	3	/* systemd's first passed fd */

static struct {
	struct config cfg;
	struct policy *policy;
	struct policy_keypats *confirm_keys;	/* --confirm */
	struct channel_keypair *kp;
	struct token_ctx *token;
	struct pin_source pin;
	char *pubpath;
	char *sockpath;		/* the path we bound and will unlink */
	int pub_written;	/* pubpath is ours to remove */
	int listen_fd;
	int inherited;		/* socket activation: the socket is not ours */
	int ready_fd;		/* daemon child: tells the parent we listen */
	struct conn_env env;	/* the reactors': kp, policy (agent lock) */
} g = { .listen_fd = -1, .ready_fd = -1 };

static void
die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Shutdown waits for the token operations in progress, and the token
 * keeper and C_Finalize wait for them too: an operation that never
 * returns (an HSM link that stalls, a module that deadlocks) would hold
 * the agent for ever. Past SHUTDOWN_WAIT seconds the watchdog gives up
 * on it: one line says so and the process exits, its sessions with it.
 * The socket is gone by then (cleanup() removes it first), and the audit
 * log is written line by line, so nothing written is lost.
 */
#define SHUTDOWN_WAIT	10	/* s */

static struct {
	pthread_mutex_t mtx;
	pthread_cond_t cv;		/* CLOCK_MONOTONIC */
	int done;			/* shutdown finished: stand down */
	int running;
	pthread_t thread;
} wd = { .mtx = PTHREAD_MUTEX_INITIALIZER };

static void *
watchdog_main(void *arg)
{
	struct timespec until;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += SHUTDOWN_WAIT;
	pthread_mutex_lock(&wd.mtx);
	while (!wd.done) {
		if (pthread_cond_timedwait(&wd.cv, &wd.mtx, &until) ==
		    ETIMEDOUT && !wd.done) {
			log_err_f("shutdown: a token operation has not "
			    "returned in %d s (a hung HSM or module); exiting "
			    "without it", SHUTDOWN_WAIT);
			_exit(1);
		}
	}
	pthread_mutex_unlock(&wd.mtx);
	return NULL;
}

static void
watchdog_start(void)
{
	pthread_condattr_t ca;
	sigset_t all, old;

	if (pthread_condattr_init(&ca) != 0)
		return;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&wd.cv, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		return;
	}
	pthread_condattr_destroy(&ca);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	wd.running = pthread_create(&wd.thread, NULL, watchdog_main,
	    NULL) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!wd.running)
		pthread_cond_destroy(&wd.cv);
}

/* Shutdown is over in time: the watchdog stands down and is joined. */
static void
watchdog_stop(void)
{
	if (!wd.running)
		return;
	pthread_mutex_lock(&wd.mtx);
	wd.done = 1;
	pthread_cond_signal(&wd.cv);
	pthread_mutex_unlock(&wd.mtx);
	pthread_join(wd.thread, NULL);
	pthread_cond_destroy(&wd.cv);
	wd.running = 0;
}

static void
cleanup(void)
{
	/* No new client finds a socket that nobody will answer. */
	if (g.sockpath != NULL)
		unlink(g.sockpath);
	/*
	 * Socket activation: the key stays for the clients of the next
	 * activation. Before the first there is none; a client whose
	 * connect() starts the agent waits for it (load_agent_pub()).
	 */
	if (g.pub_written && !g.inherited)
		unlink(g.pubpath);
	g.pub_written = 0;
	watchdog_start();

	/* Kills a pinentry and releases operations waiting for a login. */
	recovery_stop();
	/* A prompt in progress ends; its jobs never reach the pool. */
	confirm_stop();
	/* Waits for running operations (the watchdog bounds the wait). */
	loop_stop();
	/* After the reactors: their last lines are in. */
	audit_close();
	loop_cleanup();
	dispatch_cleanup();
	if (g.token != NULL)
		token_close(g.token);
	g.token = NULL;
	if (g.listen_fd != -1 && !g.inherited)
		close(g.listen_fd);
	g.listen_fd = -1;
	free(g.sockpath);
	free(g.pubpath);
	g.sockpath = g.pubpath = NULL;
	channel_keypair_free(g.kp);
	g.kp = NULL;
	policy_free(g.policy);
	g.policy = NULL;
	policy_keypats_free(g.confirm_keys);
	g.confirm_keys = NULL;
	config_free(&g.cfg);
	watchdog_stop();
}

/* Start-up failure: one line on stderr (or syslog once daemonised). */
static void
die(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (g.ready_fd == -2)
		log_err_f("%s", msg);
	else
		fprintf(stderr, "p11agent: %s\n", msg);
	cleanup();
	exit(1);
}

/* Makes sure fds 0-2 are open, so no later open() lands on them. */
static void
sanitise_stdfd(void)
{
	int fd, i;

	for (i = 0; i <= 2; i++) {
		if (fcntl(i, F_GETFL) != -1 || errno != EBADF)
			continue;
		if ((fd = open("/dev/null", O_RDWR)) == -1)
			die("cannot open /dev/null: %s", strerror(errno));
		if (fd != i) {
			dup2(fd, i);
			close(fd);
		}
	}
}

/* Creates the socket's directory 0700 and checks that it is private. */
static void
prepare_socket_dir(const char *sock)
{
	struct stat st;
	char dir[PATH_MAX], *slash;
	int r;

	if (strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		die("socket path %s is too long; choose a shorter --socket",
		    sock);
	snprintf(dir, sizeof(dir), "%s", sock);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((r = keyfile_mkdir_parents(sock)) != 0)
		die("cannot create the socket directory %s: %s", dir,
		    p11agent_strerror(r));
	if (lstat(dir, &st) != 0)
		die("socket directory %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		die("socket directory %s is not a directory (a symlink?); "
		    "choose another --socket", dir);
	if (st.st_uid != getuid())
		die("socket directory %s is not owned by you; choose another "
		    "--socket", dir);
	if ((st.st_mode & 077) != 0)
		die("socket directory %s is not private (mode %04o); run "
		    "\"chmod 700 %s\" or choose another --socket", dir,
		    (unsigned int)(st.st_mode & 07777), dir);
}

/*
 * Removes a socket left by a dead agent. Returns 0, or -1 when another
 * agent answers on it (message printed by the caller).
 */
static int
remove_stale_socket(const char *path)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd, alive;

	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return 0;
		die("%s: %s", path, strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		die("%s exists and is not a socket; remove it or choose "
		    "another --socket", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket: %s", strerror(errno));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	alive = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0 ||
	    (errno != ECONNREFUSED && errno != ENOENT);
	close(fd);
	if (alive)
		return -1;
	if (unlink(path) != 0 && errno != ENOENT)
		die("cannot remove stale socket %s: %s", path,
		    strerror(errno));
	log_info_f("removed stale socket %s", path);
	return 0;
}

static int
bind_socket(const char *path)
{
	struct sockaddr_un sun;
	int fd, tries;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		die("socket: %s", strerror(errno));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	for (tries = 0;; tries++) {
		/* umask 0177 already makes the socket 0600. */
		if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			break;
		if (errno != EADDRINUSE || tries > 0 ||
		    remove_stale_socket(path) != 0) {
			close(fd);
			if (errno == EADDRINUSE)
				die("another agent is listening on %s; stop it "
				    "or choose another --socket", path);
			die("bind %s: %s", path, strerror(errno));
		}
	}
	if ((g.sockpath = strdup(path)) == NULL)
		die("out of memory");
	if (listen(fd, LISTEN_BACKLOG) != 0)
		die("listen %s: %s", path, strerror(errno));
	return fd;
}

/*
 * systemd socket activation (sd_listen_fds(3) without libsystemd):
 * returns the passed listening socket, or -1 when there is none.
 */
static int
inherited_socket(void)
{
	const char *pid_s, *fds_s;
	int type, acc;
	socklen_t len;

	if ((pid_s = getenv("LISTEN_PID")) == NULL ||
	    (fds_s = getenv("LISTEN_FDS")) == NULL)
		return -1;
	if (strtol(pid_s, NULL, 10) != (long)getpid() ||
	    strtol(fds_s, NULL, 10) < 1)
		return -1;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	len = sizeof(type);
	if (getsockopt(SD_LISTEN_FDS_START, SOL_SOCKET, SO_TYPE, &type,
	    &len) != 0 || type != SOCK_STREAM)
		die("LISTEN_FDS is set but fd 3 is not a stream socket");
	len = sizeof(acc);
	if (getsockopt(SD_LISTEN_FDS_START, SOL_SOCKET, SO_ACCEPTCONN, &acc,
	    &len) != 0 || !acc)
		die("LISTEN_FDS is set but fd 3 is not listening");
	return SD_LISTEN_FDS_START;
}

/* The path of an inherited Unix socket, to publish the key beside it. */
static void
inherited_path(int fd)
{
	struct sockaddr_un sun;
	socklen_t len = sizeof(sun);
	char *p;

	memset(&sun, 0, sizeof(sun));
	if (getsockname(fd, (struct sockaddr *)&sun, &len) != 0 ||
	    sun.sun_family != AF_UNIX || sun.sun_path[0] == '\0')
		return;		/* not a path: keep --socket */
	sun.sun_path[sizeof(sun.sun_path) - 1] = '\0';
	if ((p = strdup(sun.sun_path)) == NULL)
		die("out of memory");
	free(g.cfg.socket);
	g.cfg.socket = p;
}

/* "token "a"" or "tokens "a", "b"", for messages. */
static void
describe_tokens(char *out, size_t outlen)
{
	struct token_info *ti = NULL;
	size_t n = 0, i, used;

	snprintf(out, outlen, "the token");
	if (token_infos(g.token, &ti, &n) != 0 || n == 0)
		return;
	used = (size_t)snprintf(out, outlen, "token%s", n > 1 ? "s" : "");
	for (i = 0; i < n && used < outlen; i++)
		used += (size_t)snprintf(out + used, outlen - used, "%s\"%s\"",
		    i == 0 ? " " : ", ", ti[i].label);
	token_infos_free(ti, n);
}

static const char *
pin_hint(void)
{
	static char hint[PATH_MAX + 32];

	switch (g.pin.kind) {
	case PIN_SOURCE_FILE:
		snprintf(hint, sizeof(hint), "check --pin-file %s",
		    g.pin.file);
		return hint;
	case PIN_SOURCE_FD:
		return "check what is written to --pin-fd";
	default:
		return "try again";
	}
}

static void
login(void)
{
	char toks[512], msg[160], *pin = NULL;
	int r;

	describe_tokens(toks, sizeof(toks));
	memset(&g.pin, 0, sizeof(g.pin));
	g.pin.fd = -1;
	if (g.cfg.pin_file != NULL) {
		g.pin.kind = PIN_SOURCE_FILE;
		g.pin.file = g.cfg.pin_file;
	} else if (g.cfg.pin_fd != -1) {
		g.pin.kind = PIN_SOURCE_FD;
		g.pin.fd = g.cfg.pin_fd;
	} else {
		g.pin.kind = PIN_SOURCE_PROMPT;
		g.pin.prompt = toks;	/* pin.c shows "PIN for <this>: " */
	}

	/* --pinentry alone: the first operation that needs the PIN asks. */
	if (g.cfg.use_pinentry && g.cfg.pin_file == NULL &&
	    g.cfg.pin_fd == -1 && !g.cfg.pin_prompt &&
	    token_needs_pin(g.token)) {
		g.pin.kind = PIN_SOURCE_NONE;
		g.pin.prompt = NULL;
		log_info_f("%s: the pin is asked with pinentry when first "
		    "needed", toks);
		return;
	}
	if (!token_needs_pin(g.token)) {
		/* Protected authentication path (PIN pad) or no login. */
		r = token_login(g.token, NULL);
	} else {
		if ((r = pin_read(&g.pin, &pin)) != 0) {
			if (r == P11AGENT_ERR_PIN_REQUIRED)
				die("%s needs a PIN; give --pin-file FILE, "
				    "--pin-fd N or --pin-prompt (on a "
				    "terminal)", toks);
			if (r == P11AGENT_ERR_FILE_PERMISSIONS)
				die("PIN file %s must be owned by you and mode "
				    "0600; run \"chmod 600 %s\"", g.pin.file,
				    g.pin.file);
			die("cannot read the PIN for %s: %s", toks,
			    p11agent_strerror(r));
		}
		r = token_login(g.token, pin);
		secmem_free(pin);
		pin = NULL;
	}
	/* Only a file can be read again for UNLOCK; prompts are one-shot. */
	if (g.pin.kind == PIN_SOURCE_PROMPT)
		g.pin.prompt = NULL;
	switch (r) {
	case 0:
		return;
	case P11AGENT_ERR_PIN_INCORRECT:
		/* "PIN incorrect" or "PIN incorrect, final try": the token's. */
		token_pin_message(g.token, r, msg, sizeof(msg));
		die("%s for %s; %s", msg, toks, pin_hint());
	case P11AGENT_ERR_PIN_LOCKED:
		die("PIN locked on %s; unblock it with the SO PIN (e.g. "
		    "pkcs11-tool --unlock-pin)", toks);
	case P11AGENT_ERR_PIN_LEN_RANGE:
		die("PIN length out of range for %s; %s", toks, pin_hint());
	case P11AGENT_ERR_TOKEN_NOT_PRESENT:
		die("%s not present; insert it and start again", toks);
	default:
		die("login to %s failed: %s", toks, p11agent_strerror(r));
	}
}

/*
 * One malloc arena per CPU. glibc makes up to eight per core, in effect
 * one per reactor here, and each keeps about 100 KiB after a load; the
 * reactors beyond the CPUs wait on tokens, not on the allocator.
 */
static void
limit_arenas(void)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	(void)mallopt(M_ARENA_MAX, ncpu < 2 ? 2 : (int)ncpu);
}

/*
 * The worker pool: as many operations as the tokens take at once
 * (token_max_parallel: their session limits, at most 16 each), but not
 * more than twice the CPUs, which a software token cannot outrun.
 */
static int
default_workers(void)
{
	size_t n = token_max_parallel(g.token);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	if (ncpu < 1)
		ncpu = 1;
	if ((size_t)ncpu * 2 < n)
		n = (size_t)ncpu * 2;
	if (n < 1)
		n = 1;
	if (n > CONFIG_MAX_WORKERS)
		n = CONFIG_MAX_WORKERS;
	return (int)n;
}

static void
open_tokens(void)
{
	int r;

	r = token_open(&g.token, (const char *const *)g.cfg.modules,
	    g.cfg.nmodules, (const char *const *)g.cfg.tokens,
	    g.cfg.ntokens);
	/* token.c said why in one line: a bad --token, no p11-kit helper. */
	if (r == P11AGENT_ERR_INVALID_ARGUMENT ||
	    r == P11AGENT_ERR_SYSTEM_ERROR) {
		cleanup();
		exit(1);
	}
	if (r == P11AGENT_ERR_TOKEN_NOT_FOUND)
		die("no matching token in %s%s; check --module and --token "
		    "(\"p11-kit list-modules\" lists what is there)",
		    g.cfg.modules[0], g.cfg.nmodules > 1 ? " and the others" :
		    "");
	if (r != 0)
		die("cannot use PKCS#11 module %s%s: %s; check --module",
		    g.cfg.modules[0], g.cfg.nmodules > 1 ? " (or another)" :
		    "", p11agent_strerror(r));
}

/* Single-quotes s for the shell unless it is plainly safe. */
static void
print_quoted(const char *s)
{
	const char *p;

	if (s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789/._-+:@%,=")] == '\0') {
		fputs(s, stdout);
		return;
	}
	putchar('\'');
	for (p = s; *p != '\0'; p++) {
		if (*p == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*p);
	}
	putchar('\'');
}

/* The ssh-agent-style lines for eval. */
static void
print_env(pid_t pid)
{
	if (g.cfg.csh) {
		fputs("setenv P11AGENT_SOCK ", stdout);
		print_quoted(g.cfg.socket);
		printf(";\nsetenv P11AGENT_PID %ld;\n", (long)pid);
	} else {
		fputs("P11AGENT_SOCK=", stdout);
		print_quoted(g.cfg.socket);
		printf("; export P11AGENT_SOCK;\n");
		printf("P11AGENT_PID=%ld; export P11AGENT_PID;\n", (long)pid);
	}
	printf("echo Agent pid %ld;\n", (long)pid);
	fflush(stdout);
}

/*
 * Without --foreground: the parent waits here until the child listens
 * (one byte on a pipe), prints the shell lines and exits. If the child
 * fails, it has said why on the shared stderr; pass its status on.
 */
static void
fork_daemon(void)
{
	int p[2], status;
	pid_t pid;
	ssize_t n;
	char c;

	if (pipe2(p, O_CLOEXEC) != 0)
		die("pipe: %s", strerror(errno));
	fflush(NULL);
	if ((pid = fork()) == -1)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		close(p[0]);
		g.ready_fd = p[1];
		return;
	}
	close(p[1]);
	while ((n = read(p[0], &c, 1)) == -1 && errno == EINTR)
		;
	if (n == 1) {
		print_env(pid);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	_exit(WIFEXITED(status) && WEXITSTATUS(status) != 0 ?
	    WEXITSTATUS(status) : 1);
}

/* Daemon child, listening: detach and let the parent print. */
static void
detach(void)
{
	int fd;

	if (setsid() == -1)
		die("setsid: %s", strerror(errno));
	if (chdir("/") != 0)
		die("chdir /: %s", strerror(errno));
	log_init("p11agent", g.cfg.debug ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO,
	    0);
	if ((fd = open("/dev/null", O_RDWR)) == -1)
		die("cannot open /dev/null: %s", strerror(errno));
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	while (write(g.ready_fd, "", 1) == -1 && errno == EINTR)
		;
	close(g.ready_fd);
	g.ready_fd = -2;	/* from now on errors go to syslog */
}

static void
reload_policy(void)
{
	struct policy *p;
	char err[PATH_MAX + 128];
	int r;

	if (g.cfg.authorized_clients == NULL)
		return;
	if ((r = policy_load(g.cfg.authorized_clients, &p, err,
	    sizeof(err))) != 0) {
		log_err_f("keeping the old authorized clients: %s", err);
		return;
	}
	/* Reactors check rules under the agent lock. */
	loop_lock();
	policy_carry_rates(p, g.policy);
	policy_free(g.policy);
	g.policy = p;
	g.env.policy = p;
	dispatch_set_policy(g.policy, g.confirm_keys);
	loop_unlock();
	log_info_f("reloaded %zu authorized clients", policy_count(p));
}

int
main(int argc, char **argv)
{
	struct recovery_opts ropts;
	char err[PATH_MAX + 128], host[256], comment[300];
	int r, status;
	enum loop_exit e;

	if (config_load(&g.cfg, argc, argv, &status) != 0) {
		config_free(&g.cfg);
		return status;
	}
	/* Until it detaches, a daemon keeps "eval $(p11agent)" quiet. */
	log_init("p11agent", g.cfg.debug ? LOG_LEVEL_DEBUG :
	    g.cfg.foreground ? LOG_LEVEL_INFO : LOG_LEVEL_ERROR, 1);
	signal(SIGPIPE, SIG_IGN);
	limit_arenas();

	/* Hardening, in this order (style.md). */
	umask(0177);
	if ((g.listen_fd = inherited_socket()) != -1) {
		g.inherited = 1;
		inherited_path(g.listen_fd);
	} else {
		prepare_socket_dir(g.cfg.socket);
		if (remove_stale_socket(g.cfg.socket) != 0)
			die("another agent is listening on %s; stop it or "
			    "choose another --socket", g.cfg.socket);
	}
	if ((r = secmem_harden_process()) != 0)
		die("cannot disable core dumps: %s", p11agent_strerror(r));
	sanitise_stdfd();

	if ((r = channel_global_init()) != 0)
		die("cannot initialise libsodium: %s", p11agent_strerror(r));
	if ((r = policy_load(g.cfg.authorized_clients, &g.policy, err,
	    sizeof(err))) != 0)
		die("authorized clients: %s", err);
	if (g.cfg.nconfirm > 0 && (r = policy_keypats_parse(
	    (const char *const *)g.cfg.confirm, g.cfg.nconfirm,
	    &g.confirm_keys, err, sizeof(err))) != 0)
		die("--confirm %s", err);
	if ((r = keyfile_load_or_create(g.cfg.agent_key, &g.kp)) != 0)
		die("agent key %s: %s%s", g.cfg.agent_key,
		    p11agent_strerror(r), r == P11AGENT_ERR_FILE_PERMISSIONS ?
		    " (run \"chmod 600\" on it)" : "");
	if ((r = paths_socket_pubkey(g.cfg.socket, &g.pubpath)) != 0)
		die("cannot form the public key path: %s",
		    p11agent_strerror(r));

	/* Tokens are opened in the process that will use them. */
	if (!g.cfg.foreground && !g.inherited)
		fork_daemon();
	open_tokens();
	login();
	if (g.cfg.workers == -1)
		g.cfg.workers = default_workers();
	/*
	 * The terminal we were started on, for pinentry-tty and -curses
	 * (PIN prompts, and confirmations: --confirm, or a rule of the file).
	 */
	if (g.cfg.use_pinentry || g.cfg.nconfirm > 0 ||
	    g.cfg.authorized_clients != NULL)
		pinentry_set_tty(isatty(STDIN_FILENO) ? ttyname(STDIN_FILENO) :
		    NULL, getenv("TERM"), getenv("LC_ALL") != NULL ?
		    getenv("LC_ALL") : getenv("LC_CTYPE") != NULL ?
		    getenv("LC_CTYPE") : getenv("LANG"));

	if (!g.inherited)
		g.listen_fd = bind_socket(g.cfg.socket);
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	snprintf(comment, sizeof(comment), "p11agent@%s", host);
	if ((r = keyfile_save_public(g.pubpath, g.kp->pub, comment)) != 0)
		die("cannot write %s: %s", g.pubpath, p11agent_strerror(r));
	g.pub_written = 1;
	/* In the serving process: its pid goes in the "open" line. */
	if ((r = audit_open(g.cfg.audit_log, g.cfg.audit_fail_continue, err,
	    sizeof(err))) != 0)
		die("audit log: %s", err);
	if ((r = loop_init(g.listen_fd)) != 0)
		die("cannot set up the event loop");
	if ((r = dispatch_init(g.token, &g.pin, g.cfg.lock_after,
	    loop_now())) != 0)
		die("cannot set up dispatching: %s", p11agent_strerror(r));
	dispatch_set_policy(g.policy, g.confirm_keys);

	if (g.ready_fd >= 0)
		detach();
	else if (!g.inherited)
		print_env(getpid());
	/* Threads only after the fork. */
	workers_init(g.token);
	g.env.kp = g.kp;
	g.env.policy = g.policy;
	if ((r = loop_start(&g.env, (unsigned int)g.cfg.workers)) != 0)
		die("cannot start reactor threads: %s", p11agent_strerror(r));
	if ((r = confirm_start(g.cfg.pinentry)) != 0)
		die("cannot start the confirmation thread: %s",
		    p11agent_strerror(r));
	ropts.pinentry = g.cfg.use_pinentry ? (g.cfg.pinentry != NULL ?
	    g.cfg.pinentry : "pinentry") : NULL;
	ropts.pinentry_timeout = RECOVERY_PINENTRY_TIMEOUT;
	ropts.pin_max_lifetime = g.cfg.pin_max_lifetime;
	ropts.wakefd = loop_wakefd();
	if ((r = recovery_start(g.token, &ropts)) != 0)
		die("cannot start the token keeper: %s", p11agent_strerror(r));
	log_info_f("listening on %s (%d workers, %zu authorized clients%s)",
	    g.cfg.socket, g.cfg.workers, policy_count(g.policy),
	    g.cfg.authorized_clients == NULL ? ", any of our uid" : "");

	status = 0;
	for (;;) {
		e = loop_run();
		if (e == LOOP_RELOAD) {
			reload_policy();
			audit_reopen();
			continue;
		}
		if (e == LOOP_ERROR)
			status = 1;
		break;
	}
	log_info_f("shutting down");
	cleanup();
	return status;
}
