/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * pin.c - reads the token PIN from a 0600 file, an inherited descriptor,
 * or the controlling terminal with echo off, and keeps the PIN cache.
 * The PIN only ever lives in p11agent_secure_alloc() memory; every
 * failure path wipes and frees it. The prompt swaps signal handlers and
 * terminal modes: call it from the main thread before other threads
 * start. The cache has its own mutex, a leaf lock taken by any thread.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <p11agent/err.h>

#include "log.h"
#include "pin.h"
#include "proto.h"
#include "secmem.h"

/* PIN, an optional "\r\n", and one byte to notice a PIN that is too long. */
#define PIN_BUF		(P11AGENT_MAX_PIN + 3)

/*
 * Turns buf[0..len) into the PIN: drops one trailing "\n" or "\r\n" and
 * refuses what is left if it is too long or still holds a line break or
 * a NUL.
 */
static int
pin_finish(char *buf, size_t len)
{
	if (len > 0 && buf[len - 1] == '\n') {
		len--;
		if (len > 0 && buf[len - 1] == '\r')
			len--;
	}
	if (len > P11AGENT_MAX_PIN)
		return P11AGENT_ERR_PIN_LEN_RANGE;
	if (memchr(buf, '\0', len) != NULL || memchr(buf, '\n', len) != NULL ||
	    memchr(buf, '\r', len) != NULL)
		return P11AGENT_ERR_INVALID_FORMAT;
	buf[len] = '\0';
	return 0;
}

/*
 * Reads up to PIN_BUF bytes, stopping after a newline when stop_at_nl
 * (a pipe's writer may keep it open). Sets *lenp; P11AGENT_ERR_IO on a
 * read error.
 */
static int
read_some(int fd, char *buf, size_t *lenp, int stop_at_nl)
{
	size_t len = 0;
	ssize_t n;

	*lenp = 0;
	while (len < PIN_BUF) {
		n = read(fd, buf + len, stop_at_nl ? 1 : PIN_BUF - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return P11AGENT_ERR_IO;
		if (n == 0)
			break;
		len += (size_t)n;
		if (stop_at_nl && buf[len - 1] == '\n')
			break;
	}
	*lenp = len;
	return 0;
}

static int
pin_from_file(const char *path, char *buf)
{
	struct stat st;
	size_t len = 0;
	int fd, r;

	if (path == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK |
	    O_CLOEXEC)) == -1) {
		r = errno == ELOOP ? P11AGENT_ERR_FILE_PERMISSIONS :
		    P11AGENT_ERR_IO;
		log_err_f("pin file %s: %s", path, errno == ELOOP ?
		    "is a symbolic link" : strerror(errno));
		return r;
	}
	if (fstat(fd, &st) == -1) {
		r = P11AGENT_ERR_IO;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		log_err_f("pin file %s: must be a regular file owned by us, "
		    "mode 0600 or 0400", path);
		r = P11AGENT_ERR_FILE_PERMISSIONS;
		goto out;
	}
	if (st.st_size > (off_t)(P11AGENT_MAX_PIN + 2)) {
		log_err_f("pin file %s: longer than %d bytes", path,
		    P11AGENT_MAX_PIN);
		r = P11AGENT_ERR_PIN_LEN_RANGE;
		goto out;
	}
	if ((r = read_some(fd, buf, &len, 0)) != 0 ||
	    (r = pin_finish(buf, len)) != 0)
		log_err_f("pin file %s: %s", path, p11agent_strerror(r));
 out:
	close(fd);
	return r;
}

static int
pin_from_fd(struct pin_source *src, char *buf)
{
	size_t len = 0;
	int r;

	if (src->fd < 0)
		return P11AGENT_ERR_PIN_REQUIRED;
	r = read_some(src->fd, buf, &len, 1);
	close(src->fd);
	src->fd = -1;			/* consumed, whatever happened */
	if (r == 0 && len == 0)
		r = P11AGENT_ERR_PIN_REQUIRED;
	if (r == 0)
		r = pin_finish(buf, len);
	if (r != 0)
		log_err_f("pin fd: %s", p11agent_strerror(r));
	return r;
}

