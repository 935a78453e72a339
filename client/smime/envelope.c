/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * envelope.c - S/MIME encryption and decryption (RFC 8551 3.3, RFC 5083/
 * 5084 AuthEnvelopedData, RFC 5753 ECDH). Decrypted content stays in
 * memory until decryption, authentication and any inner signature all
 * succeeded; nothing partial is ever written. Key unwrap failures are not
 * told apart from content failures (no padding oracle).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include <p11agent/err.h>

#include "smime-int.h"

static const struct {
	const char	*name;
	const char	*evp;
	int		 aead;
} ciphers[] = {
	{ "aes256-cbc", "AES-256-CBC", 0 },
	{ "aes128-cbc", "AES-128-CBC", 0 },
	{ "aes256-gcm", "AES-256-GCM", 1 },
	{ "aes128-gcm", "AES-128-GCM", 1 },
};

static int
set_recipient_params(CMS_RecipientInfo *ri, X509 *x, int oaep)
{
	EVP_PKEY_CTX *pctx = CMS_RecipientInfo_get0_pkey_ctx(ri);
	EVP_PKEY *pk = X509_get0_pubkey(x);

	if (pctx == NULL || pk == NULL)
		return 0;
	if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_TRANS) {
		if (!oaep || !EVP_PKEY_is_a(pk, "RSA"))
			return 1;
		return EVP_PKEY_CTX_set_rsa_padding(pctx,
		    RSA_PKCS1_OAEP_PADDING) > 0 &&
		    EVP_PKEY_CTX_set_rsa_oaep_md(pctx, EVP_sha256()) > 0 &&
		    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) > 0;
	}
	if (CMS_RecipientInfo_type(ri) == CMS_RECIPINFO_AGREE) {
		/* dhSinglePass-stdDH-sha256kdf-scheme (RFC 5753 / 8551)
		 * rather than OpenSSL's SHA-1 KDF default. */
		return EVP_PKEY_CTX_set_ecdh_kdf_md(pctx, EVP_sha256()) > 0;
	}
	return 1;
}

/* Encryption needs keyEncipherment (RSA) or keyAgreement (EC) when the
 * certificate limits key usage, and emailProtection when it limits EKU. */
static int
usable_for_encryption(X509 *x)
{
	uint32_t ku = X509_get_key_usage(x), eku;
	EVP_PKEY *pk = X509_get0_pubkey(x);

	if (pk == NULL)
		return 0;
	if (X509_get_extension_flags(x) & EXFLAG_XKUSAGE) {
		eku = X509_get_extended_key_usage(x);
		if (!(eku & (XKU_SMIME | XKU_ANYEKU)))
			return 0;
	}
	if (ku == UINT32_MAX)
		return 1;
	if (EVP_PKEY_is_a(pk, "EC"))
		return (ku & KU_KEY_AGREEMENT) != 0;
	return (ku & KU_KEY_ENCIPHERMENT) != 0;
}

/*
 * The content (signed first, if asked) goes to an unlinked temporary
 * file; OpenSSL encrypts it from there in streaming mode (BER with
 * indefinite lengths, the ciphertext never whole in memory) into a
 * second temporary file, which is then written out as base64 lines.
 */
