/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * p11bench-ssh.c - ssh-agent's side of the benchmark: N threads, each on
 * its own connection to $SSH_AUTH_SOCK, sending SSH2_AGENTC_SIGN_REQUEST
 * for a key that ssh-add -s loaded from the token (ssh-agent hands it to
 * ssh-pkcs11-helper). The key is picked by type: nistp256 (carol),
 * nistp384 (dave), or a 2048-bit ssh-rsa (alice), signed as rsa-sha2-256.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stats.h"

#define MAX_CLIENTS		64
#define MAX_MSG			(256 * 1024)	/* bytes */

#define SSH_AGENT_FAILURE		5
#define SSH2_AGENTC_REQUEST_IDENTITIES	11
#define SSH2_AGENT_IDENTITIES_ANSWER	12
#define SSH2_AGENTC_SIGN_REQUEST	13
#define SSH2_AGENT_SIGN_RESPONSE	14
#define SSH_AGENT_RSA_SHA2_256		0x02

static struct {
	const char *sock;
	const char *want_type;
	size_t want_bits;	/* RSA only */
	uint32_t flags;
	uint8_t blob[2048];
	size_t bloblen;
	uint8_t req[4096];	/* the whole sign request, framed */
	size_t reqlen;
	uint64_t warm_end, end;
	pthread_barrier_t start;
} g;

struct thr {
	pthread_t tid;
	int fd;
	uint8_t *rep;
	struct lat_samples lat;
	uint64_t ops, errors, last_ns;
	int first_ok;
};

static void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static int
connect_agent(void)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(g.sock) >= sizeof(sun.sun_path))
		stats_die("socket path too long");
	strcpy(sun.sun_path, g.sock);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1)
		stats_die("connect %s: %s", g.sock, strerror(errno));
	return fd;
}

