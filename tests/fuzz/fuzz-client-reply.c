/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * fuzz-client-reply.c - arbitrary replies from a fake agent into
 * libp11agent's reply path: frame reassembly, channel_open, the id and
 * type check, FAILURE bodies, and the STATUS, LIST_KEYS (paged), SIGN,
 * sign_many, DECRYPT, DERIVE, PING, LOCK and UNLOCK reply parsers. The
 * library is driven through its public API only; the fake agent is a
 * thread on a real Unix socket that completes an honest handshake and
 * then answers each request it reads with the next record of the input.
 *
 * Input: byte 0 picks the operation (mod 9: status, list-keys, sign,
 * decrypt, derive, sign-many, ping, lock, unlock). Then records: byte
 * ctl, uint16 length (big-endian), that many bytes. A record is the
 * reply plaintext after the id (type, body), sealed with the request's
 * id; ctl bit 0: send it without waiting for another request (a
 * duplicate or unsolicited reply), bit 1: use id + 1, bit 2: write the
 * bytes raw to the socket (no id, no sealing). After the last record
 * the fake agent closes. The call must return (no hang, no crash, no
 * leak) and its results must be consistent: a successful list has as
 * many keys as its getters show, each with a 32-byte id.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <p11agent/client.h>
#include <p11agent/err.h>
#include <p11agent/p11agent.h>

#include "buf.h"
#include "channel.h"
#include "fuzz.h"
#include "proto.h"
#include "secmem.h"

static const uint8_t agent_static[32] = {
	0x4a, 0x3a, 0xcb, 0xfd, 0xb1, 0x63, 0xde, 0xc6, 0x51, 0xdf, 0xa3,
	0x19, 0x4d, 0xec, 0xe6, 0x76, 0xd4, 0x37, 0x02, 0x9c, 0x62, 0xa4,
	0x08, 0xb4, 0xc5, 0xea, 0x91, 0x14, 0x24, 0x6e, 0x48, 0x93,
};

static struct channel_keypair *as;
static char dir[64], sockpath[128], keypath[128];
static int lfd = -1;

struct fake {
	const uint8_t *data;
	size_t size;
};

static void
cleanup(void)
{
	if (lfd >= 0)
		close(lfd);
	unlink(sockpath);
	unlink(keypath);
	rmdir(dir);
	channel_keypair_free(as);
}

static void
init(void)
{
	struct sockaddr_un sa;

	if (as != NULL)
		return;
	FUZZ_ASSERT(channel_global_init() == 0);
	FUZZ_ASSERT(channel_keypair_from_private(agent_static, &as) == 0);
	snprintf(dir, sizeof(dir), "/tmp/fuzz-client-reply.XXXXXX");
	FUZZ_ASSERT(mkdtemp(dir) != NULL);
	snprintf(sockpath, sizeof(sockpath), "%s/sock", dir);
	snprintf(keypath, sizeof(keypath), "%s/client.key", dir);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	FUZZ_ASSERT(strlen(sockpath) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, sockpath, strlen(sockpath) + 1);
	FUZZ_ASSERT((lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
	    0)) >= 0);
	FUZZ_ASSERT(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	FUZZ_ASSERT(listen(lfd, 4) == 0);
	atexit(cleanup);
}

