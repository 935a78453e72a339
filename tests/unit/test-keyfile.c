/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * test-keyfile.c - key files: round trips, refusal of private keys that
 * group or other can read (or that are symlinks), refusal of garbage,
 * and creation on first use with 0700 parent directories. Works in a
 * fresh directory under $TMPDIR, removed at the end.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <p11agent/err.h>

#include "channel.h"
#include "keyfile.h"
#include "tap.h"

static char tmpdir[4096];

static const char *
path(const char *name)
{
	static char buf[8][4200];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmpdir, name);
	return buf[i];
}

static void
write_file(const char *p, const void *data, size_t len, mode_t mode)
{
	int fd;

	unlink(p);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    write(fd, data, len) != (ssize_t)len || fchmod(fd, mode) == -1)
		abort();
	close(fd);
}

static mode_t
mode_of(const char *p)
{
	struct stat st;

	if (stat(p, &st) == -1)
		return (mode_t)-1;
	return st.st_mode & 07777;
}

static void
test_roundtrip_private(void)
{
	struct channel_keypair *kp, *kp2;
	const char *p = path("private.key");

	channel_keypair_generate(&kp);
	is_int(keyfile_save_private(p, kp), 0, "save_private");
	is_int(mode_of(p), 0600, "written 0600");
	is_int(keyfile_load_private(p, &kp2), 0, "load_private");
	if (kp2 != NULL) {
		is_mem(kp2->priv, kp->priv, 32, "same private key");
		is_mem(kp2->pub, kp->pub, 32, "same public key");
	}
	channel_keypair_free(kp2);
	/* Overwrite in place: the rename replaces the old file. */
	channel_keypair_free(kp);
	channel_keypair_generate(&kp);
	is_int(keyfile_save_private(p, kp), 0, "save over an existing key");
	is_int(keyfile_load_private(p, &kp2), 0, "load the new key");
	if (kp2 != NULL)
		is_mem(kp2->pub, kp->pub, 32, "the new key");
	channel_keypair_free(kp2);
	channel_keypair_free(kp);
}

static void
test_roundtrip_public(void)
{
	struct channel_keypair *kp;
	uint8_t pub[32];
	char b64[KEYFILE_B64_LEN], text[128];
	const char *p = path("agent.pub");
	FILE *fp;

	channel_keypair_generate(&kp);
	is_int(keyfile_save_public(p, kp->pub, "p11agent@host"), 0,
	    "save_public with comment");
	is_int(mode_of(p), 0644, "written 0644");
	fp = fopen(p, "r");
	ok(fp != NULL && fgets(text, sizeof(text), fp) != NULL,
	    "read the file back");
	if (fp != NULL)
		fclose(fp);
	keyfile_format_public(kp->pub, b64);
	is_int(strlen(b64), 44, "44 base64 characters");
	ok(strncmp(text, b64, 44) == 0 &&
	    strcmp(text + 44, " p11agent@host\n") == 0,
	    "one line: base64, space, comment");
	is_int(keyfile_load_public(p, pub), 0, "load_public");
	is_mem(pub, kp->pub, 32, "same key");
	is_int(keyfile_save_public(p, kp->pub, NULL), 0,
	    "save_public without comment");
	is_int(keyfile_load_public(p, pub), 0, "load it");
	is_mem(pub, kp->pub, 32, "same key");
	is_int(keyfile_save_public(p, kp->pub, "two\nlines"),
	    P11AGENT_ERR_INVALID_ARGUMENT, "newline in comment refused");
	is_int(keyfile_parse_public(b64, pub), 0, "parse_public");
	is_mem(pub, kp->pub, 32, "parsed");
	snprintf(text, sizeof(text), "%s some comment", b64);
	is_int(keyfile_parse_public(text, pub), 0, "parse stops at a space");
	is_mem(pub, kp->pub, 32, "parsed");
	channel_keypair_free(kp);
}

