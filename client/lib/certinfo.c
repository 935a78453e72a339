/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * certinfo.c - e-mail addresses and subject of a DER certificate, with
 * OpenSSL. The certificate comes from the agent, which took it from the
 * token; it is parsed here, on the client side, never in the agent.
 * Stateless and thread-safe.
 */
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
