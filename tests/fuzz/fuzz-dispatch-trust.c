/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * fuzz-dispatch-trust.c - fuzz-dispatch's trust mode and the rest of its
 * fakes: the confirmation thread and the pool's clock (the audit record
 * is the agent's own, agent/jobaudit.c).
 *
 * In trust mode (fuzz-dispatch.c: bit 3 of the input's first byte) the
 * real policy.c parses the authorized_clients text below, the real
 * audit.c writes to /dev/null, and the connection carries a real
 * handshake of one of four client keys: three listed with different
 * rules, one not listed. The policy is loaded again for every input, so
 * that ci-signer's rate bucket starts full each time; it is read from a
 * memfd, so nothing is ever written to the disk. Outside trust mode (no
 * file, --confirm or --audit-log) nothing may reach confirm_submit().
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <p11agent/err.h>

#include "audit.h"
#include "buf.h"
#include "channel.h"
#include "confirm.h"
#include "conn.h"
#include "dispatch.h"
#include "fuzz-dispatch.h"
#include "fuzz.h"
#include "keyfile.h"
#include "policy.h"
#include "proto.h"
#include "workers.h"

#define NKEYS	4	/* fuzz-dispatch.c's fake token */

/*
 * Line 2: ci-signer signs with key 0 (by id) and key 3 (by label), at
 * most 3 times. Line 3: the mail gateway decrypts and derives with the
 * keys whose certificate names bigcorp.example (key 0, in another case)
 * or carol (key 2). Line 4: alice may do everything, after a yes.
 */
static const char policy_fmt[] =
    "# fuzz-dispatch trust mode\n"
    "%s ci-signer keys=id:11111111,label:p384 ops=sign rate=3/h\n"
    "%s \"mail gateway\" keys=*@bigcorp.example,email:carol@* "
    "ops=decrypt,derive # unwraps\n"
    "%s  alice-laptop\tconfirm\n";

static const char *const names[TRUST_NCLIENTS] = {
	"ci-signer", "mail gateway", "alice-laptop", ""
};
static const char *const labels[NKEYS] = { "rsa2048", "rsa3072", "p256",
	"p384" };
static const char *const emails[NKEYS] = { "Alice@BigCorp.Example", NULL,
	"carol@other.example", NULL };

static struct {
	int ready;
	char path[64];		/* /proc/self/fd/N of the memfd */
	struct channel_keypair *agent;	/* the responders point to it */
	struct channel *chans[TRUST_NCLIENTS];	/* responders after msg1 */
	uint8_t *certs[NKEYS];
	size_t certlens[NKEYS];
	struct policy_keypats *confirm;
	struct policy *policy;
} tr;

/* A self-signed certificate with an emailAddress, as DER. */
static void
make_cert(const char *email, uint8_t **derp, size_t *lenp)
{
	EVP_PKEY *pk;
	X509 *x;
	X509_NAME *n;
	unsigned char *der = NULL;
	int len;

	FUZZ_ASSERT((pk = EVP_EC_gen("P-256")) != NULL);
	FUZZ_ASSERT((x = X509_new()) != NULL);
	n = X509_get_subject_name(x);
	FUZZ_ASSERT(X509_set_version(x, 2) == 1 &&
	    ASN1_INTEGER_set(X509_get_serialNumber(x), 1) == 1 &&
	    X509_gmtime_adj(X509_getm_notBefore(x), 0) != NULL &&
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400) != NULL &&
	    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"fuzz", -1, -1, 0) == 1 &&
	    X509_NAME_add_entry_by_txt(n, "emailAddress", MBSTRING_ASC,
	    (const unsigned char *)email, -1, -1, 0) == 1 &&
	    X509_set_issuer_name(x, n) == 1 && X509_set_pubkey(x, pk) == 1 &&
	    X509_sign(x, pk, EVP_sha256()) > 0);
	FUZZ_ASSERT((len = i2d_X509(x, &der)) > 0);
	*derp = der;
	*lenp = (size_t)len;
	X509_free(x);
	EVP_PKEY_free(pk);
}

