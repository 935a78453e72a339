/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * certs.c - certificates for S/MIME: the certificate directory (one
 * ADDRESS.pem per correspondent), trust stores, chain building and the
 * address checks of RFC 8550. Files are read with size limits; nothing
 * here trusts a certificate because of where it was found.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <p11agent/err.h>

#include "smime.h"

#define CERTFILE_MAX	(1024 * 1024)	/* bytes, one certificate file */

int
smime_read_certs(const char *path, STACK_OF(X509) **skp)
{
	BIO *b = NULL;
	X509 *x = NULL;
	size_t n = 0;
	int r = P11AGENT_ERR_IO;

	if (*skp == NULL && (*skp = sk_X509_new_null()) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	if ((b = BIO_new_file(path, "rb")) == NULL)
		goto out;
	while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(*skp, x)) {
			r = P11AGENT_ERR_NO_MEMORY;
			goto out;
		}
		x = NULL;
		n++;
	}
	ERR_clear_error();
	if (n == 0) {
		/* Maybe one DER certificate. */
		BIO_free(b);
		if ((b = BIO_new_file(path, "rb")) == NULL)
			goto out;
		if ((x = d2i_X509_bio(b, NULL)) == NULL) {
			ERR_clear_error();
			r = P11AGENT_ERR_INVALID_FORMAT;
			goto out;
		}
		if (!sk_X509_push(*skp, x)) {
			r = P11AGENT_ERR_NO_MEMORY;
			goto out;
		}
		x = NULL;
	}
	r = 0;
 out:
	X509_free(x);
	BIO_free(b);
	return r;
}

int
smime_certdir_find(const char *dir, const char *addr, X509 **certp,
    STACK_OF(X509) **extrap)
{
	STACK_OF(X509) *sk = NULL;
	char path[4096], lower[512];
	const char *at;
	size_t i;
	int r = P11AGENT_ERR_KEY_NOT_FOUND, tries;

	*certp = NULL;
	/* An address is a file name here: no separators, no dot-files. */
	if (addr[0] == '.' || strchr(addr, '/') != NULL ||
	    strlen(addr) >= sizeof(lower))
		return P11AGENT_ERR_KEY_NOT_FOUND;
	strcpy(lower, addr);
	if ((at = strrchr(lower, '@')) != NULL)
		for (char *c = lower + (at - lower); *c != '\0'; c++)
			*c = (char)tolower((unsigned char)*c);
	for (tries = 0; tries < 2; tries++) {
		const char *name = tries == 0 ? addr : lower;

		if (tries == 1 && strcmp(addr, lower) == 0)
			break;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s.pem", dir,
		    name) >= sizeof(path))
			return P11AGENT_ERR_KEY_NOT_FOUND;
		r = smime_read_certs(path, &sk);
		if (r == P11AGENT_ERR_IO) {
			ERR_clear_error();
			r = P11AGENT_ERR_KEY_NOT_FOUND;
			continue;
		}
		break;
	}
	if (r != 0)
		goto out;
	if (sk_X509_num(sk) < 1) {
		r = P11AGENT_ERR_KEY_NOT_FOUND;
		goto out;
	}
	*certp = sk_X509_shift(sk);
	if (extrap != NULL) {
		if (*extrap == NULL && (*extrap = sk_X509_new_null()) == NULL) {
			r = P11AGENT_ERR_NO_MEMORY;
			goto out;
		}
		for (i = 0; sk_X509_num(sk) > 0; i++)
			if (!sk_X509_push(*extrap, sk_X509_shift(sk))) {
				r = P11AGENT_ERR_NO_MEMORY;
				goto out;
			}
	}
	r = 0;
 out:
	if (r != 0) {
		X509_free(*certp);
		*certp = NULL;
	}
	sk_X509_pop_free(sk, X509_free);
	return r;
}

int
smime_certdir_cas(const char *dir, STACK_OF(X509) **skp)
{
	STACK_OF(X509) *sk = NULL;
	struct dirent *de;
	DIR *d;
	char path[4096];
	size_t n;
	int r = 0;

	if (*skp == NULL && (*skp = sk_X509_new_null()) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	if ((d = opendir(dir)) == NULL)
		return 0;	/* no directory: no CAs */
	while ((de = readdir(d)) != NULL) {
		n = strlen(de->d_name);
		if (de->d_name[0] == '.' || n < 5 ||
		    strcmp(de->d_name + n - 4, ".pem") != 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		    de->d_name) >= sizeof(path))
			continue;
		if (smime_read_certs(path, &sk) != 0) {
			ERR_clear_error();
			continue;
		}
		while (sk_X509_num(sk) > 0) {
			X509 *x = sk_X509_shift(sk);

			if (X509_check_ca(x) > 0 && sk_X509_push(*skp, x))
				continue;
			X509_free(x);
		}
	}
	closedir(d);
	sk_X509_pop_free(sk, X509_free);
	return r;
}

