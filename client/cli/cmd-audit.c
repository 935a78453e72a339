/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * cmd-audit.c - "p11 audit verify FILE...": checks the hash chain of the
 * agent's audit log (docs/AUDIT.md) through rotated files given oldest
 * first. Every line must name, in its "prev" field, the SHA-256 of the
 * line before it, and carry the next sequence number; the first break
 * is reported with its file and line number and, from the sequence
 * numbers, whether a line was edited, removed or moved. Needs no agent;
 * reads the files as a stream.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "cli.h"

#define AUDIT_HASH_LEN	32		/* bytes, SHA-256 */
#define PREV_PREFIX	",\"prev\":\""
#define PREV_SUFFIX_LEN	\
	(sizeof(PREV_PREFIX) - 1 + 2 * AUDIT_HASH_LEN + 2)

/* The lines of the files, one after the other. */
struct reader {
	char **files;
	int nfiles;
	int fi;			/* current file */
	FILE *f;
	size_t lineno;
	char *line;
	size_t cap;
	size_t len;		/* without the newline */
	int complete;		/* it ended with a newline */
};

/* What is known about the line before. */
struct link {
	int have;
	uint8_t hash[AUDIT_HASH_LEN];
	int seq_ok;
	uint64_t seq;
	const char *file;
	size_t lineno;
};

/* 1 and the next line, 0 at the end, -1 when a file cannot be read. */
static int
next_line(struct reader *rd)
{
	ssize_t n;

	for (;;) {
		if (rd->f == NULL) {
			if (rd->fi >= rd->nfiles)
				return 0;
			if (strcmp(rd->files[rd->fi], "-") == 0)
				rd->f = stdin;
			else if ((rd->f = fopen(rd->files[rd->fi], "re")) ==
			    NULL) {
				cli_err("cannot open %s: %s", rd->files[rd->fi],
				    strerror(errno));
				return -1;
			}
			rd->lineno = 0;
		}
		if ((n = getline(&rd->line, &rd->cap, rd->f)) >= 0) {
			rd->lineno++;
			rd->len = (size_t)n;
			rd->complete = n > 0 && rd->line[n - 1] == '\n';
			if (rd->complete)
				rd->line[--rd->len] = '\0';
			return 1;
		}
		if (ferror(rd->f)) {
			cli_err("cannot read %s: %s", rd->files[rd->fi],
			    strerror(errno));
			return -1;
		}
		if (rd->f != stdin)
			fclose(rd->f);
		rd->f = NULL;
		rd->fi++;
	}
}