static int
full_io(int fd, uint8_t *p, size_t len, int wr)
{
	ssize_t n;

	while (len > 0) {
		n = wr ? write(fd, p, len) : read(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Sends a framed message, reads the framed reply; returns its length. */
static long
roundtrip(int fd, const uint8_t *msg, size_t len, uint8_t *rep)
{
	uint8_t hdr[4];
	uint32_t rlen;

	if (full_io(fd, (uint8_t *)msg, len, 1) != 0 ||
	    full_io(fd, hdr, 4, 0) != 0)
		return -1;
	if ((rlen = get_u32(hdr)) == 0 || rlen > MAX_MSG ||
	    full_io(fd, rep, rlen, 0) != 0)
		return -1;
	return (long)rlen;
}

/* Reads an SSH string at *p (within end); NULL if it does not fit. */
static const uint8_t *
get_string(const uint8_t **p, const uint8_t *end, size_t *lenp)
{
	const uint8_t *s;
	uint32_t len;

	if (end - *p < 4)
		return NULL;
	len = get_u32(*p);
	if ((size_t)(end - *p - 4) < len)
		return NULL;
	s = *p + 4;
	*p = s + len;
	*lenp = len;
	return s;
}

/* Does this key blob match what we want? */
static int
blob_matches(const uint8_t *blob, size_t len)
{
	const uint8_t *p = blob, *end = blob + len, *t, *e, *n;
	size_t tl, el, nl;

	if ((t = get_string(&p, end, &tl)) == NULL ||
	    tl != strlen(g.want_type) || memcmp(t, g.want_type, tl) != 0)
		return 0;
	if (g.want_bits == 0)
		return 1;
	/* ssh-rsa: mpint e, mpint n. */
	if ((e = get_string(&p, end, &el)) == NULL ||
	    (n = get_string(&p, end, &nl)) == NULL)
		return 0;
	while (nl > 0 && *n == 0) {
		n++;
		nl--;
	}
	return nl * 8 == g.want_bits;
}

static void
find_key(int fd)
{
	uint8_t msg[5], *rep;
	const uint8_t *p, *end, *blob, *comment;
	size_t bl, cl;
	uint32_t nkeys, i;
	long n;

	if ((rep = malloc(MAX_MSG)) == NULL)
		stats_die("out of memory");
	put_u32(msg, 1);
	msg[4] = SSH2_AGENTC_REQUEST_IDENTITIES;
	if ((n = roundtrip(fd, msg, sizeof(msg), rep)) < 5 ||
	    rep[0] != SSH2_AGENT_IDENTITIES_ANSWER)
		stats_die("ssh-agent: cannot list identities");
	p = rep + 5;
	end = rep + n;
	nkeys = get_u32(rep + 1);
	for (i = 0; i < nkeys; i++) {
		if ((blob = get_string(&p, end, &bl)) == NULL ||
		    (comment = get_string(&p, end, &cl)) == NULL)
			stats_die("ssh-agent: bad identities answer");
		if (blob_matches(blob, bl)) {
			if (bl > sizeof(g.blob))
				stats_die("key blob too big");
			memcpy(g.blob, blob, bl);
			g.bloblen = bl;
			free(rep);
			return;
		}
	}
	stats_die("ssh-agent holds no %s key%s (has %u keys)", g.want_type,
	    g.want_bits ? " of that size" : "", nkeys);
}

static void
build_request(void)
{
	uint8_t data[32];
	size_t i, off;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 1);
	off = 4;
	g.req[off++] = SSH2_AGENTC_SIGN_REQUEST;
	put_u32(g.req + off, (uint32_t)g.bloblen);
	memcpy(g.req + off + 4, g.blob, g.bloblen);
	off += 4 + g.bloblen;
	put_u32(g.req + off, sizeof(data));
	memcpy(g.req + off + 4, data, sizeof(data));
	off += 4 + sizeof(data);
	put_u32(g.req + off, g.flags);
	off += 4;
	put_u32(g.req, (uint32_t)(off - 4));
	g.reqlen = off;
}

static int
sign_once(struct thr *t)
{
	long n;

	n = roundtrip(t->fd, g.req, g.reqlen, t->rep);
	return n > 5 && t->rep[0] == SSH2_AGENT_SIGN_RESPONSE;
}

static void *
thread_main(void *arg)
{
	struct thr *t = arg;
	uint64_t t0, t1;
	int ok;

	t->first_ok = sign_once(t);
	pthread_barrier_wait(&g.start);
	if (!t->first_ok)
		return NULL;
	t1 = stats_now_ns();
	while (t1 < g.warm_end) {
		(void)sign_once(t);
		t1 = stats_now_ns();
	}
	do {
		t0 = t1;
		ok = sign_once(t);
		t1 = stats_now_ns();
		if (!ok)
			t->errors++;
		else {
			t->ops++;
			lat_add(&t->lat, t1 - t0);
		}
	} while (t1 < g.end);
	t->last_ns = t1;
	return NULL;
}

static void
usage(void)
{
	fprintf(stderr, "usage: p11bench-ssh [--socket PATH] --op OP "
	    "[--clients N] [--seconds S] [--warmup S]\n"
	    "           [--watch-pid PID]...\n"
	    "OP: ecdsa-p256 ecdsa-p384 rsa2048-sign\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "socket", required_argument, NULL, 'S' },
		{ "op", required_argument, NULL, 'o' },
		{ "clients", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 's' },
		{ "warmup", required_argument, NULL, 'w' },
		{ "watch-pid", required_argument, NULL, 'P' },
		{ NULL, 0, NULL, 0 }
	};
	const char *op = NULL;
	struct lat_samples *lats;
	struct thr *th;
	struct cpu_mark m0, m1;
	int watch[STATS_MAX_WATCH];
	size_t nwatch = 0;
	double secs = 3, warm = -1, p50, p99;
	uint64_t ops = 0, errors = 0, last = 0;
	int nclients = 1, ch, i, fd;

	while ((ch = getopt_long(argc, argv, "", lopts, NULL)) != -1) {
		switch (ch) {
		case 'S': g.sock = optarg; break;
		case 'o': op = optarg; break;
		case 'n': nclients = atoi(optarg); break;
		case 's': secs = atof(optarg); break;
		case 'w': warm = atof(optarg); break;
		case 'P':
			if (nwatch == STATS_MAX_WATCH)
				usage();
			watch[nwatch++] = atoi(optarg);
			break;
		default: usage();
		}
	}
	if (g.sock == NULL)
		g.sock = getenv("SSH_AUTH_SOCK");
	if (op == NULL || g.sock == NULL || nclients < 1 ||
	    nclients > MAX_CLIENTS || secs <= 0)
		usage();
	if (strcmp(op, "ecdsa-p256") == 0)
		g.want_type = "ecdsa-sha2-nistp256";
	else if (strcmp(op, "ecdsa-p384") == 0)
		g.want_type = "ecdsa-sha2-nistp384";
	else if (strcmp(op, "rsa2048-sign") == 0) {
		g.want_type = "ssh-rsa";
		g.want_bits = 2048;
		g.flags = SSH_AGENT_RSA_SHA2_256;
	} else
		stats_die("ssh-agent protocol has no %s", op);
	if (warm < 0)
		warm = secs / 5 < 0.3 ? secs / 5 : 0.3;

	fd = connect_agent();
	find_key(fd);
	build_request();
	if ((th = calloc((size_t)nclients, sizeof(*th))) == NULL ||
	    (lats = calloc((size_t)nclients, sizeof(*lats))) == NULL)
		stats_die("out of memory");
	for (i = 0; i < nclients; i++) {
		th[i].fd = i == 0 ? fd : connect_agent();
		if ((th[i].rep = malloc(MAX_MSG)) == NULL)
			stats_die("out of memory");
	}
	pthread_barrier_init(&g.start, NULL, (unsigned)nclients + 1);
	for (i = 0; i < nclients; i++)
		if (pthread_create(&th[i].tid, NULL, thread_main, &th[i]) != 0)
			stats_die("pthread_create failed");
	g.warm_end = stats_now_ns() + (uint64_t)(warm * 1e9);
	g.end = g.warm_end + (uint64_t)(secs * 1e9);
	pthread_barrier_wait(&g.start);
	stats_window(watch, nwatch, g.warm_end, g.end, &m0, &m1);
	for (i = 0; i < nclients; i++) {
		pthread_join(th[i].tid, NULL);
		if (!th[i].first_ok)
			stats_die("%s: ssh-agent refused to sign", op);
		ops += th[i].ops;
		errors += th[i].errors;
		if (th[i].last_ns > last)
			last = th[i].last_ns;
		lats[i] = th[i].lat;
	}
	lat_percentiles(lats, (size_t)nclients, &p50, &p99);
	stats_print(ops, errors, (double)(last - g.warm_end) / 1e9, p50, p99,
	    "op", &m0, &m1, NULL);
	for (i = 0; i < nclients; i++) {
		lat_free(&lats[i]);
		free(th[i].rep);
		close(th[i].fd);
	}
	free(lats);
	free(th);
	return 0;
}
