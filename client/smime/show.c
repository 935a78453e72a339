/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * show.c - "p11 smime show": the MIME tree of a message with its S/MIME
 * layers (who signed with which algorithms, for whom it is encrypted and
 * how). Read-only and verifies nothing: it is for people debugging mail.
 * Strings from the message are printed with control characters replaced.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/asn1.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <p11agent/err.h>

#include "smime-int.h"

/* Reads one TLV header; returns the content pointer or NULL. */
static const unsigned char *
tlv(const unsigned char **pp, const unsigned char *end, int *tagp,
    int *classp, long *lenp, int *consp)
{
	const unsigned char *p = *pp;
	int ret;

	if (p >= end)
		return NULL;
	ret = ASN1_get_object(&p, lenp, tagp, classp, end - p);
	if (ret & 0x80 || *lenp > end - p)
		return NULL;
	/* BER indefinite length (streamed output): the content runs to the
	 * end of what encloses it, which is enough to descend into it. */
	if (ret == 0x21)
		*lenp = end - p;
	*consp = ret & V_ASN1_CONSTRUCTED;
	*pp = p + *lenp;
	return p;
}

void
smime_content_cipher(const uint8_t *der, size_t len, char *buf,
    size_t buflen)
{
	const unsigned char *p = der, *end = der + len, *c, *ce;
	const unsigned char *op;
	ASN1_OBJECT *obj = NULL;
	long l;
	int tag, cls, cons, nid;

	snprintf(buf, buflen, "unknown");
	/* ContentInfo SEQUENCE { contentType, [0] EXPLICIT content } */
	if ((c = tlv(&p, end, &tag, &cls, &l, &cons)) == NULL)
		return;
	ce = c + l;
	p = c;
	if (tlv(&p, ce, &tag, &cls, &l, &cons) == NULL ||
	    (c = tlv(&p, ce, &tag, &cls, &l, &cons)) == NULL || tag != 0)
		return;
	/* (Auth)EnvelopedData SEQUENCE */
	p = c;
	ce = c + l;
	if ((c = tlv(&p, ce, &tag, &cls, &l, &cons)) == NULL)
		return;
	p = c;
	ce = c + l;
	/* version, [0] originatorInfo OPTIONAL, recipientInfos SET */
	if (tlv(&p, ce, &tag, &cls, &l, &cons) == NULL ||
	    tlv(&p, ce, &tag, &cls, &l, &cons) == NULL)
		return;
	if (cls == V_ASN1_CONTEXT_SPECIFIC &&
	    tlv(&p, ce, &tag, &cls, &l, &cons) == NULL)
		return;
	/* EncryptedContentInfo { contentType, AlgorithmIdentifier } */
	if ((c = tlv(&p, ce, &tag, &cls, &l, &cons)) == NULL)
		return;
	p = c;
	ce = c + l;
	if (tlv(&p, ce, &tag, &cls, &l, &cons) == NULL ||
	    (c = tlv(&p, ce, &tag, &cls, &l, &cons)) == NULL)
		return;
	op = c;
	if ((obj = d2i_ASN1_OBJECT(NULL, &op, c + l - op)) == NULL) {
		ERR_clear_error();
		return;
	}
	switch ((nid = OBJ_obj2nid(obj))) {
	case NID_aes_128_cbc: snprintf(buf, buflen, "AES-128-CBC"); break;
	case NID_aes_192_cbc: snprintf(buf, buflen, "AES-192-CBC"); break;
	case NID_aes_256_cbc: snprintf(buf, buflen, "AES-256-CBC"); break;
	case NID_aes_128_gcm: snprintf(buf, buflen, "AES-128-GCM"); break;
	case NID_aes_192_gcm: snprintf(buf, buflen, "AES-192-GCM"); break;
	case NID_aes_256_gcm: snprintf(buf, buflen, "AES-256-GCM"); break;
	case NID_des_ede3_cbc: snprintf(buf, buflen, "3DES-CBC"); break;
	default:
		if (nid != NID_undef)
			snprintf(buf, buflen, "%s", OBJ_nid2sn(nid));
		else
			OBJ_obj2txt(buf, (int)buflen, obj, 1);
	}
	ASN1_OBJECT_free(obj);
}

static void
indent(BIO *out, int depth)
{
	BIO_printf(out, "%*s", depth * 2, "");
}

/* Printable copy of untrusted text. */
static const char *
vis(const char *s, char *buf, size_t len)
{
	size_t i;

	for (i = 0; s[i] != '\0' && i + 1 < len; i++)
		buf[i] = ((unsigned char)s[i] < 32 || s[i] == 127) ? '?' :
		    s[i];
	buf[i] = '\0';
	return buf;
}

