/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * fuzz-kit.c - arbitrary answers of the p11-kit helper into the agent's
 * end of its protocol (agent/kit.c, compiled in with P11AGENT_FUZZING):
 * kit_call's line reading (the length limit, one line per answer, NUL
 * bytes, the end of the helper's output) and the answer parsers of
 * kit_module, kit_uri_check, kit_uri_match and kit_key_uri. The helper
 * is two pipes (kit_open_fds()): no process is ever started (our
 * child_spawn aborts), and no call can wait, because each answer is in
 * the pipe before its call, or the pipe is closed after it.
 *
 * Input: records, to the end of the input. Byte ctl: bits 0-1 pick the
 * call (module, uri, match, keyuri); bit 2: the answer is the rest of the
 * input (any number of lines), else the bytes up to and including the
 * next LF; bit 3: PAD bytes of "61" (hex of "aaa...") go in after the
 * answer's first space, so that lines near P11AGENT_KIT_LINE_MAX need no
 * large input; bit 4: the request's strings are empty or absent. An
 * answer that does not end in LF, or does not fit in the pipe, is
 * followed by the end of the helper's output.
 *
 * Oracles: each call that starts writes exactly one request line with
 * its verb; outputs are set as documented in kit.h (NULL or 0 on
 * failure, a non-empty path, a printable message always NUL-terminated,
 * a printable pkcs11: URI); the only errors are the documented ones; a
 * failure (P11AGENT_ERR_SYSTEM_ERROR) is logged exactly once, and every
 * later call fails at once without writing a request.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <p11agent/err.h>

#include "child.h"
#include "fuzz.h"
#include "kit.h"
#include "log.h"
#include "proto.h"

#define PAD	(P11AGENT_KIT_LINE_MAX - 32)	/* bytes, even */

static int logged;		/* log lines of the current kit */

/* The agent's log, counted: a failure must be logged exactly once. */
void
log_msg(enum log_level level, const char *func, int r, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	(void)r;
	FUZZ_ASSERT(level == LOG_LEVEL_ERROR || level == LOG_LEVEL_DEBUG);
	FUZZ_ASSERT(func != NULL);
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	logged++;
}

/* kit_open() is never called: no process may be started. */
int
child_spawn(const char *prog, char *const argv[], int quiet, pid_t *pidp,
    int *wfdp, int *rfdp)
{
	(void)prog;
	(void)argv;
	(void)quiet;
	(void)pidp;
	(void)wfdp;
	(void)rfdp;
	abort();
}

static int
printable(const char *s, int space_ok)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (*s < (space_ok ? 0x20 : 0x21) || *s > 0x7e)
			return 0;
	return 1;
}

/* Writes what fits; returns 0 when all of it did. */
static int
put(int fd, const void *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;	/* EAGAIN: the pipe is full */
		}
		p = (const char *)p + n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * The helper's answer a (alen bytes) into its stdout; closes that
 * (*wfdp = -1) unless the answer is one whole line.
 */
static void
answer(int *wfdp, const uint8_t *a, size_t alen, int pad)
{
	static char hexpad[PAD];
	const uint8_t *sp;
	size_t head = 0, i;
	int whole = alen > 0 && a[alen - 1] == '\n';

	if (*wfdp == -1)
		return;
	if (pad) {
		if (hexpad[0] == '\0')
			for (i = 0; i < PAD; i += 2)
				memcpy(hexpad + i, "61", 2);
		head = (sp = memchr(a, ' ', alen)) != NULL ?
		    (size_t)(sp - a) + 1 : 0;
	}
	if (put(*wfdp, a, head) != 0 ||
	    (pad && put(*wfdp, hexpad, PAD) != 0) ||
	    put(*wfdp, a + head, alen - head) != 0)
		whole = 0;
	if (!whole) {
		close(*wfdp);
		*wfdp = -1;
	}
}

/* The request the call wrote: one line with its verb, or nothing. */
static void
check_request(int fd, const char *verb, int wrote)
{
	static char req[P11AGENT_KIT_LINE_MAX + 1];
	size_t len = 0, vlen = strlen(verb);
	ssize_t n;

	while (len < sizeof(req) &&
	    (n = read(fd, req + len, sizeof(req) - len)) > 0)
		len += (size_t)n;
	if (!wrote) {
		FUZZ_ASSERT(len == 0);
		return;
	}
	FUZZ_ASSERT(len > vlen + 1 && len <= P11AGENT_KIT_LINE_MAX);
	FUZZ_ASSERT(memcmp(req, verb, vlen) == 0 && req[vlen] == ' ');
	FUZZ_ASSERT(memchr(req, '\n', len) == req + len - 1);
}

