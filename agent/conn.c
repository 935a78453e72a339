/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * conn.c - per-connection state machine: frame 1 of the handshake, then
 * sealed request frames, each checked against the frame limit before
 * its body is looked at. Anything malformed, unauthenticated or too big
 * closes this connection only; nothing here can end the agent. Output is
 * queued and written as the socket accepts it. The thread that holds
 * the connection (loop.h) only; the agent lock is taken here for what
 * dispatch.c and the rules need.
 */
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11agent/p11agent.h>

#include "buf.h"
#include "channel.h"
#include "conn.h"
#include "dispatch.h"
#include "log.h"
#include "loop.h"
#include "policy.h"
#include "secmem.h"
#include "wire.h"
#include "workers.h"

struct conn *
conn_new(int fd, size_t slot, uint64_t id, uid_t uid, pid_t pid, time_t now)
{
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->fd = fd;
	c->slot = slot;
	c->id = id;
	c->uid = uid;
	c->pid = pid;
	c->state = CONN_HANDSHAKE;
	c->deadline = now + P11AGENT_HANDSHAKE_TIMEOUT;
	if ((c->in = buf_new()) == NULL || (c->out = buf_new()) == NULL ||
	    (c->pt = buf_new()) == NULL ||
	    buf_set_max(c->in, P11AGENT_FRAME_HDR + P11AGENT_MAX_FRAME) != 0 ||
	    buf_set_max(c->out, CONN_OUT_MAX) != 0 ||
	    buf_set_max(c->pt, P11AGENT_MAX_PLAINTEXT) != 0) {
		buf_free(c->in);
		buf_free(c->out);
		buf_free(c->pt);
		free(c);
		return NULL;
	}
	strncpy(c->name, "-", sizeof(c->name));
	return c;
}

void
conn_free(struct conn *c)
{
	if (c == NULL)
		return;
	job_free(c->job);
	channel_free(c->ch);
	buf_free(c->in);
	buf_free(c->out);
	buf_free(c->pt);
	if (c->fd != -1)
		close(c->fd);
	p11agent_freezero(c, sizeof(*c));
}

void
conn_fail(struct conn *c, int r, const char *what)
{
	if (c->state == CONN_DEAD)
		return;
	log_info_fr(r, "closing connection %" PRIu64 " (%s, uid %ld pid %ld)"
	    ": %s", c->id, c->name, (long)c->uid, (long)c->pid, what);
	c->state = CONN_DEAD;
}

/* Keeps a client-chosen name harmless in logs: short and printable. */
static void
set_name(struct conn *c, const char *client, const char *policy_name)
{
	char tmp[sizeof(c->name)];
	size_t i;

	snprintf(tmp, sizeof(tmp), "%s%s%s", client,
	    *policy_name != '\0' ? "/" : "", policy_name);
	for (i = 0; tmp[i] != '\0'; i++)
		if (!isalnum((unsigned char)tmp[i]) &&
		    strchr("._-+@/", tmp[i]) == NULL)
			tmp[i] = '?';
	memcpy(c->name, tmp, sizeof(c->name));
	snprintf(tmp, sizeof(tmp), "%s", client);
	for (i = 0; tmp[i] != '\0'; i++)
		if (!isalnum((unsigned char)tmp[i]) &&
		    strchr("._-+@/", tmp[i]) == NULL)
			tmp[i] = '?';
	memcpy(c->client, tmp, sizeof(c->client));
}

static void
start_closing(struct conn *c, time_t now)
{
	c->state = CONN_CLOSING;
	c->deadline = now + CONN_CLOSE_TIMEOUT;
}

/* Parses the hello payload: uint32 flags, cstring name. */
static int
parse_hello(struct buf *payload, char **namep)
{
	uint32_t flags;
	size_t len;
	int r;

	*namep = NULL;
	if ((r = buf_get_u32(payload, &flags)) != 0 ||
	    (r = buf_get_cstring(payload, namep, &len)) != 0)
		return r;
	/* Unknown flag bits are ignored (PROTOCOL.md 2.1). */
	if (len > P11AGENT_MAX_NAME || buf_len(payload) != 0) {
		free(*namep);
		*namep = NULL;
		return P11AGENT_ERR_INVALID_FORMAT;
	}
	return 0;
}

