/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * gitsig.c - detached CMS signatures over an opaque payload, as git's x509
 * signing program makes and checks them (gpgsm and smimesign write the
 * same: PEM "SIGNED MESSAGE", one SignerInfo, no content). The payload is
 * signed byte for byte (CMS_BINARY). A verdict about a signature goes in a
 * struct smime_sigcheck; errors are only for input we cannot read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <p11agent/err.h>

#include "smime-int.h"

#define PEM_NAME	"SIGNED MESSAGE"	/* gpgsm's armor label */

static void
fingerprint(X509 *cert, char *hex, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	hex[0] = '\0';
	if (!X509_digest(cert, EVP_sha1(), md, &n) || len < 2 * n + 1)
		return;
	for (i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02X", md[i]);
}

/* "Alice Example <alice@example.org>", else the name or the address. */
static void
signer_name(X509 *cert, char *buf, size_t len)
{
	char name[256], addrs[512], *comma;

	smime_name(X509_get_subject_name(cert), name, sizeof(name));
	smime_cert_addrs(cert, addrs, sizeof(addrs));
	if ((comma = strchr(addrs, ',')) != NULL)
		*comma = '\0';
	if (name[0] != '\0' && addrs[0] != '\0')
		snprintf(buf, len, "%.200s <%.300s>", name, addrs);
	else
		snprintf(buf, len, "%s", name[0] != '\0' ? name : addrs);
}

static int
pk_nid(X509 *cert)
{
	EVP_PKEY *pk = X509_get0_pubkey(cert);

	if (pk == NULL)
		return NID_undef;
	if (EVP_PKEY_is_a(pk, "RSA") || EVP_PKEY_is_a(pk, "RSA-PSS"))
		return NID_rsaEncryption;
	if (EVP_PKEY_is_a(pk, "EC"))
		return NID_X9_62_id_ecPublicKey;
	return EVP_PKEY_get_base_id(pk);
}

/* Who signed, with what, and when: everything but the verdict. */
static void
describe(CMS_SignerInfo *si, X509 *cert, struct smime_sigcheck *res)
{
	X509_ALGOR *dig = NULL;
	const ASN1_OBJECT *obj;

	CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, NULL);
	if (dig != NULL) {
		X509_ALGOR_get0(&obj, NULL, NULL, dig);
		res->md_nid = OBJ_obj2nid(obj);
	}
	res->signed_at = smime_signing_time(si);
	if (cert == NULL)
		return;
	fingerprint(cert, res->fpr, sizeof(res->fpr));
	signer_name(cert, res->signer, sizeof(res->signer));
	smime_name(X509_get_issuer_name(cert), res->issuer,
	    sizeof(res->issuer));
	res->pk_nid = pk_nid(cert);
	res->not_after = smime_asn1_time(X509_get0_notAfter(cert));
}

/* The digest that signs; for EC the curve's size (RFC 5753 7.1.1). */
static const EVP_MD *
pick_digest(const struct smime_signer *s)
{
	const char *d = s->digest;

	if (d == NULL) {
		d = "sha256";
		if (EVP_PKEY_is_a(s->key, "EC") && EVP_PKEY_get_bits(s->key) >
		    256)
			d = EVP_PKEY_get_bits(s->key) > 384 ? "sha512" :
			    "sha384";
	}
	if (strcmp(d, "sha256") != 0 && strcmp(d, "sha384") != 0 &&
	    strcmp(d, "sha512") != 0)
		return NULL;
	return EVP_get_digestbyname(d);
}

