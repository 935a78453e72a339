/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * certinfo.h - what the client side reads from a key's DER certificate:
 * the e-mail addresses (subjectAltName rfc822Name and subject
 * emailAddress) and the subject as an RFC 2253 string. Built into
 * libp11agent (KEYREF matching) and into p11 (listing); not exported.
 */
#ifndef P11AGENT_CERTINFO_H
#define P11AGENT_CERTINFO_H

#include <stddef.h>
#include <stdint.h>

/*
 * The certificate's e-mail addresses, duplicates removed, in certificate
 * order. Returns 0 (with *np possibly 0), P11AGENT_ERR_LIBCRYPTO for a
 * certificate OpenSSL cannot parse, or P11AGENT_ERR_NO_MEMORY. On success
 * *emailsp is owned by the caller; release it with certinfo_strv_free().
 */
int certinfo_emails(const uint8_t *der, size_t len, char ***emailsp,
    size_t *np);

/*
 * 1 if one of the certificate's e-mail addresses is email (case ignored,
 * as strcasecmp() does), 0 if none is or OpenSSL cannot parse it, or
 * P11AGENT_ERR_NO_MEMORY. Cheap for a certificate that does not hold the
 * address: that one is not parsed.
 */
int certinfo_has_email(const uint8_t *der, size_t len, const char *email);

/*
 * The subject in RFC 2253 form (most specific RDN first, UTF-8 kept as
 * UTF-8). Returns 0 or P11AGENT_ERR_LIBCRYPTO / _NO_MEMORY; *subjectp is
 * malloc'd, owned by the caller (free()).
 */
int certinfo_subject(const uint8_t *der, size_t len, char **subjectp);

/* Frees n strings and the vector; NULL is allowed. */
void certinfo_strv_free(char **v, size_t n);

#endif /* P11AGENT_CERTINFO_H */