int
smime_encrypt(const struct smime_encrypt_params *p,
    const struct smime_msg *m, BIO *out)
{
	struct mime_entity *e = NULL;
	struct mime_out inner, o;
	struct smime_sink isk, osk;
	CMS_ContentInfo *cms = NULL;
	const EVP_CIPHER *cipher;
	const char *cname = p->cipher ? p->cipher : "aes256-cbc";
	BIO *in = NULL, *ber = NULL;
	size_t i;
	int aead = -1, r, pfd = -1, cfd = -1;

	memset(&inner, 0, sizeof(inner));
	memset(&o, 0, sizeof(o));
	for (i = 0; i < sizeof(ciphers) / sizeof(*ciphers); i++)
		if (strcmp(ciphers[i].name, cname) == 0) {
			aead = ciphers[i].aead;
			break;
		}
	if (aead < 0 || p->recipients == NULL ||
	    sk_X509_num(p->recipients) < 1)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if ((cipher = EVP_get_cipherbyname(ciphers[i].evp)) == NULL)
		return P11AGENT_ERR_LIBCRYPTO;
	for (i = 0; i < (size_t)sk_X509_num(p->recipients); i++) {
		X509 *x = sk_X509_value(p->recipients, (int)i);

		if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0 ||
		    !usable_for_encryption(x))
			return P11AGENT_ERR_DENIED;
	}
	if ((r = mime_parse_ex(m->p, m->len, m->release, m->arg, &e)) != 0)
		return r;
	if ((pfd = smime_tmpfd()) < 0 || (cfd = smime_tmpfd()) < 0) {
		r = pfd < 0 ? pfd : cfd;
		goto out;
	}
	smime_sink_init(&inner, &isk, pfd, NULL, m);
	/* Sign first: the signature travels inside the envelope. */
	if (p->sign != NULL)
		r = smime_sign_entity(p->sign, e, m, &inner);
	else
		r = mime_write_content(e, &inner);
	if (r != 0 || (r = mime_out_flush(&inner)) != 0)
		goto out;
	r = P11AGENT_ERR_LIBCRYPTO;
	cms = aead ? CMS_AuthEnvelopedData_create(cipher) :
	    CMS_EnvelopedData_create(cipher);
	/* The ciphertext travels inside (CMS_encrypt() does the same). */
	if (cms == NULL || !CMS_set_detached(cms, 0))
		goto out;
	for (i = 0; i < (size_t)sk_X509_num(p->recipients); i++) {
		X509 *x = sk_X509_value(p->recipients, (int)i);
		CMS_RecipientInfo *ri;

		if ((ri = CMS_add1_recipient_cert(cms, x,
		    CMS_KEY_PARAM)) == NULL ||
		    !set_recipient_params(ri, x, p->oaep))
			goto out;
	}
	if (lseek(pfd, 0, SEEK_SET) != 0 ||
	    (in = BIO_new_fd(pfd, BIO_NOCLOSE)) == NULL ||
	    (ber = BIO_new_fd(cfd, BIO_NOCLOSE)) == NULL ||
	    !i2d_CMS_bio_stream(ber, cms, in, CMS_STREAM | CMS_BINARY) ||
	    BIO_flush(ber) <= 0)
		goto out;
	/* Done: now the message goes out. */
	smime_sink_init(&o, &osk, -1, out, NULL);
	mime_write_outer(e, &o);
	mime_out_str(&o, "MIME-Version: 1.0\r\n");
	mime_out_str(&o, aead ? "Content-Type: application/pkcs7-mime; "
	    "smime-type=authEnveloped-data;\r\n\tname=\"smime.p7m\"\r\n" :
	    "Content-Type: application/pkcs7-mime; "
	    "smime-type=enveloped-data;\r\n\tname=\"smime.p7m\"\r\n");
	mime_out_str(&o, "Content-Transfer-Encoding: base64\r\n"
	    "Content-Disposition: attachment; filename=\"smime.p7m\"\r\n"
	    "Content-Description: S/MIME Encrypted Message\r\n\r\n");
	if ((r = smime_copy_fd(cfd, &o, 1)) != 0 ||
	    (r = mime_out_flush(&o)) != 0) {
		r = P11AGENT_ERR_IO;
		goto out;
	}
	r = 0;
 out:
	BIO_free(in);
	BIO_free(ber);
	CMS_ContentInfo_free(cms);
	mime_out_free(&inner);
	mime_out_free(&o);
	mime_free(e);
	if (pfd >= 0)
		close(pfd);
	if (cfd >= 0)
		close(cfd);
	return r;
}

