/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * cmd-lock.c - "p11 lock" and "p11 unlock". The PIN comes from --pin-fd
 * or from /dev/tty with echo off, never from argv or the environment;
 * without a terminal the agent uses its own PIN source. The PIN lives in
 * one locked static buffer and is wiped as soon as it has been sent.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <termios.h>
#include <unistd.h>

#include <p11agent/client.h>

#include "proto.h"
#include "secmem.h"

#include "cli.h"

/* One byte for the terminator and one to notice a PIN that is too long. */
static char pin[P11AGENT_MAX_PIN + 2];

int
cmd_lock(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ NULL, 0, NULL, 0 }
	};
	struct p11agent_client *c = NULL;
	int ch, r, ret;

	while ((ch = cli_getopt(argc, argv, "", longopts)) != -1) {
		if (CLI_GETOPT_DONE(ch))
			return CLI_GETOPT_EXIT(ch);
		return cli_usage("unexpected option");
	}
	if ((ret = cli_no_operands(argc, argv)) != CLI_OK ||
	    (ret = cli_connect(&c)) != CLI_OK)
		return ret;
	if ((r = p11agent_client_lock(c)) != 0)
		ret = cli_report(c, r, NULL);
	p11agent_client_free(c);
	return ret;
}

/*
 * Reads one line into pin, byte by byte so nothing after the newline is
 * taken from fd. Returns 0, -1 on a read error (errno set), or -2 when
 * the line is longer than P11AGENT_MAX_PIN.
 */
static int
read_pin_line(int fd)
{
	size_t len = 0;
	ssize_t n;
	char ch;

	for (;;) {
		n = read(fd, &ch, 1);
		if (n < 0)
			return -1;	/* EINTR too: a signal ends it */
		if (n == 0 || ch == '\n')
			break;
		if (len >= P11AGENT_MAX_PIN) {
			ch = 0;
			return -2;
		}
		pin[len++] = ch;
	}
	if (len > 0 && pin[len - 1] == '\r')
		len--;
	pin[len] = '\0';
	ch = 0;
	return 0;
}

static volatile sig_atomic_t caught;

static void
on_signal(int signo)
{
	caught = signo;
}

/*
 * Prompts on /dev/tty with echo off. Returns CLI_OK with *no_tty set
 * when there is no terminal. A signal restores the terminal first and
 * is then re-raised with its default action.
 */
static int
prompt_pin(const char *prompt, int *no_tty)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT,
	    SIGTSTP, SIGTTIN, SIGTTOU };
	struct sigaction sa, old[sizeof(sigs) / sizeof(sigs[0])];
	struct termios term, saved;
	size_t i;
	int fd, r, e = 0, ret = CLI_OK;

	*no_tty = 0;
	if ((fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) < 0 ||
	    tcgetattr(fd, &saved) != 0) {
		if (fd >= 0)
			close(fd);
		*no_tty = 1;
		return CLI_OK;
	}
	caught = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: read() returns */
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, &old[i]);
	term = saved;
	term.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK | ECHONL);
	(void)tcsetattr(fd, TCSAFLUSH, &term);
	(void)!write(fd, prompt, strlen(prompt));
	r = read_pin_line(fd);
	e = errno;
	(void)tcsetattr(fd, TCSAFLUSH, &saved);
	(void)!write(fd, "\n", 1);
	close(fd);
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &old[i], NULL);
	if (caught != 0) {
		secmem_wipe(pin, sizeof(pin));
		kill(getpid(), caught);
		cli_err("PIN entry interrupted");
		return CLI_FAIL;
	}
	if (r == -2) {
		cli_err("PIN longer than %d bytes", P11AGENT_MAX_PIN);
		ret = CLI_USAGE;
	} else if (r != 0) {
		cli_err("cannot read the PIN from the terminal: %s",
		    strerror(e));
		ret = CLI_USAGE;
	}
	return ret;
}