static void
show_id(BIO *out, int depth, const char *what, ASN1_OCTET_STRING *keyid,
    X509_NAME *issuer, ASN1_INTEGER *serial)
{
	char name[256];

	indent(out, depth);
	if (keyid != NULL) {
		BIO_printf(out, "%s: subject key id ", what);
		for (int i = 0; i < keyid->length; i++)
			BIO_printf(out, "%02x", keyid->data[i]);
		BIO_printf(out, "\n");
	} else if (issuer != NULL) {
		BIO *b = BIO_new(BIO_s_mem());
		char *hex;

		smime_name(issuer, name, sizeof(name));
		hex = serial ? i2s_ASN1_INTEGER(NULL, serial) : NULL;
		BIO_printf(out, "%s: issuer \"%s\", serial %s\n", what, name,
		    hex ? hex : "?");
		OPENSSL_free(hex);
		BIO_free(b);
	} else
		BIO_printf(out, "%s: (other)\n", what);
}

static void show_entity(const struct mime_entity *, BIO *, int);

static void
show_signed(CMS_ContentInfo *cms, BIO *out, int depth)
{
	STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
	STACK_OF(X509) *certs = CMS_get1_certs(cms);
	int i, j;

	indent(out, depth);
	BIO_printf(out, "CMS signed-data, %s, %d certificate(s)\n",
	    CMS_is_detached(cms) ? "detached" : "content inside",
	    sk_X509_num(certs));
	for (i = 0; i < sk_CMS_SignerInfo_num(sis); i++) {
		CMS_SignerInfo *si = sk_CMS_SignerInfo_value(sis, i);
		ASN1_OCTET_STRING *kid = NULL;
		X509_NAME *iss = NULL;
		ASN1_INTEGER *ser = NULL;
		X509_ALGOR *dig, *sig;
		X509 *signer = NULL;
		char a1[64], a2[64], t[64], name[256], addrs[512];
		time_t st;

		CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, &sig);
		CMS_SignerInfo_get0_signer_id(si, &kid, &iss, &ser);
		for (j = 0; j < sk_X509_num(certs); j++)
			if (CMS_SignerInfo_cert_cmp(si,
			    sk_X509_value(certs, j)) == 0)
				signer = sk_X509_value(certs, j);
		smime_alg_name(dig, a1, sizeof(a1));
		smime_alg_name(sig, a2, sizeof(a2));
		if (signer != NULL) {
			smime_name(X509_get_subject_name(signer), name,
			    sizeof(name));
			smime_cert_addrs(signer, addrs, sizeof(addrs));
			indent(out, depth + 1);
			BIO_printf(out, "signer: %s <%s>\n", name, addrs);
		} else
			show_id(out, depth + 1, "signer (certificate not "
			    "included)", kid, iss, ser);
		indent(out, depth + 2);
		BIO_printf(out, "digest %s, signature %s\n", a1, a2);
		if ((st = smime_signing_time(si)) != 0) {
			smime_fmt_time(st, t, sizeof(t));
			indent(out, depth + 2);
			BIO_printf(out, "signing time %s\n", t);
		}
		indent(out, depth + 2);
		BIO_printf(out, "ESS signing certificate: %s\n",
		    CMS_signed_get_attr_by_NID(si,
		    NID_id_smime_aa_signingCertificateV2, -1) >= 0 ? "v2" :
		    CMS_signed_get_attr_by_NID(si,
		    NID_id_smime_aa_signingCertificate, -1) >= 0 ? "v1" :
		    "none");
	}
	for (j = 0; j < sk_X509_num(certs); j++) {
		char name[256];

		smime_name(X509_get_subject_name(sk_X509_value(certs, j)),
		    name, sizeof(name));
		indent(out, depth + 1);
		BIO_printf(out, "certificate: %s\n", name);
	}
	sk_X509_pop_free(certs, X509_free);
	if (!CMS_is_detached(cms)) {
		ASN1_OCTET_STRING **pos = CMS_get0_content(cms);
		struct mime_entity *inner = NULL;

		if (pos != NULL && *pos != NULL && mime_parse((*pos)->data,
		    (size_t)(*pos)->length, &inner) == 0) {
			indent(out, depth + 1);
			BIO_printf(out, "content:\n");
			show_entity(inner, out, depth + 2);
		}
		mime_free(inner);
	}
}

