/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * audit.c - the audit log: JSON lines chained by SHA-256 (docs/AUDIT.md).
 * The file only ever holds whole lines: a write that fails half-way is
 * cut back to the last whole line, so the chain stays verifiable and the
 * next write can succeed once there is room again. One mutex guards the
 * file and the chain; a second one, always taken first, serialises
 * fdatasync so that threads waiting for the disk share one call (group
 * commit). Lines never contain a PIN, key material or plaintext: digests
 * are logged as they are, ciphertexts and peer points only hashed.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <p11agent/p11agent.h>

#include "audit.h"
#include "keyfile.h"
#include "log.h"

#define AUDIT_HASH_LEN		32	/* bytes, SHA-256 */
#define AUDIT_TAIL_MAX		65536	/* bytes, read back at open */

/* A growing string; on allocation failure it stays failed (ok = 0). */
struct sb {
	char *p;
	size_t len, cap;
	int ok;
};

static struct {
	pthread_mutex_t mtx;		/* everything below */
	pthread_mutex_t sync_mtx;	/* fdatasync; taken before mtx */
	int enabled;
	int fail_continue;
	char *path;
	int fd;
	int regular;		/* a file: can be cut back and synced */
	dev_t dev;
	ino_t ino;
	off_t good_size;	/* bytes of whole lines */
	int dirty;		/* a failed write may have left a part */
	uint8_t last[AUDIT_HASH_LEN];	/* SHA-256 of the last line */
	uint64_t seq;		/* the next line's number */
	uint64_t written;	/* lines written (group commit generation) */
	uint64_t synced;	/* lines known to be on the disk */
	int failing;		/* the last write failed */
} au = {
	.mtx = PTHREAD_MUTEX_INITIALIZER,
	.sync_mtx = PTHREAD_MUTEX_INITIALIZER,
	.fd = -1,
};

/* String building */

static void
sb_grow(struct sb *b, size_t more)
{
	size_t cap;
	char *p;

	if (!b->ok)
		return;
	if (b->cap - b->len > more)
		return;
	cap = b->cap == 0 ? 1024 : b->cap;
	while (cap - b->len <= more) {
		if (cap > SIZE_MAX / 2) {
			b->ok = 0;
			return;
		}
		cap *= 2;
	}
	if ((p = realloc(b->p, cap)) == NULL) {
		b->ok = 0;
		return;
	}
	b->p = p;
	b->cap = cap;
}

static void
sb_putn(struct sb *b, const char *s, size_t n)
{
	sb_grow(b, n);
	if (!b->ok)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void
sb_put(struct sb *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

static void
sb_printf(struct sb *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
sb_printf(struct sb *b, const char *fmt, ...)
{
	char tmp[128];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		b->ok = 0;
		return;
	}
	sb_putn(b, tmp, (size_t)n);
}

/* Length of a valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates, beyond U+10FFFF. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/* A JSON string: quotes, escapes, invalid UTF-8 as U+FFFD. */
static void
sb_json(struct sb *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), len;
	char esc[8];

	sb_put(b, "\"");
	while (n > 0) {
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			sb_putn(b, esc, 2);
			p++;
			n--;
		} else if (*p < 0x20 || *p == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", *p);
			sb_put(b, esc);
			p++;
			n--;
		} else if ((len = utf8_len(p, n)) == 0) {
			sb_put(b, "\\ufffd");
			p++;
			n--;
		} else {
			sb_putn(b, (const char *)p, len);
			p += len;
			n -= len;
		}
	}
	sb_put(b, "\"");
}

static void
sb_hex(struct sb *b, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char two[2];
	size_t i;

	for (i = 0; i < n; i++) {
		two[0] = digits[p[i] >> 4];
		two[1] = digits[p[i] & 0x0f];
		sb_putn(b, two, 2);
	}
}

