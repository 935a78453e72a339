/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * config.c - command line and config file of p11agent. Both go through
 * one option table, so every long option is also a config key. Errors
 * are one line on stderr naming the option or the file and line; no
 * option value is ever echoed that could be a PIN. Main thread only.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11agent/p11agent.h>

#include "config.h"
#include "paths.h"

enum {
	OPT_SH = 256,
	OPT_AUDIT_LOG,
	OPT_AUDIT_FAIL,
	OPT_CONFIRM,
	OPT_PIN_FILE,
	OPT_PIN_FD,
	OPT_PIN_PROMPT,
	OPT_AUTHORIZED,
	OPT_AGENT_KEY,
	OPT_WORKERS,
	OPT_LOCK_AFTER,
	OPT_PINENTRY,
	OPT_PIN_MAX_LIFETIME,
	OPT_MODULE,
	OPT_TOKEN,
	OPT_SOCKET,
	OPT_CONFIG,
	OPT_PIN,		/* refused: a PIN never comes from argv */
};

static const struct option longopts[] = {
	{ "foreground",		no_argument,		NULL, 'd' },
	{ "module",		required_argument,	NULL, OPT_MODULE },
	{ "token",		required_argument,	NULL, OPT_TOKEN },
	{ "socket",		required_argument,	NULL, OPT_SOCKET },
	{ "config",		required_argument,	NULL, OPT_CONFIG },
	{ "pin-file",		required_argument,	NULL, OPT_PIN_FILE },
	{ "pin-fd",		required_argument,	NULL, OPT_PIN_FD },
	{ "pin-prompt",		no_argument,		NULL, OPT_PIN_PROMPT },
	{ "authorized-clients",	required_argument,	NULL, OPT_AUTHORIZED },
	{ "audit-log",		required_argument,	NULL, OPT_AUDIT_LOG },
	{ "audit-fail",		required_argument,	NULL, OPT_AUDIT_FAIL },
	{ "confirm",		required_argument,	NULL, OPT_CONFIRM },
	{ "agent-key",		required_argument,	NULL, OPT_AGENT_KEY },
	{ "workers",		required_argument,	NULL, OPT_WORKERS },
	{ "lock-after",		required_argument,	NULL, OPT_LOCK_AFTER },
	{ "pinentry",		optional_argument,	NULL, OPT_PINENTRY },
	{ "pin-max-lifetime",	required_argument,	NULL,
	    OPT_PIN_MAX_LIFETIME },
	{ "csh",		no_argument,		NULL, 'c' },
	{ "sh",			no_argument,		NULL, 's' },
	{ "debug",		no_argument,		NULL, 'v' },
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, 'V' },
	{ "pin",		required_argument,	NULL, OPT_PIN },
	{ NULL,			0,			NULL, 0 }
};

static const char usage_text[] =
"usage: p11agent [-cdsv] [--module PATH|NAME]... [--token URI]...\n"
"                [--socket PATH] [--config FILE] [--agent-key FILE]\n"
"                [--pin-file FILE | --pin-fd N | --pin-prompt]\n"
"                [--pinentry [PROGRAM]] [--pin-max-lifetime SECONDS]\n"
"                [--authorized-clients FILE] [--workers N]\n"
"                [--audit-log FILE] [--audit-fail refuse|continue]\n"
"                [--confirm KEYREF]...\n"
"                [--lock-after SECONDS]\n"
"\n"
"  -d, --foreground            stay in the foreground, log to stderr\n"
"      --module PATH|NAME      PKCS#11 module (repeatable)\n"
"      --token URI             pkcs11: URI of a token to use (repeatable;\n"
"                              default: every token of the modules)\n"
"      --socket PATH           listening socket (default\n"
"                              $XDG_RUNTIME_DIR/p11agent/socket)\n"
"      --config FILE           config file (default\n"
"                              $XDG_CONFIG_HOME/p11agent/agent.conf)\n"
"      --pin-file FILE         read the PIN from FILE (mode 0600)\n"
"      --pin-fd N              read the PIN from file descriptor N\n"
"      --pin-prompt            ask for the PIN on the terminal\n"
"      --pinentry [PROGRAM]    ask for the PIN with a pinentry program when\n"
"                              first needed (default program: pinentry)\n"
"      --pin-max-lifetime SECONDS\n"
"                              forget the PIN and log out SECONDS after it\n"
"                              was entered (default 0: no limit)\n"
"      --authorized-clients FILE\n"
"                              only these client keys may connect, each\n"
"                              with its rules (keys, ops, rate, confirm)\n"
"      --audit-log FILE        one hash-chained JSON line per operation\n"
"      --audit-fail refuse|continue\n"
"                              when the audit log cannot be written: refuse\n"
"                              operations (default) or log to syslog\n"
"      --confirm KEYREF        ask through pinentry before each use of the\n"
"                              keys KEYREF matches (repeatable)\n"
"      --agent-key FILE        the agent's private key (default\n"
"                              $XDG_CONFIG_HOME/p11agent/agent.key)\n"
"      --workers N             threads serving clients and running token\n"
"                              operations (default: what the tokens take,\n"
"                              at most 2 x CPUs)\n"
"      --lock-after SECONDS    log out after SECONDS without use\n"
"  -c, --csh                   print csh commands\n"
"  -s, --sh                    print Bourne shell commands\n"
"  -v, --debug                 log debugging detail\n"
"  -h, --help                  show this help\n"
"  -V, --version               show the version\n";

