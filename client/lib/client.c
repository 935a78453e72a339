/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * client.c - libp11agent's connection: the Unix socket, the Noise IK
 * handshake (common/channel.c does the crypto), and requests matched to
 * replies by id. Replies may come in any order, so a reply for another
 * outstanding id is stashed until its caller asks for it; a request that
 * timed out is remembered as abandoned and its late reply dropped. After
 * any transport failure the handle refuses further use. A handle is not
 * thread-safe. Never prints, never exits.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <p11agent/client.h>

#include "buf.h"
#include "channel.h"
#include "keyfile.h"
#include "paths.h"
#include "proto.h"
#include "secmem.h"
#include "wire.h"

#include "client-int.h"

#define CLIENT_DEFAULT_TIMEOUT	60000	/* ms, one request */
#define CLIENT_PROMPT_TIMEOUT	300000	/* ms, unlock; the agent may prompt */
#define CLIENT_READ_CHUNK	16384	/* bytes, one recv(2) */
#define CLIENT_DEFAULT_NAME	"libp11agent"
#define CLIENT_MAX_CODE		0xffff	/* larger FAILURE codes are nonsense */
#define CLIENT_SPIN_RTT_MAX	1000	/* us: replies this quick are polled for */
#define CLIENT_YIELD_BUSY	10	/* us: a sched_yield() this long ran
					   another thread */

enum pending_state { PENDING_WAIT = 0, PENDING_DONE, PENDING_ABANDONED };

/* A request sent and not yet collected. */
struct pending {
	uint32_t id;
	enum pending_state state;
	uint8_t type;			/* reply type, once PENDING_DONE */
	struct buf *body;		/* reply body, once PENDING_DONE */
	size_t tag;			/* sign_many's index, else SIZE_MAX */
	struct pending *next;
};

