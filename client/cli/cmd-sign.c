/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * cmd-sign.c - "p11 sign": sign a ready digest, or hash a file here
 * (streamed; only the digest goes to the agent) and sign that. The
 * algorithm defaults from the key: RSA PKCS#1 v1.5, or ECDSA with the
 * hash that matches the curve; a given digest picks the hash by length.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <p11agent/client.h>

#include "proto.h"

#include "cli.h"

#define SIGN_READ_CHUNK	65536	/* bytes per read while hashing --in */

struct sign_alg {
	const char *name;
	unsigned int id;
	int keytype;
	const char *md;		/* OpenSSL digest name */
	size_t dlen;		/* bytes */
};

static const struct sign_alg sign_algs[] = {
	{ "rsa-pkcs1-sha256", P11AGENT_ALG_RSA_PKCS1_SHA256, P11AGENT_KEY_RSA,
	    "SHA256", 32 },
	{ "rsa-pkcs1-sha384", P11AGENT_ALG_RSA_PKCS1_SHA384, P11AGENT_KEY_RSA,
	    "SHA384", 48 },
	{ "rsa-pkcs1-sha512", P11AGENT_ALG_RSA_PKCS1_SHA512, P11AGENT_KEY_RSA,
	    "SHA512", 64 },
	{ "rsa-pkcs1-sha224", P11AGENT_ALG_RSA_PKCS1_SHA224, P11AGENT_KEY_RSA,
	    "SHA224", 28 },
	{ "rsa-pkcs1-sha1", P11AGENT_ALG_RSA_PKCS1_SHA1, P11AGENT_KEY_RSA,
	    "SHA1", 20 },
	{ "rsa-pss-sha256", P11AGENT_ALG_RSA_PSS_SHA256, P11AGENT_KEY_RSA,
	    "SHA256", 32 },
	{ "rsa-pss-sha384", P11AGENT_ALG_RSA_PSS_SHA384, P11AGENT_KEY_RSA,
	    "SHA384", 48 },
	{ "rsa-pss-sha512", P11AGENT_ALG_RSA_PSS_SHA512, P11AGENT_KEY_RSA,
	    "SHA512", 64 },
	{ "rsa-pss-sha224", P11AGENT_ALG_RSA_PSS_SHA224, P11AGENT_KEY_RSA,
	    "SHA224", 28 },
	{ "ecdsa-sha256", P11AGENT_ALG_ECDSA_SHA256, P11AGENT_KEY_EC,
	    "SHA256", 32 },
	{ "ecdsa-sha384", P11AGENT_ALG_ECDSA_SHA384, P11AGENT_KEY_EC,
	    "SHA384", 48 },
	{ "ecdsa-sha512", P11AGENT_ALG_ECDSA_SHA512, P11AGENT_KEY_EC,
	    "SHA512", 64 },
	{ "ecdsa-sha224", P11AGENT_ALG_ECDSA_SHA224, P11AGENT_KEY_EC,
	    "SHA224", 28 },
	{ "ecdsa-sha1", P11AGENT_ALG_ECDSA_SHA1, P11AGENT_KEY_EC,
	    "SHA1", 20 },
};

#define NSIGN_ALGS	(sizeof(sign_algs) / sizeof(sign_algs[0]))

static const struct sign_alg *
alg_by_name(const char *name)
{
	size_t i;

	for (i = 0; i < NSIGN_ALGS; i++)
		if (strcasecmp(sign_algs[i].name, name) == 0)
			return &sign_algs[i];
	return NULL;
}

/* The first (preferred) algorithm of a family with that digest length. */
static const struct sign_alg *
alg_by_family(int keytype, const char *prefix, size_t dlen)
{
	size_t i;

	for (i = 0; i < NSIGN_ALGS; i++)
		if (sign_algs[i].keytype == keytype &&
		    sign_algs[i].dlen == dlen &&
		    strncmp(sign_algs[i].name, prefix, strlen(prefix)) == 0)
			return &sign_algs[i];
	return NULL;
}

/*
 * No --alg: RSA PKCS#1 v1.5, or ECDSA; SHA-256, or the hash whose length
 * the given digest has, or for EC without a digest the one that matches
 * the curve's size.
 */
static const struct sign_alg *
alg_default(const struct p11agent_key *k, size_t dlen)
{
	unsigned int bits = p11agent_key_bits(k);

	if (p11agent_key_type(k) == P11AGENT_KEY_RSA)
		return alg_by_family(P11AGENT_KEY_RSA, "rsa-pkcs1-",
		    dlen != 0 ? dlen : 32);
	if (p11agent_key_type(k) != P11AGENT_KEY_EC)
		return NULL;
	if (dlen == 0)
		dlen = bits <= 256 ? 32 : bits <= 384 ? 48 : 64;
	return alg_by_family(P11AGENT_KEY_EC, "ecdsa-", dlen);
}