static void
list_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int
list_add(char ***vp, size_t *np, const char *s)
{
	char **v;
	char *d;

	if ((d = strdup(s)) == NULL)
		return -1;
	if ((v = reallocarray(*vp, *np + 1, sizeof(*v))) == NULL) {
		free(d);
		return -1;
	}
	v[(*np)++] = d;
	*vp = v;
	return 0;
}

static int
set_string(char **dst, const char *s)
{
	char *d;

	if ((d = strdup(s)) == NULL)
		return -1;
	free(*dst);
	*dst = d;
	return 0;
}

/* Parses a decimal in [min, max]; -1 if it is not one. */
static long
parse_number(const char *s, long min, long max)
{
	char *end;
	long v;

	if (*s == '\0' || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	return v;
}

static void
config_init_unset(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->foreground = -1;
	cfg->debug = -1;
	cfg->csh = -1;
	cfg->pin_fd = -1;
	cfg->audit_fail_continue = -1;
	cfg->pin_prompt = -1;
	cfg->workers = -1;
	cfg->lock_after = -1;
	cfg->use_pinentry = -1;
	cfg->pin_max_lifetime = -1;
}

/*
 * Applies one option. where names it for errors ("--workers",
 * "agent.conf:3"). on is 0 or 1 for flags. Returns 0 or exit status 2
 * (1 when out of memory), after printing the reason.
 */
static int
set_option(struct config *cfg, int code, const char *arg, int on,
    const char *where)
{
	long v;
	int r = 0;

	switch (code) {
	case 'd':
		cfg->foreground = on;
		break;
	case 'v':
		cfg->debug = on;
		break;
	case 'c':
		cfg->csh = on;
		break;
	case 's':
		cfg->csh = !on;
		break;
	case OPT_PIN_PROMPT:
		cfg->pin_prompt = on;
		break;
	case OPT_MODULE:
		r = list_add(&cfg->modules, &cfg->nmodules, arg);
		break;
	case OPT_TOKEN:
		if (strncmp(arg, "pkcs11:", 7) != 0) {
			fprintf(stderr, "p11agent: %s: a token is named by a "
			    "pkcs11: URI, e.g. \"pkcs11:token=demo\"\n", where);
			return 2;
		}
		r = list_add(&cfg->tokens, &cfg->ntokens, arg);
		break;
	case OPT_SOCKET:
		r = set_string(&cfg->socket, arg);
		break;
	case OPT_CONFIG:
		r = set_string(&cfg->config_file, arg);
		break;
	case OPT_PIN_FILE:
		r = set_string(&cfg->pin_file, arg);
		break;
	case OPT_AUTHORIZED:
		r = set_string(&cfg->authorized_clients, arg);
		break;
	case OPT_AUDIT_LOG:
		r = set_string(&cfg->audit_log, arg);
		break;
	case OPT_AUDIT_FAIL:
		if (strcmp(arg, "refuse") == 0)
			cfg->audit_fail_continue = 0;
		else if (strcmp(arg, "continue") == 0)
			cfg->audit_fail_continue = 1;
		else {
			fprintf(stderr, "p11agent: %s: expected refuse or "
			    "continue\n", where);
			return 2;
		}
		break;
	case OPT_CONFIRM:
		r = list_add(&cfg->confirm, &cfg->nconfirm, arg);
		break;
	case OPT_AGENT_KEY:
		r = set_string(&cfg->agent_key, arg);
		break;
	case OPT_PIN_FD:
		if ((v = parse_number(arg, 0, INT_MAX)) < 0) {
			fprintf(stderr, "p11agent: %s: expected a file "
			    "descriptor number\n", where);
			return 2;
		}
		cfg->pin_fd = (int)v;
		break;
	case OPT_WORKERS:
		if ((v = parse_number(arg, 1, CONFIG_MAX_WORKERS)) < 0) {
			fprintf(stderr, "p11agent: %s: expected a number of "
			    "threads from 1 to %d\n", where,
			    CONFIG_MAX_WORKERS);
			return 2;
		}
		cfg->workers = (int)v;
		break;
	case OPT_LOCK_AFTER:
		if ((v = parse_number(arg, 0, CONFIG_MAX_LOCK_AFTER)) < 0) {
			fprintf(stderr, "p11agent: %s: expected seconds from 0 "
			    "to %d\n", where, CONFIG_MAX_LOCK_AFTER);
			return 2;
		}
		cfg->lock_after = (int)v;
		break;
	case OPT_PINENTRY:
		cfg->use_pinentry = on;
		if (arg != NULL && *arg != '\0')
			r = set_string(&cfg->pinentry, arg);
		break;
	case OPT_PIN_MAX_LIFETIME:
		if ((v = parse_number(arg, 0, CONFIG_MAX_LOCK_AFTER)) < 0) {
			fprintf(stderr, "p11agent: %s: expected seconds from 0 "
			    "to %d\n", where, CONFIG_MAX_LOCK_AFTER);
			return 2;
		}
		cfg->pin_max_lifetime = (int)v;
		break;
	case OPT_PIN:
		fprintf(stderr, "p11agent: %s: a PIN is never taken from the "
		    "command line or the config file; use --pin-file, --pin-fd "
		    "or --pin-prompt\n", where);
		return 2;
	default:
		fprintf(stderr, "p11agent: %s: not allowed here\n", where);
		return 2;
	}
	if (r != 0) {
		fprintf(stderr, "p11agent: out of memory\n");
		return 1;
	}
	return 0;
}

static const struct option *
find_option(const char *name)
{
	const struct option *o;

	for (o = longopts; o->name != NULL; o++)
		if (strcmp(o->name, name) == 0)
			return o;
	return NULL;
}

static char *
trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

/*
 * May another user change st's file? Owned by root or by us; writable by
 * others only as a directory owned by root with the sticky bit (/tmp:
 * nobody else can replace what is ours inside); group-writable only if
 * root owns it (Debian's /usr/local is root:staff 2775) or the group is
 * our own primary group (a user private group). Returns NULL, or what is
 * wrong with it.
 */
static const char *
unsafe_stat(const struct stat *st)
{
	uid_t uid = getuid();

	if (st->st_uid != 0 && st->st_uid != uid)
		return "is owned by another user";
	if ((st->st_mode & S_IWOTH) != 0 && !(S_ISDIR(st->st_mode) &&
	    (st->st_mode & S_ISVTX) != 0 && st->st_uid == 0))
		return "is writable by everyone";
	if ((st->st_mode & S_IWGRP) != 0 && st->st_uid != 0 &&
	    st->st_gid != getgid())
		return "is writable by its group";
	return NULL;
}

/*
 * Code the agent runs (a module, a pinentry named by a path) must not be
 * replaceable by another user: neither the file nor any directory above
 * it, after links are resolved (as OpenSSH's safe_path()). A path that
 * does not resolve is left to the loader, which says so. Returns 0, or
 * 1 with the reason on stderr.
 */
static int
check_code_path(const char *what, const char *path)
{
	struct stat st;
	const char *why;
	char *real, *slash;
	int r = 0;

	if ((real = realpath(path, NULL)) == NULL)
		return 0;
	for (;;) {
		if (stat(real, &st) != 0) {
			fprintf(stderr, "p11agent: %s %s: %s: %s\n", what, path,
			    real, strerror(errno));
			r = 1;
			break;
		}
		if ((why = unsafe_stat(&st)) != NULL) {
			fprintf(stderr, "p11agent: %s %s: %s %s (mode %04o); "
			    "another user could replace the code the agent "
			    "runs: fix its owner or permissions, or install "
			    "the %s elsewhere\n", what, path, real, why,
			    (unsigned int)(st.st_mode & 07777), what);
			r = 1;
			break;
		}
		if ((slash = strrchr(real, '/')) == NULL || slash == real) {
			if (slash == real && real[1] != '\0') {
				real[1] = '\0';	/* and "/" itself */
				continue;
			}
			break;
		}
		*slash = '\0';
	}
	free(real);
	return r;
}

/* Parses "key = value" lines into cfg. Returns 0 or an exit status. */
static int
load_file(struct config *cfg, const char *path)
{
	FILE *f;
	struct stat st;
	const char *why;
	char *line = NULL, *key, *val, *eq, where[PATH_MAX + 32];
	size_t cap = 0, lineno = 0;
	const struct option *o;
	int r = 0, on;

	if ((f = fopen(path, "re")) == NULL) {
		fprintf(stderr, "p11agent: cannot open config file %s: %s\n",
		    path, strerror(errno));
		return 1;
	}
	/* It names modules and programs the agent runs (as sshd's modes). */
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "p11agent: config file %s is not a regular "
		    "file\n", path);
		fclose(f);
		return 1;
	}
	if ((why = unsafe_stat(&st)) != NULL) {
		fprintf(stderr, "p11agent: config file %s %s (mode %04o); it "
		    "names the modules the agent loads: run \"chmod go-w %s\" "
		    "(and make it yours)\n", path, why,
		    (unsigned int)(st.st_mode & 07777), path);
		fclose(f);
		return 1;
	}
	while (r == 0 && getline(&line, &cap, f) != -1) {
		lineno++;
		snprintf(where, sizeof(where), "%s:%zu", path, lineno);
		key = trim(line);
		if (*key == '\0' || *key == '#')
			continue;
		val = "";
		if ((eq = strchr(key, '=')) != NULL) {
			*eq = '\0';
			val = trim(eq + 1);
			key = trim(key);
		}
		o = find_option(key);
		if (o == NULL || strcmp(key, "config") == 0 ||
		    strcmp(key, "help") == 0 || strcmp(key, "version") == 0) {
			fprintf(stderr, "p11agent: %s: unknown key \"%.64s\"\n",
			    where, key);
			r = 2;
			break;
		}
		if (o->has_arg == required_argument) {
			if (*val == '\0' && o->val != OPT_PIN) {
				fprintf(stderr, "p11agent: %s: \"%s\" needs a "
				    "value\n", where, key);
				r = 2;
				break;
			}
			r = set_option(cfg, o->val, val, 1, where);
			continue;
		}
		/* "pinentry", "pinentry = PROGRAM" or "pinentry = no". */
		if (o->has_arg == optional_argument && *val != '\0' &&
		    strcmp(val, "yes") != 0 && strcmp(val, "no") != 0) {
			r = set_option(cfg, o->val, val, 1, where);
			continue;
		}
		if (*val == '\0' || strcmp(val, "yes") == 0 ||
		    strcmp(val, "true") == 0 || strcmp(val, "on") == 0 ||
		    strcmp(val, "1") == 0)
			on = 1;
		else if (strcmp(val, "no") == 0 || strcmp(val, "false") == 0 ||
		    strcmp(val, "off") == 0 || strcmp(val, "0") == 0)
			on = 0;
		else {
			fprintf(stderr, "p11agent: %s: \"%s\" takes yes or "
			    "no\n", where, key);
			r = 2;
			break;
		}
		r = set_option(cfg, o->val, NULL, on, where);
	}
	if (r == 0 && ferror(f)) {
		fprintf(stderr, "p11agent: cannot read config file %s\n", path);
		r = 1;
	}
	free(line);
	fclose(f);
	return r;
}