static void
test_private_permissions(void)
{
	struct channel_keypair *kp, *kp2 = (void *)1;
	const char *p = path("perm.key");
	mode_t bad[] = { 0644, 0640, 0604, 0660, 0606, 0610, 0601 };
	size_t i;
	int all = 1;

	channel_keypair_generate(&kp);
	keyfile_save_private(p, kp);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		chmod(p, bad[i]);
		if (keyfile_load_private(p, &kp2) !=
		    P11AGENT_ERR_FILE_PERMISSIONS || kp2 != NULL)
			all = 0;
	}
	ok(all, "0644, 0640, 0604, ... refused with FILE_PERMISSIONS");
	chmod(p, 0400);
	is_int(keyfile_load_private(p, &kp2), 0, "0400 is fine");
	channel_keypair_free(kp2);
	chmod(p, 0600);

	/* A symlink to a good key file is refused too. */
	unlink(path("link.key"));
	if (symlink(p, path("link.key")) == -1)
		abort();
	is_int(keyfile_load_private(path("link.key"), &kp2),
	    P11AGENT_ERR_FILE_PERMISSIONS, "symlink refused");
	/* A directory is not a key file. */
	is_int(keyfile_load_private(tmpdir, &kp2),
	    P11AGENT_ERR_FILE_PERMISSIONS, "directory refused");
	is_int(keyfile_load_private(path("missing.key"), &kp2),
	    P11AGENT_ERR_IO, "missing file: I/O error");

	/* Public keys: group/other-writable means anyone could re-pin. */
	keyfile_save_public(path("perm.pub"), kp->pub, NULL);
	chmod(path("perm.pub"), 0666);
	{
		uint8_t pub[32];

		is_int(keyfile_load_public(path("perm.pub"), pub),
		    P11AGENT_ERR_FILE_PERMISSIONS,
		    "world-writable public key refused");
		chmod(path("perm.pub"), 0620);
		is_int(keyfile_load_public(path("perm.pub"), pub),
		    P11AGENT_ERR_FILE_PERMISSIONS,
		    "group-writable public key refused");
		chmod(path("perm.pub"), 0444);
		is_int(keyfile_load_public(path("perm.pub"), pub), 0,
		    "read-only public key fine");
	}
	channel_keypair_free(kp);
}

static void
test_garbage(void)
{
	static const char *bad[] = {
		"",
		"\n",
		"not base64 at all\n",
		/* 43 characters: one short. */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
		/* 44 characters but no padding where 32 bytes need it. */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
		/* 48 bytes of key. */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
		    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
		/* Non-zero spare bits in the last character. */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n",
		/* A valid key followed by junk on the line. */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= junk\n",
		/* Two keys. */
		("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"),
		/* URL-safe alphabet. */
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-_=\n",
		/* Leading space. */
		" AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
	};
	struct channel_keypair *kp = (void *)1;
	const char *p = path("garbage.key");
	char big[8192];
	size_t i;
	int all = 1;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(p, bad[i], strlen(bad[i]), 0600);
		if (keyfile_load_private(p, &kp) !=
		    P11AGENT_ERR_INVALID_FORMAT || kp != NULL) {
			all = 0;
			tap_diag("accepted: %zu", i);
		}
	}
	ok(all, "%zu kinds of garbage refused with INVALID_FORMAT", i);

	write_file(p, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\0\n", 46,
	    0600);
	is_int(keyfile_load_private(p, &kp), P11AGENT_ERR_INVALID_FORMAT,
	    "embedded NUL refused");
	memset(big, 'A', sizeof(big));
	write_file(p, big, sizeof(big), 0600);
	is_int(keyfile_load_private(p, &kp), P11AGENT_ERR_INVALID_FORMAT,
	    "8 KiB file refused");

	/* The accepted forms. */
	write_file(p, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", 44, 0600);
	is_int(keyfile_load_private(p, &kp), 0, "no newline: fine");
	channel_keypair_free(kp);
	write_file(p, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n", 46,
	    0600);
	is_int(keyfile_load_private(p, &kp), 0, "CRLF: fine");
	channel_keypair_free(kp);

	{
		uint8_t pub[32];

		write_file(path("g.pub"), "garbage here\n", 13, 0644);
		is_int(keyfile_load_public(path("g.pub"), pub),
		    P11AGENT_ERR_INVALID_FORMAT, "garbage public key refused");
		is_int(keyfile_parse_public("AAAA", pub),
		    P11AGENT_ERR_INVALID_FORMAT, "short base64 refused");
		is_int(keyfile_parse_public(NULL, pub),
		    P11AGENT_ERR_INVALID_ARGUMENT, "NULL refused");
	}
}