/* ,"name":"value" */
static void
sb_field(struct sb *b, const char *name, const char *value)
{
	if (value == NULL)
		return;
	sb_printf(b, ",\"%s\":", name);
	sb_json(b, value);
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

/* "ok", or "denied" for P11AGENT_ERR_DENIED. */
static void
sb_result(struct sb *b, int r)
{
	const char *name = p11agent_strerror_name(r), *prefix = "P11AGENT_ERR_";
	char low[64];
	size_t i;

	if (r == 0) {
		sb_put(b, ",\"result\":\"ok\"");
		return;
	}
	if (strncmp(name, prefix, strlen(prefix)) == 0)
		name += strlen(prefix);
	for (i = 0; name[i] != '\0' && i < sizeof(low) - 1; i++)
		low[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ?
		    name[i] - 'A' + 'a' : name[i]);
	low[i] = '\0';
	sb_field(b, "result", low);
}

/* The fields between "seq" and "prev", each with a leading comma. */
static void
build_middle(struct sb *b, const struct audit_rec *rec)
{
	char key[KEYFILE_B64_LEN];
	uint8_t h[AUDIT_HASH_LEN];

	sb_field(b, "op", rec->op);
	sb_field(b, "client", rec->client);
	if (rec->client_key != NULL) {
		keyfile_format_public(rec->client_key, key);
		sb_field(b, "client_key", key);
	}
	sb_field(b, "program", rec->program);
	if (rec->pid >= 0)
		sb_printf(b, ",\"pid\":%ld", rec->pid);
	if (rec->uid >= 0)
		sb_printf(b, ",\"uid\":%ld", rec->uid);
	sb_field(b, "exe", rec->exe);
	if (rec->key_id != NULL) {
		sb_put(b, ",\"key_id\":\"");
		sb_hex(b, rec->key_id, P11AGENT_KEYID_LEN);
		sb_put(b, "\"");
	}
	sb_field(b, "key_label", rec->key_label);
	sb_field(b, "alg", rec->alg);
	if (rec->data_field != NULL && rec->data != NULL) {
		sb_printf(b, ",\"%s\":\"", rec->data_field);
		if (!rec->data_hashed)
			sb_hex(b, rec->data, rec->datalen);
		else if (sha256(rec->data, rec->datalen, h) == 0)
			sb_hex(b, h, sizeof(h));
		else
			b->ok = 0;
		sb_put(b, "\"");
	}
	sb_field(b, "description", rec->description);
	if (rec->confirmed)
		sb_put(b, ",\"confirmed\":true");
	sb_field(b, "reason", rec->reason);
	sb_result(b, rec->result);
	sb_field(b, "message", rec->message);
	if (rec->duration_us >= 0)
		sb_printf(b, ",\"duration_us\":%" PRId64, rec->duration_us);
}

void
audit_rec_init(struct audit_rec *rec)
{
	memset(rec, 0, sizeof(*rec));
	rec->pid = -1;
	rec->uid = -1;
	rec->duration_us = -1;
}

int
audit_enabled(void)
{
	return au.enabled;
}

/* RFC 3339, UTC, milliseconds. */
#define AUDIT_TIME_MAX		64	/* bytes, a timestamp */

static void
timestamp(char out[AUDIT_TIME_MAX])
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(out, AUDIT_TIME_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		if (w == 0) {
			errno = EIO;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * With mtx held: stamps middle with time, seq and prev and appends it.
 * Returns 0 (and the line's generation in *genp) or an errno value;
 * *linep gets the whole line for the syslog fallback (caller frees).
 */
static int
append_locked(const char *middle, uint64_t *genp, char **linep)
{
	struct sb b = { .ok = 1 };
	char ts[AUDIT_TIME_MAX];
	int e;

	*genp = 0;
	*linep = NULL;
	if (au.fd < 0)
		return EBADF;
	timestamp(ts);
	sb_printf(&b, "{\"time\":\"%s\",\"seq\":%" PRIu64, ts, au.seq);
	sb_put(&b, middle);
	sb_put(&b, ",\"prev\":\"");
	sb_hex(&b, au.last, sizeof(au.last));
	sb_put(&b, "\"}\n");
	if (!b.ok) {
		free(b.p);
		return ENOMEM;
	}
	*linep = b.p;
	/* A partial line from an earlier failure goes first. */
	if (au.dirty && au.regular) {
		if (ftruncate(au.fd, au.good_size) != 0)
			return errno;
		au.dirty = 0;
	}
	if (write_all(au.fd, b.p, b.len) != 0) {
		e = errno;
		if (au.regular && ftruncate(au.fd, au.good_size) != 0)
			au.dirty = 1;
		return e;
	}
	if (sha256(b.p, b.len - 1, au.last) != 0) {
		/* Cannot happen with SHA-256 built in; keep the file sane. */
		au.dirty = 1;
		return EIO;
	}
	au.good_size += (off_t)b.len;
	au.seq++;
	au.written++;
	*genp = au.written;
	return 0;
}

/* fdatasync up to generation gen, shared by the threads that wait. */
static int
sync_upto(uint64_t gen)
{
	uint64_t target;
	int fd, e = 0, regular;

	pthread_mutex_lock(&au.sync_mtx);
	if (au.synced < gen) {
		pthread_mutex_lock(&au.mtx);
		target = au.written;
		fd = au.fd;
		regular = au.regular;
		pthread_mutex_unlock(&au.mtx);
		if (regular && fdatasync(fd) != 0)
			e = errno;
		else
			au.synced = target;
	}
	pthread_mutex_unlock(&au.sync_mtx);
	return e;
}

/* Logs the failure once per streak; fills err. */
static void
note_failure(int e, const char *line, char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		snprintf(err, errlen, "audit log not writable: %s",
		    strerror(e));
	if (au.fail_continue) {
		/* The record goes to syslog instead; the chain shows a gap. */
		log_err_f("audit log %s not writable (%s); record: %s",
		    au.path, strerror(e), line != NULL ? line : "?");
		return;
	}
	if (!au.failing)
		log_err_f("audit log %s not writable (%s): refusing "
		    "operations until it is", au.path, strerror(e));
	au.failing = 1;
}

int
audit_write(const struct audit_rec *rec, int sync, char *err, size_t errlen)
{
	struct sb mid = { .ok = 1 };
	char *line = NULL;
	uint64_t gen = 0;
	int e;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (!au.enabled)
		return 0;
	build_middle(&mid, rec);
	pthread_mutex_lock(&au.mtx);
	e = mid.ok ? append_locked(mid.p, &gen, &line) : ENOMEM;
	if (e != 0) {
		note_failure(e, line, err, errlen);
		if (au.fail_continue)
			au.seq++;	/* the line exists, in syslog */
	} else if (au.failing) {
		au.failing = 0;
		log_info_f("audit log %s writable again", au.path);
	}
	pthread_mutex_unlock(&au.mtx);
	if (e == 0 && sync && (e = sync_upto(gen)) != 0) {
		pthread_mutex_lock(&au.mtx);
		note_failure(e, line, err, errlen);
		pthread_mutex_unlock(&au.mtx);
	}
	free(mid.p);
	free(line);
	if (e != 0 && !au.fail_continue)
		return P11AGENT_ERR_IO;
	return 0;
}

/*
 * Finds the last line of a non-empty regular file: its hash and seq.
 * Returns 0 or -1 with the reason in err.
 */
static int
read_tail(int fd, off_t size, uint8_t last[AUDIT_HASH_LEN], uint64_t *seqp,
    const char *path, char *err, size_t errlen)
{
	char *buf = NULL, *start, *end, *s, *num;
	off_t off;
	size_t n;
	ssize_t got;
	int r = -1;

	n = size > AUDIT_TAIL_MAX ? AUDIT_TAIL_MAX : (size_t)size;
	off = size - (off_t)n;
	if ((buf = malloc(n + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if ((got = pread(fd, buf, n, off)) < 0 || (size_t)got != n) {
		snprintf(err, errlen, "%s: cannot read the last line: %s",
		    path, got < 0 ? strerror(errno) : "short read");
		goto out;
	}
	buf[n] = '\0';
	if (buf[n - 1] != '\n') {
		snprintf(err, errlen, "%s ends with an incomplete line; check "
		    "it with \"p11 audit verify\" and move it aside", path);
		goto out;
	}
	end = buf + n - 1;
	for (start = end; start > buf && start[-1] != '\n'; start--)
		;
	if (start == buf && off > 0) {
		snprintf(err, errlen, "%s: last line too long", path);
		goto out;
	}
	*end = '\0';
	if (strncmp(start, "{\"time\":", 8) != 0 ||
	    (s = strstr(start, ",\"seq\":")) == NULL) {
		snprintf(err, errlen, "%s: the last line is not a p11agent "
		    "audit line; move the file aside", path);
		goto out;
	}
	num = s + 7;
	if (*num < '0' || *num > '9' ||
	    sha256(start, (size_t)(end - start), last) != 0) {
		snprintf(err, errlen, "%s: the last line is not a p11agent "
		    "audit line; move the file aside", path);
		goto out;
	}
	*seqp = strtoull(num, NULL, 10) + 1;
	r = 0;
 out:
	free(buf);
	return r;
}

/* Opens path; continues its chain if it has lines. */
static int
open_file(const char *path, int *fdp, int *regularp, struct stat *stp,
    uint8_t last[AUDIT_HASH_LEN], uint64_t *seqp, int *continuedp,
    char *err, size_t errlen)
{
	int fd;

	*fdp = -1;
	*continuedp = 0;
	if ((fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC |
	    O_NOCTTY, 0600)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, stp) != 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	/* A character device (e.g. /dev/full in tests) has no lines. */
	if (!S_ISREG(stp->st_mode) && !S_ISCHR(stp->st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	*regularp = S_ISREG(stp->st_mode);
	if (*regularp && (stp->st_mode & 022) != 0)
		log_info_f("audit log %s is writable by others (mode %04o)",
		    path, (unsigned int)(stp->st_mode & 07777));
	if (*regularp && stp->st_size > 0) {
		if (read_tail(fd, stp->st_size, last, seqp, path, err,
		    errlen) != 0) {
			close(fd);
			return -1;
		}
		*continuedp = 1;
	}
	*fdp = fd;
	return 0;
}

/* With both mutexes held: an "open" or "close" line, synced. */
static int
mark_locked(const char *op, const char *reason, char *err, size_t errlen)
{
	struct sb mid = { .ok = 1 };
	char *line = NULL;
	uint64_t gen;
	int e;

	sb_field(&mid, "op", op);
	sb_field(&mid, "reason", reason);
	if (strcmp(op, "open") == 0) {
		sb_field(&mid, "agent", "p11agent " P11AGENT_VERSION);
		sb_printf(&mid, ",\"agent_pid\":%ld", (long)getpid());
	}
	sb_put(&mid, ",\"result\":\"ok\"");
	e = mid.ok ? append_locked(mid.p, &gen, &line) : ENOMEM;
	if (e == 0 && au.regular && fdatasync(au.fd) != 0)
		e = errno;
	if (e == 0)
		au.synced = au.written;
	else {
		note_failure(e, line, err, errlen);
		if (au.fail_continue)
			au.seq++;
	}
	free(mid.p);
	free(line);
	return e;
}

static void
log_head(const char *what)
{
	char hex[2 * AUDIT_HASH_LEN + 1];
	size_t i;

	for (i = 0; i < AUDIT_HASH_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", au.last[i]);
	log_info_f("audit log %s %s: last line seq %" PRIu64 " sha256 %s",
	    au.path, what, au.seq > 0 ? au.seq - 1 : 0, hex);
}

int
audit_open(const char *path, int fail_continue, char *err, size_t errlen)
{
	struct stat st;
	int fd, regular, continued;

	if (errlen > 0)
		err[0] = '\0';
	if (path == NULL)
		return 0;
	if ((au.path = strdup(path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return P11AGENT_ERR_NO_MEMORY;
	}
	memset(au.last, 0, sizeof(au.last));
	au.seq = 0;
	if (open_file(path, &fd, &regular, &st, au.last, &au.seq, &continued,
	    err, errlen) != 0) {
		free(au.path);
		au.path = NULL;
		return P11AGENT_ERR_IO;
	}
	au.fd = fd;
	au.regular = regular;
	au.dev = st.st_dev;
	au.ino = st.st_ino;
	au.good_size = regular ? st.st_size : 0;
	au.fail_continue = fail_continue;
	au.enabled = 1;
	pthread_mutex_lock(&au.sync_mtx);
	pthread_mutex_lock(&au.mtx);
	if (mark_locked("open", "start", err, errlen) != 0 &&
	    !fail_continue) {
		pthread_mutex_unlock(&au.mtx);
		pthread_mutex_unlock(&au.sync_mtx);
		close(au.fd);
		au.fd = -1;
		au.enabled = 0;
		free(au.path);
		au.path = NULL;
		return P11AGENT_ERR_IO;
	}
	pthread_mutex_unlock(&au.mtx);
	pthread_mutex_unlock(&au.sync_mtx);
	log_info_f("audit log %s (%s, %s)", path, continued ? "continued" :
	    "new", fail_continue ? "on failure log to syslog and continue" :
	    "on failure refuse operations");
	return 0;
}

void
audit_reopen(void)
{
	struct stat st;
	uint8_t last[AUDIT_HASH_LEN];
	uint64_t seq = 0;
	char err[256];
	int fd, regular, continued;

	if (!au.enabled)
		return;
	if (stat(au.path, &st) == 0 && st.st_dev == au.dev &&
	    st.st_ino == au.ino)
		return;		/* not rotated */
	memset(last, 0, sizeof(last));
	if (open_file(au.path, &fd, &regular, &st, last, &seq, &continued, err,
	    sizeof(err)) != 0) {
		log_err_f("cannot open the new audit log (%s); still writing "
		    "the old file", err);
		return;
	}
	pthread_mutex_lock(&au.sync_mtx);
	pthread_mutex_lock(&au.mtx);
	(void)mark_locked("close", "rotate", NULL, 0);
	log_head("rotated");
	close(au.fd);
	au.fd = fd;
	au.regular = regular;
	au.dev = st.st_dev;
	au.ino = st.st_ino;
	au.good_size = regular ? st.st_size : 0;
	au.dirty = 0;
	if (continued) {
		/* Someone else's lines are there: follow their chain. */
		log_info_f("audit log %s was not empty; continuing its chain",
		    au.path);
		memcpy(au.last, last, sizeof(last));
		au.seq = seq;
	}
	(void)mark_locked("open", "rotate", NULL, 0);
	pthread_mutex_unlock(&au.mtx);
	pthread_mutex_unlock(&au.sync_mtx);
	log_info_f("audit log %s reopened", au.path);
}

void
audit_close(void)
{
	if (!au.enabled)
		return;
	pthread_mutex_lock(&au.sync_mtx);
	pthread_mutex_lock(&au.mtx);
	(void)mark_locked("close", "stop", NULL, 0);
	log_head("closed");
	if (au.fd != -1)
		close(au.fd);
	au.fd = -1;
	au.enabled = 0;
	pthread_mutex_unlock(&au.mtx);
	pthread_mutex_unlock(&au.sync_mtx);
	free(au.path);
	au.path = NULL;
}
