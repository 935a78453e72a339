/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * pinentry.c - runs a pinentry program and speaks Assuan to it: commands
 * on its stdin, answers on its stdout, one line each (at most 1000 bytes,
 * '%', CR and LF percent-escaped). Everything the program writes passes
 * through one buffer in secure memory, because a D line carries the PIN,
 * and the buffer is wiped line by line. The child is started with
 * posix_spawn (no fork of a threaded process) and always reaped.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <p11agent/err.h>

#include "child.h"
#include "log.h"
#include "pinentry.h"
#include "proto.h"
#include "secmem.h"

#define PE_LINE_MAX	1000	/* bytes, an Assuan line without its LF */
#define PE_INBUF	(2 * (PE_LINE_MAX + 1))	/* bytes read ahead */
#define PE_SLICE_MS	200	/* poll slice: how soon an abort is seen */
#define PE_REAP_MS	1000	/* grace before SIGKILL, milliseconds */
#define PE_DEFAULT	"pinentry"

/* libgpg-error codes in the low 16 bits of an ERR line. */
#define GPG_ERR_TIMEOUT		62
#define GPG_ERR_CANCELED	99
#define GPG_ERR_NOT_CONFIRMED	114
#define GPG_ERR_FULLY_CANCELED	198

static struct {
	char *ttyname, *ttytype, *lc_ctype;
} opts;

static volatile sig_atomic_t aborted;

struct pe {
	pid_t pid;
	int wfd;		/* the program's stdin */
	int rfd;		/* the program's stdout */
	char *in;		/* secure: PE_INBUF bytes read, not yet lines */
	size_t inlen;
	char *line;		/* secure: the current line, NUL-terminated */
	long deadline;		/* monotonic milliseconds; 0: none */
	const char *prog;
};

static long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL && *s != '\0' ? strdup(s) : NULL;
}

void
pinentry_set_tty(const char *ttyname, const char *ttytype,
    const char *lc_ctype)
{
	free(opts.ttyname);
	free(opts.ttytype);
	free(opts.lc_ctype);
	opts.ttyname = dup_or_null(ttyname);
	opts.ttytype = dup_or_null(ttytype);
	opts.lc_ctype = dup_or_null(lc_ctype);
}

void
pinentry_abort(void)
{
	aborted = 1;
}

static void
reap(struct pe *pe)
{
	long until = now_ms() + PE_REAP_MS;
	int st;

	if (pe->pid <= 0)
		return;
	for (;;) {
		pid_t w = waitpid(pe->pid, &st, WNOHANG);

		if (w == pe->pid || (w == -1 && errno != EINTR))
			break;
		if (w == 0 && now_ms() >= until) {
			kill(pe->pid, SIGKILL);
			while (waitpid(pe->pid, &st, 0) == -1 && errno == EINTR)
				;
			break;
		}
		if (w == 0)
			usleep(10000);
	}
	pe->pid = -1;
}

static void
pe_close(struct pe *pe, int kill_it)
{
	if (pe->wfd != -1)
		close(pe->wfd);
	if (pe->rfd != -1)
		close(pe->rfd);
	pe->wfd = pe->rfd = -1;
	if (kill_it && pe->pid > 0)
		kill(pe->pid, SIGTERM);
	reap(pe);
	secmem_free(pe->in);		/* wipes */
	secmem_free(pe->line);
	pe->in = pe->line = NULL;
}