static void
test_create_on_missing(void)
{
	struct channel_keypair *kp, *kp2;
	const char *p = path("cfg/p11agent/client.key");
	mode_t old;

	is_int(keyfile_load_or_create(p, &kp), 0, "created");
	is_int(mode_of(p), 0600, "key file 0600");
	is_int(mode_of(path("cfg")), 0700, "new parent 0700");
	is_int(mode_of(path("cfg/p11agent")), 0700, "new directory 0700");
	is_int(keyfile_load_or_create(p, &kp2), 0, "loaded the second time");
	if (kp != NULL && kp2 != NULL)
		is_mem(kp2->pub, kp->pub, 32, "the same key, not a new one");
	channel_keypair_free(kp);
	channel_keypair_free(kp2);

	/* The agent's umask is 0177; directories must still be usable. */
	old = umask(0177);
	p = path("umask/a/b/client.key");
	is_int(keyfile_load_or_create(p, &kp), 0, "created under umask 0177");
	umask(old);
	is_int(mode_of(path("umask/a/b")), 0700, "directory 0700 anyway");
	is_int(mode_of(p), 0600, "key 0600");
	channel_keypair_free(kp);

	/* An existing key with bad permissions is not replaced. */
	chmod(p, 0644);
	is_int(keyfile_load_or_create(p, &kp), P11AGENT_ERR_FILE_PERMISSIONS,
	    "bad existing key refused, not overwritten");
	is_int(mode_of(p), 0644, "left alone");

	/* A parent that is a file. */
	write_file(path("afile"), "x", 1, 0600);
	is_int(keyfile_load_or_create(path("afile/client.key"), &kp),
	    P11AGENT_ERR_IO, "parent is a file");
	is_int(keyfile_mkdir_parents(path("x//y///z")), 0,
	    "repeated slashes");
	is_int(mode_of(path("x/y")), 0700, "made x/y");
}

/* A FIFO planted where a key file should be is refused, not read: a
 * blocking open() would hang the client forever (the test would too). */
static void
test_fifo_refused(void)
{
	struct channel_keypair *kp = NULL;
	uint8_t pub[32];

	if (mkfifo(path("fifo.pub"), 0600) == -1 ||
	    mkfifo(path("fifo.key"), 0600) == -1) {
		ok(0, "mkfifo");
		return;
	}
	alarm(10);
	is_int(keyfile_load_public(path("fifo.pub"), pub),
	    P11AGENT_ERR_FILE_PERMISSIONS, "FIFO public key refused");
	is_int(keyfile_load_private(path("fifo.key"), &kp),
	    P11AGENT_ERR_FILE_PERMISSIONS, "FIFO private key refused");
	alarm(0);
	channel_keypair_free(kp);
}

static int
rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static const struct tap_case cases[] = {
	{ "/keyfile/roundtrip-private", test_roundtrip_private },
	{ "/keyfile/roundtrip-public", test_roundtrip_public },
	{ "/keyfile/private-permissions", test_private_permissions },
	{ "/keyfile/garbage", test_garbage },
	{ "/keyfile/create-on-missing", test_create_on_missing },
	{ "/keyfile/fifo-refused", test_fifo_refused },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	const char *base = getenv("TMPDIR");
	int r;

	if (channel_global_init() != 0)
		return 1;
	snprintf(tmpdir, sizeof(tmpdir), "%s/test-keyfile.XXXXXX",
	    base != NULL && *base != '\0' ? base : "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	r = tap_main(argc, argv, cases);
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return r;
}