static const char *
cur_file(const struct reader *rd)
{
	return rd->files[rd->fi];
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int
parse_hex32(const char *s, uint8_t out[AUDIT_HASH_LEN])
{
	int hi, lo;
	size_t i;

	for (i = 0; i < AUDIT_HASH_LEN; i++) {
		if ((hi = hexval(s[2 * i])) < 0 ||
		    (lo = hexval(s[2 * i + 1])) < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* The line ends with ,"prev":"<64 lowercase hex>"} */
static int
parse_prev(const char *line, size_t len, uint8_t prev[AUDIT_HASH_LEN])
{
	const char *p;

	if (len < PREV_SUFFIX_LEN + 1 || line[0] != '{')
		return -1;
	p = line + len - PREV_SUFFIX_LEN;
	if (memcmp(p, PREV_PREFIX, sizeof(PREV_PREFIX) - 1) != 0 ||
	    strcmp(line + len - 2, "\"}") != 0)
		return -1;
	return parse_hex32(p + sizeof(PREV_PREFIX) - 1, prev);
}

/* "seq" follows "time", whose value cannot contain it. */
static int
parse_seq(const char *line, uint64_t *seqp)
{
	const char *p;
	char *end;

	if (strncmp(line, "{\"time\":\"", 9) != 0 ||
	    (p = strstr(line, ",\"seq\":")) == NULL)
		return -1;
	p += 7;
	if (*p < '0' || *p > '9')
		return -1;
	errno = 0;
	*seqp = strtoull(p, &end, 10);
	if (errno != 0 || (*end != ',' && *end != '}'))
		return -1;
	return 0;
}

static int
sha256(const void *p, size_t n, uint8_t out[AUDIT_HASH_LEN])
{
	unsigned int len = 0;

	if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1 ||
	    len != AUDIT_HASH_LEN)
		return -1;
	return 0;
}

static void
hex32(const uint8_t h[AUDIT_HASH_LEN], char out[2 * AUDIT_HASH_LEN + 1])
{
	size_t i;

	for (i = 0; i < AUDIT_HASH_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/*
 * The chain breaks before the current line. Tells why from the sequence
 * numbers, looking ahead for the missing ones. Returns the exit code.
 */
static int
diagnose(struct reader *rd, const struct link *before, int seq_ok,
    uint64_t seq)
{
	char *file = strdup(cur_file(rd));
	size_t lineno = rd->lineno;
	uint64_t s;
	int found = 0, r;

	if (file == NULL) {
		cli_err("out of memory");
		return CLI_USAGE;
	}
	if (!seq_ok || !before->seq_ok) {
		cli_err("%s:%zu: the chain breaks here: this line does not "
		    "follow the line before (a line was edited, removed or "
		    "moved)", file, lineno);
	} else if (seq == before->seq + 1) {
		cli_err("%s:%zu: line edited: its SHA-256 is not the \"prev\" "
		    "of the next line", before->file, before->lineno);
	} else if (seq > before->seq + 1) {
		/* Missing numbers later on: moved; nowhere: removed. */
		while ((r = next_line(rd)) == 1)
			if (parse_seq(rd->line, &s) == 0 && s > before->seq &&
			    s < seq)
				found = 1;
		if (found)
			cli_err("%s:%zu: lines out of order: seq %" PRIu64
			    " follows seq %" PRIu64, file, lineno, seq,
			    before->seq);
		else
			cli_err("%s:%zu: %" PRIu64 " line%s removed before "
			    "this line (seq %" PRIu64 " follows seq %" PRIu64
			    ")", file, lineno, seq - before->seq - 1,
			    seq - before->seq - 1 == 1 ? "" : "s", seq,
			    before->seq);
	} else {
		cli_err("%s:%zu: lines out of order: seq %" PRIu64 " follows "
		    "seq %" PRIu64, file, lineno, seq, before->seq);
	}
	free(file);
	return CLI_FAIL;
}

static int
verify(char **files, int nfiles, int continued, const char *head)
{
	static const uint8_t zero[AUDIT_HASH_LEN];
	struct reader rd;
	struct link before;
	uint8_t prev[AUDIT_HASH_LEN], want[AUDIT_HASH_LEN];
	char hex[2 * AUDIT_HASH_LEN + 1];
	uint64_t seq = 0, first_seq = 0, nlines = 0;
	int seq_ok, r, ret = CLI_FAIL;

	if (head != NULL && (strlen(head) != 2 * AUDIT_HASH_LEN ||
	    parse_hex32(head, want) != 0))
		return cli_usage("--head takes the 64 lowercase hex digits of "
		    "a SHA-256");
	memset(&rd, 0, sizeof(rd));
	memset(&before, 0, sizeof(before));
	rd.files = files;
	rd.nfiles = nfiles;
	while ((r = next_line(&rd)) == 1) {
		if (!rd.complete) {
			cli_err("%s:%zu: incomplete line (no newline at the "
			    "end)", cur_file(&rd), rd.lineno);
			goto out;
		}
		if (parse_prev(rd.line, rd.len, prev) != 0) {
			cli_err("%s:%zu: not a p11agent audit line (it must "
			    "end with the \"prev\" hash)", cur_file(&rd),
			    rd.lineno);
			goto out;
		}
		seq_ok = parse_seq(rd.line, &seq) == 0;
		if (!before.have) {
			if (!continued && memcmp(prev, zero, sizeof(zero)) !=
			    0) {
				cli_err("%s:%zu: the chain starts earlier: "
				    "this line follows one that is not given; "
				    "give the older files first, or "
				    "--continued",
				    cur_file(&rd), rd.lineno);
				goto out;
			}
			first_seq = seq;
		} else if (memcmp(prev, before.hash, sizeof(prev)) != 0) {
			ret = diagnose(&rd, &before, seq_ok, seq);
			goto out;
		} else if (seq_ok && before.seq_ok && seq != before.seq + 1) {
			if (seq > before.seq + 1)
				cli_err("%s:%zu: %" PRIu64 " line%s missing "
				    "before this line (seq %" PRIu64 " follows "
				    "seq %" PRIu64 "); with --audit-fail="
				    "continue they went to syslog",
				    cur_file(&rd), rd.lineno,
				    seq - before.seq - 1,
				    seq - before.seq - 1 == 1 ? "" : "s", seq,
				    before.seq);
			else
				cli_err("%s:%zu: seq %" PRIu64 " follows seq %"
				    PRIu64, cur_file(&rd), rd.lineno, seq,
				    before.seq);
			goto out;
		}
		if (sha256(rd.line, rd.len, before.hash) != 0) {
			cli_err("OpenSSL cannot compute SHA-256");
			ret = CLI_USAGE;
			goto out;
		}
		before.have = 1;
		before.seq_ok = seq_ok;
		before.seq = seq;
		before.file = files[rd.fi];
		before.lineno = rd.lineno;
		nlines++;
	}
	if (r < 0) {
		ret = CLI_USAGE;
		goto out;
	}
	if (nlines == 0) {
		cli_err("no audit lines in %s%s", files[0],
		    nfiles > 1 ? " and the others" : "");
		goto out;
	}
	hex32(before.hash, hex);
	if (head != NULL && memcmp(want, before.hash, sizeof(want)) != 0) {
		cli_err("%s:%zu: the last line is not the one expected: its "
		    "SHA-256 is %s (the tail was removed or edited)",
		    before.file, before.lineno, hex);
		goto out;
	}
	printf("ok: %" PRIu64 " line%s in %d file%s, chain intact (seq %"
	    PRIu64 " to %" PRIu64 "); last line sha256 %s\n", nlines,
	    nlines == 1 ? "" : "s", nfiles, nfiles == 1 ? "" : "s",
	    first_seq, before.seq, hex);
	ret = CLI_OK;
 out:
	if (rd.f != NULL && rd.f != stdin)
		fclose(rd.f);
	free(rd.line);
	return ret;
}

int
cmd_audit(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "continued", no_argument, NULL, 'c' },
		{ "head", required_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 }
	};
	const char *head = NULL;
	int ch, continued = 0;

	while ((ch = cli_getopt(argc, argv, "", longopts)) != -1) {
		if (CLI_GETOPT_DONE(ch))
			return CLI_GETOPT_EXIT(ch);
		switch (ch) {
		case 'c':
			continued = 1;
			break;
		case 'H':
			head = optarg;
			break;
		default:
			return cli_usage("unexpected option");
		}
	}
	if (optind >= argc)
		return cli_usage("missing verify FILE...");
	if (strcmp(argv[optind], "verify") != 0)
		return cli_usage("unknown subcommand \"%s\"; use verify",
		    argv[optind]);
	optind++;
	if (optind >= argc)
		return cli_usage("missing FILE...");
	return verify(argv + optind, argc - optind, continued, head);
}