/* One call; returns its result. */
static int
call(struct kit *k, int which, int empty)
{
	static const unsigned char id[] = { 0x01, 0x02, 0xab };
	CK_INFO mi;
	CK_SLOT_INFO si;
	CK_TOKEN_INFO ti;
	char *path = (char *)1, *name = (char *)1, *uri = (char *)1;
	char msg[64];
	int r, flag = -1;

	memset(&mi, ' ', sizeof(mi));
	memset(&si, ' ', sizeof(si));
	memset(&ti, ' ', sizeof(ti));
	memcpy(mi.manufacturerID, "SoftHSM", 7);
	mi.libraryVersion.major = 2;
	memcpy(ti.label, "tok", 3);
	memcpy(ti.serialNumber, "0001", 4);
	switch (which) {
	case 0:
		r = kit_module(k, empty ? "" : "softhsm2", &path, &name);
		FUZZ_ASSERT(r == 0 || r == P11AGENT_ERR_TOKEN_NOT_FOUND ||
		    r == P11AGENT_ERR_SYSTEM_ERROR ||
		    r == P11AGENT_ERR_NO_MEMORY);
		if (r == 0)
			FUZZ_ASSERT(path != NULL && *path != '\0' &&
			    (name == NULL || *name != '\0'));
		else
			FUZZ_ASSERT(path == NULL && name == NULL);
		free(path);
		free(name);
		break;
	case 1:
		memset(msg, 'x', sizeof(msg));
		r = kit_uri_check(k, empty ? "" : "pkcs11:token=tok", &flag,
		    msg, sizeof(msg));
		FUZZ_ASSERT(r == 0 || r == P11AGENT_ERR_INVALID_ARGUMENT ||
		    r == P11AGENT_ERR_SYSTEM_ERROR);
		FUZZ_ASSERT(memchr(msg, '\0', sizeof(msg)) != NULL);
		FUZZ_ASSERT(flag == 0 || (r == 0 && flag == 1));
		if (r == P11AGENT_ERR_INVALID_ARGUMENT)
			FUZZ_ASSERT(printable(msg, 1));
		else
			FUZZ_ASSERT(msg[0] == '\0');
		break;
	case 2:
		r = kit_uri_match(k, empty ? "" : "pkcs11:token=tok;slot-id=7",
		    empty ? NULL : "softhsm2", "/usr/lib/softhsm/libsofthsm2.so",
		    7, &mi, &si, &ti, &flag);
		FUZZ_ASSERT(r == 0 || r == P11AGENT_ERR_SYSTEM_ERROR);
		FUZZ_ASSERT(flag == 0 || (r == 0 && flag == 1));
		break;
	default:
		r = kit_key_uri(k, &ti, empty ? "" : "alice", id,
		    empty ? 0 : sizeof(id), &uri);
		FUZZ_ASSERT(r == 0 || r == P11AGENT_ERR_SYSTEM_ERROR ||
		    r == P11AGENT_ERR_NO_MEMORY);
		if (r == 0)
			FUZZ_ASSERT(uri != NULL && printable(uri, 0) &&
			    strncmp(uri, "pkcs11:", 7) == 0);
		else
			FUZZ_ASSERT(uri == NULL);
		free(uri);
		break;
	}
	return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const verbs[] = { "module", "uri", "match",
		"keyuri" };
	struct kit *k;
	const uint8_t *lf;
	size_t off = 0, alen;
	int req[2], ans[2], failed = 0, r;
	uint8_t ctl;

	/* As in the agent: a write to a closed pipe fails with EPIPE. */
	signal(SIGPIPE, SIG_IGN);
	FUZZ_ASSERT(pipe2(req, O_CLOEXEC | O_NONBLOCK) == 0);
	FUZZ_ASSERT(pipe2(ans, O_CLOEXEC | O_NONBLOCK) == 0);
	FUZZ_ASSERT(kit_open_fds(&k, req[1], ans[0]) == 0);
	logged = 0;
	while (off < size) {
		ctl = data[off++];
		alen = size - off;
		if (!(ctl & 4) && (lf = memchr(data + off, '\n', alen)) != NULL)
			alen = (size_t)(lf - (data + off)) + 1;
		if (!failed)
			answer(&ans[1], data + off, alen, ctl & 8);
		off += alen;
		r = call(k, ctl & 3, ctl & 16);
		check_request(req[0], verbs[ctl & 3], !failed);
		if (failed)
			FUZZ_ASSERT(r == P11AGENT_ERR_SYSTEM_ERROR);
		failed = r == P11AGENT_ERR_SYSTEM_ERROR;
		FUZZ_ASSERT(logged == failed);
	}
	/* Failed or not, a kit made of pipes closes without a word. */
	kit_close(k);
	FUZZ_ASSERT(logged == failed);
	close(req[0]);
	if (ans[1] != -1)
		close(ans[1]);
	return 0;
}