static int
pe_start(struct pe *pe, const char *program, int timeout_s)
{
	char *argv[2];
	int e;

	memset(pe, 0, sizeof(*pe));
	pe->pid = -1;
	pe->wfd = pe->rfd = -1;
	pe->prog = program != NULL && *program != '\0' ? program : PE_DEFAULT;
	if (aborted)
		return P11AGENT_ERR_PIN_REQUIRED;
	pe->deadline = timeout_s > 0 ? now_ms() + 1000L * timeout_s : 0;
	if ((pe->in = p11agent_secure_alloc(PE_INBUF)) == NULL ||
	    (pe->line = p11agent_secure_alloc(PE_LINE_MAX + 1)) == NULL) {
		pe_close(pe, 0);
		return P11AGENT_ERR_NO_MEMORY;
	}
	argv[0] = (char *)pe->prog;
	argv[1] = NULL;
	if ((e = child_spawn(pe->prog, argv, 1, &pe->pid, &pe->wfd,
	    &pe->rfd)) != 0) {
		pe_close(pe, 0);
		log_err_f("pinentry %s: cannot run: %s", pe->prog, strerror(e));
		return P11AGENT_ERR_PIN_REQUIRED;
	}
	return 0;
}

/* Waits for fd to be ready; P11AGENT_ERR_TIMEOUT past the deadline. */
static int
pe_wait(struct pe *pe, int fd, short ev)
{
	struct pollfd pfd;
	long left;
	int n;

	for (;;) {
		if (aborted)
			return P11AGENT_ERR_PIN_REQUIRED;
		left = PE_SLICE_MS;
		if (pe->deadline != 0) {
			left = pe->deadline - now_ms();
			if (left <= 0)
				return P11AGENT_ERR_TIMEOUT;
			if (left > PE_SLICE_MS)
				left = PE_SLICE_MS;
		}
		pfd.fd = fd;
		pfd.events = ev;
		pfd.revents = 0;
		if ((n = poll(&pfd, 1, (int)left)) == -1 && errno != EINTR)
			return P11AGENT_ERR_IO;
		if (n > 0)
			return 0;
	}
}