/*
 * Signals that would leave the terminal without echo are caught while
 * the prompt is up, then re-raised once the terminal and the previous
 * handlers are back (as OpenBSD's readpassphrase does).
 */
static const int prompt_sigs[] = { SIGINT, SIGHUP, SIGQUIT, SIGTERM,
	SIGTSTP, SIGTTIN, SIGTTOU };
#define NPROMPT_SIGS	(sizeof(prompt_sigs) / sizeof(prompt_sigs[0]))
static volatile sig_atomic_t prompt_caught[NPROMPT_SIGS];

static void
prompt_handler(int sig)
{
	size_t i;

	for (i = 0; i < NPROMPT_SIGS; i++)
		if (prompt_sigs[i] == sig)
			prompt_caught[i] = 1;
}

/* Best effort: a failed write only loses prompt text. */
static void
tty_puts(int fd, const char *s)
{
	size_t len = strlen(s);
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, s, len)) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

static int
pin_from_tty(const char *prompt, char *buf)
{
	struct sigaction sa, saved[NPROMPT_SIGS];
	struct termios term, noecho;
	const char *pre = "PIN for ", *post = ": ";
	size_t len = 0, i;
	int fd, r, caught = 0;

	if ((fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1)
		return P11AGENT_ERR_PIN_REQUIRED;
	if (tcgetattr(fd, &term) == -1) {
		close(fd);
		return P11AGENT_ERR_PIN_REQUIRED;
	}
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = prompt_handler;
	sa.sa_flags = 0;		/* no SA_RESTART: read() must return */
	for (i = 0; i < NPROMPT_SIGS; i++) {
		prompt_caught[i] = 0;
		sigaction(prompt_sigs[i], &sa, &saved[i]);
	}

	noecho = term;
	noecho.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	noecho.c_lflag |= ICANON;
	if (tcsetattr(fd, TCSAFLUSH, &noecho) == -1) {
		r = P11AGENT_ERR_PIN_REQUIRED;
		goto restore;
	}
	if (prompt == NULL || *prompt == '\0') {
		pre = "PIN";
		prompt = "";
	}
	tty_puts(fd, pre);
	tty_puts(fd, prompt);
	tty_puts(fd, post);
	r = 0;
	for (;;) {
		ssize_t n;

		if (len == PIN_BUF) {
			/* Too long: swallow the rest of the line unseen. */
			char c;

			if ((n = read(fd, &c, 1)) <= 0 || c == '\n') {
				secmem_wipe(&c, sizeof(c));
				break;
			}
			continue;
		}
		if ((n = read(fd, buf + len, 1)) == -1) {
			for (i = 0; i < NPROMPT_SIGS; i++)
				caught |= prompt_caught[i];
			if (errno == EINTR && !caught)
				continue;
			r = P11AGENT_ERR_PIN_REQUIRED;
			break;
		}
		if (n == 0) {		/* ^D */
			if (len == 0)
				r = P11AGENT_ERR_PIN_REQUIRED;
			break;
		}
		if (buf[len++] == '\n')
			break;
	}
	tty_puts(fd, "\n");
 restore:
	/* Restore even when a signal is pending: ignore EINTR here. */
	while (tcsetattr(fd, TCSAFLUSH, &term) == -1 && errno == EINTR)
		;
	for (i = 0; i < NPROMPT_SIGS; i++)
		sigaction(prompt_sigs[i], &saved[i], NULL);
	close(fd);
	for (i = 0; i < NPROMPT_SIGS; i++)
		if (prompt_caught[i]) {
			r = P11AGENT_ERR_PIN_REQUIRED;
			kill(getpid(), prompt_sigs[i]);
		}
	if (r == 0)
		r = pin_finish(buf, len);
	return r;
}

int
pin_read(struct pin_source *src, char **pinp)
{
	char *buf;
	int r;

	if (pinp == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	*pinp = NULL;
	if (src == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if (src->kind == PIN_SOURCE_NONE)
		return P11AGENT_ERR_PIN_REQUIRED;
	if ((buf = p11agent_secure_alloc(PIN_BUF + 1)) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	switch (src->kind) {
	case PIN_SOURCE_FILE:
		r = pin_from_file(src->file, buf);
		break;
	case PIN_SOURCE_FD:
		r = pin_from_fd(src, buf);
		break;
	case PIN_SOURCE_PROMPT:
		r = pin_from_tty(src->prompt, buf);
		break;
	default:
		r = P11AGENT_ERR_INVALID_ARGUMENT;
		break;
	}
	if (r != 0) {
		secmem_free(buf);	/* wipes */
		return r;
	}
	*pinp = buf;
	return 0;
}

/* The PIN cache. */

static struct {
	pthread_mutex_t mtx;
	char *pin;		/* secure memory, NUL-terminated; NULL: none */
	long set_at;		/* monotonic seconds */
	long max_lifetime;	/* seconds, 0: none */
} cache = { .mtx = PTHREAD_MUTEX_INITIALIZER };

static long
mono_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (long)ts.tv_sec;
}

/* Called with cache.mtx held. */
static void
cache_drop(void)
{
	secmem_free(cache.pin);		/* wipes */
	cache.pin = NULL;
	cache.set_at = 0;
}

/*
 * Called with cache.mtx held. A PIN past its lifetime is not handed out;
 * it stays (unused) until pin_cache_forget(), so that its deadline still
 * tells the recovery thread to lock.
 */
static int
cache_valid(void)
{
	if (cache.pin == NULL)
		return 0;
	return cache.max_lifetime == 0 ||
	    mono_now() - cache.set_at < cache.max_lifetime;
}

int
pin_cache_set(const char *pin)
{
	size_t len;
	char *p;

	if (pin == NULL || (len = strlen(pin)) > P11AGENT_MAX_PIN)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	p = p11agent_secure_alloc(len + 1);
	pthread_mutex_lock(&cache.mtx);
	cache_drop();
	if (p != NULL) {
		memcpy(p, pin, len + 1);
		cache.pin = p;
		cache.set_at = mono_now();
	}
	pthread_mutex_unlock(&cache.mtx);
	return p != NULL ? 0 : P11AGENT_ERR_NO_MEMORY;
}

int
pin_cache_get(char **pinp)
{
	size_t len;
	char *p = NULL;
	int r = P11AGENT_ERR_PIN_REQUIRED;

	if (pinp == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	*pinp = NULL;
	pthread_mutex_lock(&cache.mtx);
	if (cache_valid()) {
		len = strlen(cache.pin);
		if ((p = p11agent_secure_alloc(len + 1)) == NULL)
			r = P11AGENT_ERR_NO_MEMORY;
		else {
			memcpy(p, cache.pin, len + 1);
			r = 0;
		}
	}
	pthread_mutex_unlock(&cache.mtx);
	*pinp = p;
	return r;
}

int
pin_cache_has(void)
{
	int r;

	pthread_mutex_lock(&cache.mtx);
	r = cache_valid();
	pthread_mutex_unlock(&cache.mtx);
	return r;
}

void
pin_cache_forget(void)
{
	pthread_mutex_lock(&cache.mtx);
	cache_drop();
	pthread_mutex_unlock(&cache.mtx);
}

void
pin_cache_set_max_lifetime(long seconds)
{
	pthread_mutex_lock(&cache.mtx);
	cache.max_lifetime = seconds > 0 ? seconds : 0;
	pthread_mutex_unlock(&cache.mtx);
}

long
pin_cache_deadline(void)
{
	long d = 0;

	pthread_mutex_lock(&cache.mtx);
	if (cache.pin != NULL && cache.max_lifetime > 0)
		d = cache.set_at + cache.max_lifetime;
	pthread_mutex_unlock(&cache.mtx);
	return d;
}
