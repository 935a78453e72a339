/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * test-certinfo.c - certinfo's e-mail addresses and subject must equal
 * OpenSSL's own (X509_get1_email(), X509_NAME_print_ex()) on
 * certificates made here, with case-only duplicates dropped;
 * certinfo_has_email() must agree with them; and every
 * truncated or padded certificate must be refused, not read.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <p11agent/err.h>

#include "certinfo.h"
#include "tap.h"

static EVP_PKEY *key;

/* A self-signed certificate; v1 (no extensions) when san is NULL and
 * v3 is 0. The subject gets an emailAddress when subj_email is set. */
static X509 *
make_cert(const char *subj_email, const char *san, int v3)
{
	X509 *x = X509_new();
	X509_NAME *n = X509_get_subject_name(x);
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	if (key == NULL)
		key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509_set_version(x, v3 ? X509_VERSION_3 : X509_VERSION_1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
	    (const unsigned char *)"BigCorp \xc3\x9c", -1, -1, 0);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"Alice Example", -1, -1, 0);
	if (subj_email != NULL)
		X509_NAME_add_entry_by_NID(n, NID_pkcs9_emailAddress,
		    MBSTRING_ASC, (const unsigned char *)subj_email, -1, -1,
		    0);
	X509_set_issuer_name(x, n);
	X509_set_pubkey(x, key);
	if (san != NULL) {
		X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
		ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name,
		    san);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	if (v3) {
		X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
		ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage,
		    "critical,digitalSignature");
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	X509_sign(x, key, EVP_sha256());
	return x;
}

static size_t
der_of(X509 *x, unsigned char **derp)
{
	int n;

	*derp = NULL;
	n = i2d_X509(x, derp);
	return n > 0 ? (size_t)n : 0;
}

/* certinfo's addresses against X509_get1_email(), which keeps
 * duplicates that differ only in case; certinfo drops those. */
static void
check_emails(X509 *x, const char *what, const char *const *want,
    size_t nwant)
{
	STACK_OF(OPENSSL_STRING) *sk = X509_get1_email(x);
	unsigned char *der;
	size_t len = der_of(x, &der), n, i;
	char **v;
	int k;

	is_int(certinfo_emails(der, len, &v, &n), 0, "%s: parsed", what);
	is_int(n, nwant, "%s: %zu addresses", what, nwant);
	for (i = 0; i < n && i < nwant; i++)
		is_str(v[i], want[i], "%s: address %zu", what, i);
	/* Every address OpenSSL sees is there (in some case). */
	for (k = 0; k < sk_OPENSSL_STRING_num(sk); k++) {
		const char *e = sk_OPENSSL_STRING_value(sk, k);
		size_t j;

		for (j = 0; j < n; j++)
			if (strcasecmp(v[j], e) == 0)
				break;
		ok(j < n, "%s: has OpenSSL's %s", what, e);
	}
	certinfo_strv_free(v, n);
	X509_email_free(sk);
	OPENSSL_free(der);
}

static void
test_emails(void)
{
	/* X509_get1_email()'s order: the SAN's, then the subject's. */
	static const char *const both[] = { "ALICE@bigcorp.example",
	    "a.example@bigcorp.example" };
	static const char *const san_only[] = { "bob@bigcorp.example" };
	static const char *const subj_only[] = { "carol@bigcorp.example" };
	X509 *x;

	x = make_cert("alice@bigcorp.example", "email:ALICE@bigcorp.example,"
	    "DNS:mail.bigcorp.example,email:a.example@bigcorp.example", 1);
	check_emails(x, "subject and SAN", both, 2);
	X509_free(x);
	x = make_cert(NULL, "email:bob@bigcorp.example", 1);
	check_emails(x, "SAN only", san_only, 1);
	X509_free(x);
	x = make_cert("carol@bigcorp.example", NULL, 0);
	check_emails(x, "v1, no extensions", subj_only, 1);
	X509_free(x);
	x = make_cert(NULL, "DNS:www.bigcorp.example", 1);
	check_emails(x, "no address", NULL, 0);
	X509_free(x);
}

/*
 * certinfo_has_email() skips the parse of a certificate whose bytes do
 * not hold the address; it must answer as the full comparison does.
 */
