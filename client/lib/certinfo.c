/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * certinfo.c - e-mail addresses and subject of a DER certificate, with
 * OpenSSL. The certificate comes from the agent, which took it from the
 * token; it is parsed here, on the client side, never in the agent.
 * Stateless and thread-safe.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <p11agent/err.h>

#include "certinfo.h"

static X509 *
parse_cert(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	X509 *x;

	if (der == NULL || len == 0 || len > 1024 * 1024)
		return NULL;
	/* One certificate, nothing after it: trailing bytes are not ours. */
	x = d2i_X509(NULL, &p, (long)len);
	if (x != NULL && p != der + len) {
		X509_free(x);
		x = NULL;
	}
	if (x == NULL)
		ERR_clear_error();
	return x;
}

void
certinfo_strv_free(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Whether s is somewhere in the len bytes at p, by tolower() per byte. */
static int
mem_has_casefold(const uint8_t *p, size_t len, const char *s)
{
	size_t n = strlen(s), i, j;

	for (i = 0; n > 0 && i + n <= len; i++) {
		for (j = 0; j < n; j++)
			if (tolower(p[i + j]) != tolower((unsigned char)s[j]))
				break;
		if (j == n)
			return 1;
	}
	return 0;
}

int
certinfo_has_email(const uint8_t *der, size_t len, const char *email)
{
	char **v;
	size_t n, i;
	int r, hit = 0;

	/*
	 * X509_get1_email() gives IA5String values only, each a run of the
	 * certificate's own bytes: a certificate without email in them
	 * cannot match. Only the others are parsed (with OpenSSL 3.0's
	 * decoders a parse costs about 100 us; a keyring has many).
	 */
	if (der == NULL || !mem_has_casefold(der, len, email))
		return 0;
	if ((r = certinfo_emails(der, len, &v, &n)) != 0)
		return r == P11AGENT_ERR_NO_MEMORY ? r : 0;
	for (i = 0; i < n && !hit; i++)
		hit = strcasecmp(v[i], email) == 0;
	certinfo_strv_free(v, n);
	return hit;
}

int
certinfo_emails(const uint8_t *der, size_t len, char ***emailsp, size_t *np)
{
	X509 *x = NULL;
	STACK_OF(OPENSSL_STRING) *sk = NULL;
	char **v = NULL;
	size_t n = 0, j;
	int i, r = P11AGENT_ERR_INTERNAL;

	*emailsp = NULL;
	*np = 0;
	if ((x = parse_cert(der, len)) == NULL) {
		r = P11AGENT_ERR_LIBCRYPTO;
		goto out;
	}
	/* Subject emailAddress entries and subjectAltName rfc822Name. */
	sk = X509_get1_email(x);
	if (sk != NULL && sk_OPENSSL_STRING_num(sk) > 0) {
		if ((v = calloc((size_t)sk_OPENSSL_STRING_num(sk),
		    sizeof(*v))) == NULL) {
			r = P11AGENT_ERR_NO_MEMORY;
			goto out;
		}
		for (i = 0; i < sk_OPENSSL_STRING_num(sk); i++) {
			const char *e = sk_OPENSSL_STRING_value(sk, i);

			if (e == NULL || *e == '\0')
				continue;
			for (j = 0; j < n; j++)
				if (strcasecmp(v[j], e) == 0)
					break;
			if (j < n)
				continue;
			if ((v[n] = strdup(e)) == NULL) {
				r = P11AGENT_ERR_NO_MEMORY;
				goto out;
			}
			n++;
		}
	}
	*emailsp = v;
	*np = n;
	v = NULL;
	n = 0;
	r = 0;
 out:
	certinfo_strv_free(v, n);
	X509_email_free(sk);
	X509_free(x);
	return r;
}

int
certinfo_subject(const uint8_t *der, size_t len, char **subjectp)
{
	X509 *x = NULL;
	BIO *bio = NULL;
	char *s = NULL, *data;
	long dlen;
	int r = P11AGENT_ERR_INTERNAL;

	*subjectp = NULL;
	if ((x = parse_cert(der, len)) == NULL) {
		r = P11AGENT_ERR_LIBCRYPTO;
		goto out;
	}
	if ((bio = BIO_new(BIO_s_mem())) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	/* RFC 2253, but UTF-8 stays readable instead of \XX escapes. */
	if (X509_NAME_print_ex(bio, X509_get_subject_name(x), 0,
	    XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
		ERR_clear_error();
		r = P11AGENT_ERR_LIBCRYPTO;
		goto out;
	}
	dlen = BIO_get_mem_data(bio, &data);
	if (dlen < 0 || (s = malloc((size_t)dlen + 1)) == NULL) {
		r = P11AGENT_ERR_NO_MEMORY;
		goto out;
	}
	if (dlen > 0)
		memcpy(s, data, (size_t)dlen);
	s[dlen] = '\0';
	*subjectp = s;
	s = NULL;
	r = 0;
 out:
	free(s);
	BIO_free(bio);
	X509_free(x);
	return r;
}