int
smime_build_chain(X509 *cert, STACK_OF(X509) *pool, STACK_OF(X509) **chainp)
{
	STACK_OF(X509) *chain;
	X509 *cur = cert, *iss;
	int i, depth;

	if ((*chainp = chain = sk_X509_new_null()) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	for (depth = 0; depth < SMIME_MAX_CHAIN && pool != NULL; depth++) {
		iss = NULL;
		/* Self-issued: cur is a root; leave it out. */
		if (X509_check_issued(cur, cur) == X509_V_OK)
			break;
		for (i = 0; i < sk_X509_num(pool); i++) {
			X509 *c = sk_X509_value(pool, i);

			if (X509_check_issued(c, cur) == X509_V_OK) {
				iss = c;
				break;
			}
		}
		if (iss == NULL || X509_check_issued(iss, iss) == X509_V_OK)
			break;
		if (!X509_up_ref(iss))
			return P11AGENT_ERR_LIBCRYPTO;
		if (!sk_X509_push(chain, iss)) {
			X509_free(iss);
			return P11AGENT_ERR_NO_MEMORY;
		}
		cur = iss;
	}
	ERR_clear_error();
	return 0;
}

int
smime_trust_store(const char *cafile, const char *capath,
    X509_STORE **storep)
{
	X509_STORE *st;

	*storep = NULL;
	if ((st = X509_STORE_new()) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	if (cafile == NULL && capath == NULL) {
		if (!X509_STORE_set_default_paths(st))
			goto bad;
	} else {
		if (cafile != NULL && !X509_STORE_load_file(st, cafile))
			goto bad;
		if (capath != NULL && !X509_STORE_load_path(st, capath))
			goto bad;
	}
	*storep = st;
	return 0;
 bad:
	X509_STORE_free(st);
	return P11AGENT_ERR_IO;
}

/* Calls fn for each address in cert until it returns nonzero. */
static int
each_addr(X509 *cert, int (*fn)(const char *, void *), void *arg)
{
	GENERAL_NAMES *gens;
	X509_NAME *subj;
	int i, r = 0;

	gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (i = 0; r == 0 && i < sk_GENERAL_NAME_num(gens); i++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const ASN1_IA5STRING *s;
		char buf[320];
		int n;

		if (g->type != GEN_EMAIL)
			continue;
		s = g->d.rfc822Name;
		n = ASN1_STRING_length(s);
		if (n <= 0 || (size_t)n >= sizeof(buf) ||
		    memchr(ASN1_STRING_get0_data(s), '\0', (size_t)n) != NULL)
			continue;
		memcpy(buf, ASN1_STRING_get0_data(s), (size_t)n);
		buf[n] = '\0';
		r = fn(buf, arg);
	}
	GENERAL_NAMES_free(gens);
	/* RFC 8550 3: older certificates carry it in the subject DN. */
	subj = X509_get_subject_name(cert);
	for (i = -1; r == 0 && (i = X509_NAME_get_index_by_NID(subj,
	    NID_pkcs9_emailAddress, i)) >= 0;) {
		ASN1_STRING *s = X509_NAME_ENTRY_get_data(
		    X509_NAME_get_entry(subj, i));
		unsigned char *u = NULL;
		int n = ASN1_STRING_to_UTF8(&u, s);

		if (n > 0 && memchr(u, '\0', (size_t)n) == NULL)
			r = fn((const char *)u, arg);
		OPENSSL_free(u);
	}
	return r;
}

static int
addr_match(const char *a, void *arg)
{
	const char *b = arg, *aa = strrchr(a, '@'), *bb = strrchr(b, '@');

	if (aa == NULL || bb == NULL || aa - a != bb - b)
		return 0;
	return strncmp(a, b, (size_t)(aa - a)) == 0 &&
	    strcasecmp(aa + 1, bb + 1) == 0;
}

int
smime_cert_has_addr(X509 *cert, const char *addr)
{
	return each_addr(cert, addr_match, (void *)(uintptr_t)addr);
}

struct joinbuf {
	char	*buf;
	size_t	 len;
};

static int
addr_join(const char *a, void *arg)
{
	struct joinbuf *j = arg;
	size_t n = strlen(j->buf);

	/* Duplicates (SAN and DN) once. */
	if (strstr(j->buf, a) != NULL)
		return 0;
	snprintf(j->buf + n, j->len - n, "%s%s", n ? ", " : "", a);
	return 0;
}

void
smime_cert_addrs(X509 *cert, char *buf, size_t len)
{
	struct joinbuf j = { buf, len };

	buf[0] = '\0';
	each_addr(cert, addr_join, &j);
}

void
smime_name(const X509_NAME *name, char *buf, size_t len)
{
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	BIO *b;

	buf[0] = '\0';
	if (i >= 0) {
		unsigned char *u = NULL;
		int n = ASN1_STRING_to_UTF8(&u, X509_NAME_ENTRY_get_data(
		    X509_NAME_get_entry(name, i)));

		if (n > 0) {
			snprintf(buf, len, "%.*s", n, u);
			OPENSSL_free(u);
			return;
		}
		OPENSSL_free(u);
	}
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return;
	X509_NAME_print_ex(b, name, 0, XN_FLAG_ONELINE & ~ASN1_STRFLGS_ESC_MSB);
	i = BIO_read(b, buf, (int)len - 1);
	buf[i > 0 ? i : 0] = '\0';
	BIO_free(b);
}

int
smime_default_certdir(char *buf, size_t len)
{
	const char *x = getenv("XDG_DATA_HOME"), *h = getenv("HOME");
	int n;

	if (x != NULL && x[0] == '/')
		n = snprintf(buf, len, "%s/p11agent/certs", x);
	else if (h != NULL && h[0] == '/')
		n = snprintf(buf, len, "%s/.local/share/p11agent/certs", h);
	else
		return -1;
	return n > 0 && (size_t)n < len ? 0 : -1;
}