static void
test_has_email(void)
{
	static const char *const probes[] = { "alice@bigcorp.example",
	    "ALICE@BIGCORP.EXAMPLE", "a.example@bigcorp.example",
	    "Bob@BigCorp.example", "carol@bigcorp.example",
	    "alice@bigcorp.exampl", "lice@bigcorp.example",
	    "alice@bigcorp.example.org", "mail.bigcorp.example",
	    "Alice Example", "@" };
	X509 *x[3];
	unsigned char *der;
	size_t len, i, j, n, k;
	char **v;
	int want;

	x[0] = make_cert("alice@bigcorp.example", "email:ALICE@bigcorp.example,"
	    "DNS:mail.bigcorp.example,email:a.example@bigcorp.example", 1);
	x[1] = make_cert(NULL, "email:bob@bigcorp.example", 1);
	x[2] = make_cert("carol@bigcorp.example", NULL, 0);
	for (i = 0; i < 3; i++) {
		len = der_of(x[i], &der);
		(void)certinfo_emails(der, len, &v, &n);
		for (j = 0; j < sizeof(probes) / sizeof(probes[0]); j++) {
			for (want = 0, k = 0; k < n && !want; k++)
				want = strcasecmp(v[k], probes[j]) == 0;
			is_int(certinfo_has_email(der, len, probes[j]), want,
			    "certificate %zu, %s", i, probes[j]);
		}
		certinfo_strv_free(v, n);
		/* A truncated certificate matches nothing, address or not. */
		is_int(certinfo_has_email(der, len - 1,
		    i == 1 ? "bob@bigcorp.example" : "carol@bigcorp.example"),
		    0, "certificate %zu truncated", i);
		OPENSSL_free(der);
		X509_free(x[i]);
	}
	is_int(certinfo_has_email(NULL, 0, "alice@bigcorp.example"), 0,
	    "no certificate");
}

static void
test_subject(void)
{
	X509 *x = make_cert("alice@bigcorp.example", NULL, 1);
	unsigned char *der;
	size_t len = der_of(x, &der);
	BIO *b = BIO_new(BIO_s_mem());
	char *s = NULL, *want;
	long wlen;

	X509_NAME_print_ex(b, X509_get_subject_name(x), 0,
	    XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
	BIO_write(b, "", 1);
	wlen = BIO_get_mem_data(b, &want);
	ok(wlen > 1, "OpenSSL's subject");
	is_int(certinfo_subject(der, len, &s), 0, "subject parsed");
	is_str(s, want, "subject as OpenSSL prints it");
	free(s);
	BIO_free(b);
	OPENSSL_free(der);
	X509_free(x);
}

/* Truncated, padded and rewrapped certificates: refused, never read. */
static void
test_malformed(void)
{
	X509 *x = make_cert("alice@bigcorp.example",
	    "email:alice@bigcorp.example", 1);
	unsigned char *der, *pad;
	size_t len = der_of(x, &der), cut, n, bad = 0;
	char **v, *s;

	for (cut = 0; cut < len; cut++) {
		v = (char **)1;
		n = 1;
		if (certinfo_emails(der, cut, &v, &n) !=
		    P11AGENT_ERR_LIBCRYPTO || v != NULL || n != 0)
			bad++;
		if (certinfo_subject(der, cut, &s) != P11AGENT_ERR_LIBCRYPTO ||
		    s != NULL)
			bad++;
	}
	is_int(bad, 0, "every truncation (%zu) refused", len);
	pad = malloc(len + 1);
	memcpy(pad, der, len);
	pad[len] = 0;
	is_int(certinfo_emails(pad, len + 1, &v, &n), P11AGENT_ERR_LIBCRYPTO,
	    "trailing byte refused");
	is_int(certinfo_emails(NULL, 0, &v, &n), P11AGENT_ERR_LIBCRYPTO,
	    "no certificate");
	pad[0] = 0x31;	/* SET instead of SEQUENCE */
	is_int(certinfo_emails(pad, len, &v, &n), P11AGENT_ERR_LIBCRYPTO,
	    "wrong outer tag refused");
	free(pad);
	OPENSSL_free(der);
	X509_free(x);
}

static const struct tap_case cases[] = {
	{ "/certinfo/emails", test_emails },
	{ "/certinfo/has-email", test_has_email },
	{ "/certinfo/subject", test_subject },
	{ "/certinfo/malformed", test_malformed },
	{ NULL, NULL }
};

int
main(int argc, char **argv)
{
	int r = tap_main(argc, argv, cases);

	EVP_PKEY_free(key);
	return r;
}
