/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * cmd-derive.c - "p11 derive": ECDH between a key in the agent and a
 * peer's public key read here with OpenSSL (PEM SubjectPublicKeyInfo, or
 * a certificate). The curves must agree; the agent gets the uncompressed
 * point. The shared secret is wiped after use; files get mode 0600.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <p11agent/client.h>

#include "proto.h"

#include "cli.h"

/* OpenSSL group names to the agent's curve names. */
static const struct {
	const char *group;
	const char *curve;
} curves[] = {
	{ "prime256v1", "P-256" },
	{ "P-256", "P-256" },
	{ "secp384r1", "P-384" },
	{ "P-384", "P-384" },
	{ "secp521r1", "P-521" },
	{ "P-521", "P-521" },
};

static const char *
curve_name(const char *group)
{
	size_t i;

	for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		if (strcmp(curves[i].group, group) == 0)
			return curves[i].curve;
	return group;
}

/* The peer's key from a PEM public key or certificate; prints the error. */
static int
load_peer(const char *path, EVP_PKEY **pkp)
{
	FILE *f;
	X509 *x;
	EVP_PKEY *pk;

	*pkp = NULL;
	if ((f = fopen(path, "r")) == NULL) {
		cli_err("cannot open %s: %s", path, strerror(errno));
		return CLI_USAGE;
	}
	if ((pk = PEM_read_PUBKEY(f, NULL, NULL, NULL)) == NULL) {
		rewind(f);
		if ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
			pk = X509_get_pubkey(x);
			X509_free(x);
		}
	}
	fclose(f);
	ERR_clear_error();
	if (pk == NULL) {
		cli_err("%s holds no PEM public key or certificate", path);
		return CLI_USAGE;
	}
	*pkp = pk;
	return CLI_OK;
}

int
cmd_derive(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "peer", required_argument, NULL, 'p' },
		{ "out", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 }
	};
	const char *ref = NULL, *peer = NULL, *out = NULL, *pcurve;
	const struct p11agent_key *k;
	struct p11agent_client *c = NULL;
	struct p11agent_keylist *l = NULL;
	EVP_PKEY *pk = NULL;
	uint8_t point[P11AGENT_MAX_EC_POINT], *secret = NULL;
	size_t pointlen = 0, secretlen = 0, field;
	char group[64], type[32];
	int ch, r, ret;

	while ((ch = cli_getopt(argc, argv, "k:p:o:", longopts)) != -1) {
		if (CLI_GETOPT_DONE(ch))
			return CLI_GETOPT_EXIT(ch);
		switch (ch) {
		case 'k':
			ref = optarg;
			break;
		case 'p':
			peer = optarg;
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
	if (peer == NULL)
		return cli_usage("missing --peer PUBKEY.pem");
	if ((ret = load_peer(peer, &pk)) != CLI_OK)
		return ret;
	if (!EVP_PKEY_is_a(pk, "EC") ||
	    EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, sizeof(group), NULL) != 1) {
		ERR_clear_error();
		cli_err("%s is not an EC public key on a named curve", peer);
		ret = CLI_USAGE;
		goto out;
	}
	pcurve = curve_name(group);
	/* The agent wants the uncompressed form whatever the file had. */
	if (EVP_PKEY_set_utf8_string_param(pk,
	    OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
	    OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED) != 1 ||
	    EVP_PKEY_get_octet_string_param(pk,
	    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, sizeof(point),
	    &pointlen) != 1 || pointlen < 3 || point[0] != 0x04) {
		ERR_clear_error();
		cli_err("cannot encode the public key in %s as an uncompressed "
		    "point", peer);
		ret = CLI_USAGE;
		goto out;
	}
	if ((ret = cli_connect(&c)) != CLI_OK ||
	    (ret = cli_find_key(c, ref, P11AGENT_OP_DERIVE, &l, &k)) != CLI_OK)
		goto out;
	cli_key_type(k, type, sizeof(type));
	if (p11agent_key_type(k) != P11AGENT_KEY_EC) {
		cli_err("key %s is %s; derive needs an EC key", cli_key_name(k),
		    type);
		ret = CLI_FAIL;
		goto out;
	}
	field = (p11agent_key_bits(k) + 7) / 8;
	if (strcmp(pcurve, p11agent_key_curve(k)) != 0 ||
	    pointlen != 1 + 2 * field) {
		cli_err("the peer key in %s is on %s, but key %s is on %s",
		    peer, pcurve, cli_key_name(k), p11agent_key_curve(k));
		ret = CLI_FAIL;
		goto out;
	}
	if ((r = p11agent_client_derive(c, p11agent_key_id(k), point, pointlen,
	    &secret, &secretlen)) != 0) {
		ret = cli_report(c, r, NULL);
		goto out;
	}
	ret = cli_write_output(out, secret, secretlen, 1);
 out:
	p11agent_freezero(secret, secretlen);
	EVP_PKEY_free(pk);
	p11agent_keylist_free(l);
	p11agent_client_free(c);
	return ret;
}