/* Frame 1 (PROTOCOL.md 2.1) in, frame 2 (2.2) out. */
static void
handshake(struct conn *c, const struct conn_env *env, const uint8_t *body,
    size_t len, time_t now)
{
	struct buf *payload = NULL, *reply = NULL, *frame = NULL;
	const char *policy_name = "";
	char *name = NULL;
	uint8_t bad[2];
	uint32_t result;
	int r;

	if (body[0] != P11AGENT_PROTOCOL_VERSION) {
		bad[0] = P11AGENT_HS_BAD_VERSION;
		bad[1] = P11AGENT_PROTOCOL_VERSION;
		if ((r = wire_put_frame(c->out, bad, sizeof(bad))) != 0) {
			conn_fail(c, r, "queue version reply");
			return;
		}
		log_info_f("connection %" PRIu64 " (uid %ld pid %ld): client "
		    "speaks protocol version %u, not %u", c->id, (long)c->uid,
		    (long)c->pid, body[0], P11AGENT_PROTOCOL_VERSION);
		start_closing(c, now);
		return;
	}
	if ((payload = buf_new()) == NULL || (reply = buf_new()) == NULL ||
	    (frame = buf_new()) == NULL) {
		conn_fail(c, P11AGENT_ERR_NO_MEMORY, "handshake");
		goto out;
	}
	if ((r = channel_responder_new(&c->ch, env->kp)) != 0 ||
	    (r = channel_read_msg1(c->ch, body + 1, len - 1, payload)) != 0) {
		conn_fail(c, r, "handshake message 1");
		goto out;
	}
	/* The rules can be reloaded meanwhile: look and copy under lock. */
	loop_lock();
	if ((r = parse_hello(payload, &name)) != 0)
		result = (uint32_t)-r;
	else if ((r = policy_check(env->policy, channel_remote_static(c->ch),
	    &policy_name)) != 0)
		result = (uint32_t)-r;
	else
		result = 0;
	set_name(c, name != NULL ? name : "?", policy_name);
	loop_unlock();

	if ((r = buf_put_u32(reply, result)) != 0 ||
	    (r = buf_put_cstring(reply, P11AGENT_VERSION)) != 0 ||
	    (r = buf_put_u8(frame, P11AGENT_HS_PROCEED)) != 0 ||
	    (r = channel_write_msg2(c->ch, buf_ptr(reply), buf_len(reply),
	    frame)) != 0 ||
	    (r = wire_put_frame(c->out, buf_ptr(frame), buf_len(frame))) != 0) {
		conn_fail(c, r, "handshake message 2");
		goto out;
	}
	if (result != 0) {
		log_info_fr(-(int)result, "connection %" PRIu64 " (%s, uid %ld "
		    "pid %ld) refused", c->id, c->name, (long)c->uid,
		    (long)c->pid);
		start_closing(c, now);
		goto out;
	}
	c->state = CONN_OPEN;
	c->deadline = 0;
	log_debug_f("connection %" PRIu64 " (%s, uid %ld pid %ld) "
	    "established", c->id, c->name, (long)c->uid, (long)c->pid);
 out:
	free(name);
	buf_free(payload);
	buf_free(reply);
	buf_free(frame);
}

