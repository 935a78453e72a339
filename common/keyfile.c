/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * keyfile.c - static X25519 key files: one line of standard base64, a
 * public key optionally followed by a space and a comment. A private key
 * file must be a regular file, not a symlink, owned by us and closed to
 * group and other, checked on the open descriptor. Files are replaced
 * atomically (temporary file in the same directory, fsync, rename).
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include <p11agent/err.h>

#include "channel.h"
#include "keyfile.h"
#include "proto.h"
#include "secmem.h"

#define KEYFILE_MAX	4096	/* bytes, largest key file we read */
#define KEYFILE_B64_CHARS	(KEYFILE_B64_LEN - 1)

_Static_assert(KEYFILE_B64_LEN == sodium_base64_ENCODED_LEN(P11AGENT_KEY_LEN,
    sodium_base64_VARIANT_ORIGINAL), "KEYFILE_B64_LEN");

/* Whitespace that ends the base64 token. */
#define TOKEN_END	" \t\r\n"

/*
 * Decodes exactly one 32-byte key from the first toklen bytes of b64.
 * libsodium rejects bad characters, bad padding and non-zero spare bits.
 */
static int
decode_key(const char *b64, size_t toklen, uint8_t key[P11AGENT_KEY_LEN])
{
	size_t binlen = 0;

	if (toklen != KEYFILE_B64_CHARS ||
	    sodium_base642bin(key, P11AGENT_KEY_LEN, b64, toklen, NULL,
	    &binlen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    binlen != P11AGENT_KEY_LEN) {
		sodium_memzero(key, P11AGENT_KEY_LEN);
		return P11AGENT_ERR_INVALID_FORMAT;
	}
	return 0;
}

int
keyfile_parse_public(const char *b64, uint8_t pub[P11AGENT_KEY_LEN])
{
	if (pub == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	memset(pub, 0, P11AGENT_KEY_LEN);
	if (b64 == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	return decode_key(b64, strcspn(b64, TOKEN_END), pub);
}

void
keyfile_format_public(const uint8_t pub[P11AGENT_KEY_LEN],
    char out[KEYFILE_B64_LEN])
{
	sodium_bin2base64(out, KEYFILE_B64_LEN, pub, P11AGENT_KEY_LEN,
	    sodium_base64_VARIANT_ORIGINAL);
}

/*
 * Reads a small file into buf (NUL-terminated, at most bufsize - 1
 * bytes). private: refuse symlinks and anything but a regular file of
 * ours with no group/other bits. Public files may be symlinks but must
 * not be writable by group/other, nor owned by anyone but us or root,
 * since whoever can write a pinned key can impersonate the agent.
 * *missingp is set when the file does not exist.
 */
static int
read_key_file(const char *path, int private, char *buf, size_t bufsize,
    size_t *lenp, int *missingp)
{
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd = -1, flags, r = P11AGENT_ERR_INTERNAL;

	*lenp = 0;
	if (missingp != NULL)
		*missingp = 0;
	/* O_NONBLOCK: a FIFO planted at the path must not hang us before
	 * the S_ISREG check refuses it; reads of a regular file never
	 * block anyway. */
	flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
	    (private ? O_NOFOLLOW : 0);
	if ((fd = open(path, flags)) == -1) {
		if (errno == ENOENT && missingp != NULL)
			*missingp = 1;
		return errno == ELOOP ? P11AGENT_ERR_FILE_PERMISSIONS :
		    P11AGENT_ERR_IO;
	}
	if (fstat(fd, &st) == -1) {
		r = P11AGENT_ERR_IO;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = P11AGENT_ERR_FILE_PERMISSIONS;
		goto out;
	}
	if (private ? (st.st_uid != geteuid() || (st.st_mode & 077) != 0) :
	    ((st.st_uid != geteuid() && st.st_uid != 0) ||
	    (st.st_mode & 022) != 0)) {
		r = P11AGENT_ERR_FILE_PERMISSIONS;
		goto out;
	}
	for (;;) {
		if (bufsize - 1 - len == 0) {
			/* Full: one more byte means the file is too big. */
			char c;

			while ((n = read(fd, &c, 1)) == -1 && errno == EINTR)
				;
			if (n != 0) {
				r = n < 0 ? P11AGENT_ERR_IO :
				    P11AGENT_ERR_INVALID_FORMAT;
				goto out;
			}
			break;
		}
		if ((n = read(fd, buf + len, bufsize - 1 - len)) == -1) {
			if (errno == EINTR)
				continue;
			r = P11AGENT_ERR_IO;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	/* An embedded NUL would hide the rest of the file from the parser. */
	if (strlen(buf) != len) {
		r = P11AGENT_ERR_INVALID_FORMAT;
		goto out;
	}
	*lenp = len;
	r = 0;
 out:
	if (r != 0)
		sodium_memzero(buf, bufsize);
	close(fd);
	return r;
}

static int
load_private(const char *path, struct channel_keypair **kpp, int *missingp)
{
	char text[KEYFILE_MAX];
	uint8_t *priv = NULL;
	size_t len, tok;
	int r;

	if ((r = read_key_file(path, 1, text, sizeof(text), &len,
	    missingp)) != 0)
		return r;
	if ((priv = p11agent_secure_alloc(P11AGENT_KEY_LEN)) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	/* One token, then only line-ending whitespace. */
	tok = strcspn(text, TOKEN_END);
	if (text[tok + strspn(text + tok, TOKEN_END)] != '\0') {
		r = P11AGENT_ERR_INVALID_FORMAT;
		goto out;
	}
	if ((r = decode_key(text, tok, priv)) != 0 ||
	    (r = channel_keypair_from_private(priv, kpp)) != 0)
		goto out;
	r = 0;
 out:
	sodium_memzero(text, sizeof(text));
	secmem_free(priv);
	return r;
}

int
keyfile_load_private(const char *path, struct channel_keypair **kpp)
{
	if (kpp == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	*kpp = NULL;
	if (path == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	return load_private(path, kpp, NULL);
}

int
keyfile_load_public(const char *path, uint8_t pub[P11AGENT_KEY_LEN])
{
	char text[KEYFILE_MAX];
	size_t len, tok;
	int r;

	if (pub == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	memset(pub, 0, P11AGENT_KEY_LEN);
	if (path == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if ((r = read_key_file(path, 0, text, sizeof(text), &len, NULL)) != 0)
		return r;
	/* "base64[ comment]\n": the key must start the first line. */
	tok = strcspn(text, TOKEN_END);
	if (text[tok] != '\0' && text[tok] != ' ' && text[tok] != '\t' &&
	    text[tok] != '\n' && !(text[tok] == '\r' && text[tok + 1] == '\n'))
		return P11AGENT_ERR_INVALID_FORMAT;
	return decode_key(text, tok, pub);
}

/* Writes all of p to fd. */
static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return P11AGENT_ERR_IO;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Best effort: make a rename in dir(path) durable. */
static void
sync_parent(const char *path)
{
	char *dir, *slash;
	int fd;

	if ((dir = strdup(path)) == NULL)
		return;
	if ((slash = strrchr(dir, '/')) == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		(void)fsync(fd);
		close(fd);
	}
	free(dir);
}

/*
 * Replaces path with data, atomically: a temporary file beside it (so
 * rename stays within one file system), fsync, rename. With noreplace,
 * an existing path is left alone and *existsp set instead.
 */
static int
write_atomic(const char *path, const char *data, size_t len, mode_t mode,
    int noreplace, int *existsp)
{
	char *tmp = NULL;
	int fd = -1, r = P11AGENT_ERR_INTERNAL, linked;

	if (existsp != NULL)
		*existsp = 0;
	if (asprintf(&tmp, "%s.XXXXXX", path) == -1) {
		tmp = NULL;
		return P11AGENT_ERR_NO_MEMORY;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		r = P11AGENT_ERR_IO;
		free(tmp);
		return r;
	}
	if (fchmod(fd, mode) == -1 ||
	    (r = write_all(fd, data, len)) != 0 ||
	    fsync(fd) == -1) {
		r = P11AGENT_ERR_IO;
		goto out;
	}
	if (close(fd) == -1) {
		fd = -1;
		r = P11AGENT_ERR_IO;
		goto out;
	}
	fd = -1;
	if (noreplace) {
		/* link() fails with EEXIST instead of replacing. */
		if ((linked = link(tmp, path)) == -1 && errno == EEXIST) {
			if (existsp != NULL)
				*existsp = 1;
			r = P11AGENT_ERR_IO;
			goto out;
		}
		if (linked == 0) {
			sync_parent(path);
			r = 0;
			goto out;
		}
		/* No hard links on this file system: an atomic rename that
		 * still refuses to replace what another process just made. */
		if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path,
		    RENAME_NOREPLACE) == -1) {
			if (errno == EEXIST && existsp != NULL)
				*existsp = 1;
			r = P11AGENT_ERR_IO;
			goto out;
		}
		sync_parent(path);
		free(tmp);
		return 0;
	}
	if (rename(tmp, path) == -1) {
		r = P11AGENT_ERR_IO;
		goto out;
	}
	sync_parent(path);
	free(tmp);
	return 0;
 out:
	if (fd != -1)
		close(fd);
	unlink(tmp);
	free(tmp);
	return r;
}

static int
save_private(const char *path, const struct channel_keypair *kp,
    int noreplace, int *existsp)
{
	char text[KEYFILE_B64_LEN + 1];
	int r;

	sodium_bin2base64(text, KEYFILE_B64_LEN, kp->priv, P11AGENT_KEY_LEN,
	    sodium_base64_VARIANT_ORIGINAL);
	text[KEYFILE_B64_CHARS] = '\n';
	r = write_atomic(path, text, KEYFILE_B64_CHARS + 1, 0600, noreplace,
	    existsp);
	sodium_memzero(text, sizeof(text));
	return r;
}

int
keyfile_save_private(const char *path, const struct channel_keypair *kp)
{
	if (path == NULL || kp == NULL || kp->priv == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	return save_private(path, kp, 0, NULL);
}

int
keyfile_save_public(const char *path, const uint8_t pub[P11AGENT_KEY_LEN],
    const char *comment)
{
	char b64[KEYFILE_B64_LEN], *text = NULL;
	int n, r;

	if (path == NULL || pub == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if (comment != NULL && strpbrk(comment, "\r\n") != NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	keyfile_format_public(pub, b64);
	if (comment != NULL && *comment != '\0')
		n = asprintf(&text, "%s %s\n", b64, comment);
	else
		n = asprintf(&text, "%s\n", b64);
	if (n == -1)
		return P11AGENT_ERR_NO_MEMORY;
	r = write_atomic(path, text, (size_t)n, 0644, 0, NULL);
	free(text);
	return r;
}

int
keyfile_mkdir_parents(const char *path)
{
	struct stat st;
	char *p, *s;
	int r = 0;

	if (path == NULL || *path == '\0')
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if ((p = strdup(path)) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	/* Every prefix that ends just before a '/', except the root. */
	for (s = p + 1; (s = strchr(s, '/')) != NULL; s++) {
		if (s[-1] == '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) == 0) {
			/* mkdir() honours the umask; a 0177 umask would
			 * make a directory we could not enter. */
			if (chmod(p, 0700) == -1)
				r = P11AGENT_ERR_IO;
		} else if (errno != EEXIST ||
		    stat(p, &st) == -1 || !S_ISDIR(st.st_mode))
			r = P11AGENT_ERR_IO;
		*s = '/';
		if (r != 0)
			break;
	}
	free(p);
	return r;
}

int
keyfile_load_or_create(const char *path, struct channel_keypair **kpp)
{
	struct channel_keypair *kp = NULL;
	int missing = 0, exists = 0, r;

	if (kpp == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	*kpp = NULL;
	if (path == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if ((r = load_private(path, kpp, &missing)) == 0 || !missing)
		return r;
	if ((r = keyfile_mkdir_parents(path)) != 0 ||
	    (r = channel_keypair_generate(&kp)) != 0)
		goto out;
	/*
	 * Never replace: if another process created the key meanwhile,
	 * use theirs, so that both end up with the key on disk.
	 */
	if ((r = save_private(path, kp, 1, &exists)) != 0) {
		if (exists)
			r = load_private(path, kpp, NULL);
		goto out;
	}
	*kpp = kp;
	kp = NULL;
	r = 0;
 out:
	channel_keypair_free(kp);
	return r;
}
