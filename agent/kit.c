/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * kit.c - the agent's end of the p11-kit helper (protocol in kit.h). The
 * helper is started with posix_spawn (the agent has threads: no fork),
 * gets one request at a time and has P11AGENT_KIT_TIMEOUT seconds for each
 * answer. What it writes is checked before use: the line length, the hex,
 * printable text. A helper that fails is killed and reaped at once and
 * the failure logged in one line. Relies on the agent ignoring SIGPIPE
 * (main.c): writing to a dead helper fails with EPIPE.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include <p11agent/err.h>

#include "child.h"
#include "kit.h"
#include "log.h"
#include "proto.h"
#include "wire.h"

#ifndef P11AGENT_KIT_PATH
#error "P11AGENT_KIT_PATH (the installed helper) comes from CMakeLists.txt"
#endif
#define KIT_NAME	"p11agent-p11kit"
#define KIT_REAP_MS	2000	/* ms, for the helper to exit */

struct kit {
	pid_t pid;
	int wfd;			/* the helper's stdin */
	int rfd;			/* the helper's stdout */
	int failed;			/* logged; every call fails now */
	char *line;			/* P11AGENT_KIT_LINE_MAX bytes */
	size_t len;
	char path[PATH_MAX];
};

/*
 * The last session failed: a failure again is logged at debug level, so
 * that recovery polling for a token does not repeat the line every second.
 */
static atomic_int kit_failing;

/*
 * Beside our own executable first: that is how the build tree and its
 * tests find it. No environment variable can point elsewhere.
 */
static void
helper_path(char *buf, size_t len)
{
	char exe[PATH_MAX], *slash;
	ssize_t n;
	int w;

	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')) != NULL) {
			*slash = '\0';
			w = snprintf(buf, len, "%s/%s", exe, KIT_NAME);
			if (w > 0 && (size_t)w < len && access(buf, X_OK) == 0)
				return;
		}
	}
	snprintf(buf, len, "%s", P11AGENT_KIT_PATH);
}

/* Waits up to ms for the helper to exit, then kills it; its status or -1. */
static int
reap(struct kit *k, long ms)
{
	long until = (long)wire_now_ms() + ms;
	useconds_t nap = 500;
	pid_t w;
	int st = -1;

	if (k->pid <= 0)
		return -1;
	for (;;) {
		if ((w = waitpid(k->pid, &st, WNOHANG)) == k->pid)
			break;
		if (w == -1 && errno != EINTR) {
			st = -1;
			break;
		}
		if (w == 0 && (long)wire_now_ms() >= until) {
			kill(k->pid, SIGKILL);
			while (waitpid(k->pid, &st, 0) == -1 && errno == EINTR)
				;
			break;
		}
		if (w == 0) {
			usleep(nap);
			if (nap < 8000)
				nap *= 2;
		}
	}
	k->pid = -1;
	return st;
}

static void
close_pipes(struct kit *k)
{
	if (k->wfd != -1)
		close(k->wfd);
	if (k->rfd != -1)
		close(k->rfd);
	k->wfd = k->rfd = -1;
}

/*
 * The helper failed: one log line, the first time, that says why; the
 * helper is killed and reaped. Returns P11AGENT_ERR_SYSTEM_ERROR.
 */
static int __attribute__((format(printf, 3, 4)))
kit_fail(struct kit *k, const char *func, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	if (k->failed)
		return P11AGENT_ERR_SYSTEM_ERROR;
	k->failed = 1;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_msg(atomic_exchange(&kit_failing, 1) ? LOG_LEVEL_DEBUG :
	    LOG_LEVEL_ERROR, func, 0, "p11-kit helper %s: %s", k->path, why);
	close_pipes(k);
	if (k->pid > 0)
		kill(k->pid, SIGKILL);
	reap(k, KIT_REAP_MS);
	return P11AGENT_ERR_SYSTEM_ERROR;
}

#define FAIL(k, ...)	kit_fail((k), __func__, __VA_ARGS__)
#define MALFORMED(k)	FAIL((k), "malformed answer (reinstall p11agent)")