/* The command line over the file: scalars when set, lists as a whole. */
static void
merge(struct config *cfg, struct config *cli)
{
#define TAKE_INT(f) do { if (cli->f != -1) cfg->f = cli->f; } while (0)
#define TAKE_STR(f) do { if (cli->f != NULL) { \
	free(cfg->f); cfg->f = cli->f; cli->f = NULL; } } while (0)
	TAKE_INT(foreground);
	TAKE_INT(debug);
	TAKE_INT(csh);
	TAKE_INT(pin_fd);
	TAKE_INT(pin_prompt);
	TAKE_INT(workers);
	TAKE_INT(lock_after);
	TAKE_INT(use_pinentry);
	TAKE_INT(pin_max_lifetime);
	TAKE_STR(socket);
	TAKE_STR(config_file);
	TAKE_STR(pin_file);
	TAKE_STR(authorized_clients);
	TAKE_STR(audit_log);
	TAKE_INT(audit_fail_continue);
	TAKE_STR(agent_key);
	TAKE_STR(pinentry);
#undef TAKE_INT
#undef TAKE_STR
	if (cli->nmodules > 0) {
		list_free(cfg->modules, cfg->nmodules);
		cfg->modules = cli->modules;
		cfg->nmodules = cli->nmodules;
		cli->modules = NULL;
		cli->nmodules = 0;
	}
	if (cli->ntokens > 0) {
		list_free(cfg->tokens, cfg->ntokens);
		cfg->tokens = cli->tokens;
		cfg->ntokens = cli->ntokens;
		cli->tokens = NULL;
		cli->ntokens = 0;
	}
	if (cli->nconfirm > 0) {
		list_free(cfg->confirm, cfg->nconfirm);
		cfg->confirm = cli->confirm;
		cfg->nconfirm = cli->nconfirm;
		cli->confirm = NULL;
		cli->nconfirm = 0;
	}
}