int
smime_detached_sign(const struct smime_signer *s, const uint8_t *data,
    size_t len, int pem, BIO *out, struct smime_sigcheck *info)
{
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si;
	const EVP_MD *md;
	unsigned char *der = NULL;
	unsigned int flags = CMS_BINARY | CMS_DETACHED | CMS_PARTIAL;
	BIO *in = NULL;
	int derlen, i, r;

	if (info != NULL)
		memset(info, 0, sizeof(*info));
	if (s == NULL || s->key == NULL || s->cert == NULL || out == NULL ||
	    len > INT32_MAX)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if ((md = pick_digest(s)) == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	/* A signature nobody could verify is refused before the agent is
	 * asked (sign.c does the same for mail). */
	if (X509_cmp_current_time(X509_get0_notBefore(s->cert)) >= 0 ||
	    X509_cmp_current_time(X509_get0_notAfter(s->cert)) <= 0)
		return P11AGENT_ERR_DENIED;
	r = P11AGENT_ERR_LIBCRYPTO;
	if ((cms = CMS_sign(NULL, NULL, NULL, NULL, flags)) == NULL)
		goto out;
	/* CMS_CADES: ESS signingCertificateV2 (RFC 5035) ties the signature
	 * to this certificate; no S/MIME capabilities, this is not mail. */
	if ((si = CMS_add1_signer(cms, s->cert, s->key, md,
	    CMS_BINARY | CMS_CADES | CMS_NOSMIMECAP)) == NULL)
		goto out;
	for (i = 0; s->chain != NULL && i < sk_X509_num(s->chain); i++)
		if (!CMS_add1_cert(cms, sk_X509_value(s->chain, i)))
			goto out;
	if ((in = BIO_new_mem_buf(len ? data : (const uint8_t *)"",
	    (int)len)) == NULL || !CMS_final(cms, in, NULL, flags))
		goto out;
	if ((derlen = i2d_CMS_ContentInfo(cms, &der)) <= 0)
		goto out;
	if (pem ? !PEM_write_bio(out, PEM_NAME, "", der, derlen) :
	    BIO_write(out, der, derlen) != derlen)
		goto out;
	if (info != NULL)
		describe(si, s->cert, info);
	r = 0;
 out:
	OPENSSL_free(der);
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	return r;
}

/* The DER of a PEM (SIGNED MESSAGE, PKCS7 or CMS) or DER signature. */
static int
decode_sig(const uint8_t *sig, size_t len, unsigned char **derp,
    long *derlenp)
{
	char *name = NULL, *hdr = NULL;
	const uint8_t *p = sig, *end = sig + len;
	BIO *b;
	int ok;

	*derp = NULL;
	*derlenp = 0;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' ||
	    *p == '\n'))
		p++;
	if ((size_t)(end - p) < 11 || memcmp(p, "-----BEGIN ", 11) != 0) {
		if ((*derp = OPENSSL_malloc(len ? len : 1)) == NULL)
			return P11AGENT_ERR_NO_MEMORY;
		memcpy(*derp, sig, len);
		*derlenp = (long)len;
		return 0;
	}
	if ((b = BIO_new_mem_buf(p, (int)(end - p))) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	ok = PEM_read_bio(b, &name, &hdr, derp, derlenp) &&
	    (strcmp(name, PEM_NAME) == 0 || strcmp(name, "PKCS7") == 0 ||
	    strcmp(name, "CMS") == 0);
	BIO_free(b);
	OPENSSL_free(name);
	OPENSSL_free(hdr);
	if (!ok) {
		OPENSSL_free(*derp);
		*derp = NULL;
		*derlenp = 0;
		ERR_clear_error();
		return P11AGENT_ERR_INVALID_FORMAT;
	}
	return 0;
}

static int
weak_digest(int nid)
{
	switch (nid) {
	case NID_sha256:
	case NID_sha384:
	case NID_sha512:
	case NID_sha224:
	case NID_sha3_256:
	case NID_sha3_384:
	case NID_sha3_512:
		return 0;
	default:
		return 1;	/* SHA-1, MD5 and anything we do not know */
	}
}

/*
 * The verdict from a failed chain: no path to an anchor is "untrusted"
 * (gpg's TRUST_UNDEFINED), expiry is "expired", the rest is "invalid".
 */
static void
chain_verdict(X509_STORE_CTX *ctx, const char *when,
    struct smime_sigcheck *res)
{
	X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
	int e = X509_STORE_CTX_get_error(ctx);
	char name[256] = "", issuer[256] = "", t[64];

