/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * verify.c - S/MIME signature verification (RFC 8551, RFC 8550): the
 * signature, the chain to the trust anchors at the signing time and now,
 * key usage, digest strength, ESS signingCertificate(V2), and the signer's
 * address against From:. Content is handed out only after every check
 * passed; CMS_verify() writes it before checking, so it goes to memory.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/x509v3.h>

#include <p11agent/err.h>

#include "smime-int.h"

void
smime_detail(struct smime_report *rep, const char *fmt, ...)
{
	va_list ap;

	if (rep == NULL || rep->details == NULL)
		return;
	va_start(ap, fmt);
	BIO_vprintf(rep->details, fmt, ap);
	va_end(ap);
}

int
smime_bad(struct smime_report *rep, const char *fmt, ...)
{
	va_list ap;

	rep->bad = 1;
	va_start(ap, fmt);
	vsnprintf(rep->line, sizeof(rep->line), fmt, ap);
	va_end(ap);
	return 0;
}

void
smime_fmt_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, len, "(bad time)");
}

time_t
smime_asn1_time(const ASN1_TIME *a)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (a == NULL || !ASN1_TIME_to_tm(a, &tm))
		return 0;
	return timegm(&tm);
}

time_t
smime_signing_time(CMS_SignerInfo *si)
{
	X509_ATTRIBUTE *a;
	ASN1_TYPE *t;
	int i;

	if ((i = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime,
	    -1)) < 0 || (a = CMS_signed_get_attr(si, i)) == NULL ||
	    (t = X509_ATTRIBUTE_get0_type(a, 0)) == NULL)
		return 0;
	if (t->type != V_ASN1_UTCTIME && t->type != V_ASN1_GENERALIZEDTIME)
		return 0;
	return smime_asn1_time((const ASN1_TIME *)t->value.asn1_string);
}

void
smime_alg_name(const X509_ALGOR *alg, char *buf, size_t len)
{
	const ASN1_OBJECT *obj;
	int nid;

	X509_ALGOR_get0(&obj, NULL, NULL, alg);
	if ((nid = OBJ_obj2nid(obj)) != NID_undef)
		snprintf(buf, len, "%s", OBJ_nid2sn(nid));
	else
		OBJ_obj2txt(buf, (int)len, obj, 1);
}

int
smime_is_pkcs7_mime(const struct mime_entity *e)
{
	return strcmp(e->type, "application/pkcs7-mime") == 0 ||
	    strcmp(e->type, "application/x-pkcs7-mime") == 0;
}

int
smime_is_signed(const struct mime_entity *e)
{
	const char *ct = mime_get(e, "Content-Type");
	char *st = NULL;
	int r;

	if (strcmp(e->type, "multipart/signed") == 0)
		return 1;
	if (!smime_is_pkcs7_mime(e) || ct == NULL)
		return 0;
	if (mime_param(ct, "smime-type", &st) != 0)
		return 0;
	r = strcasecmp(st, "signed-data") == 0;
	free(st);
	return r;
}

int
smime_part_der(const struct mime_entity *e, uint8_t **derp, size_t *lenp)
{
	const char *cte = mime_get(e, "Content-Transfer-Encoding");

	*derp = NULL;
	*lenp = 0;
	if (cte == NULL || strcasecmp(cte, "base64") == 0)
		return mime_base64_decode(e->body, e->bodylen, derp, lenp);
	if (strcasecmp(cte, "binary") == 0 || strcasecmp(cte, "8bit") == 0) {
		if ((*derp = malloc(e->bodylen + 1)) == NULL)
			return P11AGENT_ERR_NO_MEMORY;
		memcpy(*derp, e->body, e->bodylen);
		*lenp = e->bodylen;
		return 0;
	}
	return P11AGENT_ERR_INVALID_FORMAT;
}

CMS_ContentInfo *
smime_cms_from_der(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms;

	if (len > (size_t)INT32_MAX)
		return NULL;
	cms = d2i_CMS_ContentInfo(NULL, &p, (long)len);
	if (cms != NULL && p != der + len) {
		/* Trailing garbage after the DER. */
		CMS_ContentInfo_free(cms);
		return NULL;
	}
	return cms;
}