/*
 * The daemon changes to / and rereads some files later (SIGHUP, UNLOCK),
 * and the socket path is printed for other shells: make paths absolute.
 */
static int
make_absolute(char **pathp)
{
	char cwd[PATH_MAX], *abs;

	if (*pathp == NULL || (*pathp)[0] == '/')
		return 0;
	if (getcwd(cwd, sizeof(cwd)) == NULL) {
		fprintf(stderr, "p11agent: cannot resolve %s: %s\n", *pathp,
		    strerror(errno));
		return 1;
	}
	if (asprintf(&abs, "%s/%s", cwd, *pathp) == -1) {
		fprintf(stderr, "p11agent: out of memory\n");
		return 1;
	}
	free(*pathp);
	*pathp = abs;
	return 0;
}

static int
finish(struct config *cfg)
{
	const char *shell;
	size_t i;
	int npin;

	if (cfg->foreground == -1)
		cfg->foreground = 0;
	if (cfg->debug == -1)
		cfg->debug = 0;
	if (cfg->pin_prompt == -1)
		cfg->pin_prompt = 0;
	if (cfg->lock_after == -1)
		cfg->lock_after = 0;
	if (cfg->audit_fail_continue == -1)
		cfg->audit_fail_continue = 0;
	if (cfg->use_pinentry == -1)
		cfg->use_pinentry = 0;
	if (cfg->pin_max_lifetime == -1)
		cfg->pin_max_lifetime = 0;
	if (cfg->csh == -1) {
		shell = getenv("SHELL");
		cfg->csh = shell != NULL && strlen(shell) >= 3 &&
		    strcmp(shell + strlen(shell) - 3, "csh") == 0;
	}
	/* workers -1: main.c sizes it from the tokens and the CPUs. */
	npin = (cfg->pin_file != NULL) + (cfg->pin_fd != -1) +
	    (cfg->pin_prompt == 1);
	if (npin > 1) {
		fprintf(stderr, "p11agent: give only one of --pin-file, "
		    "--pin-fd and --pin-prompt\n");
		return 2;
	}
	if (cfg->nmodules == 0) {
		fprintf(stderr, "p11agent: no PKCS#11 module; give --module "
		    "PATH (or \"module = PATH\" in the config file)\n");
		return 2;
	}
	/* A bare name is the loader's or p11-kit's to find. */
	for (i = 0; i < cfg->nmodules; i++)
		if (strchr(cfg->modules[i], '/') != NULL &&
		    check_code_path("module", cfg->modules[i]) != 0)
			return 1;
	if (cfg->pinentry != NULL && strchr(cfg->pinentry, '/') != NULL &&
	    check_code_path("pinentry", cfg->pinentry) != 0)
		return 1;
	if (cfg->socket == NULL && paths_default_socket(&cfg->socket) != 0) {
		fprintf(stderr, "p11agent: cannot form the default socket "
		    "path; give --socket PATH\n");
		return 1;
	}
	if (cfg->agent_key == NULL &&
	    paths_config_file("agent.key", &cfg->agent_key) != 0) {
		fprintf(stderr, "p11agent: cannot form the default agent key "
		    "path; give --agent-key FILE\n");
		return 1;
	}
	if (make_absolute(&cfg->socket) != 0 ||
	    make_absolute(&cfg->pin_file) != 0 ||
	    /* A program named by a path; a bare name is found in PATH. */
	    (cfg->pinentry != NULL && strchr(cfg->pinentry, '/') != NULL &&
	    make_absolute(&cfg->pinentry) != 0) ||
	    make_absolute(&cfg->authorized_clients) != 0 ||
	    make_absolute(&cfg->audit_log) != 0 ||
	    make_absolute(&cfg->agent_key) != 0)
		return 1;
	return 0;
}

