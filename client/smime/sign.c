/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * sign.c - S/MIME signing (RFC 8551 3.5): multipart/signed or opaque
 * signed-data over the 7-bit, CRLF-canonical content of a message. The
 * signature comes from whatever EVP_PKEY the caller has (software key or
 * the p11agent provider); this file never sees private key material.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <sys/random.h>
#include <unistd.h>

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/rand.h>

#include <p11agent/err.h>

#include "smime-int.h"

static const struct {
	const char	*name;
	const char	*micalg;
} digests[] = {
	{ "sha256", "sha-256" },
	{ "sha384", "sha-384" },
	{ "sha512", "sha-512" },
};

/* What we can decrypt, strongest first (RFC 8551 2.7). */
static const int capabilities[] = {
	NID_aes_256_gcm, NID_aes_128_gcm, NID_aes_256_cbc, NID_aes_128_cbc,
};

static int
add_capabilities(CMS_SignerInfo *si)
{
	STACK_OF(X509_ALGOR) *caps = NULL;
	size_t i;
	int ok = 1;

	for (i = 0; ok && i < sizeof(capabilities) / sizeof(*capabilities);
	    i++)
		ok = CMS_add_simple_smimecap(&caps, capabilities[i], -1);
	ok = ok && CMS_add_smimecap(si, caps);
	sk_X509_ALGOR_pop_free(caps, X509_ALGOR_free);
	return ok;
}

/* Does the file fd hold b? Read in pieces that overlap by blen - 1. */
static int
fd_contains(int fd, const char *b, int *foundp)
{
	uint8_t buf[65536];
	size_t blen = strlen(b), have = 0;
	ssize_t n;

	*foundp = 0;
	if (lseek(fd, 0, SEEK_SET) != 0)
		return P11AGENT_ERR_IO;
	for (;;) {
		n = read(fd, buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return P11AGENT_ERR_IO;
		have += (size_t)n;
		if (memmem(buf, have, b, blen) != NULL) {
			*foundp = 1;
			return 0;
		}
		if (n == 0)
			return 0;
		if (have >= blen) {
			memmove(buf, buf + have - (blen - 1), blen - 1);
			have = blen - 1;
		}
	}
}

/* A random boundary that does not occur in the content (in fd). */
static int
new_boundary(char b[64], int fd)
{
	uint8_t seed[12];
	int found, r;

	do {
		/*
		 * The kernel's generator, not RAND_bytes(): a boundary needs
		 * no DRBG, and setting one up (it fetches AES) is a tenth
		 * of a short p11 run. Uniqueness is checked below anyway.
		 */
		if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed) &&
		    RAND_bytes(seed, sizeof(seed)) != 1)
			memset(seed, 0x5a, sizeof(seed));
		mime_make_boundary(b, seed, sizeof(seed));
		if ((r = fd_contains(fd, b, &found)) != 0)
			return r;
	} while (found);
	return 0;
}

/*
 * The content goes to an unlinked temporary file as it is written (7-bit
 * encoded, CRLF canonical); CMS_final() hashes it from there, the
 * signature is made, and only then is the signed entity written to o:
 * the headers, the content copied from the file, the signature. Memory
 * holds a few buffers, whatever the size. Opaque signed-data embeds the
 * content in the CMS structure, which OpenSSL builds in memory.
 */