/* Why the chain failed, in words. */
static void
chain_reason(X509_STORE_CTX *ctx, time_t when, char *buf, size_t len)
{
	X509 *cur = X509_STORE_CTX_get_current_cert(ctx);
	int err = X509_STORE_CTX_get_error(ctx);
	char name[256] = "", issuer[256] = "", t[64];

	if (cur != NULL) {
		smime_name(X509_get_subject_name(cur), name, sizeof(name));
		smime_name(X509_get_issuer_name(cur), issuer, sizeof(issuer));
	}
	switch (err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		smime_fmt_time(smime_asn1_time(X509_get0_notAfter(cur)), t,
		    sizeof(t));
		snprintf(buf, len, "the certificate of \"%s\" expired on %s",
		    name, t);
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		smime_fmt_time(smime_asn1_time(X509_get0_notBefore(cur)), t,
		    sizeof(t));
		snprintf(buf, len, "the certificate of \"%s\" is not valid "
		    "before %s", name, t);
		break;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_UNTRUSTED:
		snprintf(buf, len, "untrusted certificate: \"%s\" is not "
		    "issued by a trust anchor (no trusted \"%s\"; see "
		    "--CAfile)", name, issuer);
		break;
	case X509_V_ERR_INVALID_PURPOSE:
		snprintf(buf, len, "the certificate of \"%s\" is not for "
		    "S/MIME signing (key usage or extended key usage)", name);
		break;
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		snprintf(buf, len, "the certificate of \"%s\" has a bad "
		    "signature (forged or damaged)", name);
		break;
	default:
		snprintf(buf, len, "certificate \"%s\": %s", name,
		    X509_verify_cert_error_string(err));
		break;
	}
	(void)when;
}