static int
read_pin_fd(const char *arg)
{
	char *end;
	long n;
	int r, e;

	errno = 0;
	n = strtol(arg, &end, 10);
	if (errno != 0 || *arg == '\0' || *end != '\0' || n < 0 || n > INT_MAX)
		return cli_usage("--pin-fd needs a file descriptor number");
	if (fcntl((int)n, F_GETFD) < 0) {
		cli_err("file descriptor %ld is not open", n);
		return CLI_USAGE;
	}
	r = read_pin_line((int)n);
	e = errno;
	close((int)n);
	if (r == -2) {
		cli_err("PIN longer than %d bytes", P11AGENT_MAX_PIN);
		return CLI_USAGE;
	}
	if (r != 0) {
		cli_err("cannot read the PIN from file descriptor %ld: %s", n,
		    strerror(e));
		return CLI_USAGE;
	}
	return CLI_OK;
}

/* "PIN for "label": " when the agent has one token. */
static void
make_prompt(struct p11agent_client *c, char *buf, size_t len)
{
	struct p11agent_status *s = NULL;

	snprintf(buf, len, "PIN: ");
	if (p11agent_client_status(c, &s) == 0 &&
	    p11agent_status_token_count(s) == 1)
		snprintf(buf, len, "PIN for \"%s\": ",
		    cli_vis(p11agent_status_token_label(s, 0)));
	p11agent_status_free(s);
}

int
cmd_unlock(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pin-fd", required_argument, NULL, 'f' },
		{ "no-prompt", no_argument, NULL, 'n' },
		{ NULL, 0, NULL, 0 }
	};
	struct p11agent_client *c = NULL;
	const char *pinfd = NULL;
	char prompt[P11AGENT_MAX_NAME + 32];
	int ch, r, ret, no_prompt = 0, no_tty = 0, gave_pin;

	while ((ch = cli_getopt(argc, argv, "", longopts)) != -1) {
		if (CLI_GETOPT_DONE(ch))
			return CLI_GETOPT_EXIT(ch);
		switch (ch) {
		case 'f':
			pinfd = optarg;
			break;
		case 'n':
			no_prompt = 1;
			break;
		default:
			return cli_usage("unexpected option");
		}
	}
	if ((ret = cli_no_operands(argc, argv)) != CLI_OK)
		return ret;
	if (pinfd != NULL && no_prompt)
		return cli_usage("--pin-fd and --no-prompt exclude each other");
	(void)mlock(pin, sizeof(pin));	/* best effort: keep it off swap */
	pin[0] = '\0';
	if (pinfd != NULL && (ret = read_pin_fd(pinfd)) != CLI_OK)
		goto out;
	if ((ret = cli_connect(&c)) != CLI_OK)
		goto out;
	if (pinfd == NULL && !no_prompt) {
		make_prompt(c, prompt, sizeof(prompt));
		if ((ret = prompt_pin(prompt, &no_tty)) != CLI_OK)
			goto out;
	}
	/* An empty PIN, like no terminal, leaves the PIN to the agent. */
	gave_pin = pin[0] != '\0';
	r = p11agent_client_unlock(c, gave_pin ? pin : NULL);
	secmem_wipe(pin, sizeof(pin));
	/* The agent's own words when it tried (--pinentry: "cancelled"). */
	if (r == P11AGENT_ERR_PIN_REQUIRED && !gave_pin &&
	    (p11agent_client_last_message(c) == NULL ||
	    strstr(p11agent_client_last_message(c), "PIN source") != NULL)) {
		cli_err("the agent has no PIN source of its own; run "
		    "p11 unlock on a terminal or use --pin-fd");
		ret = CLI_FAIL;
	} else if (r != 0)
		ret = cli_report(c, r, NULL);
	else
		ret = CLI_OK;
 out:
	secmem_wipe(pin, sizeof(pin));
	p11agent_client_free(c);
	return ret;
}
