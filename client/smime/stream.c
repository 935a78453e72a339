/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * stream.c - what keeps p11 smime's memory flat for large messages:
 * unlinked 0600 temporary files for intermediate data, mime_out sinks
 * that write to them, read-only mappings whose pages are released as the
 * work moves on, and copies between them in small pieces.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <p11agent/err.h>

#include "smime-int.h"

#define RELEASE_EVERY	((uint64_t)8 << 20)	/* bytes written */
#define COPY_CHUNK	(57 * 1024)	/* whole base64 lines */

int
smime_tmpfd(void)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];
	mode_t mask;
	int fd;

	if (dir == NULL || *dir == '\0')
		dir = "/tmp";
	if ((size_t)snprintf(path, sizeof(path), "%s/p11-smime.XXXXXX",
	    dir) >= sizeof(path))
		return P11AGENT_ERR_IO;
	mask = umask(077);
	fd = mkstemp(path);
	umask(mask);
	if (fd < 0)
		return P11AGENT_ERR_IO;
	/* Unlinked at once: nothing is left behind on any path. */
	(void)unlink(path);
	(void)fchmod(fd, 0600);
	return fd;
}

void
smime_release(const struct smime_msg *in)
{
	if (in != NULL && in->release != NULL)
		in->release(in->arg);
}

int
smime_sink_write(void *arg, const uint8_t *p, size_t len)
{
	struct smime_sink *sk = arg;
	ssize_t n;

	if (len == 0 || (sk->since += len) >= RELEASE_EVERY) {
		smime_release(sk->in);
		sk->since = 0;
	}
	if (sk->bio != NULL) {
		while (len > 0) {
			int w = len > INT32_MAX ? INT32_MAX : (int)len;

			if (BIO_write(sk->bio, p, w) != w)
				return P11AGENT_ERR_IO;
			p += w;
			len -= (size_t)w;
		}
		return 0;
	}
	while (len > 0) {
		if ((n = write(sk->fd, p, len)) < 0) {
			if (errno == EINTR)
				continue;
			return P11AGENT_ERR_IO;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

void
smime_sink_init(struct mime_out *o, struct smime_sink *sk, int fd, BIO *bio,
    const struct smime_msg *in)
{
	memset(o, 0, sizeof(*o));
	memset(sk, 0, sizeof(*sk));
	sk->fd = fd;
	sk->bio = bio;
	sk->in = in;
	o->sink = smime_sink_write;
	o->arg = sk;
}

int
smime_copy_fd(int fd, struct mime_out *o, int b64)
{
	uint8_t *buf;
	size_t have = 0;
	ssize_t n;
	int r = 0;

	if (lseek(fd, 0, SEEK_SET) != 0)
		return P11AGENT_ERR_IO;
	if ((buf = malloc(COPY_CHUNK)) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	for (;;) {
		n = read(fd, buf + have, COPY_CHUNK - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = P11AGENT_ERR_IO;
			break;
		}
		have += (size_t)n;
		/* Whole chunks only, so base64 lines come out as if the
		 * data had been encoded in one piece. */
		if (have == COPY_CHUNK || (n == 0 && have > 0)) {
			if (b64)
				mime_out_base64(o, buf, have);
			else
				mime_out_put(o, buf, have);
			have = 0;
			if ((r = o->err) != 0)
				break;
		}
		if (n == 0)
			break;
	}
	explicit_bzero(buf, COPY_CHUNK);
	free(buf);
	return r != 0 ? r : o->err;
}

static void
unmap_pages(void *arg)
{
	struct smime_msg *m = arg;

	if (m->len > 0)
		(void)madvise((void *)m->p, m->len, MADV_DONTNEED);
}

int
smime_map_fd(int fd, struct smime_msg *m)
{
	struct stat st;
	void *p;

	memset(m, 0, sizeof(*m));
	m->p = (const uint8_t *)"";
	if (fstat(fd, &st) != 0)
		return P11AGENT_ERR_IO;
	if (st.st_size == 0)
		return 0;
	if ((uint64_t)st.st_size > MIME_MAX_MESSAGE * 2)
		return P11AGENT_ERR_MAX_SIZE;
	p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		return P11AGENT_ERR_IO;
	m->p = p;
	m->len = (size_t)st.st_size;
	m->release = unmap_pages;
	m->arg = m;
	return 0;
}

void
smime_unmap(struct smime_msg *m)
{
	if (m->len > 0)
		(void)munmap((void *)m->p, m->len);
	memset(m, 0, sizeof(*m));
}

int
smime_part_to_fd(const struct mime_entity *e, const struct smime_msg *in,
    int fd)
{
	const char *cte = mime_get(e, "Content-Transfer-Encoding");
	struct smime_sink sk;
	struct mime_out o;
	int r;

	smime_sink_init(&o, &sk, fd, NULL, in);
	if (cte == NULL || strcasecmp(cte, "base64") == 0)
		r = mime_base64_decode_out(e->body, e->bodylen, &o);
	else if (strcasecmp(cte, "binary") == 0 ||
	    strcasecmp(cte, "8bit") == 0) {
		mime_out_put(&o, e->body, e->bodylen);
		r = o.err;
	} else
		r = P11AGENT_ERR_INVALID_FORMAT;
	if (r == 0)
		r = mime_out_flush(&o);
	mime_out_free(&o);
	return r;
}