/* Verifies cert's chain at time when (0: now); *chainp on success. */
static int
check_chain(const struct smime_trust *t, X509 *cert, STACK_OF(X509) *pool,
    time_t when, STACK_OF(X509) **chainp, char *why, size_t whylen)
{
	X509_STORE_CTX *ctx;
	int ok = 0;

	*chainp = NULL;
	if ((ctx = X509_STORE_CTX_new()) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	if (!X509_STORE_CTX_init(ctx, t->store, cert, pool) ||
	    !X509_STORE_CTX_set_default(ctx, "smime_sign")) {
		X509_STORE_CTX_free(ctx);
		return P11AGENT_ERR_LIBCRYPTO;
	}
	if (when != 0)
		X509_STORE_CTX_set_time(ctx, 0, when);
	if (X509_verify_cert(ctx) > 0) {
		*chainp = X509_STORE_CTX_get1_chain(ctx);
		ok = 1;
	} else
		chain_reason(ctx, when, why, whylen);
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return ok ? 0 : P11AGENT_ERR_DENIED;
}

/* ESS signingCertificate(V2): the certificate the signer meant. */
static int
check_ess(CMS_SignerInfo *si, STACK_OF(X509) *chain, int *presentp)
{
	ESS_SIGNING_CERT *v1 = NULL;
	ESS_SIGNING_CERT_V2 *v2 = NULL;
	ASN1_STRING *s;
	const unsigned char *p;
	int ok = 1;

	*presentp = 0;
	s = CMS_signed_get0_data_by_OBJ(si,
	    OBJ_nid2obj(NID_id_smime_aa_signingCertificate), -3,
	    V_ASN1_SEQUENCE);
	if (s != NULL) {
		p = s->data;
		if ((v1 = d2i_ESS_SIGNING_CERT(NULL, &p, s->length)) == NULL)
			ok = 0;
	}
	s = CMS_signed_get0_data_by_OBJ(si,
	    OBJ_nid2obj(NID_id_smime_aa_signingCertificateV2), -3,
	    V_ASN1_SEQUENCE);
	if (s != NULL) {
		p = s->data;
		if ((v2 = d2i_ESS_SIGNING_CERT_V2(NULL, &p, s->length)) == NULL)
			ok = 0;
	}
	*presentp = v1 != NULL || v2 != NULL;
	if (ok && *presentp)
		ok = OSSL_ESS_check_signing_certs(v1, v2, chain, 0) > 0;
	ESS_SIGNING_CERT_free(v1);
	ESS_SIGNING_CERT_V2_free(v2);
	ERR_clear_error();
	return ok;
}

/* SHA-1 (unless allowed) and anything older is refused. */
static int
weak_digest(const X509_ALGOR *dig, const X509_ALGOR *sig, int allow_sha1,
    char *name, size_t len)
{
	const ASN1_OBJECT *obj;
	int nid, mdnid = NID_undef, pknid;

	X509_ALGOR_get0(&obj, NULL, NULL, dig);
	nid = OBJ_obj2nid(obj);
	X509_ALGOR_get0(&obj, NULL, NULL, sig);
	if (OBJ_find_sigid_algs(OBJ_obj2nid(obj), &mdnid, &pknid) &&
	    mdnid != NID_undef && mdnid != nid)
		nid = mdnid == NID_sha1 || mdnid == NID_md5 ? mdnid : nid;
	snprintf(name, len, "%s", OBJ_nid2sn(nid));
	switch (nid) {
	case NID_sha1:
		return !allow_sha1;
	case NID_md5:
	case NID_md4:
	case NID_md2:
	case NID_undef:
		return 1;
	default:
		return 0;
	}
}

/* Why CMS_verify() failed, from the error queue. */
static const char *
cms_reason(void)
{
	unsigned long e;
	int nf = 0, vf = 0;

	while ((e = ERR_get_error()) != 0) {
		if (ERR_GET_LIB(e) != ERR_LIB_CMS)
			continue;
		switch (ERR_GET_REASON(e)) {
		case CMS_R_SIGNER_CERTIFICATE_NOT_FOUND:
			nf = 1;
			break;
		case CMS_R_VERIFICATION_FAILURE:
		case CMS_R_CONTENT_VERIFY_ERROR:
			vf = 1;
			break;
		default:
			break;
		}
	}
	if (nf)
		return "the signer's certificate is not in the message "
		    "(missing or replaced)";
	if (vf)
		return "bad signature: the message was changed after it was "
		    "signed";
	return "bad signature: the signature does not match the signer's "
	    "key or is damaged";
}

static int
check_signer(const struct smime_trust *t, CMS_SignerInfo *si,
    STACK_OF(X509) *pool, const struct mime_entity *hdrs,
    struct smime_report *rep)
{
	struct mime_addr *from = NULL;
	STACK_OF(X509) *chain = NULL, *chain2 = NULL;
	X509_ALGOR *dig, *sig;
	X509 *cert = NULL;
	time_t st, now = t->now ? t->now : time(NULL);
	char why[512], name[256], issuer[256], dname[64], when[64] = "";
	char addrs[512], a1[64], a2[64];
	const char *match = NULL;
	size_t nfrom = 0, i;
	int r, ess;

	CMS_SignerInfo_get0_algs(si, NULL, &cert, &dig, &sig);
	if (cert == NULL)
		return smime_bad(rep, "the signer's certificate is not in "
		    "the message");
	smime_name(X509_get_subject_name(cert), name, sizeof(name));
	smime_name(X509_get_issuer_name(cert), issuer, sizeof(issuer));
	smime_cert_addrs(cert, addrs, sizeof(addrs));
	st = smime_signing_time(si);
	if (st != 0)
		smime_fmt_time(st, when, sizeof(when));
	smime_alg_name(dig, a1, sizeof(a1));
	smime_alg_name(sig, a2, sizeof(a2));
	smime_detail(rep, "signer: %s <%s>\n", name, addrs);
	smime_detail(rep, "  issuer: %s\n", issuer);
	smime_detail(rep, "  algorithms: %s, %s\n", a1, a2);
	smime_detail(rep, "  signed: %s\n", st ? when : "(no signing time)");

	if (weak_digest(dig, sig, t->allow_sha1, dname, sizeof(dname)))
		return smime_bad(rep, "signed with %s, which is too weak "
		    "and refused%s", dname, strcmp(dname, "SHA1") == 0 ?
		    " (--allow-sha1 accepts it)" : "");

	/* Valid now, and when it was signed. */
	if ((r = check_chain(t, cert, pool, now, &chain, why,
	    sizeof(why))) != 0) {
		if (r != P11AGENT_ERR_DENIED)
			return r;
		return smime_bad(rep, "%s", why);
	}
	if (st != 0) {
		if ((r = check_chain(t, cert, pool, st, &chain2, why,
		    sizeof(why))) != 0) {
			sk_X509_pop_free(chain, X509_free);
			if (r != P11AGENT_ERR_DENIED)
				return r;
			return smime_bad(rep, "not valid at the signing time "
			    "(%s): %s", when, why);
		}
		sk_X509_pop_free(chain2, X509_free);
		if (st > now + 300)
			snprintf(rep->warning, sizeof(rep->warning),
			    "the signing time %s is in the future", when);
	}
	for (i = 0; i < (size_t)sk_X509_num(chain); i++) {
		char n2[256];

		smime_name(X509_get_subject_name(sk_X509_value(chain,
		    (int)i)), n2, sizeof(n2));
		smime_detail(rep, "  chain[%zu]: %s\n", i, n2);
	}
	if (!check_ess(si, chain, &ess)) {
		sk_X509_pop_free(chain, X509_free);
		return smime_bad(rep, "the signer's certificate is not the "
		    "one named in the signature's ESS signingCertificate "
		    "attribute (certificate replaced)");
	}
	sk_X509_pop_free(chain, X509_free);
	smime_detail(rep, "  ESS signing certificate: %s\n",
	    ess ? "present, matches" : "absent");

	/* RFC 8550 3: the certificate must be for the From: address. */
	if ((r = mime_addrs_of(hdrs, "From", &from, &nfrom)) != 0)
		return r;
	for (i = 0; i < nfrom && match == NULL; i++)
		if (smime_cert_has_addr(cert, from[i].addr))
			match = from[i].addr;
	if (nfrom == 0) {
		mime_addrs_free(from, nfrom);
		return smime_bad(rep, "the message has no From: address to "
		    "check the signer (%s <%s>) against", name, addrs);
	}
	if (match == NULL) {
		smime_bad(rep, "the signer's certificate is for %s, but the "
		    "message is From: %s", addrs[0] ? addrs : "no address",
		    from[0].addr);
		mime_addrs_free(from, nfrom);
		return 0;
	}
	snprintf(rep->line, sizeof(rep->line), "good signature from %s <%s>, "
	    "%s%s%scertificate issued by %s", name, match,
	    st ? "signed " : "", st ? when : "", st ? ", " : "", issuer);
	mime_addrs_free(from, nfrom);
	return 0;
}

/*
 * A detached signature is checked against the canonical (CRLF) form of
 * the first part, which goes to an unlinked temporary file and is read
 * from there by CMS_verify() and, on success, copied to content: memory
 * stays flat. Opaque signed-data carries its content inside the CMS
 * structure, which OpenSSL decodes in memory (the content about three
 * times: base64-decoded DER, the parsed OCTET STRING, the copy out).
 */
int
smime_verify_entity(const struct smime_trust *t, const struct mime_entity *e,
    const struct mime_entity *hdrs, const struct smime_msg *in,
    struct mime_out *content, struct smime_report *rep)
{
	struct mime_out canon = { 0 };
	struct smime_sink sk;
	int fd = -1;
	const struct mime_entity *sigpart;
	STACK_OF(CMS_SignerInfo) *sis;
	STACK_OF(X509) *pool = NULL, *certs = NULL;
	CMS_ContentInfo *cms = NULL;
	BIO *dcont = NULL, *tmp = NULL;
	uint8_t *der = NULL;
	size_t derlen;
	const char *ct;
	char *proto = NULL;
	int i, r, detached = 0;

	if (strcmp(e->type, "multipart/signed") == 0) {
		if (e->nparts != 2)
			return smime_bad(rep, "malformed multipart/signed: "
			    "%zu parts instead of 2", e->nparts);
		ct = mime_get(e, "Content-Type");
		if (ct != NULL && mime_param(ct, "protocol", &proto) == 0 &&
		    strcasecmp(proto, "application/pkcs7-signature") != 0 &&
		    strcasecmp(proto, "application/x-pkcs7-signature") != 0) {
			smime_bad(rep, "not an S/MIME signature (protocol "
			    "\"%s\")", proto);
			free(proto);
			return 0;
		}
		free(proto);
		sigpart = e->parts[1];
		if (strcmp(sigpart->type, "application/pkcs7-signature") != 0 &&
		    strcmp(sigpart->type, "application/x-pkcs7-signature") != 0)
			return smime_bad(rep, "the second part of the signed "
			    "message is %s, not a signature", sigpart->type);
		/* Transports may have turned CRLF into LF; the signature is
		 * over the canonical form. */
		if ((fd = smime_tmpfd()) < 0) {
			r = fd;
			goto out;
		}
		smime_sink_init(&canon, &sk, fd, NULL, in);
		mime_out_crlf(&canon, e->parts[0]->raw, e->parts[0]->rawlen);
		if ((r = mime_out_flush(&canon)) != 0)
			goto out;
		if ((dcont = BIO_new_fd(fd, BIO_NOCLOSE)) == NULL ||
		    lseek(fd, 0, SEEK_SET) != 0) {
			r = P11AGENT_ERR_NO_MEMORY;
			goto out;
		}
		detached = 1;
	} else if (smime_is_signed(e)) {
		sigpart = e;
	} else {
		return smime_bad(rep, "not a signed message (Content-Type "
		    "%s)", e->type);
	}
	if ((r = smime_part_der(sigpart, &der, &derlen)) != 0) {
		if (r != P11AGENT_ERR_INVALID_FORMAT)
			goto out;
		r = smime_bad(rep, "the signature is not valid base64 "
		    "(truncated or damaged)");
		goto out;
	}
	if ((cms = smime_cms_from_der(der, derlen)) == NULL) {
		ERR_clear_error();
		r = smime_bad(rep, "the signature is not a CMS structure "
		    "(damaged)");
		goto out;
	}
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed) {
		r = smime_bad(rep, "the CMS structure is %s, not signed-data",
		    OBJ_nid2sn(OBJ_obj2nid(CMS_get0_type(cms))));
		goto out;
	}
	if (detached != CMS_is_detached(cms)) {
		r = smime_bad(rep, detached ? "the signature carries content "
		    "of its own besides the signed part" : "signed-data "
		    "without content");
		goto out;
	}
	if ((tmp = BIO_new(BIO_s_mem())) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	/* Signature and digests only; the chain is checked per signer
	 * below, at the signing time and now. */
	ERR_clear_error();
	/* First the signature over the signed attributes alone, so that a
	 * broken signature and changed content get their own reasons. */
	if (CMS_verify(cms, t->untrusted, NULL, dcont, NULL,
	    CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY | CMS_NO_CONTENT_VERIFY) <=
	    0) {
		const char *why = cms_reason();

		r = smime_bad(rep, "%s", strstr(why, "changed") != NULL ?
		    "bad signature: the signature value does not verify with "
		    "the signer's key (forged or damaged)" : why);
		goto out;
	}
	if (detached && lseek(fd, 0, SEEK_SET) != 0) {
		r = P11AGENT_ERR_IO;
		goto out;
	}
	/* Detached: the content is only hashed (no copy in memory). */
	if (CMS_verify(cms, t->untrusted, NULL, dcont, detached ? NULL : tmp,
	    CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) <= 0) {
		r = smime_bad(rep, "%s", cms_reason());
		goto out;
	}
	/* Chain building may use the message's and the caller's extras. */
	certs = CMS_get1_certs(cms);
	if ((pool = sk_X509_new_null()) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	for (i = 0; i < sk_X509_num(certs); i++)
		sk_X509_push(pool, sk_X509_value(certs, i));
	for (i = 0; t->untrusted != NULL && i < sk_X509_num(t->untrusted);
	    i++)
		sk_X509_push(pool, sk_X509_value(t->untrusted, i));
	sis = CMS_get0_SignerInfos(cms);
	if (sk_CMS_SignerInfo_num(sis) < 1) {
		r = smime_bad(rep, "the message has no signer");
		goto out;
	}
	/* Every signer must pass; the report names the first. */
	for (i = sk_CMS_SignerInfo_num(sis) - 1; i >= 0; i--) {
		rep->bad = 0;
		if ((r = check_signer(t, sk_CMS_SignerInfo_value(sis, i), pool,
		    hdrs, rep)) != 0 || rep->bad)
			goto out;
	}
	if (content != NULL) {
		const uint8_t *p;
		long n;

		if (detached) {
			if ((r = smime_copy_fd(fd, content, 0)) != 0)
				goto out;
		} else {
			n = BIO_get_mem_data(tmp, (char **)&p);
			mime_out_put(content, p, (size_t)n);
		}
		r = content->err;
		goto out;
	}
	r = 0;
 out:
	ERR_clear_error();
	sk_X509_free(pool);
	sk_X509_pop_free(certs, X509_free);
	free(der);
	BIO_free(dcont);
	BIO_free(tmp);
	CMS_ContentInfo_free(cms);
	mime_out_free(&canon);
	if (fd >= 0)
		close(fd);
	return r;
}

int
smime_verify(const struct smime_trust *t, const struct smime_msg *m,
    BIO *content, struct smime_report *rep)
{
	struct mime_entity *e = NULL;
	struct smime_sink sk;
	struct mime_out c;
	int r;

	rep->bad = 0;
	rep->line[0] = rep->warning[0] = '\0';
	if ((r = mime_parse_ex(m->p, m->len, m->release, m->arg, &e)) != 0)
		return r;
	/* The content streams to content, which is written only after
	 * every check passed. */
	smime_sink_init(&c, &sk, -1, content, m);
	if (smime_is_pkcs7_mime(e) && !smime_is_signed(e)) {
		r = smime_bad(rep, "the message is encrypted, not signed: "
		    "use p11 smime decrypt");
		goto out;
	}
	if ((r = smime_verify_entity(t, e, e, m, content ? &c : NULL,
	    rep)) != 0 || rep->bad)
		goto out;
	if (content != NULL && mime_out_flush(&c) != 0)
		r = P11AGENT_ERR_IO;
 out:
	mime_out_free(&c);
	mime_free(e);
	return r;
}