	if (cur != NULL) {
		smime_name(X509_get_subject_name(cur), name, sizeof(name));
		smime_name(X509_get_issuer_name(cur), issuer, sizeof(issuer));
	}
	switch (e) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
		res->verdict = SMIME_SIG_UNTRUSTED;
		snprintf(res->line, sizeof(res->line), "untrusted certificate: "
		    "\"%s\" is not issued by a trust anchor (no trusted \"%s\")",
		    name, issuer);
		break;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		res->verdict = SMIME_SIG_EXPIRED;
		smime_fmt_time(smime_asn1_time(X509_get0_notAfter(cur)), t,
		    sizeof(t));
		snprintf(res->line, sizeof(res->line), "the certificate of "
		    "\"%s\" expired on %s", name, t);
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		res->verdict = SMIME_SIG_EXPIRED;
		smime_fmt_time(smime_asn1_time(X509_get0_notBefore(cur)), t,
		    sizeof(t));
		snprintf(res->line, sizeof(res->line), "the certificate of "
		    "\"%s\" is not valid before %s", name, t);
		break;
	default:
		res->verdict = SMIME_SIG_INVALID_CERT;
		snprintf(res->line, sizeof(res->line), "certificate \"%s\": %s",
		    name, X509_verify_cert_error_string(e));
		break;
	}
	if (when != NULL) {
		size_t n = strlen(res->line);

		snprintf(res->line + n, sizeof(res->line) - n,
		    " (at the signing time, %s)", when);
	}
}

/* 0 when cert chains to an anchor at time when (0: now). */
static int
check_chain(const struct smime_trust *t, X509 *cert, STACK_OF(X509) *pool,
    time_t when, const char *whens, struct smime_sigcheck *res)
{
	X509_STORE_CTX *ctx;
	int r = 0;

	if ((ctx = X509_STORE_CTX_new()) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	if (!X509_STORE_CTX_init(ctx, t->store, cert, pool)) {
		X509_STORE_CTX_free(ctx);
		return P11AGENT_ERR_LIBCRYPTO;
	}
	if (when != 0)
		X509_STORE_CTX_set_time(ctx, 0, when);
	if (X509_verify_cert(ctx) <= 0) {
		chain_verdict(ctx, whens, res);
		r = P11AGENT_ERR_DENIED;
	}
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return r;
}

/*
 * The signer's certificate must allow signing: keyUsage digitalSignature
 * or nonRepudiation, and an extendedKeyUsage (if any) for e-mail, code
 * signing or any purpose. Mail and code-signing certificates both serve.
 */
static int
usage_ok(X509 *cert)
{
	uint32_t ku = X509_get_key_usage(cert), xku;
	uint32_t flags = X509_get_extension_flags(cert);

	if ((flags & EXFLAG_KUSAGE) &&
	    !(ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)))
		return 0;
	if (flags & EXFLAG_XKUSAGE) {
		xku = X509_get_extended_key_usage(cert);
		if (!(xku & (XKU_SMIME | XKU_CODE_SIGN | XKU_ANYEKU)))
			return 0;
	}
	return 1;
}

/* Adds t->untrusted to a copy of the message's certificates. */
static STACK_OF(X509) *
cert_pool(CMS_ContentInfo *cms, const struct smime_trust *t)
{
	STACK_OF(X509) *pool = CMS_get1_certs(cms);
	int i;

	if (pool == NULL && (pool = sk_X509_new_null()) == NULL)
		return NULL;
	for (i = 0; t->untrusted != NULL && i < sk_X509_num(t->untrusted);
	    i++) {
		X509 *x = sk_X509_value(t->untrusted, i);

		if (!X509_up_ref(x))
			continue;
		if (!sk_X509_push(pool, x))
			X509_free(x);
	}
	return pool;
}

int
smime_detached_verify(const struct smime_trust *t, const uint8_t *sig,
    size_t siglen, const uint8_t *data, size_t len,
    struct smime_sigcheck *res)
{
	CMS_ContentInfo *cms = NULL;
	STACK_OF(CMS_SignerInfo) *sis;
	STACK_OF(X509) *pool = NULL;
	CMS_SignerInfo *si;
	unsigned char *der = NULL;
	long derlen;
	X509 *cert = NULL;
	BIO *dc = NULL;
	time_t now;
	char when[64];
	int r;