void
conn_handle_frame(struct conn *c, const struct conn_env *env, time_t now)
{
	size_t flen, max;
	int r;

	if (c->state != CONN_HANDSHAKE && c->state != CONN_OPEN)
		return;
	max = c->state == CONN_HANDSHAKE ? CONN_HELLO_MAX : P11AGENT_MAX_FRAME;
	if ((r = wire_frame_check(c->in, max, &flen)) != 0) {
		if (r != P11AGENT_ERR_MESSAGE_INCOMPLETE)
			conn_fail(c, r, "bad frame");
		return;
	}
	if (c->state == CONN_HANDSHAKE)
		handshake(c, env, buf_ptr(c->in) + P11AGENT_FRAME_HDR,
		    flen - P11AGENT_FRAME_HDR, now);
	else {
		buf_reset(c->pt);
		if ((r = channel_open(c->ch, buf_ptr(c->in), flen, c->pt)) != 0)
			conn_fail(c, r, "open frame");
		else {
			loop_lock();
			dispatch_request(c, c->pt);
			loop_unlock();
		}
		buf_reset(c->pt);
	}
	if ((r = buf_consume(c->in, flen)) != 0)
		conn_fail(c, r, "consume frame");
}

/* Bytes still missing from the frame at the front of c->in, or 0. */
static size_t
frame_missing(struct conn *c)
{
	size_t have = buf_len(c->in), max;
	uint32_t len;

	if (have < P11AGENT_FRAME_HDR)
		return P11AGENT_FRAME_HDR - have;
	if (buf_peek_u32(c->in, 0, &len) != 0)
		return 0;
	max = c->state == CONN_HANDSHAKE ? CONN_HELLO_MAX : P11AGENT_MAX_FRAME;
	/* An impossible length is wire_frame_check's to report. */
	if (len == 0 || len > max || have >= P11AGENT_FRAME_HDR + len)
		return 0;
	return P11AGENT_FRAME_HDR + len - have;
}

int
conn_read_frame(struct conn *c)
{
	size_t n;
	ssize_t got;
	uint8_t *p;
	int r;

	while (conn_want_read(c)) {
		if ((n = frame_missing(c)) == 0)
			return 1;
		if (n > CONN_READ_CHUNK)
			n = CONN_READ_CHUNK;
		if ((r = buf_reserve(c->in, n, &p)) != 0) {
			conn_fail(c, r, "read buffer");
			return 0;
		}
		got = read(c->fd, p, n);
		if (got <= 0) {
			buf_consume_end(c->in, n);
			if (got == -1 && errno == EINTR)
				continue;
			if (got == -1 && (errno == EAGAIN ||
			    errno == EWOULDBLOCK))
				return 0;
			if (got == 0)
				log_debug_f("connection %" PRIu64 " (%s) closed "
				    "by peer", c->id, c->name);
			else
				log_info_f("connection %" PRIu64 " (%s): read: "
				    "%s", c->id, c->name, strerror(errno));
			c->state = CONN_DEAD;
			return 0;
		}
		buf_consume_end(c->in, n - (size_t)got);
	}
	return 0;
}

int
conn_queue_job(struct conn *c, struct job *j)
{
	if (c->job != NULL)
		return P11AGENT_ERR_BUSY;
	c->job = j;
	return 0;
}

void
conn_flush(struct conn *c)
{
	ssize_t n;

	while (c->state != CONN_DEAD && buf_len(c->out) > 0) {
		n = send(c->fd, buf_ptr(c->out), buf_len(c->out),
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			log_debug_f("connection %" PRIu64 " (%s): write: %s",
			    c->id, c->name, strerror(errno));
			c->state = CONN_DEAD;
			return;
		}
		buf_consume(c->out, (size_t)n);
	}
	if (c->state == CONN_CLOSING && buf_len(c->out) == 0)
		c->state = CONN_DEAD;
}

int
conn_want_read(const struct conn *c)
{
	return (c->state == CONN_HANDSHAKE || c->state == CONN_OPEN) &&
	    buf_len(c->out) < CONN_OUT_HIGH &&
	    buf_len(c->in) < P11AGENT_FRAME_HDR + P11AGENT_MAX_FRAME;
}

int
conn_want_write(const struct conn *c)
{
	return c->state != CONN_DEAD && buf_len(c->out) > 0;
}

void
conn_send(struct conn *c, const uint8_t *pt, size_t len)
{
	int r;

	if (c->state != CONN_OPEN)
		return;
	if ((r = channel_seal(c->ch, pt, len, c->out)) != 0)
		conn_fail(c, r, "seal reply");
}
