/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * smime-int.h - helpers shared by the files of client/smime (not an API):
 * decoding the CMS blob of a MIME part and naming algorithms.
 */
#ifndef P11AGENT_SMIME_INT_H
#define P11AGENT_SMIME_INT_H

#include <openssl/cms.h>

#include "mime.h"
#include "smime.h"

/*
 * The DER of an application/pkcs7-* part (base64 or binary transfer
 * encoding). Returns 0 with *derp malloc'd, or P11AGENT_ERR_INVALID_FORMAT
 * ("truncated or damaged base64").
 */
int smime_part_der(const struct mime_entity *e, uint8_t **derp, size_t *lenp);

/* Parses DER into a CMS ContentInfo; NULL if it is not one. */
CMS_ContentInfo *smime_cms_from_der(const uint8_t *der, size_t len);

/* "AES-256-GCM" for the content-encryption algorithm of an
 * (auth)enveloped-data ContentInfo in DER; "unknown" if not found. */
void smime_content_cipher(const uint8_t *der, size_t len, char *buf,
    size_t buflen);

/* A short name for an algorithm identifier ("sha256", "rsaEncryption"). */
void smime_alg_name(const X509_ALGOR *alg, char *buf, size_t len);

/* The signingTime attribute, or 0. */
time_t smime_signing_time(CMS_SignerInfo *si);

/* "2026-05-01 10:00:00 UTC" */
void smime_fmt_time(time_t t, char *buf, size_t len);

/* 1 for multipart/signed or application/(x-)pkcs7-mime signed-data. */
int smime_is_signed(const struct mime_entity *e);

/* 1 for application/(x-)pkcs7-mime (any smime-type). */
int smime_is_pkcs7_mime(const struct mime_entity *e);

/* Appends the formatted text to rep->details, if set. */
void smime_detail(struct smime_report *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sets rep->bad and rep->line; returns 0 (a verdict, not an error). */
int smime_bad(struct smime_report *rep, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Verifies the signed entity e (multipart/signed or signed-data) whose
 * From: is in hdrs; the content goes to content (may be NULL) on success.
 */
int smime_verify_entity(const struct smime_trust *t,
    const struct mime_entity *e, const struct mime_entity *hdrs,
    struct mime_out *content, struct smime_report *rep);

/* Signs e into a new signed entity (headers and body) in o. */
int smime_sign_entity(const struct smime_signer *s,
    const struct mime_entity *e, struct mime_out *o);

#endif /* P11AGENT_SMIME_INT_H */