/* Does a RecipientInfo of cms name cert? */
static int
names_cert(CMS_ContentInfo *cms, X509 *cert)
{
	STACK_OF(CMS_RecipientInfo) *ris = CMS_get0_RecipientInfos(cms);
	int i, j;

	for (i = 0; i < sk_CMS_RecipientInfo_num(ris); i++) {
		CMS_RecipientInfo *ri = sk_CMS_RecipientInfo_value(ris, i);
		STACK_OF(CMS_RecipientEncryptedKey) *reks;

		switch (CMS_RecipientInfo_type(ri)) {
		case CMS_RECIPINFO_TRANS:
			if (CMS_RecipientInfo_ktri_cert_cmp(ri, cert) == 0)
				return 1;
			break;
		case CMS_RECIPINFO_AGREE:
			reks = CMS_RecipientInfo_kari_get0_reks(ri);
			for (j = 0; j < sk_CMS_RecipientEncryptedKey_num(reks);
			    j++)
				if (CMS_RecipientEncryptedKey_cert_cmp(
				    sk_CMS_RecipientEncryptedKey_value(reks, j),
				    cert) == 0)
					return 1;
			break;
		default:
			break;
		}
	}
	return 0;
}

/*
 * The base64 body is decoded to an unlinked temporary file and mapped;
 * OpenSSL parses the CMS structure from the mapping, which copies the
 * ciphertext into memory once (its encryptedContent OCTET STRING; the
 * mapped pages are released). The plaintext is written, under the outer
 * header fields, to another unlinked 0600 temporary file: for GCM the tag
 * is checked only at its end. That file is then mapped, parsed and any
 * signature inside verified; only then is it copied to out.
 */