static void
show_enveloped(CMS_ContentInfo *cms, const uint8_t *der, size_t len,
    BIO *out, int depth)
{
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
	char cipher[64], a[64];
	int i, j, aead;

	aead = OBJ_obj2nid(CMS_get0_type(cms)) ==
	    NID_id_smime_ct_authEnvelopedData;
	smime_content_cipher(der, len, cipher, sizeof(cipher));
	indent(out, depth);
	BIO_printf(out, "CMS %s, content encryption %s%s\n", aead ?
	    "authEnveloped-data" : "enveloped-data", cipher, aead ? "" :
	    " (no integrity protection)");
	for (i = 0; i < sk_CMS_RecipientInfo_num(ris); i++) {
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);
		ASN1_OCTET_STRING *kid = NULL;
		X509_NAME *iss = NULL;
		ASN1_INTEGER *ser = NULL;
		X509_ALGOR *alg = NULL;
		STACK_OF(CMS_RecipientEncryptedKey) *reks;

		switch (CMS_RecipientInfo_type(ri)) {
		case CMS_RECIPINFO_TRANS:
			CMS_RecipientInfo_ktri_get0_algs(ri, NULL, NULL, &alg);
			smime_alg_name(alg, a, sizeof(a));
			indent(out, depth + 1);
			BIO_printf(out, "recipient (key transport, %s)\n", a);
			CMS_RecipientInfo_ktri_get0_signer_id(ri, &kid, &iss,
			    &ser);
			show_id(out, depth + 2, "key", kid, iss, ser);
			break;
		case CMS_RECIPINFO_AGREE:
			CMS_RecipientInfo_kari_get0_alg(ri, &alg, NULL);
			smime_alg_name(alg, a, sizeof(a));
			indent(out, depth + 1);
			BIO_printf(out, "recipients (key agreement, %s)\n", a);
			reks = CMS_RecipientInfo_kari_get0_reks(ri);
			for (j = 0; j < sk_CMS_RecipientEncryptedKey_num(reks);
			    j++) {
				kid = NULL;
				iss = NULL;
				ser = NULL;
				CMS_RecipientEncryptedKey_get0_id(
				    sk_CMS_RecipientEncryptedKey_value(reks, j),
				    &kid, NULL, NULL, &iss, &ser);
				show_id(out, depth + 2, "key", kid, iss, ser);
			}
			break;
		default:
			indent(out, depth + 1);
			BIO_printf(out, "recipient (type %d, not supported)\n",
			    CMS_RecipientInfo_type(ri));
		}
	}
}

static void
show_pkcs7(const struct mime_entity *e, BIO *out, int depth)
{
	CMS_ContentInfo *cms;
	uint8_t *der = NULL;
	size_t len;
	int nid;

	if (smime_part_der(e, &der, &len) != 0) {
		indent(out, depth);
		BIO_printf(out, "(not valid base64: truncated or damaged)\n");
		return;
	}
	if ((cms = smime_cms_from_der(der, len)) == NULL) {
		ERR_clear_error();
		indent(out, depth);
		BIO_printf(out, "(not a CMS structure)\n");
		free(der);
		return;
	}
	nid = OBJ_obj2nid(CMS_get0_type(cms));
	if (nid == NID_pkcs7_signed)
		show_signed(cms, out, depth);
	else if (nid == NID_pkcs7_enveloped ||
	    nid == NID_id_smime_ct_authEnvelopedData)
		show_enveloped(cms, der, len, out, depth);
	else {
		indent(out, depth);
		BIO_printf(out, "CMS %s\n", OBJ_nid2sn(nid));
	}
	CMS_ContentInfo_free(cms);
	free(der);
	ERR_clear_error();
}

static void
show_entity(const struct mime_entity *e, BIO *out, int depth)
{
	const char *cte = mime_get(e, "Content-Transfer-Encoding");
	const char *ct = mime_get(e, "Content-Type");
	char *st = NULL, *name = NULL, v1[128], v2[128];
	size_t i;

	if (ct != NULL)
		mime_param(ct, "smime-type", &st);
	if (ct != NULL)
		mime_param(ct, "name", &name);
	indent(out, depth);
	BIO_printf(out, "%s", vis(e->type, v1, sizeof(v1)));
	if (st != NULL)
		BIO_printf(out, "; smime-type=%s", vis(st, v2, sizeof(v2)));
	if (name != NULL)
		BIO_printf(out, "; name=\"%s\"", vis(name, v2, sizeof(v2)));
	if (cte != NULL)
		BIO_printf(out, " [%s]", vis(cte, v2, sizeof(v2)));
	BIO_printf(out, " (%zu bytes)%s\n", e->bodylen, e->unterminated ?
	    " (multipart not terminated)" : "");
	free(st);
	free(name);
	if (strcmp(e->type, "application/pkcs7-signature") == 0 ||
	    strcmp(e->type, "application/x-pkcs7-signature") == 0 ||
	    smime_is_pkcs7_mime(e))
		show_pkcs7(e, out, depth + 1);
	for (i = 0; i < e->nparts; i++)
		show_entity(e->parts[i], out, depth + 1);
}

int
smime_show(const uint8_t *msg, size_t len, BIO *out)
{
	static const char *hdrs[] = { "From", "To", "Cc", "Subject", "Date" };
	struct mime_entity *e = NULL;
	char v[256];
	size_t i;
	int r;

	if ((r = mime_parse(msg, len, &e)) != 0)
		return r;
	for (i = 0; i < sizeof(hdrs) / sizeof(*hdrs); i++) {
		const char *h = mime_get(e, hdrs[i]);

		if (h != NULL)
			BIO_printf(out, "%s: %s\n", hdrs[i],
			    vis(h, v, sizeof(v)));
	}
	show_entity(e, out, 0);
	mime_free(e);
	return 0;
}