static int
read_full(int fd, uint8_t *p, size_t len)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	ssize_t n;

	while (len > 0) {
		/*
		 * Short: when the client waits for the rest of a frame we
		 * cut, we wait for its next request; one of us must give up.
		 */
		if (poll(&pfd, 1, 250) <= 0)
			return -1;
		if ((n = read(fd, p, len)) <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One frame into b, length header included (reset first); -1 on EOF. */
static int
read_frame(int fd, struct buf *b)
{
	uint8_t hdr[4], *p;
	size_t len;

	buf_reset(b);
	if (read_full(fd, hdr, 4) != 0)
		return -1;
	len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 |
	    (size_t)hdr[2] << 8 | hdr[3];
	if (len == 0 || len > P11AGENT_MAX_FRAME || buf_put(b, hdr, 4) != 0 ||
	    buf_reserve(b, len, &p) != 0)
		return -1;
	return read_full(fd, p, len);
}

static int
write_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = send(fd, p, len, MSG_NOSIGNAL)) <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void
serve(int fd, const uint8_t *data, size_t size)
{
	static const uint8_t payload2[] = {
		0, 0, 0, 0, 0, 0, 0, 5, '0', '.', '1', '.', '0',
	};
	struct channel *a = NULL;
	struct buf *in = buf_new(), *pt = buf_new(), *out = buf_new(),
	    *sealed = buf_new();
	uint32_t id = 0;
	size_t off = 0, len;
	uint8_t ctl, hdr[4];

	FUZZ_ASSERT(in && pt && out && sealed);
	FUZZ_ASSERT(channel_responder_new(&a, as) == 0);
	if (read_frame(fd, in) != 0 || buf_len(in) < 5 ||
	    channel_read_msg1(a, buf_ptr(in) + 5, buf_len(in) - 5, pt) != 0)
		goto out;
	FUZZ_ASSERT(buf_put_u8(out, P11AGENT_HS_PROCEED) == 0);
	FUZZ_ASSERT(channel_write_msg2(a, payload2, sizeof(payload2),
	    out) == 0);
	hdr[0] = (uint8_t)(buf_len(out) >> 24);
	hdr[1] = (uint8_t)(buf_len(out) >> 16);
	hdr[2] = (uint8_t)(buf_len(out) >> 8);
	hdr[3] = (uint8_t)buf_len(out);
	if (write_all(fd, hdr, 4) != 0 ||
	    write_all(fd, buf_ptr(out), buf_len(out)) != 0)
		goto out;
	while (off + 3 <= size) {
		ctl = data[off];
		len = (size_t)data[off + 1] << 8 | data[off + 2];
		off += 3;
		if (len > size - off)
			len = size - off;
		if (!(ctl & 1)) {
			/* The next request: its id is what we answer. */
			buf_reset(pt);
			if (read_frame(fd, in) != 0 || channel_open(a,
			    buf_ptr(in), buf_len(in), pt) != 0 ||
			    buf_len(pt) < 5)
				break;
			id = (uint32_t)buf_ptr(pt)[0] << 24 |
			    (uint32_t)buf_ptr(pt)[1] << 16 |
			    (uint32_t)buf_ptr(pt)[2] << 8 | buf_ptr(pt)[3];
		}
		if (ctl & 4) {
			if (write_all(fd, data + off, len) != 0)
				break;
		} else {
			buf_reset(out);
			buf_reset(sealed);
			if (buf_put_u32(out, (ctl & 2) ? id + 1 : id) != 0 ||
			    buf_put(out, data + off, len) != 0 ||
			    buf_len(out) > P11AGENT_MAX_PLAINTEXT)
				break;
			FUZZ_ASSERT(channel_seal(a, buf_ptr(out),
			    buf_len(out), sealed) == 0);
			if (write_all(fd, buf_ptr(sealed),
			    buf_len(sealed)) != 0)
				break;
		}
		off += len;
	}
 out:
	channel_free(a);
	buf_free(in);
	buf_free(pt);
	buf_free(out);
	buf_free(sealed);
}

static void *
fake_agent(void *arg)
{
	struct fake *f = arg;
	struct pollfd pfd = { lfd, POLLIN, 0 };
	int fd;

	if (poll(&pfd, 1, 5000) != 1 || (fd = accept(lfd, NULL, NULL)) < 0)
		return NULL;
	serve(fd, f->data, f->size);
	close(fd);
	return NULL;
}

static void
check_keylist(struct p11agent_keylist *l)
{
	const struct p11agent_key *k, *found = NULL;
	size_t i, n = p11agent_keylist_count(l), len;

	for (i = 0; i < n; i++) {
		k = p11agent_keylist_get(l, i);
		FUZZ_ASSERT(k != NULL);
		FUZZ_ASSERT(strlen(p11agent_key_id_hex(k)) ==
		    2 * P11AGENT_KEYID_LEN);
		FUZZ_ASSERT(p11agent_key_label(k) != NULL);
		FUZZ_ASSERT(p11agent_key_curve(k) != NULL);
		FUZZ_ASSERT(p11agent_key_uri(k) != NULL);
		(void)p11agent_key_spki(k, &len);
		(void)p11agent_key_cert(k, &len);
		(void)p11agent_key_ckaid(k, &len);
	}
	FUZZ_ASSERT(p11agent_keylist_get(l, n) == NULL);
	(void)p11agent_keylist_find(l, "alice", &found);
	(void)p11agent_keylist_find(l, "pkcs11:token=tok", &found);
	(void)p11agent_keylist_find(l, "alice@example.org", &found);
}

static void
check_status(struct p11agent_status *s)
{
	size_t i, n = p11agent_status_token_count(s);

	FUZZ_ASSERT(p11agent_status_version(s) != NULL);
	for (i = 0; i < n; i++) {
		FUZZ_ASSERT(p11agent_status_token_label(s, i) != NULL);
		FUZZ_ASSERT(p11agent_status_token_module(s, i) != NULL);
		(void)p11agent_status_token_keys(s, i);
	}
}

static void
run_op(struct p11agent_client *c, int op)
{
	static const uint8_t id[P11AGENT_KEYID_LEN] = { 1 };
	static const uint8_t digest[32] = { 2 };
	static uint8_t point[65] = { 4 };
	const uint8_t *ids[3] = { id, id, id };
	const uint8_t *digests[3] = { digest, digest, digest };
	const unsigned int algs[3] = { P11AGENT_ALG_ECDSA_SHA256,
		P11AGENT_ALG_RSA_PKCS1_SHA256, P11AGENT_ALG_RSA_PSS_SHA256 };
	const size_t dlens[3] = { 32, 32, 32 };
	struct p11agent_status *s = NULL;
	struct p11agent_keylist *l = NULL;
	uint8_t *out = NULL, *sigs[3] = { NULL, NULL, NULL };
	size_t outlen = 0, siglens[3] = { 0, 0, 0 }, i;
	int results[3], r;

	switch (op) {
	case 0:
		if ((r = p11agent_client_status(c, &s)) == 0)
			check_status(s);
		else
			FUZZ_ASSERT(s == NULL);
		p11agent_status_free(s);
		break;
	case 1:
		if ((r = p11agent_client_list_keys(c, &l)) == 0)
			check_keylist(l);
		else
			FUZZ_ASSERT(l == NULL);
		p11agent_keylist_free(l);
		break;
	case 2:
	case 3:
	case 4:
		r = op == 2 ? p11agent_client_sign(c, id,
		    P11AGENT_ALG_ECDSA_SHA256, digest, sizeof(digest), &out,
		    &outlen) : op == 3 ? p11agent_client_decrypt(c, id,
		    P11AGENT_ALG_RSA_OAEP_SHA256, digest, sizeof(digest), &out,
		    &outlen) : p11agent_client_derive(c, id, point,
		    sizeof(point), &out, &outlen);
		FUZZ_ASSERT(r == 0 || (out == NULL && outlen == 0));
		p11agent_freezero(out, outlen);
		break;
	case 5:
		r = p11agent_client_sign_many(c, 3, ids, algs, digests, dlens,
		    results, sigs, siglens);
		for (i = 0; i < 3; i++) {
			if (r == 0 && results[i] != 0)
				FUZZ_ASSERT(sigs[i] == NULL);
			p11agent_freezero(sigs[i], siglens[i]);
		}
		break;
	case 6:
		r = p11agent_client_ping(c);
		break;
	case 7:
		r = p11agent_client_lock(c);
		break;
	default:
		r = p11agent_client_unlock(c, "1234");
		break;
	}
	(void)r;
	FUZZ_ASSERT(p11agent_client_last_message(c) != NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct p11agent_client *c = NULL;
	struct fake f;
	pthread_t t;

	init();
	if (size < 1)
		return 0;
	f.data = data + 1;
	f.size = size - 1;
	FUZZ_ASSERT(pthread_create(&t, NULL, fake_agent, &f) == 0);
	if (p11agent_client_connect_ex(&c, sockpath, as->pub, keypath,
	    "fuzz") == 0) {
		p11agent_client_set_timeout(c, 2000);
		run_op(c, data[0] % 9);
		p11agent_client_free(c);
	}
	FUZZ_ASSERT(pthread_join(t, NULL) == 0);
	return 0;
}