/* The helper closed its end: says how it ended. */
static int
kit_died(struct kit *k, const char *func)
{
	int st;

	close_pipes(k);
	st = reap(k, KIT_REAP_MS);
	if (st != -1 && WIFEXITED(st))
		return kit_fail(k, func, "exited with status %d (reinstall "
		    "p11agent)", WEXITSTATUS(st));
	if (st != -1 && WIFSIGNALED(st))
		return kit_fail(k, func, "died of signal %d (reinstall "
		    "p11agent)", WTERMSIG(st));
	return kit_fail(k, func, "stopped answering (reinstall p11agent)");
}

/* A struct kit without a helper yet: no process, no pipes. */
static struct kit *
kit_new(void)
{
	struct kit *k;

	if ((k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	k->pid = -1;
	k->wfd = k->rfd = -1;
	if ((k->line = malloc(P11AGENT_KIT_LINE_MAX)) == NULL) {
		free(k);
		return NULL;
	}
	return k;
}

int
kit_open(struct kit **kp)
{
	char *argv[3];
	struct kit *k;
	int e;

	*kp = NULL;
	if ((k = kit_new()) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	helper_path(k->path, sizeof(k->path));
	argv[0] = k->path;
	argv[1] = (char *)P11AGENT_KIT_PROTOCOL;
	argv[2] = NULL;
	/* stderr stays the agent's: the helper's complaints reach its log. */
	if ((e = child_spawn(k->path, argv, 0, &k->pid, &k->wfd,
	    &k->rfd)) != 0) {
		FAIL(k, "cannot run: %s (reinstall p11agent)", strerror(e));
		kit_close(k);
		return P11AGENT_ERR_SYSTEM_ERROR;
	}
	/* Ours only (a pipe's ends are separate files): no write can hang. */
	fcntl(k->wfd, F_SETFL, O_NONBLOCK);
	fcntl(k->rfd, F_SETFL, O_NONBLOCK);
	*kp = k;
	return 0;
}

#ifdef P11AGENT_FUZZING
/*
 * The fuzz target's "helper" (tests/fuzz/fuzz-kit.c) is just the pipe
 * ends it gives: no process, so pid -1 and nothing is killed or waited
 * for. Not in the agent.
 */
int
kit_open_fds(struct kit **kp, int wfd, int rfd)
{
	struct kit *k;

	*kp = NULL;
	if ((k = kit_new()) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	snprintf(k->path, sizeof(k->path), "(fuzz)");
	k->wfd = wfd;
	k->rfd = rfd;
	fcntl(k->wfd, F_SETFL, O_NONBLOCK);
	fcntl(k->rfd, F_SETFL, O_NONBLOCK);
	*kp = k;
	return 0;
}
#endif

void
kit_close(struct kit *k)
{
	int st;

	if (k == NULL)
		return;
	close_pipes(k);		/* end of input: the helper exits */
	st = reap(k, KIT_REAP_MS);
	if (!k->failed) {
		if (st != -1 && st != 0)
			log_debug_f("p11-kit helper %s: exit status 0x%x",
			    k->path, (unsigned int)st);
		atomic_store(&kit_failing, 0);
	}
	free(k->line);
	free(k);
}

/*
 * Sends the request in k->line (k->len bytes, without its LF) and reads
 * the answer, NUL-terminated in k->line: *answerp.
 */
static int
kit_call(struct kit *k, char **answerp)
{
	int64_t until = wire_now_ms() + 1000L * P11AGENT_KIT_TIMEOUT;
	size_t off = 0, len = 0;
	ssize_t n;
	char *nl = NULL;
	int r;

	*answerp = NULL;
	if (k->failed)
		return P11AGENT_ERR_SYSTEM_ERROR;
	k->line[k->len++] = '\n';	/* room kept by req_*() */
	while (off < k->len) {
		if ((r = wire_wait_fd(k->wfd, POLLOUT, until)) != 0)
			goto wait_failed;
		if ((n = write(k->wfd, k->line + off, k->len - off)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return kit_died(k, __func__);	/* EPIPE */
		}
		off += (size_t)n;
	}
	while (nl == NULL) {
		if (len == P11AGENT_KIT_LINE_MAX)
			return FAIL(k, "answer over %d bytes (reinstall "
			    "p11agent)", P11AGENT_KIT_LINE_MAX);
		if ((r = wire_wait_fd(k->rfd, POLLIN, until)) != 0)
			goto wait_failed;
		n = read(k->rfd, k->line + len, P11AGENT_KIT_LINE_MAX - len);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return kit_died(k, __func__);
		nl = memchr(k->line + len, '\n', (size_t)n);
		len += (size_t)n;
	}
	/* One answer per request: nothing after it, no NUL in it. */
	if (nl != k->line + len - 1 ||
	    memchr(k->line, '\0', len - 1) != NULL)
		return MALFORMED(k);
	*nl = '\0';
	*answerp = k->line;
	return 0;
 wait_failed:
	if (r == P11AGENT_ERR_TIMEOUT)
		return FAIL(k, "no answer in %d s", P11AGENT_KIT_TIMEOUT);
	return FAIL(k, "poll: %s", strerror(errno));
}

/* Requests. One byte of k->line always stays free for the LF. */

static void
req_start(struct kit *k, const char *cmd)
{
	k->len = strlen(cmd);
	memcpy(k->line, cmd, k->len);
}

/* " HEX" of n bytes, " -" for none; P11AGENT_ERR_MAX_SIZE over a limit. */
static int
req_bytes(struct kit *k, const void *p, size_t n)
{
	if (n > P11AGENT_KIT_FIELD_MAX ||
	    P11AGENT_KIT_LINE_MAX - k->len < 2 * n + 3)
		return P11AGENT_ERR_MAX_SIZE;
	k->line[k->len++] = ' ';
	if (n == 0) {
		k->line[k->len++] = '-';
		return 0;
	}
	sodium_bin2hex(k->line + k->len, 2 * n + 1, p, n);
	k->len += 2 * n;
	return 0;
}

static int
req_str(struct kit *k, const char *s)
{
	return req_bytes(k, s, s != NULL ? strlen(s) : 0);
}

static int
req_ulong(struct kit *k, unsigned long v)
{
	char s[32];
	int n;

	n = snprintf(s, sizeof(s), " %lu", v);
	if (n < 0 || P11AGENT_KIT_LINE_MAX - k->len < (size_t)n + 1)
		return P11AGENT_ERR_MAX_SIZE;
	memcpy(k->line + k->len, s, (size_t)n);
	k->len += (size_t)n;
	return 0;
}

#define PUT(p, f)	(memcpy((p), (f), sizeof(f)), (p) += sizeof(f))

static int
req_module_info(struct kit *k, const CK_INFO *mi)
{
	unsigned char b[sizeof(mi->libraryDescription) +
	    sizeof(mi->manufacturerID) + 2], *p = b;

	PUT(p, mi->libraryDescription);
	PUT(p, mi->manufacturerID);
	*p++ = mi->libraryVersion.major;
	*p++ = mi->libraryVersion.minor;
	return req_bytes(k, b, sizeof(b));
}

static int
req_slot_info(struct kit *k, const CK_SLOT_INFO *si)
{
	unsigned char b[sizeof(si->slotDescription) +
	    sizeof(si->manufacturerID)], *p = b;

	PUT(p, si->slotDescription);
	PUT(p, si->manufacturerID);
	return req_bytes(k, b, sizeof(b));
}

static int
req_token_info(struct kit *k, const CK_TOKEN_INFO *ti)
{
	unsigned char b[sizeof(ti->label) + sizeof(ti->manufacturerID) +
	    sizeof(ti->model) + sizeof(ti->serialNumber)], *p = b;

	PUT(p, ti->label);
	PUT(p, ti->manufacturerID);
	PUT(p, ti->model);
	PUT(p, ti->serialNumber);
	return req_bytes(k, b, sizeof(b));
}

#undef PUT

/* Answers. */

/* The next space-separated word of *pp (NULL at the end). */
static char *
word(char **pp)
{
	char *s = *pp, *sp;

	if (s == NULL)
		return NULL;
	if ((sp = strchr(s, ' ')) != NULL) {
		*sp = '\0';
		*pp = sp + 1;
	} else
		*pp = NULL;
	return s;
}

static int
is(const char *w, const char *s)
{
	return w != NULL && strcmp(w, s) == 0;
}

/* Printable ASCII; with no space when a word is wanted. */
static int
printable(const char *s, int space_ok)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (*s < (space_ok ? 0x20 : 0x21) || *s > 0x7e)
			return 0;
	return 1;
}

/* A hex string of an answer as a new C string; "-" gives NULL. */
static int
unhex(const char *h, char **sp)
{
	const char *end;
	size_t hl, n;
	char *s;

	*sp = NULL;
	if (is(h, "-"))
		return 0;
	if (h == NULL || (hl = strlen(h)) == 0 || hl % 2 != 0)
		return P11AGENT_ERR_INVALID_FORMAT;
	if ((s = malloc(hl / 2 + 1)) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	if (sodium_hex2bin((unsigned char *)s, hl / 2, h, hl, NULL, &n,
	    &end) != 0 || end != h + hl || memchr(s, '\0', n) != NULL) {
		free(s);
		return P11AGENT_ERR_INVALID_FORMAT;
	}
	s[n] = '\0';
	*sp = s;
	return 0;
}

int
kit_module(struct kit *k, const char *arg, char **pathp, char **namep)
{
	char *a, *w, *path = NULL, *name = NULL;
	int r;

	*pathp = *namep = NULL;
	req_start(k, "module");
	if ((r = req_str(k, arg)) != 0 || (r = kit_call(k, &a)) != 0)
		return r;
	w = word(&a);
	if (is(w, "none") && a == NULL)
		return P11AGENT_ERR_TOKEN_NOT_FOUND;
	if (!is(w, "ok") || (r = unhex(word(&a), &path)) != 0 ||
	    path == NULL || (r = unhex(word(&a), &name)) != 0 || a != NULL) {
		free(path);
		free(name);
		return r == P11AGENT_ERR_NO_MEMORY ? r : MALFORMED(k);
	}
	*pathp = path;
	*namep = name;
	return 0;
}

int
kit_uri_check(struct kit *k, const char *uri, int *names_modulep,
    char *msg, size_t msglen)
{
	char *a, *w;
	int r;

	*names_modulep = 0;
	msg[0] = '\0';
	req_start(k, "uri");
	if (req_str(k, uri) != 0) {
		snprintf(msg, msglen, "longer than %d bytes",
		    P11AGENT_KIT_FIELD_MAX);
		return P11AGENT_ERR_INVALID_ARGUMENT;
	}
	if ((r = kit_call(k, &a)) != 0)
		return r;
	w = word(&a);
	if (is(w, "err") && printable(a, 1)) {
		snprintf(msg, msglen, "%s", a);
		return P11AGENT_ERR_INVALID_ARGUMENT;
	}
	if (!is(w, "ok") || (w = word(&a)) == NULL || a != NULL ||
	    (!is(w, "0") && !is(w, "1")))
		return MALFORMED(k);
	*names_modulep = is(w, "1");
	return 0;
}

int
kit_uri_match(struct kit *k, const char *uri, const char *kitname,
    const char *path, CK_SLOT_ID sid, const CK_INFO *mi,
    const CK_SLOT_INFO *si, const CK_TOKEN_INFO *ti, int *matchp)
{
	char *a;
	int r;

	*matchp = 0;
	req_start(k, "match");
	if ((r = req_str(k, uri)) != 0 || (r = req_str(k, kitname)) != 0 ||
	    (r = req_str(k, path)) != 0 ||
	    (r = req_ulong(k, (unsigned long)sid)) != 0 ||
	    (r = req_module_info(k, mi)) != 0 ||
	    (r = req_slot_info(k, si)) != 0 ||
	    (r = req_token_info(k, ti)) != 0 ||
	    (r = kit_call(k, &a)) != 0)
		return r;
	if (!is(a, "yes") && !is(a, "no"))
		return MALFORMED(k);
	*matchp = is(a, "yes");
	return 0;
}

int
kit_key_uri(struct kit *k, const CK_TOKEN_INFO *ti, const char *label,
    const unsigned char *id, size_t idlen, char **urip)
{
	char *a, *w;
	int r;

	*urip = NULL;
	req_start(k, "keyuri");
	if ((r = req_token_info(k, ti)) != 0 || (r = req_str(k, label)) != 0 ||
	    (r = req_bytes(k, id, idlen)) != 0 || (r = kit_call(k, &a)) != 0)
		return r;
	w = word(&a);
	if (is(w, "err") && printable(a, 1))
		return FAIL(k, "no key uri: %s", a);
	if (!is(w, "ok") || !printable(a, 0) || strncmp(a, "pkcs11:", 7) != 0)
		return MALFORMED(k);
	if ((*urip = strdup(a)) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	return 0;
}