static int
pe_write(struct pe *pe, const char *s, size_t len)
{
	ssize_t n;
	int r;

	while (len > 0) {
		if ((r = pe_wait(pe, pe->wfd, POLLOUT)) != 0)
			return r;
		if ((n = write(pe->wfd, s, len)) == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			/* EPIPE: it died. */
			return P11AGENT_ERR_PIN_REQUIRED;
		}
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one line into pe->line (without CR/LF). */
static int
pe_read_line(struct pe *pe)
{
	char *nl;
	size_t len;
	ssize_t n;
	int r;

	for (;;) {
		if ((nl = memchr(pe->in, '\n', pe->inlen)) != NULL) {
			len = (size_t)(nl - pe->in);
			if (len > PE_LINE_MAX)
				return P11AGENT_ERR_INVALID_FORMAT;
			memcpy(pe->line, pe->in, len);
			if (len > 0 && pe->line[len - 1] == '\r')
				len--;
			pe->line[len] = '\0';
			pe->inlen -= (size_t)(nl + 1 - pe->in);
			memmove(pe->in, nl + 1, pe->inlen);
			secmem_wipe(pe->in + pe->inlen, PE_INBUF - pe->inlen);
			return 0;
		}
		if (pe->inlen > PE_LINE_MAX)
			return P11AGENT_ERR_INVALID_FORMAT;
		if ((r = pe_wait(pe, pe->rfd, POLLIN)) != 0)
			return r;
		n = read(pe->rfd, pe->in + pe->inlen, PE_INBUF - pe->inlen);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return P11AGENT_ERR_PIN_REQUIRED;	/* it left */
		pe->inlen += (size_t)n;
	}
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Appends the percent-decoded data of a D line to out (cap bytes, kept
 * NUL-terminated). A NUL byte or an overlong value is refused.
 */
static int
decode_data(const char *s, char *out, size_t *lenp, size_t cap)
{
	size_t len = *lenp;
	int hi, lo, c;

	for (; *s != '\0'; s++) {
		c = (unsigned char)*s;
		if (c == '%') {
			if ((hi = hexval(s[1])) < 0 || (lo = hexval(s[2])) < 0)
				return P11AGENT_ERR_INVALID_FORMAT;
			c = hi << 4 | lo;
			s += 2;
		}
		if (c == '\0')
			return P11AGENT_ERR_INVALID_FORMAT;
		if (len + 1 >= cap)
			return P11AGENT_ERR_PIN_LEN_RANGE;
		out[len++] = (char)c;
	}
	out[len] = '\0';
	*lenp = len;
	return 0;
}

static int
map_err(const struct pe *pe, const char *line)
{
	unsigned long code = strtoul(line + 3, NULL, 10) & 0xffff;

	/* The text after the code is the program's, not a secret. */
	log_debug_f("pinentry %s: %.200s", pe->prog, line);
	switch (code) {
	case GPG_ERR_CANCELED:
	case GPG_ERR_FULLY_CANCELED:
	case GPG_ERR_NOT_CONFIRMED:
		return P11AGENT_ERR_DENIED;
	case GPG_ERR_TIMEOUT:
		return P11AGENT_ERR_TIMEOUT;
	default:
		return P11AGENT_ERR_PIN_REQUIRED;
	}
}

/*
 * Reads the answer to a command: 0 on OK, a mapped error on ERR. D lines
 * are decoded into out (cap bytes) when out is not NULL and refused
 * otherwise; status and comment lines are skipped; an INQUIRE (which no
 * command of ours causes) is cancelled.
 */
static int
pe_answer(struct pe *pe, char *out, size_t *outlenp, size_t cap)
{
	int r;

	for (;;) {
		if ((r = pe_read_line(pe)) != 0)
			return r;
		if (strcmp(pe->line, "OK") == 0 ||
		    strncmp(pe->line, "OK ", 3) == 0)
			r = 0;
		else if (strncmp(pe->line, "ERR ", 4) == 0)
			r = map_err(pe, pe->line);
		else if (strncmp(pe->line, "D ", 2) == 0) {
			r = out == NULL ? P11AGENT_ERR_INVALID_FORMAT :
			    decode_data(pe->line + 2, out, outlenp, cap);
			secmem_wipe(pe->line, PE_LINE_MAX + 1);
			if (r != 0)
				return r;
			continue;
		} else if (pe->line[0] == '#' || pe->line[0] == 'S') {
			continue;
		} else if (strncmp(pe->line, "INQUIRE", 7) == 0) {
			if ((r = pe_write(pe, "CAN\n", 4)) != 0)
				return r;
			continue;
		} else
			r = P11AGENT_ERR_INVALID_FORMAT;
		secmem_wipe(pe->line, PE_LINE_MAX + 1);
		return r;
	}
}

/*
 * Sends "CMD ARG" with ARG percent-escaped ('%', control characters),
 * cut at a character boundary so the line stays within the limit.
 */
static int
pe_command(struct pe *pe, const char *cmd, const char *arg)
{
	char line[PE_LINE_MAX + 2];
	size_t len, need;
	const unsigned char *p;

	len = (size_t)snprintf(line, sizeof(line), "%s", cmd);
	if (arg != NULL) {
		line[len++] = ' ';
		for (p = (const unsigned char *)arg; *p != '\0'; p++) {
			need = (*p == '%' || *p < 0x20 || *p == 0x7f) ? 3 : 1;
			if (len + need > PE_LINE_MAX)
				break;
			if (need == 3)
				len += (size_t)snprintf(line + len, 4, "%%%02X",
				    *p);
			else
				line[len++] = (char)*p;
		}
	}
	line[len++] = '\n';
	return pe_write(pe, line, len);
}

/* A command whose refusal does not matter (an option an old one lacks). */
static int
pe_try(struct pe *pe, const char *cmd, const char *arg)
{
	int r;

	if ((r = pe_command(pe, cmd, arg)) != 0)
		return r;
	r = pe_answer(pe, NULL, NULL, 0);
	return r == P11AGENT_ERR_DENIED || r == P11AGENT_ERR_PIN_REQUIRED ||
	    r == P11AGENT_ERR_TIMEOUT ? 0 : r;
}

static int
pe_option(struct pe *pe, const char *name, const char *value)
{
	char buf[PE_LINE_MAX];

	if (value == NULL)
		return 0;
	snprintf(buf, sizeof(buf), "%s=%s", name, value);
	return pe_try(pe, "OPTION", buf);
}

/* Greeting, options and texts: what both conversations start with. */
static int
pe_setup(struct pe *pe, const char *title, const char *desc,
    const char *prompt, const char *error, int timeout_s)
{
	char t[16];
	int r;

	if ((r = pe_answer(pe, NULL, NULL, 0)) != 0)
		return r;
	snprintf(t, sizeof(t), "%d", timeout_s);
	if ((r = pe_option(pe, "ttyname", opts.ttyname)) != 0 ||
	    (r = pe_option(pe, "ttytype", opts.ttytype)) != 0 ||
	    (r = pe_option(pe, "lc-ctype", opts.lc_ctype)) != 0 ||
	    (timeout_s > 0 && (r = pe_try(pe, "SETTIMEOUT", t)) != 0) ||
	    (title != NULL && (r = pe_try(pe, "SETTITLE", title)) != 0) ||
	    (desc != NULL && (r = pe_try(pe, "SETDESC", desc)) != 0) ||
	    (prompt != NULL && (r = pe_try(pe, "SETPROMPT", prompt)) != 0) ||
	    (error != NULL && (r = pe_try(pe, "SETERROR", error)) != 0))
		return r;
	return 0;
}

static void
pe_finish(struct pe *pe, int r)
{
	/* A polite BYE when the program is still talking to us. */
	if (r == 0 || r == P11AGENT_ERR_DENIED) {
		if (pe_command(pe, "BYE", NULL) == 0)
			(void)pe_answer(pe, NULL, NULL, 0);
	}
	pe_close(pe, r != 0 && r != P11AGENT_ERR_DENIED);
}

int
pinentry_getpin(const char *program, const char *title, const char *desc,
    const char *prompt, const char *error, int timeout_s, char **pinp)
{
	struct pe pe;
	char *pin = NULL;
	size_t len = 0;
	int r;

	if (pinp == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	*pinp = NULL;
	if ((r = pe_start(&pe, program, timeout_s)) != 0)
		return r;
	if ((pin = p11agent_secure_alloc(P11AGENT_MAX_PIN + 1)) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	pin[0] = '\0';
	if ((r = pe_setup(&pe, title, desc, prompt, error, timeout_s)) != 0 ||
	    (r = pe_command(&pe, "GETPIN", NULL)) != 0 ||
	    (r = pe_answer(&pe, pin, &len, P11AGENT_MAX_PIN + 1)) != 0)
		goto out;
	if (len == 0) {
		/* OK without data: an empty entry. */
		r = P11AGENT_ERR_PIN_REQUIRED;
		goto out;
	}
	*pinp = pin;
	pin = NULL;
 out:
	pe_finish(&pe, r);
	secmem_free(pin);		/* wipes */
	if (r != 0 && r != P11AGENT_ERR_DENIED)
		log_info_fr(r, "pinentry %s", pe.prog);
	return r;
}

int
pinentry_confirm(const char *program, const char *title, const char *desc,
    int timeout_s)
{
	struct pe pe;
	int r;

	if ((r = pe_start(&pe, program, timeout_s)) != 0)
		return r;
	if ((r = pe_setup(&pe, title, desc, NULL, NULL, timeout_s)) == 0 &&
	    (r = pe_command(&pe, "CONFIRM", NULL)) == 0)
		r = pe_answer(&pe, NULL, NULL, 0);
	pe_finish(&pe, r);
	if (r != 0 && r != P11AGENT_ERR_DENIED)
		log_info_fr(r, "pinentry %s", pe.prog);
	return r;
}
