/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * log.c - the agent's log: "progname: func: message[: error]" lines on
 * stderr, or syslog(LOG_DAEMON) once daemonised. Each line leaves in a
 * single write() so that threads do not interleave, and control
 * characters are replaced, because messages may quote peer-supplied
 * names. Thread-safe; log_init() should run before other threads start.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <p11agent/err.h>

#include "log.h"

#define LOG_LINE_MAX	1024	/* bytes, one line including the newline */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_progname[64] = "p11agent";
static enum log_level log_level = LOG_LEVEL_ERROR;
static int log_to_stderr = 1;

void
log_init(const char *progname, enum log_level level, int to_stderr)
{
	const char *slash;

	pthread_mutex_lock(&log_lock);
	if (progname != NULL) {
		if ((slash = strrchr(progname, '/')) != NULL)
			progname = slash + 1;
		snprintf(log_progname, sizeof(log_progname), "%s", progname);
	}
	if (level > LOG_LEVEL_DEBUG)
		level = LOG_LEVEL_DEBUG;
	log_level = level;
	if (!to_stderr && log_to_stderr)
		openlog(log_progname, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	else if (to_stderr && !log_to_stderr)
		closelog();
	log_to_stderr = to_stderr != 0;
	pthread_mutex_unlock(&log_lock);
}

enum log_level
log_get_level(void)
{
	enum log_level level;

	pthread_mutex_lock(&log_lock);
	level = log_level;
	pthread_mutex_unlock(&log_lock);
	return level;
}

/* Replaces control characters so one message cannot forge another line. */
static void
sanitise(char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
			*s = '?';
	}
}

void
log_msg(enum log_level level, const char *func, int r, const char *fmt, ...)
{
	char msg[LOG_LINE_MAX], line[LOG_LINE_MAX + 128];
	int saved_errno = errno, prio, n, to_stderr;
	ssize_t w;
	va_list ap;

	pthread_mutex_lock(&log_lock);
	if (level > log_level) {
		pthread_mutex_unlock(&log_lock);
		errno = saved_errno;
		return;
	}
	to_stderr = log_to_stderr;

	va_start(ap, fmt);
	if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
		msg[0] = '\0';
	va_end(ap);
	if (r != 0) {
		n = (int)strlen(msg);
		snprintf(msg + n, sizeof(msg) - (size_t)n, ": %s",
		    p11agent_strerror(r));
	}
	sanitise(msg);

	if (to_stderr) {
		n = snprintf(line, sizeof(line), "%s: %s: %s\n", log_progname,
		    func != NULL ? func : "?", msg);
		if (n < 0)
			n = 0;
		if ((size_t)n >= sizeof(line)) {
			n = sizeof(line) - 1;
			line[n - 1] = '\n';
		}
		/* Nothing useful to do if stderr is gone. */
		w = write(STDERR_FILENO, line, (size_t)n);
		(void)w;
	} else {
		prio = level == LOG_LEVEL_ERROR ? LOG_ERR :
		    level == LOG_LEVEL_INFO ? LOG_INFO : LOG_DEBUG;
		syslog(prio, "%s: %s", func != NULL ? func : "?", msg);
	}
	pthread_mutex_unlock(&log_lock);
	errno = saved_errno;
}
