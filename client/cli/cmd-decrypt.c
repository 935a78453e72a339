/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * cmd-decrypt.c - "p11 decrypt": unwrap an RSA-encrypted key (one RSA
 * block, PKCS#1 v1.5 or OAEP) with a key in the agent. The plaintext is
 * secret: it is wiped after use and written to files with mode 0600.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <p11agent/client.h>

#include "proto.h"

#include "cli.h"

static const struct {
	const char *name;
	unsigned int id;
} decrypt_algs[] = {
	{ "rsa-pkcs1", P11AGENT_ALG_RSA_PKCS1 },
	{ "rsa-oaep-sha1", P11AGENT_ALG_RSA_OAEP_SHA1 },
	{ "rsa-oaep-sha256", P11AGENT_ALG_RSA_OAEP_SHA256 },
	{ "rsa-oaep-sha384", P11AGENT_ALG_RSA_OAEP_SHA384 },
	{ "rsa-oaep-sha512", P11AGENT_ALG_RSA_OAEP_SHA512 },
	{ "rsa-oaep-sha224", P11AGENT_ALG_RSA_OAEP_SHA224 },
};

int
cmd_decrypt(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "alg", required_argument, NULL, 'a' },
		{ "in", required_argument, NULL, 'i' },
		{ "hex", required_argument, NULL, 'x' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	const char *ref = NULL, *algname = NULL, *in = NULL, *hex = NULL;
	const char *out = NULL;
	const struct p11agent_key *k;
	struct p11agent_client *c = NULL;
	struct p11agent_keylist *l = NULL;
	uint8_t *ct = NULL, *pt = NULL;
	size_t i, ctlen = 0, ptlen = 0, need;
	unsigned int alg = 0;
	char type[32];
	int ch, r, ret;

	while ((ch = cli_getopt(argc, argv, "k:a:i:x:o:", longopts)) != -1) {
		if (CLI_GETOPT_DONE(ch))
			return CLI_GETOPT_EXIT(ch);
		switch (ch) {
		case 'k':
			ref = optarg;
			break;
		case 'a':
			algname = optarg;
			break;
		case 'i':
			in = optarg;
			break;
		case 'x':
			hex = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		default:
			return cli_usage("unexpected option");
		}
	}
	if ((ret = cli_no_operands(argc, argv)) != CLI_OK)
		return ret;
	if (ref == NULL)
		return cli_usage("missing --key KEYREF");
	if (algname == NULL)
		return cli_usage("missing --alg; use rsa-pkcs1, rsa-oaep-sha1 "
		    "or rsa-oaep-sha256");
	for (i = 0; i < sizeof(decrypt_algs) / sizeof(decrypt_algs[0]); i++)
		if (strcasecmp(decrypt_algs[i].name, algname) == 0)
			alg = decrypt_algs[i].id;
	if (alg == 0)
		return cli_usage("unknown algorithm \"%s\"; use rsa-pkcs1, "
		    "rsa-oaep-sha1 or rsa-oaep-sha256", algname);
	if ((in == NULL) == (hex == NULL))
		return cli_usage(in == NULL ? "missing --in FILE or --hex HEX" :
		    "--in and --hex exclude each other");
	if (hex != NULL) {
		if ((ct = malloc(P11AGENT_MAX_RSA_BYTES)) == NULL) {
			cli_err("out of memory");
			return CLI_FAIL;
		}
		if (cli_hex_decode(hex, ct, P11AGENT_MAX_RSA_BYTES,
		    &ctlen) != 0) {
			free(ct);
			return cli_usage("--hex must be at most %d bytes "
			    "in hex", P11AGENT_MAX_RSA_BYTES);
		}
	} else if ((ret = cli_read_small_file(in, P11AGENT_MAX_RSA_BYTES, &ct,
	    &ctlen)) != CLI_OK)
		return ret;
	if ((ret = cli_connect(&c)) != CLI_OK ||
	    (ret = cli_find_key(c, ref, P11AGENT_OP_DECRYPT, &l, &k)) != CLI_OK)
		goto out;
	cli_key_type(k, type, sizeof(type));
	if (p11agent_key_type(k) != P11AGENT_KEY_RSA) {
		cli_err("algorithm %s does not fit %s key %s", algname, type,
		    cli_key_name(k));
		ret = CLI_FAIL;
		goto out;
	}
	/* An RSA ciphertext is exactly one modulus long. */
	need = (p11agent_key_bits(k) + 7) / 8;
	if (ctlen != need) {
		cli_err("the ciphertext has %zu bytes; %s key %s takes %zu",
		    ctlen, type, cli_key_name(k), need);
		ret = CLI_FAIL;
		goto out;
	}
	if ((r = p11agent_client_decrypt(c, p11agent_key_id(k), alg, ct, ctlen,
	    &pt, &ptlen)) != 0) {
		ret = cli_report(c, r, NULL);
		goto out;
	}
	ret = cli_write_output(out, pt, ptlen, 1);
 out:
	p11agent_freezero(pt, ptlen);
	free(ct);
	p11agent_keylist_free(l);
	p11agent_client_free(c);
	return ret;
}