int
config_load(struct config *cfg, int argc, char **argv, int *exitp)
{
	struct config cli;
	char where[64], *deflt = NULL;
	const char *name;
	int ch, idx, r = 0;

	config_init_unset(cfg);
	config_init_unset(&cli);
	opterr = 0;		/* our own messages: never echo a value */
	optind = 1;
	while ((ch = getopt_long(argc, argv, ":cdsvhV", longopts,
	    &idx)) != -1) {
		switch (ch) {
		case 'h':
			fputs(usage_text, stdout);
			r = -1;
			goto out;
		case 'V':
			printf("p11agent %s\n", P11AGENT_VERSION);
			r = -1;
			goto out;
		case '?':
			if (optopt != 0)
				fprintf(stderr, "p11agent: unknown option -%c; "
				    "see p11agent --help\n", optopt);
			else
				fprintf(stderr, "p11agent: unknown option; see "
				    "p11agent --help\n");
			r = 2;
			goto out;
		case ':':
			fprintf(stderr, "p11agent: option needs a value; see "
			    "p11agent --help\n");
			r = 2;
			goto out;
		default:
			name = NULL;
			for (idx = 0; longopts[idx].name != NULL; idx++)
				if (longopts[idx].val == ch)
					name = longopts[idx].name;
			snprintf(where, sizeof(where), "--%s",
			    name != NULL ? name : "?");
			/* "--pinentry PROGRAM" as well as "--pinentry=PROGRAM". */
			if (ch == OPT_PINENTRY && optarg == NULL &&
			    optind < argc && argv[optind][0] != '-')
				optarg = argv[optind++];
			if ((r = set_option(&cli, ch, optarg, 1, where)) != 0)
				goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "p11agent: unexpected argument; see "
		    "p11agent --help\n");
		r = 2;
		goto out;
	}

	if (cli.config_file != NULL)
		r = load_file(cfg, cli.config_file);
	else if (paths_config_file("agent.conf", &deflt) == 0 &&
	    access(deflt, F_OK) == 0) {
		r = load_file(cfg, deflt);
		if (r == 0 && set_string(&cfg->config_file, deflt) != 0)
			r = 1;
	}
	if (r != 0)
		goto out;
	merge(cfg, &cli);
	r = finish(cfg);
 out:
	free(deflt);
	config_free(&cli);
	if (r == -1) {
		*exitp = 0;
		return 1;
	}
	*exitp = r;
	return r != 0;
}

void
config_free(struct config *cfg)
{
	list_free(cfg->modules, cfg->nmodules);
	list_free(cfg->tokens, cfg->ntokens);
	free(cfg->socket);
	free(cfg->config_file);
	free(cfg->pin_file);
	free(cfg->authorized_clients);
	free(cfg->audit_log);
	list_free(cfg->confirm, cfg->nconfirm);
	free(cfg->agent_key);
	free(cfg->pinentry);
	memset(cfg, 0, sizeof(*cfg));
}