	memset(res, 0, sizeof(*res));
	if (t == NULL || t->store == NULL || sig == NULL || len > INT32_MAX ||
	    siglen > INT32_MAX)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	now = t->now ? t->now : time(NULL);
	if ((r = decode_sig(sig, siglen, &der, &derlen)) != 0) {
		snprintf(res->line, sizeof(res->line), "not a PEM \"%s\", "
		    "PKCS7 or CMS block", PEM_NAME);
		goto out;
	}
	r = P11AGENT_ERR_INVALID_FORMAT;
	if ((cms = smime_cms_from_der(der, (size_t)derlen)) == NULL ||
	    OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
		snprintf(res->line, sizeof(res->line), "not a CMS signed-data "
		    "signature");
		goto out;
	}
	if (CMS_is_detached(cms) != 1) {
		/* Content inside would be what the signature covers, not the
		 * payload git gave us. */
		snprintf(res->line, sizeof(res->line), "the signature carries "
		    "content of its own; a detached signature is needed");
		goto out;
	}
	sis = CMS_get0_SignerInfos(cms);
	if (sk_CMS_SignerInfo_num(sis) != 1) {
		snprintf(res->line, sizeof(res->line), "%d signers; exactly "
		    "one is supported", sk_CMS_SignerInfo_num(sis));
		goto out;
	}
	si = sk_CMS_SignerInfo_value(sis, 0);
	r = P11AGENT_ERR_NO_MEMORY;
	if ((pool = cert_pool(cms, t)) == NULL)
		goto out;
	/* Finds the signer's certificate in the message or the pool. */
	(void)CMS_set1_signers_certs(cms, pool, 0);
	ERR_clear_error();
	CMS_SignerInfo_get0_algs(si, NULL, &cert, NULL, NULL);
	describe(si, cert, res);
	if (cert == NULL) {
		res->verdict = SMIME_SIG_NO_CERT;
		snprintf(res->line, sizeof(res->line), "the signer's "
		    "certificate is neither in the signature nor in the "
		    "certificate directory");
		r = 0;
		goto out;
	}
	if (weak_digest(res->md_nid)) {
		res->verdict = SMIME_SIG_WEAK;
		snprintf(res->line, sizeof(res->line), "signed with %s, which "
		    "is too weak and refused", OBJ_nid2sn(res->md_nid));
		r = 0;
		goto out;
	}
	if ((dc = BIO_new_mem_buf(len ? data : (const uint8_t *)"",
	    (int)len)) == NULL)
		goto out;
	/* The chain is checked below, with our own words for its faults. */
	if (CMS_verify(cms, pool, NULL, dc, NULL,
	    CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) != 1) {
		ERR_clear_error();
		res->verdict = SMIME_SIG_BAD;
		snprintf(res->line, sizeof(res->line), "bad signature from "
		    "%s: the data was changed after it was signed, or the "
		    "signature is damaged", res->signer);
		r = 0;
		goto out;
	}
	/*
	 * Valid now and when it was signed. An expired certificate that was
	 * valid at the signing time is "expired" (gpg's EXPKEYSIG); any
	 * other fault at the signing time wins over expiry.
	 */
	r = check_chain(t, cert, pool, now, NULL, res);
	if (r != 0 && (r != P11AGENT_ERR_DENIED ||
	    res->verdict != SMIME_SIG_EXPIRED || res->signed_at == 0)) {
		if (r == P11AGENT_ERR_DENIED)
			r = 0;
		goto out;
	}
	if (res->signed_at != 0) {
		struct smime_sigcheck then = *res;

		smime_fmt_time(res->signed_at, when, sizeof(when));
		if ((r = check_chain(t, cert, pool, res->signed_at, when,
		    &then)) != 0 && r != P11AGENT_ERR_DENIED)
			goto out;
		if (r != 0)
			*res = then;
		if (r != 0 || res->verdict == SMIME_SIG_EXPIRED) {
			r = 0;
			goto out;
		}
	}
	if (!usage_ok(cert)) {
		res->verdict = SMIME_SIG_INVALID_CERT;
		snprintf(res->line, sizeof(res->line), "the certificate of "
		    "\"%s\" is not for signing (key usage or extended key "
		    "usage)", res->signer);
		r = 0;
		goto out;
	}
	res->verdict = SMIME_SIG_GOOD;
	if (res->signed_at != 0)
		smime_fmt_time(res->signed_at, when, sizeof(when));
	snprintf(res->line, sizeof(res->line), "good signature from %s%s%s, "
	    "certificate issued by %s", res->signer,
	    res->signed_at ? ", signed " : "", res->signed_at ? when : "",
	    res->issuer);
	r = 0;
 out:
	BIO_free(dc);
	sk_X509_pop_free(pool, X509_free);
	CMS_ContentInfo_free(cms);
	OPENSSL_free(der);
	return r;
}