int
smime_sign_entity(const struct smime_signer *s, const struct mime_entity *e,
    const struct smime_msg *msg, struct mime_out *o)
{
	struct mime_out content = { 0 };
	struct smime_sink sk;
	CMS_ContentInfo *cms = NULL;
	CMS_SignerInfo *si;
	const EVP_MD *md;
	const char *dname = s->digest;
	const char *micalg = NULL;
	unsigned char *der = NULL;
	unsigned int flags;
	BIO *in = NULL;
	char b[64];
	size_t i;
	int derlen, r, fd = -1;

	/* ECDSA wants a hash as long as the curve (RFC 5753 7.1.1; gpgsm
	 * refuses anything shorter): SHA-384 for P-384, SHA-512 for P-521. */
	if (dname == NULL) {
		dname = "sha256";
		if (EVP_PKEY_is_a(s->key, "EC") && EVP_PKEY_get_bits(s->key) > 256)
			dname = EVP_PKEY_get_bits(s->key) > 384 ? "sha512" :
			    "sha384";
	}
	for (i = 0; i < sizeof(digests) / sizeof(*digests); i++)
		if (strcmp(digests[i].name, dname) == 0)
			micalg = digests[i].micalg;
	if (micalg == NULL || (md = EVP_get_digestbyname(dname)) == NULL)
		return P11AGENT_ERR_INVALID_ARGUMENT;
	if (!s->opaque) {
		if ((fd = smime_tmpfd()) < 0)
			return fd;
		smime_sink_init(&content, &sk, fd, NULL, msg);
	}
	if ((r = mime_write_content(e, &content)) != 0 ||
	    (r = mime_out_flush(&content)) != 0)
		goto out;
	r = P11AGENT_ERR_LIBCRYPTO;
	/* CMS_BINARY: the content is canonical already; OpenSSL must not
	 * translate it again. */
	flags = CMS_BINARY | CMS_PARTIAL | (s->opaque ? 0 : CMS_DETACHED);
	if ((cms = CMS_sign(NULL, NULL, NULL, NULL, flags)) == NULL)
		goto out;
	/* CMS_CADES adds ESS signingCertificateV2 (RFC 5035) for non-SHA-1
	 * digests; contentType, messageDigest and signingTime follow in
	 * CMS_final(). */
	if ((si = CMS_add1_signer(cms, s->cert, s->key, md,
	    CMS_BINARY | CMS_CADES | CMS_NOSMIMECAP)) == NULL ||
	    !add_capabilities(si))
		goto out;
	for (i = 0; s->chain != NULL && (int)i < sk_X509_num(s->chain); i++)
		if (!CMS_add1_cert(cms, sk_X509_value(s->chain, (int)i)))
			goto out;
	if (s->opaque)
		in = BIO_new_mem_buf(content.p ? (void *)content.p : "",
		    (int)content.len);
	else if (lseek(fd, 0, SEEK_SET) == 0)
		in = BIO_new_fd(fd, BIO_NOCLOSE);
	/* Detached: the digest is computed reading the file; the content
	 * itself goes nowhere (a null BIO inside OpenSSL). */
	if (in == NULL || !CMS_final(cms, in, NULL, flags))
		goto out;
	if ((derlen = i2d_CMS_ContentInfo(cms, &der)) <= 0)
		goto out;
	if (s->opaque) {
		mime_out_str(o, "Content-Type: application/pkcs7-mime; "
		    "smime-type=signed-data;\r\n\tname=\"smime.p7m\"\r\n"
		    "Content-Transfer-Encoding: base64\r\n"
		    "Content-Disposition: attachment; "
		    "filename=\"smime.p7m\"\r\n\r\n");
		mime_out_base64(o, der, (size_t)derlen);
	} else {
		if ((r = new_boundary(b, fd)) != 0)
			goto out;
		mime_out_str(o, "Content-Type: multipart/signed; "
		    "protocol=\"application/pkcs7-signature\";\r\n\tmicalg=");
		mime_out_str(o, micalg);
		mime_out_str(o, "; boundary=\"");
		mime_out_str(o, b);
		mime_out_str(o, "\"\r\n\r\nThis is an S/MIME signed message."
		    "\r\n\r\n--");
		mime_out_str(o, b);
		mime_out_str(o, "\r\n");
		/* The CRLF before the next delimiter belongs to it, so the
		 * signed bytes are exactly content. */
		if ((r = smime_copy_fd(fd, o, 0)) != 0)
			goto out;
		mime_out_str(o, "\r\n--");
		mime_out_str(o, b);
		mime_out_str(o, "\r\nContent-Type: application/pkcs7-signature;"
		    " name=\"smime.p7s\"\r\n"
		    "Content-Transfer-Encoding: base64\r\n"
		    "Content-Disposition: attachment; filename=\"smime.p7s\"\r\n"
		    "Content-Description: S/MIME Cryptographic Signature\r\n"
		    "\r\n");
		mime_out_base64(o, der, (size_t)derlen);
		mime_out_str(o, "\r\n--");
		mime_out_str(o, b);
		mime_out_str(o, "--\r\n");
	}
	r = o->err;
 out:
	OPENSSL_free(der);
	BIO_free(in);
	CMS_ContentInfo_free(cms);
	mime_out_free(&content);
	if (fd >= 0)
		close(fd);
	return r;
}

/* Refuses a certificate that is not valid now: the signature would be
 * worthless to every recipient. */
static int
check_signer_cert(X509 *cert)
{
	if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0 ||
	    X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0)
		return P11AGENT_ERR_DENIED;
	return 0;
}

int
smime_sign(const struct smime_signer *s, const struct smime_msg *m, BIO *out)
{
	struct mime_entity *e = NULL;
	struct smime_sink sk;
	struct mime_out o;
	int r;

	if ((r = check_signer_cert(s->cert)) != 0)
		return r;
	if ((r = mime_parse_ex(m->p, m->len, m->release, m->arg, &e)) != 0)
		return r;
	/* Everything is computed before the first byte reaches out; o
	 * collects the headers until the content is copied through. */
	smime_sink_init(&o, &sk, -1, out, m);
	o.sink = NULL;
	mime_write_outer(e, &o);
	mime_out_str(&o, "MIME-Version: 1.0\r\n");
	o.sink = smime_sink_write;
	if ((r = smime_sign_entity(s, e, m, &o)) == 0 &&
	    (r = mime_out_flush(&o)) != 0)
		r = P11AGENT_ERR_IO;
	mime_out_free(&o);
	mime_free(e);
	return r;
}