int
smime_decrypt(const struct smime_decrypt_params *p,
    const struct smime_msg *m, BIO *out, struct smime_report *rep)
{
	struct mime_entity *e = NULL, *inner = NULL;
	struct mime_out o, hd = { 0 };
	struct smime_sink sk;
	struct smime_report irep;
	struct smime_msg dm = { 0 }, pm = { 0 };
	CMS_ContentInfo *cms = NULL;
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	BIO *plain = NULL;
	size_t i;
	char cipher[64], name[256], addrs[512];
	int nid, aead, r, dfd = -1, pfd = -1;

	memset(&o, 0, sizeof(o));
	rep->bad = rep->signed_inside = rep->inner_bad = rep->efail = 0;
	rep->line[0] = rep->inner[0] = rep->warning[0] = '\0';
	if ((r = mime_parse_ex(m->p, m->len, m->release, m->arg, &e)) != 0)
		return r;
	if (!smime_is_pkcs7_mime(e) || smime_is_signed(e)) {
		r = smime_bad(rep, "not an encrypted S/MIME message "
		    "(Content-Type %s)", e->type);
		goto out;
	}
	if ((dfd = smime_tmpfd()) < 0 || (pfd = smime_tmpfd()) < 0) {
		r = dfd < 0 ? dfd : pfd;
		goto out;
	}
	if ((r = smime_part_to_fd(e, m, dfd)) != 0) {
		if (r == P11AGENT_ERR_INVALID_FORMAT)
			r = smime_bad(rep, "the encrypted content is not valid "
			    "base64 (truncated or damaged)");
		goto out;
	}
	smime_release(m);
	if ((r = smime_map_fd(dfd, &dm)) != 0)
		goto out;
	cms = smime_cms_from_der(dm.p, dm.len);
	smime_content_cipher(dm.p, dm.len, cipher, sizeof(cipher));
	smime_unmap(&dm);
	close(dfd);
	dfd = -1;
	if (cms == NULL) {
		r = smime_bad(rep, "the encrypted content is not a CMS "
		    "structure (damaged)");
		goto out;
	}
	nid = OBJ_obj2nid(CMS_get0_type(cms));
	if (nid != NID_pkcs7_enveloped &&
	    nid != NID_id_smime_ct_authEnvelopedData) {
		r = smime_bad(rep, "the CMS structure is %s, not "
		    "enveloped-data", OBJ_nid2sn(nid));
		goto out;
	}
	aead = nid == NID_id_smime_ct_authEnvelopedData;
	/* Our key: the first of ours a RecipientInfo names. */
	for (i = 0; i < p->ncerts; i++)
		if (names_cert(cms, p->certs[i]))
			break;
	if (i == p->ncerts) {
		r = smime_bad(rep, "the message is not encrypted for any of "
		    "your keys (%zu tried; p11 smime show lists its "
		    "recipients)", p->ncerts);
		goto out;
	}
	cert = p->certs[i];
	smime_name(X509_get_subject_name(cert), name, sizeof(name));
	smime_cert_addrs(cert, addrs, sizeof(addrs));
	if ((r = p->get_key(p->arg, i, &key)) != 0)
		goto out;
	/* The decrypted entity under the outer header fields. */
	mime_write_outer(e, &hd);
	mime_out_str(&hd, "MIME-Version: 1.0\r\n");
	if ((r = hd.err) != 0)
		goto out;
	if ((plain = BIO_new_fd(pfd, BIO_NOCLOSE)) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	if (BIO_write(plain, hd.p, (int)hd.len) != (int)hd.len) {
		r = P11AGENT_ERR_IO;
		goto out;
	}
	ERR_clear_error();
	/* With the certificate given and no CMS_DEBUG_DECRYPT, a failed
	 * RSA unwrap continues with a random key (Bleichenbacher). */
	if (!CMS_decrypt(cms, key, cert, NULL, plain, CMS_BINARY)) {
		ERR_clear_error();
		r = smime_bad(rep, "decryption failed: the message was "
		    "damaged or changed, or the key is wrong%s", aead ?
		    " (authentication failed)" : "");
		goto out;
	}
	CMS_ContentInfo_free(cms);
	cms = NULL;
	if (BIO_flush(plain) <= 0) {
		r = P11AGENT_ERR_IO;
		goto out;
	}
	snprintf(rep->line, sizeof(rep->line), "decrypted for %s <%s> "
	    "(%s, %s)", name, addrs, cipher, aead ? "authenticated" :
	    "no integrity protection");
	smime_detail(rep, "decrypted with the key of %s <%s>\n", name, addrs);
	smime_detail(rep, "content encryption: %s\n", cipher);

	if ((r = smime_map_fd(pfd, &pm)) != 0)
		goto out;
	if ((r = mime_parse_ex(pm.p, pm.len, pm.release, pm.arg,
	    &inner)) != 0) {
		if (r != P11AGENT_ERR_INVALID_FORMAT &&
		    r != P11AGENT_ERR_MAX_SIZE)
			goto out;
		r = smime_bad(rep, "the decrypted content is not a valid "
		    "MIME entity");
		goto out;
	}
	if (smime_is_signed(inner)) {
		rep->signed_inside = 1;
		if (!p->no_verify) {
			memset(&irep, 0, sizeof(irep));
			irep.details = rep->details;
			if ((r = smime_verify_entity(p->trust, inner, e, &pm,
			    NULL, &irep)) != 0)
				goto out;
			memcpy(rep->inner, irep.line, sizeof(rep->inner));
			if (irep.warning[0] != '\0')
				memcpy(rep->warning, irep.warning,
				    sizeof(rep->warning));
			if (irep.bad) {
				rep->inner_bad = 1;
				rep->bad = 1;
				goto out;
			}
		} else
			snprintf(rep->inner, sizeof(rep->inner),
			    "signed inside (not checked: --no-verify)");
	} else if (!aead) {
		/* EFAIL: CBC without a MAC, and no signature either. */
		rep->efail = 1;
		snprintf(rep->warning, sizeof(rep->warning), "the content "
		    "was encrypted without integrity protection (%s) and is "
		    "not signed: it may have been altered in transit "
		    "(EFAIL); do not trust links or active content in it",
		    cipher);
	}
	/* Everything passed: the plaintext may leave the private file. */
	smime_sink_init(&o, &sk, -1, out, NULL);
	if (smime_copy_fd(pfd, &o, 0) != 0 || mime_out_flush(&o) != 0) {
		r = P11AGENT_ERR_IO;
		goto out;
	}
	r = 0;
 out:
	ERR_clear_error();
	EVP_PKEY_free(key);
	BIO_free(plain);
	CMS_ContentInfo_free(cms);
	mime_out_free(&o);
	mime_out_free(&hd);
	mime_free(inner);
	mime_free(e);
	smime_unmap(&dm);
	smime_unmap(&pm);
	if (dfd >= 0)
		close(dfd);
	if (pfd >= 0)
		close(pfd);
	return r;
}