struct p11agent_client {
	int fd;
	struct channel_keypair *kp;	/* must outlive ch */
	struct channel *ch;
	struct buf *rbuf;		/* received, not yet a whole frame */
	uint32_t next_id;
	int timeout_ms;
	int broken;			/* 0, or why the channel is unusable */
	struct pending *pending;
	size_t nabandoned;		/* timed out, the agent counts them */
	char *agent_version;
	/* For the key operations that follow; "" for none. */
	char description[P11AGENT_MAX_DESCRIPTION + 1];
	int desc_support;		/* SIGN2...: 0 not known yet, 1, -1 */
	int64_t sent_us;		/* last request sent, 0 once answered */
	int64_t rtt_us;			/* moving average of replies, 0: none */
	char message[P11AGENT_MAX_NAME + 1];
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* -1: no deadline. */
static int64_t
deadline_after(int ms)
{
	return ms <= 0 ? -1 : now_ms() + ms;
}

/* Waits for ev on fd; 0, P11AGENT_ERR_TIMEOUT or _SYSTEM_ERROR. */
static int
wait_fd(int fd, short ev, int64_t deadline)
{
	struct pollfd pfd;
	int64_t left;
	int n, ms;

	for (;;) {
		ms = -1;
		if (deadline >= 0) {
			left = deadline - now_ms();
			if (left <= 0)
				return P11AGENT_ERR_TIMEOUT;
			ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		pfd.fd = fd;
		pfd.events = ev;
		pfd.revents = 0;
		n = poll(&pfd, 1, ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return P11AGENT_ERR_SYSTEM_ERROR;
		if (n == 0)
			return P11AGENT_ERR_TIMEOUT;
		if (pfd.revents & POLLNVAL)
			return P11AGENT_ERR_SYSTEM_ERROR;
		/* POLLHUP / POLLERR: let recv/send report what happened. */
		return 0;
	}
}

/*
 * MSG_NOSIGNAL: a library must not kill its caller with SIGPIPE. A
 * request nearly always fits the socket buffer, so send first and wait
 * for POLLOUT only when the socket is full (one system call fewer).
 */
static int
send_all(int fd, const uint8_t *p, size_t len, int64_t deadline)
{
	ssize_t n;
	int r;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				if ((r = wait_fd(fd, POLLOUT, deadline)) != 0)
					return r;
				continue;
			}
			if (errno == EPIPE || errno == ECONNRESET)
				return P11AGENT_ERR_CONNECTION_CLOSED;
			return P11AGENT_ERR_SYSTEM_ERROR;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * When this connection's replies come within CLIENT_SPIN_RTT_MAX (a
 * software token or a fast HSM; a smartcard takes far longer),
 * read_more() polls for the reply (up to twice the usual time) before
 * sleeping. On a virtual machine an idle vCPU halts, and waking a
 * sleeping thread takes an interrupt between vCPUs: 40-150 us here, as
 * much as an ECDSA signature. A caller that polls is awake when the
 * reply comes. sched_yield() gives the CPU to any thread that needs it,
 * such as the agent's; one that took long did, so the CPUs are busy
 * (more clients than CPUs, say) and the caller sleeps instead: polling
 * must only use time nobody else wants. With two clients on two CPUs
 * that was 7-17% more signatures a second, with eight 19%
 * (docs/PERFORMANCE.md). Never on a single CPU. Returns until when to
 * poll (now_us() time), 0 for not at all.
 */
static int64_t
spin_until(const struct p11agent_client *c)
{
	static long ncpu;		/* any thread may set it: atomic */
	long n;

	if (c->sent_us == 0 || c->rtt_us == 0 ||
	    c->rtt_us > CLIENT_SPIN_RTT_MAX)
		return 0;
	if ((n = __atomic_load_n(&ncpu, __ATOMIC_RELAXED)) == 0) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		__atomic_store_n(&ncpu, n, __ATOMIC_RELAXED);
	}
	return n < 2 ? 0 : c->sent_us + 2 * c->rtt_us;
}

/* Keeps the moving average of reply times that spin_until() uses. */
static void
note_reply(struct p11agent_client *c)
{
	int64_t t;

	if (c->sent_us == 0)
		return;
	t = now_us() - c->sent_us;
	c->rtt_us = c->rtt_us == 0 ? t : (7 * c->rtt_us + t) / 8;
	if (c->rtt_us < 1)
		c->rtt_us = 1;
	c->sent_us = 0;
}

/*
 * Appends what the socket has (at least one byte) to c->rbuf. While
 * polling, it is recv() itself that polls: the reply is taken the moment
 * it is seen, with no poll() before it.
 */
static int
read_more(struct p11agent_client *c, int64_t deadline)
{
	int64_t spin = spin_until(c), t;
	uint8_t *p;
	ssize_t n;
	int r;

	for (;;) {
		if ((r = buf_reserve(c->rbuf, CLIENT_READ_CHUNK, &p)) != 0)
			return r;
		n = recv(c->fd, p, CLIENT_READ_CHUNK, MSG_DONTWAIT);
		buf_consume_end(c->rbuf, n > 0 ? CLIENT_READ_CHUNK - (size_t)n :
		    CLIENT_READ_CHUNK);
		if (n > 0) {
			note_reply(c);
			return 0;
		}
		if (n == 0)
			return P11AGENT_ERR_CONNECTION_CLOSED;
		if (errno == EINTR)
			continue;
		if (errno == ECONNRESET)
			return P11AGENT_ERR_CONNECTION_CLOSED;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return P11AGENT_ERR_SYSTEM_ERROR;
		if (spin > 0 && (t = now_us()) < spin) {
			sched_yield();
			if (now_us() - t > CLIENT_YIELD_BUSY)
				spin = 0;
			continue;
		}
		if ((r = wait_fd(c->fd, POLLIN, deadline)) != 0)
			return r;
	}
}

/*
 * Finds the next whole frame at the front of c->rbuf, reading as needed.
 * *lenp includes the length prefix; the caller consumes it.
 */
static int
next_frame(struct p11agent_client *c, int64_t deadline, size_t *lenp)
{
	int r;

	*lenp = 0;
	for (;;) {
		r = wire_frame_check(c->rbuf, P11AGENT_MAX_FRAME, lenp);
		if (r != P11AGENT_ERR_MESSAGE_INCOMPLETE)
			return r;
		if ((r = read_more(c, deadline)) != 0)
			return r;
	}
}

void
client_set_message(struct p11agent_client *c, const char *msg)
{
	size_t i;

	if (msg == NULL)
		msg = "";
	/* Keep it one printable line whatever the agent sent. */
	for (i = 0; msg[i] != '\0' && i < sizeof(c->message) - 1; i++) {
		unsigned char ch = (unsigned char)msg[i];

		c->message[i] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
	}
	c->message[i] = '\0';
}

const char *
p11agent_client_last_message(const struct p11agent_client *c)
{
	if (c == NULL)
		return "";
	return c->message;
}

void
p11agent_client_set_timeout(struct p11agent_client *c, int ms)
{
	if (c == NULL)
		return;
	c->timeout_ms = ms < 0 ? 0 : ms;
}

/* Pending requests. */

static struct pending *
pending_find(struct p11agent_client *c, uint32_t id)
{
	struct pending *p;

	for (p = c->pending; p != NULL; p = p->next)
		if (p->id == id)
			return p;
	return NULL;
}

static void
pending_remove(struct p11agent_client *c, struct pending *p)
{
	struct pending **pp;

	for (pp = &c->pending; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	buf_free(p->body);
	free(p);
}

static void
pending_abandon(struct p11agent_client *c, struct pending *p)
{
	if (p->state != PENDING_WAIT)
		return;
	p->state = PENDING_ABANDONED;
	p->tag = SIZE_MAX;
	c->nabandoned++;
}

static uint32_t
alloc_id(struct p11agent_client *c)
{
	uint32_t id;

	do {
		id = c->next_id++;
	} while (pending_find(c, id) != NULL);
	return id;
}

static int
client_usable(struct p11agent_client *c)
{
	if (c->broken != 0)
		return c->broken;
	if (c->ch == NULL || !channel_established(c->ch))
		return P11AGENT_ERR_HANDSHAKE;
	return 0;
}

/* Seals and sends one request; on success *pp is its pending entry. */
static int
send_request(struct p11agent_client *c, uint8_t type, const struct buf *body,
    int64_t deadline, struct pending **pp)
{
	struct buf *pt = NULL, *frame = NULL;
	struct pending *p = NULL;
	uint32_t id;
	int r = P11AGENT_ERR_INTERNAL;

	*pp = NULL;
	if ((r = client_usable(c)) != 0)
		return r;
	if ((pt = buf_new()) == NULL || (frame = buf_new()) == NULL ||
	    (p = calloc(1, sizeof(*p))) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	id = alloc_id(c);
	if ((r = buf_put_u32(pt, id)) != 0 ||
	    (r = buf_put_u8(pt, type)) != 0 ||
	    (body != NULL && (r = buf_putb(pt, body)) != 0))
		goto out;
	if (buf_len(pt) > P11AGENT_MAX_PLAINTEXT) {
		r = P11AGENT_ERR_MAX_SIZE;
		goto out;
	}
	if ((r = channel_seal(c->ch, buf_ptr(pt), buf_len(pt), frame)) != 0) {
		c->broken = r;
		goto out;
	}
	/* A frame cut short leaves the stream unusable, timeout or not. */
	if ((r = send_all(c->fd, buf_ptr(frame), buf_len(frame),
	    deadline)) != 0) {
		c->broken = r == P11AGENT_ERR_TIMEOUT ?
		    P11AGENT_ERR_CONNECTION_CLOSED : r;
		goto out;
	}
	c->sent_us = now_us();
	p->id = id;
	p->state = PENDING_WAIT;
	p->tag = SIZE_MAX;
	p->next = c->pending;
	c->pending = p;
	*pp = p;
	p = NULL;
	r = 0;
 out:
	free(p);
	buf_free(pt);
	buf_free(frame);
	return r;
}

/*
 * Reads one reply frame and files it with its pending entry. *pp is that
 * entry, or NULL when the reply belonged to an abandoned request.
 * P11AGENT_ERR_TIMEOUT leaves the connection usable; anything else
 * breaks it.
 */
static int
receive_one(struct p11agent_client *c, int64_t deadline, struct pending **pp)
{
	struct buf *pt = NULL;
	struct pending *p;
	size_t flen;
	uint32_t id;
	uint8_t type;
	int r = P11AGENT_ERR_INTERNAL;

	*pp = NULL;
	if ((r = client_usable(c)) != 0)
		return r;
	if ((r = next_frame(c, deadline, &flen)) != 0) {
		if (r != P11AGENT_ERR_TIMEOUT)
			c->broken = r;
		return r;
	}
	if ((pt = buf_new()) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto fail;
	}
	r = channel_open(c->ch, buf_ptr(c->rbuf), flen, pt);
	buf_consume(c->rbuf, flen);
	if (r != 0)
		goto fail;
	if ((r = buf_get_u32(pt, &id)) != 0 ||
	    (r = buf_get_u8(pt, &type)) != 0)
		goto fail;
	/* A reply for an id we never sent means the stream is not ours. */
	if ((p = pending_find(c, id)) == NULL || p->state == PENDING_DONE ||
	    (type != P11AGENT_MSG_OK && type != P11AGENT_MSG_FAILURE)) {
		r = P11AGENT_ERR_INVALID_FORMAT;
		goto fail;
	}
	if (p->state == PENDING_ABANDONED) {
		if (c->nabandoned > 0)
			c->nabandoned--;
		pending_remove(c, p);
		buf_free(pt);
		return 0;
	}
	p->state = PENDING_DONE;
	p->type = type;
	p->body = pt;		/* the reply body: id and type consumed */
	*pp = p;
	return 0;
 fail:
	buf_free(pt);
	c->broken = r;
	return r;
}

/*
 * Collects a reply that has arrived and removes its entry: 0 and *repp
 * for OK, the negated code for FAILURE (message kept).
 */
static int
take_reply(struct p11agent_client *c, struct pending *p, struct buf **repp)
{
	char *msg = NULL;
	uint32_t code;
	int r = P11AGENT_ERR_INTERNAL;

	*repp = NULL;
	if (p->type == P11AGENT_MSG_OK) {
		*repp = p->body;
		p->body = NULL;
		r = 0;
	} else if (buf_get_u32(p->body, &code) != 0 ||
	    buf_get_cstring(p->body, &msg, NULL) != 0) {
		r = P11AGENT_ERR_INVALID_FORMAT;
	} else {
		client_set_message(c, msg);
		if (code == 0)
			r = P11AGENT_ERR_INVALID_FORMAT;
		else if (code > CLIENT_MAX_CODE)
			r = P11AGENT_ERR_INTERNAL;
		else
			r = -(int)code;
	}
	free(msg);
	pending_remove(c, p);
	return r;
}

/* Waits until want's reply is in, filing others on the way. */
static int
wait_reply(struct p11agent_client *c, struct pending *want, int64_t deadline,
    struct buf **repp)
{
	struct pending *got;
	int r;

	*repp = NULL;
	while (want->state != PENDING_DONE) {
		if ((r = receive_one(c, deadline, &got)) != 0) {
			if (r == P11AGENT_ERR_TIMEOUT)
				pending_abandon(c, want);
			return r;
		}
	}
	return take_reply(c, want, repp);
}

static int
roundtrip_ms(struct p11agent_client *c, uint8_t type, const struct buf *body,
    struct buf **repp, int ms)
{
	struct pending *p;
	int64_t deadline = deadline_after(ms);
	int r;

	*repp = NULL;
	client_set_message(c, NULL);
	if ((r = send_request(c, type, body, deadline, &p)) != 0)
		return r;
	return wait_reply(c, p, deadline, repp);
}

int
client_roundtrip(struct p11agent_client *c, uint8_t type,
    const struct buf *body, struct buf **repp)
{
	return roundtrip_ms(c, type, body, repp, c->timeout_ms);
}

static int
expect_end(const struct buf *b)
{
	return buf_len(b) == 0 ? 0 : P11AGENT_ERR_INVALID_FORMAT;
}

/* Connection set-up. */

static int
open_socket(const char *path, int *fdp)
{
	struct sockaddr_un sun;
	int fd, e;

	*fdp = -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return P11AGENT_ERR_INVALID_ARGUMENT;
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return P11AGENT_ERR_SYSTEM_ERROR;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
		e = errno;
		close(fd);
		switch (e) {
		case ENOENT:
		case ENOTDIR:
		case ECONNREFUSED:
		case ENOTSOCK:
		case EACCES:
		case EPERM:
		case EAGAIN:
			return P11AGENT_ERR_AGENT_UNREACHABLE;
		default:
			return P11AGENT_ERR_SYSTEM_ERROR;
		}
	}
	*fdp = fd;
	return 0;
}

/* PROTOCOL.md §2.1 and §2.2. */
static int
handshake(struct p11agent_client *c, const char *name, int64_t deadline)
{
	struct buf *payload = NULL, *body = NULL, *frame = NULL, *pl2 = NULL;
	const uint8_t *f;
	char namebuf[P11AGENT_MAX_NAME + 1], *version = NULL;
	size_t flen;
	uint32_t result;
	int r = P11AGENT_ERR_INTERNAL;

	/* The name is for the agent's logs only; a long one is cut. */
	snprintf(namebuf, sizeof(namebuf), "%s", name);
	if ((payload = buf_new()) == NULL || (body = buf_new()) == NULL ||
	    (frame = buf_new()) == NULL || (pl2 = buf_new()) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	if ((r = buf_put_u32(payload, 0)) != 0 ||
	    (r = buf_put_cstring(payload, namebuf)) != 0 ||
	    (r = buf_put_u8(body, P11AGENT_PROTOCOL_VERSION)) != 0 ||
	    (r = channel_write_msg1(c->ch, buf_ptr(payload), buf_len(payload),
	    body)) != 0 ||
	    (r = wire_put_frame(frame, buf_ptr(body), buf_len(body))) != 0)
		goto out;
	if ((r = send_all(c->fd, buf_ptr(frame), buf_len(frame),
	    deadline)) != 0)
		goto out;
	/*
	 * An agent that refuses our uid, or that could not open message 1
	 * (our pinned key is not its key), closes without a reply.
	 */
	if ((r = next_frame(c, deadline, &flen)) != 0)
		goto out;
	f = buf_ptr(c->rbuf) + P11AGENT_FRAME_HDR;
	flen -= P11AGENT_FRAME_HDR;
	if (f[0] == P11AGENT_HS_BAD_VERSION) {
		r = P11AGENT_ERR_PROTOCOL_VERSION;
		goto out;
	}
	if (f[0] != P11AGENT_HS_PROCEED) {
		r = P11AGENT_ERR_HANDSHAKE;
		goto out;
	}
	r = channel_read_msg2(c->ch, f + 1, flen - 1, pl2);
	buf_consume(c->rbuf, flen + P11AGENT_FRAME_HDR);
	if (r == P11AGENT_ERR_MAC_INVALID) {
		/* Only the holder of the pinned key can make msg2 open. */
		r = P11AGENT_ERR_AGENT_KEY_MISMATCH;
		goto out;
	} else if (r != 0) {
		r = P11AGENT_ERR_HANDSHAKE;
		goto out;
	}
	/* Later versions may append fields; they are ignored. */
	if ((r = buf_get_u32(pl2, &result)) != 0 ||
	    (r = buf_get_cstring(pl2, &version, NULL)) != 0) {
		r = P11AGENT_ERR_HANDSHAKE;
		goto out;
	}
	if (result != 0) {
		r = result > CLIENT_MAX_CODE ? P11AGENT_ERR_HANDSHAKE :
		    -(int)result;
		goto out;
	}
	if (!channel_established(c->ch)) {
		r = P11AGENT_ERR_HANDSHAKE;
		goto out;
	}
	c->agent_version = version;
	version = NULL;
	r = 0;
 out:
	free(version);
	buf_free(payload);
	buf_free(body);
	buf_free(frame);
	buf_free(pl2);
	return r;
}

/*
 * Reads the agent's published key. Under socket activation the socket
 * exists (systemd holds it) before the agent has run and written
 * "<sock>.pub"; our connect() is what starts it, so a missing file is
 * waited for until the handshake deadline.
 */
static int
load_agent_pub(const char *path, uint8_t pub[P11AGENT_KEY_LEN],
    int64_t deadline)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };	/* 50 ms */
	int r;

	for (;;) {
		if ((r = keyfile_load_public(path, pub)) != P11AGENT_ERR_IO ||
		    access(path, F_OK) == 0 || errno != ENOENT ||
		    deadline < 0 || now_ms() >= deadline)
			return r;
		nanosleep(&ts, NULL);
	}
}

int
p11agent_client_connect_ex(struct p11agent_client **cp, const char *sock,
    const uint8_t *agent_pub, const char *client_key_file, const char *name)
{
	struct p11agent_client *c = NULL;
	uint8_t pub[P11AGENT_KEY_LEN];
	char *defsock = NULL, *pubpath = NULL, *keypath = NULL;
	const char *env;
	int64_t deadline;
	int r = P11AGENT_ERR_INTERNAL;

	return_val_if_fail(cp != NULL, P11AGENT_ERR_INVALID_ARGUMENT);
	*cp = NULL;
	deadline = deadline_after(P11AGENT_HANDSHAKE_TIMEOUT * 1000);
	if ((r = channel_global_init()) != 0)
		goto out;
	if (sock == NULL || *sock == '\0') {
		if ((env = getenv("P11AGENT_SOCK")) != NULL && *env != '\0')
			sock = env;
		else if ((r = paths_default_socket(&defsock)) != 0)
			goto out;
		else
			sock = defsock;
	}
	if (name == NULL || *name == '\0')
		name = CLIENT_DEFAULT_NAME;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	c->fd = -1;
	c->next_id = 1;
	c->timeout_ms = CLIENT_DEFAULT_TIMEOUT;
	if ((c->rbuf = buf_new()) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	if ((r = buf_set_max(c->rbuf, P11AGENT_FRAME_HDR + P11AGENT_MAX_FRAME +
	    CLIENT_READ_CHUNK)) != 0)
		goto out;
	/* The socket first: no agent is the likeliest failure. */
	if ((r = open_socket(sock, &c->fd)) != 0)
		goto out;
	if (agent_pub != NULL)
		memcpy(pub, agent_pub, sizeof(pub));
	else if ((r = paths_socket_pubkey(sock, &pubpath)) != 0 ||
	    (r = load_agent_pub(pubpath, pub, deadline)) != 0)
		goto out;
	if (client_key_file == NULL &&
	    (r = paths_config_file("client.key", &keypath)) != 0)
		goto out;
	if ((r = keyfile_load_or_create(client_key_file != NULL ?
	    client_key_file : keypath, &c->kp)) != 0)
		goto out;
	if ((r = channel_initiator_new(&c->ch, c->kp, pub)) != 0 ||
	    (r = handshake(c, name, deadline)) != 0)
		goto out;
	*cp = c;
	c = NULL;
	r = 0;
 out:
	p11agent_client_free(c);
	free(defsock);
	free(pubpath);
	free(keypath);
	return r;
}

int
p11agent_client_connect(struct p11agent_client **cp, const char *sock)
{
	return p11agent_client_connect_ex(cp, sock, NULL, NULL, NULL);
}

void
p11agent_client_free(struct p11agent_client *c)
{
	if (c == NULL)
		return;
	if (c->fd >= 0)
		close(c->fd);
	channel_free(c->ch);
	channel_keypair_free(c->kp);
	buf_free(c->rbuf);
	while (c->pending != NULL)
		pending_remove(c, c->pending);
	free(c->agent_version);
	p11agent_freezero(c, sizeof(*c));
}

/* Operations. */

static int
put_keyop_head(struct buf *b, const uint8_t *id)
{
	return buf_put_string(b, id, P11AGENT_KEYID_LEN);
}

static int
put_sign_req(struct buf *b, const uint8_t *id, unsigned int alg,
    const uint8_t *digest, size_t digestlen)
{
	int r;

	if ((r = put_keyop_head(b, id)) != 0 ||
	    (r = buf_put_u32(b, alg)) != 0 ||
	    (r = buf_put_string(b, digest, digestlen)) != 0)
		return r;
	return 0;
}

int
p11agent_client_set_description(struct p11agent_client *c, const char *desc)
{
	size_t len;

	return_val_if_fail(c != NULL, P11AGENT_ERR_INVALID_ARGUMENT);
	if (desc == NULL)
		desc = "";
	if ((len = strlen(desc)) > P11AGENT_MAX_DESCRIPTION)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	memcpy(c->description, desc, len + 1);
	return 0;
}

/*
 * A key operation: type with req, or with a description its "2" form
 * (PROTOCOL.md 4.4). An agent that does not know that form (FAILURE 30)
 * gets the plain request once more, and from then on only that.
 */
static int
keyop_roundtrip(struct p11agent_client *c, uint8_t type, struct buf *req,
    struct buf **repp)
{
	size_t plain;
	int r;

	*repp = NULL;
	if (c->description[0] == '\0' || c->desc_support < 0)
		return client_roundtrip(c, type, req, repp);
	plain = buf_len(req);
	if ((r = buf_put_cstring(req, c->description)) != 0)
		return r;
	r = client_roundtrip(c, type + P11AGENT_MSG_DESC_OFFSET, req, repp);
	if (r == P11AGENT_ERR_UNKNOWN_MESSAGE && c->desc_support == 0) {
		c->desc_support = -1;
		if ((r = buf_consume_end(req, buf_len(req) - plain)) != 0)
			return r;
		return client_roundtrip(c, type, req, repp);
	}
	/* Any answer but "unknown message type" shows it knows the form. */
	if (c->broken == 0 && r != P11AGENT_ERR_TIMEOUT)
		c->desc_support = 1;
	return r;
}

/* A reply that is one string, handed over; wiped when freed. */
static int
get_string_rep(struct buf *rep, uint8_t **outp, size_t *outlenp)
{
	uint8_t *out = NULL;
	size_t outlen = 0;
	int r;

	*outp = NULL;
	*outlenp = 0;
	if ((r = buf_get_string(rep, &out, &outlen)) != 0 ||
	    (r = expect_end(rep)) != 0) {
		p11agent_freezero(out, outlen);
		return P11AGENT_ERR_INVALID_FORMAT;
	}
	*outp = out;
	*outlenp = outlen;
	return 0;
}

int
p11agent_client_sign(struct p11agent_client *c, const uint8_t *id,
    unsigned int alg, const uint8_t *digest, size_t digestlen,
    uint8_t **sigp, size_t *siglenp)
{
	struct buf *req = NULL, *rep = NULL;
	int r = P11AGENT_ERR_INTERNAL;

	return_val_if_fail(sigp != NULL && siglenp != NULL,
	    P11AGENT_ERR_INVALID_ARGUMENT);
	*sigp = NULL;
	*siglenp = 0;
	return_val_if_fail(c != NULL && id != NULL && digest != NULL,
	    P11AGENT_ERR_INVALID_ARGUMENT);
	if (digestlen == 0 || digestlen > P11AGENT_MAX_DIGEST)
		return P11AGENT_ERR_DIGEST_LENGTH;
	if ((req = buf_new()) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	if ((r = put_sign_req(req, id, alg, digest, digestlen)) != 0 ||
	    (r = keyop_roundtrip(c, P11AGENT_MSG_SIGN, req, &rep)) != 0 ||
	    (r = get_string_rep(rep, sigp, siglenp)) != 0)
		goto out;
	r = 0;
 out:
	buf_free(req);
	buf_free(rep);
	return r;
}

int
p11agent_client_decrypt(struct p11agent_client *c, const uint8_t *id,
    unsigned int alg, const uint8_t *in, size_t inlen,
    uint8_t **outp, size_t *outlenp)
{
	struct buf *req = NULL, *rep = NULL;
	int r = P11AGENT_ERR_INTERNAL;

	return_val_if_fail(outp != NULL && outlenp != NULL,
	    P11AGENT_ERR_INVALID_ARGUMENT);
	*outp = NULL;
	*outlenp = 0;
	return_val_if_fail(c != NULL && id != NULL && in != NULL,
	    P11AGENT_ERR_INVALID_ARGUMENT);
	if (inlen == 0 || inlen > P11AGENT_MAX_RSA_BYTES)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if ((req = buf_new()) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	if ((r = put_keyop_head(req, id)) != 0 ||
	    (r = buf_put_u32(req, alg)) != 0 ||
	    (r = buf_put_string(req, in, inlen)) != 0 ||
	    (r = keyop_roundtrip(c, P11AGENT_MSG_DECRYPT, req, &rep)) != 0 ||
	    (r = get_string_rep(rep, outp, outlenp)) != 0)
		goto out;
	r = 0;
 out:
	buf_free(req);
	buf_free(rep);		/* wipes the plaintext copy */
	return r;
}

int
p11agent_client_derive(struct p11agent_client *c, const uint8_t *id,
    const uint8_t *peer, size_t peerlen, uint8_t **outp, size_t *outlenp)
{
	struct buf *req = NULL, *rep = NULL;
	int r = P11AGENT_ERR_INTERNAL;

	return_val_if_fail(outp != NULL && outlenp != NULL,
	    P11AGENT_ERR_INVALID_ARGUMENT);
	*outp = NULL;
	*outlenp = 0;
	return_val_if_fail(c != NULL && id != NULL && peer != NULL,
	    P11AGENT_ERR_INVALID_ARGUMENT);
	if (peerlen == 0 || peerlen > P11AGENT_MAX_EC_POINT || peer[0] != 0x04)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if ((req = buf_new()) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	if ((r = put_keyop_head(req, id)) != 0 ||
	    (r = buf_put_string(req, peer, peerlen)) != 0 ||
	    (r = keyop_roundtrip(c, P11AGENT_MSG_DERIVE, req, &rep)) != 0 ||
	    (r = get_string_rep(rep, outp, outlenp)) != 0)
		goto out;
	r = 0;
 out:
	buf_free(req);
	buf_free(rep);
	return r;
}

/* results[i] == 1 marks "no answer yet"; 1 is never a result. */
#define SIGN_MANY_OPEN	1

static void
sign_many_fail_open(size_t n, int *results, int r)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (results[i] == SIGN_MANY_OPEN)
			results[i] = r;
}

int
p11agent_client_sign_many(struct p11agent_client *c, size_t n,
    const uint8_t *const *ids, const unsigned int *algs,
    const uint8_t *const *digests, const size_t *digestlens,
    int *results, uint8_t **sigs, size_t *siglens)
{
	struct buf *req = NULL, *rep = NULL;
	struct pending *p, *next_p;
	size_t i, next = 0, done = 0, outstanding = 0, window;
	int64_t deadline;
	int r = P11AGENT_ERR_INTERNAL;

	return_val_if_fail(c != NULL, P11AGENT_ERR_INVALID_ARGUMENT);
	if (n == 0)
		return 0;
	return_val_if_fail(ids != NULL && algs != NULL && digests != NULL &&
	    digestlens != NULL && results != NULL && sigs != NULL &&
	    siglens != NULL, P11AGENT_ERR_INVALID_ARGUMENT);
	for (i = 0; i < n; i++) {
		results[i] = SIGN_MANY_OPEN;
		sigs[i] = NULL;
		siglens[i] = 0;
	}
	client_set_message(c, NULL);
	if ((r = client_usable(c)) != 0)
		goto fail;
	/* With a description, the first request learns what the agent takes. */
	if (c->description[0] != '\0' && c->desc_support == 0) {
		results[0] = p11agent_client_sign(c, ids[0], algs[0],
		    digests[0], digestlens[0], &sigs[0], &siglens[0]);
		next = done = 1;
		if ((r = client_usable(c)) != 0)
			goto fail;
	}
	deadline = deadline_after(c->timeout_ms);
	while (done < n) {
		/*
		 * Keep up to P11AGENT_MAX_INFLIGHT requests at the agent
		 * (abandoned ones still count there), so it never answers
		 * "busy", and read replies in whatever order they come.
		 */
		window = P11AGENT_MAX_INFLIGHT > c->nabandoned ?
		    P11AGENT_MAX_INFLIGHT - c->nabandoned : 1;
		while (next < n && outstanding < window) {
			i = next++;
			if (ids[i] == NULL || digests[i] == NULL) {
				results[i] = P11AGENT_ERR_INVALID_ARGUMENT;
				done++;
				continue;
			}
			if (digestlens[i] == 0 ||
			    digestlens[i] > P11AGENT_MAX_DIGEST) {
				results[i] = P11AGENT_ERR_DIGEST_LENGTH;
				done++;
				continue;
			}
			if ((req = buf_new()) == NULL) {
				r = P11AGENT_ERR_NO_MEMORY;
				goto fail;
			}
			if ((r = put_sign_req(req, ids[i], algs[i], digests[i],
			    digestlens[i])) != 0 ||
			    (c->description[0] != '\0' &&
			    c->desc_support > 0 &&
			    (r = buf_put_cstring(req, c->description)) != 0) ||
			    (r = send_request(c, c->description[0] != '\0' &&
			    c->desc_support > 0 ? P11AGENT_MSG_SIGN2 :
			    P11AGENT_MSG_SIGN, req, deadline, &p)) != 0)
				goto fail;
			buf_free(req);
			req = NULL;
			p->tag = i;
			outstanding++;
		}
		if (outstanding == 0)
			continue;
		if ((r = receive_one(c, deadline, &p)) != 0)
			goto fail;
		if (p == NULL || p->tag == SIZE_MAX)
			continue;	/* a late or someone else's reply */
		i = p->tag;
		if ((results[i] = take_reply(c, p, &rep)) == 0)
			results[i] = get_string_rep(rep, &sigs[i], &siglens[i]);
		buf_free(rep);
		rep = NULL;
		outstanding--;
		done++;
		/* Progress: the time limit applies per reply. */
		deadline = deadline_after(c->timeout_ms);
	}
	for (i = 0; i < n; i++)
		if (results[i] != 0)
			return results[i];
	return 0;
 fail:
	buf_free(req);
	/*
	 * Replies already in are dropped now, those still at the agent
	 * when they come.
	 */
	for (p = c->pending; p != NULL; p = next_p) {
		next_p = p->next;
		if (p->tag == SIZE_MAX)
			continue;
		if (p->state == PENDING_DONE)
			pending_remove(c, p);
		else
			pending_abandon(c, p);
	}
	sign_many_fail_open(n, results, r);
	return r;
}

int
p11agent_client_lock(struct p11agent_client *c)
{
	struct buf *rep = NULL;
	int r;

	return_val_if_fail(c != NULL, P11AGENT_ERR_INVALID_ARGUMENT);
	if ((r = client_roundtrip(c, P11AGENT_MSG_LOCK, NULL, &rep)) == 0)
		r = expect_end(rep);
	buf_free(rep);
	return r;
}

int
p11agent_client_unlock(struct p11agent_client *c, const char *pin)
{
	struct buf *req = NULL, *rep = NULL;
	size_t len;
	int r = P11AGENT_ERR_INTERNAL, ms;

	return_val_if_fail(c != NULL, P11AGENT_ERR_INVALID_ARGUMENT);
	len = pin != NULL ? strlen(pin) : 0;
	if (len > P11AGENT_MAX_PIN)
		return P11AGENT_ERR_PIN_LEN_RANGE;
	/* Without a PIN the agent may ask a person (pinentry): wait longer. */
	ms = c->timeout_ms;
	if (len == 0 && ms > 0 && ms < CLIENT_PROMPT_TIMEOUT)
		ms = CLIENT_PROMPT_TIMEOUT;
	if ((req = buf_new()) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	if ((r = buf_put_string(req, len > 0 ? pin : "", len)) != 0 ||
	    (r = roundtrip_ms(c, P11AGENT_MSG_UNLOCK, req, &rep, ms)) != 0 ||
	    (r = expect_end(rep)) != 0)
		goto out;
	r = 0;
 out:
	buf_free(req);		/* wipes the PIN copy */
	buf_free(rep);
	return r;
}

int
p11agent_client_ping(struct p11agent_client *c)
{
	static const char data[] = "p11agent ping";
	struct buf *req = NULL, *rep = NULL;
	const uint8_t *echo;
	size_t len;
	int r = P11AGENT_ERR_INTERNAL;

	return_val_if_fail(c != NULL, P11AGENT_ERR_INVALID_ARGUMENT);
	if ((req = buf_new()) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	if ((r = buf_put_string(req, data, sizeof(data) - 1)) != 0 ||
	    (r = client_roundtrip(c, P11AGENT_MSG_PING, req, &rep)) != 0)
		goto out;
	if (buf_get_string_direct(rep, &echo, &len) != 0 ||
	    expect_end(rep) != 0 || len != sizeof(data) - 1 ||
	    memcmp(echo, data, len) != 0) {
		r = P11AGENT_ERR_INVALID_FORMAT;
		goto out;
	}
	r = 0;
 out:
	buf_free(req);
	buf_free(rep);
	return r;
}

int
p11agent_client_public_key(const char *client_key_file, char **b64p)
{
	struct channel_keypair *kp = NULL;
	char *path = NULL, b64[KEYFILE_B64_LEN];
	int r = P11AGENT_ERR_INTERNAL;

	return_val_if_fail(b64p != NULL, P11AGENT_ERR_INVALID_ARGUMENT);
	*b64p = NULL;
	if ((r = channel_global_init()) != 0)
		goto out;
	if (client_key_file == NULL &&
	    (r = paths_config_file("client.key", &path)) != 0)
		goto out;
	if ((r = keyfile_load_or_create(client_key_file != NULL ?
	    client_key_file : path, &kp)) != 0)
		goto out;
	keyfile_format_public(kp->pub, b64);
	if ((*b64p = strdup(b64)) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	r = 0;
 out:
	channel_keypair_free(kp);
	free(path);
	return r;
}

const char *
p11agent_default_socket(void)
{
	/* Per thread, so two threads never see each other's write. */
	static __thread char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *p = NULL;

	if (paths_default_socket(&p) != 0)
		return NULL;
	if (strlen(p) >= sizeof(path)) {
		free(p);
		return NULL;
	}
	memcpy(path, p, strlen(p) + 1);
	free(p);
	return path;
}