/* Streams fd through the digest; prints the error. */
static int
hash_fd(int fd, const char *path, const struct sign_alg *alg,
    uint8_t *out, size_t *outlenp)
{
	EVP_MD *md = NULL;
	EVP_MD_CTX *ctx = NULL;
	uint8_t *chunk = NULL;
	unsigned int len = 0;
	ssize_t n;
	int e, ret = CLI_FAIL;

	*outlenp = 0;
	if ((md = EVP_MD_fetch(NULL, alg->md, NULL)) == NULL ||
	    (ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex2(ctx, md, NULL) != 1) {
		cli_err("OpenSSL cannot compute %s", alg->md);
		goto out;
	}
	if ((chunk = malloc(SIGN_READ_CHUNK)) == NULL) {
		cli_err("out of memory");
		goto out;
	}
	for (;;) {
		n = read(fd, chunk, SIGN_READ_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = errno;
			cli_err("cannot read %s: %s", path, strerror(e));
			ret = CLI_USAGE;
			goto out;
		}
		if (n == 0)
			break;
		if (EVP_DigestUpdate(ctx, chunk, (size_t)n) != 1) {
			cli_err("OpenSSL cannot compute %s", alg->md);
			goto out;
		}
	}
	if (EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != alg->dlen) {
		cli_err("OpenSSL cannot compute %s", alg->md);
		goto out;
	}
	*outlenp = len;
	ret = CLI_OK;
 out:
	free(chunk);
	EVP_MD_CTX_free(ctx);
	EVP_MD_free(md);
	return ret;
}

int
cmd_sign(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "alg", required_argument, NULL, 'a' },
		{ "digest", required_argument, NULL, 'd' },
		{ "in", required_argument, NULL, 'i' },
		{ "out", required_argument, NULL, 'o' },
		{ "description", required_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 }
	};
	const char *ref = NULL, *algname = NULL, *hex = NULL, *in = NULL;
	const char *out = NULL, *description = NULL;
	const struct sign_alg *alg = NULL;
	const struct p11agent_key *k;
	struct p11agent_client *c = NULL;
	struct p11agent_keylist *l = NULL;
	uint8_t digest[P11AGENT_MAX_DIGEST], *sig = NULL;
	size_t dlen = 0, siglen = 0;
	char type[32];
	int ch, r, ret, fd = -1;

	while ((ch = cli_getopt(argc, argv, "k:a:d:i:o:D:", longopts)) !=
	    -1) {
		if (CLI_GETOPT_DONE(ch))
			return CLI_GETOPT_EXIT(ch);
		switch (ch) {
		case 'k':
			ref = optarg;
			break;
		case 'a':
			algname = optarg;
			break;
		case 'd':
			hex = optarg;
			break;
		case 'i':
			in = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'D':
			description = optarg;
			break;
		default:
			return cli_usage("unexpected option");
		}
	}
	if ((ret = cli_no_operands(argc, argv)) != CLI_OK)
		return ret;
	if (ref == NULL)
		return cli_usage("missing --key KEYREF");
	if (description != NULL &&
	    strlen(description) > P11AGENT_MAX_DESCRIPTION)
		return cli_usage("--description is longer than %d bytes",
		    P11AGENT_MAX_DESCRIPTION);
	if ((hex == NULL) == (in == NULL))
		return cli_usage(hex == NULL ?
		    "missing --digest HEX or --in FILE" :
		    "--digest and --in exclude each other");
	if (algname != NULL && (alg = alg_by_name(algname)) == NULL)
		return cli_usage("unknown algorithm \"%s\"; use "
		    "rsa-pkcs1-sha256|-sha384|-sha512, "
		    "rsa-pss-sha256|-sha384|-sha512 or "
		    "ecdsa-sha256|-sha384|-sha512", algname);
	if (hex != NULL) {
		if (cli_hex_decode(hex, digest, sizeof(digest), &dlen) != 0)
			return cli_usage("--digest must be 20 to 64 bytes "
			    "in hex");
		if (alg != NULL && dlen != alg->dlen)
			return cli_usage("--digest has %zu bytes; %s needs %zu",
			    dlen, alg->name, alg->dlen);
		if (alg == NULL && dlen != 20 && dlen != 28 && dlen != 32 &&
		    dlen != 48 && dlen != 64)
			return cli_usage("--digest has %zu bytes; a SHA-1 or "
			    "SHA-2 digest has 20, 28, 32, 48 or 64", dlen);
	}
	/* An unreadable input is the user's to fix before the agent's. */
	if (in != NULL) {
		if (strcmp(in, "-") == 0)
			fd = STDIN_FILENO;
		else if ((fd = open(in, O_RDONLY | O_CLOEXEC)) < 0) {
			cli_err("cannot open %s: %s", in, strerror(errno));
			return CLI_USAGE;
		}
	}
	if ((ret = cli_connect(&c)) != CLI_OK ||
	    (ret = cli_find_key(c, ref, P11AGENT_OP_SIGN, &l, &k)) != CLI_OK)
		goto out;
	cli_key_type(k, type, sizeof(type));
	if (alg == NULL && (alg = alg_default(k, dlen)) == NULL) {
		cli_err("no signature algorithm fits %s key %s; use --alg",
		    type, cli_key_name(k));
		ret = CLI_FAIL;
		goto out;
	}
	if (alg->keytype != p11agent_key_type(k)) {
		cli_err("algorithm %s does not fit %s key %s", alg->name,
		    p11agent_key_type(k) == P11AGENT_KEY_RSA ? "rsa" : "ec",
		    cli_key_name(k));
		ret = CLI_FAIL;
		goto out;
	}
	if (in != NULL &&
	    (ret = hash_fd(fd, in, alg, digest, &dlen)) != CLI_OK)
		goto out;
	if (description != NULL &&
	    (r = p11agent_client_set_description(c, description)) != 0) {
		ret = cli_report(c, r, NULL);
		goto out;
	}
	if ((r = p11agent_client_sign(c, p11agent_key_id(k), alg->id, digest,
	    dlen, &sig, &siglen)) != 0) {
		ret = cli_report(c, r, NULL);
		goto out;
	}
	ret = cli_write_output(out, sig, siglen, 0);
 out:
	if (fd > STDIN_FILENO)
		close(fd);
	p11agent_freezero(sig, siglen);
	p11agent_keylist_free(l);
	p11agent_client_free(c);
	return ret;
}