/* Once per process: keys, handshakes, certificates, the policy text. */
static void
setup(void)
{
	struct channel_keypair *cl[TRUST_NCLIENTS];
	struct channel *ini;
	struct buf *msg, *payload;
	uint8_t priv[P11AGENT_KEY_LEN];
	char b64[TRUST_NCLIENTS][KEYFILE_B64_LEN], err[256];
	const char *spec = "label:p256";
	char *text;
	size_t i;
	int fd, n;

	if (tr.ready)
		return;
	FUZZ_ASSERT(channel_global_init() == 0);
	memset(priv, 0xa0, sizeof(priv));
	FUZZ_ASSERT(channel_keypair_from_private(priv, &tr.agent) == 0);
	for (i = 0; i < TRUST_NCLIENTS; i++) {
		memset(priv, (int)(0xc1 + i), sizeof(priv));
		FUZZ_ASSERT(channel_keypair_from_private(priv, &cl[i]) == 0);
		keyfile_format_public(cl[i]->pub, b64[i]);
		FUZZ_ASSERT((msg = buf_new()) != NULL &&
		    (payload = buf_new()) != NULL);
		FUZZ_ASSERT(channel_initiator_new(&ini, cl[i],
		    tr.agent->pub) == 0);
		FUZZ_ASSERT(channel_responder_new(&tr.chans[i], tr.agent) == 0);
		FUZZ_ASSERT(channel_write_msg1(ini, NULL, 0, msg) == 0);
		FUZZ_ASSERT(channel_read_msg1(tr.chans[i], buf_ptr(msg),
		    buf_len(msg), payload) == 0);
		FUZZ_ASSERT(memcmp(channel_remote_static(tr.chans[i]),
		    cl[i]->pub, P11AGENT_KEY_LEN) == 0);
		channel_free(ini);
		buf_free(msg);
		buf_free(payload);
	}
	for (i = 0; i < TRUST_NCLIENTS; i++)
		channel_keypair_free(cl[i]);
	for (i = 0; i < NKEYS; i++)
		if (emails[i] != NULL)
			make_cert(emails[i], &tr.certs[i], &tr.certlens[i]);
	FUZZ_ASSERT(policy_keypats_parse(&spec, 1, &tr.confirm, err,
	    sizeof(err)) == 0);
	/* Client 3 (TRUST_UNLISTED) is left out of the file. */
	n = asprintf(&text, policy_fmt, b64[0], b64[1], b64[2]);
	FUZZ_ASSERT(n > 0);
	FUZZ_ASSERT((fd = memfd_create("authorized_clients", MFD_CLOEXEC)) !=
	    -1);
	FUZZ_ASSERT(write(fd, text, (size_t)n) == n && fchmod(fd, 0600) == 0);
	free(text);
	snprintf(tr.path, sizeof(tr.path), "/proc/self/fd/%d", fd);
	tr.ready = 1;
}

void
trust_begin(struct conn *c, unsigned int client, int confirm)
{
	char err[256];
	const uint8_t *pub;
	const char *name;
	size_t i;

	setup();
	FUZZ_ASSERT(client < TRUST_NCLIENTS);
	FUZZ_ASSERT(policy_load(tr.path, &tr.policy, err, sizeof(err)) == 0);
	FUZZ_ASSERT(policy_restricted(tr.policy) &&
	    policy_count(tr.policy) == TRUST_NCLIENTS - 1);
	for (i = 0; i < TRUST_NCLIENTS; i++) {
		pub = channel_remote_static(tr.chans[i]);
		if (i == TRUST_UNLISTED)
			FUZZ_ASSERT(policy_check(tr.policy, pub, &name) ==
			    P11AGENT_ERR_UNAUTHORIZED);
		else
			FUZZ_ASSERT(policy_check(tr.policy, pub, &name) == 0 &&
			    strcmp(name, names[i]) == 0);
	}
	FUZZ_ASSERT(audit_open("/dev/null", 0, err, sizeof(err)) == 0);
	FUZZ_ASSERT(audit_enabled());
	c->ch = tr.chans[client];
	dispatch_set_policy(tr.policy, confirm ? tr.confirm : NULL);
}

void
trust_end(void)
{
	audit_close();
	FUZZ_ASSERT(!audit_enabled());
	policy_free(tr.policy);
	tr.policy = NULL;
}

const uint8_t *
trust_cert(size_t i, size_t *lenp)
{
	*lenp = i < NKEYS ? tr.certlens[i] : 0;
	return i < NKEYS ? tr.certs[i] : NULL;
}

const char *
trust_label(size_t i)
{
	return i < NKEYS ? labels[i] : "";
}

int
trust_allows(unsigned int client, size_t i, uint32_t op, int *confirmp)
{
	*confirmp = client == 2;
	switch (client) {
	case 0:
		return (i == 0 || i == 3) && op == P11AGENT_OP_SIGN;
	case 1:
		return (i == 0 || i == 2) &&
		    (op == P11AGENT_OP_DECRYPT || op == P11AGENT_OP_DERIVE);
	case 2:
		return 1;
	default:
		return 0;
	}
}

size_t
trust_visible(unsigned int client)
{
	return client == 2 ? NKEYS : 2;
}

const char *
trust_name(unsigned int client)
{
	return client < TRUST_NCLIENTS ? names[client] : "";
}

int
confirm_submit(struct job *j)
{
	return fake_queue(j, 1);
}

int64_t
workers_now_us(void)
{
	return 0;
}
