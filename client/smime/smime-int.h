/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * smime-int.h - helpers shared by the files of client/smime (not an API):
 * decoding the CMS blob of a MIME part and naming algorithms.
 */
#ifndef P11AGENT_SMIME_INT_H
#define P11AGENT_SMIME_INT_H

#include <stdint.h>

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

/* An ASN1_TIME (certificate validity, signingTime) as UTC seconds; 0 if
 * absent or unreadable. */
time_t smime_asn1_time(const ASN1_TIME *a);

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
    const struct smime_msg *in, struct mime_out *content,
    struct smime_report *rep);

/* Signs e into a new signed entity (headers and body) in o. */
int smime_sign_entity(const struct smime_signer *s,
    const struct mime_entity *e, const struct smime_msg *in,
    struct mime_out *o);

/* Streaming helpers (stream.c) */


/* A mime_out sink writing to an fd (or a BIO), calling in->release every
 * few MiB (in may be NULL). */
struct smime_sink {
	int			 fd;
	BIO			*bio;
	const struct smime_msg	*in;
	uint64_t		 since;
};
int smime_sink_write(void *arg, const uint8_t *p, size_t len);
void smime_sink_init(struct mime_out *o, struct smime_sink *sk, int fd,
    BIO *bio, const struct smime_msg *in);

/* Releases the input's pages (if it has a hook). */
void smime_release(const struct smime_msg *in);

/* Copies the whole of fd (from its start) into o. Returns o->err or
 * P11AGENT_ERR_IO. With b64 set, as base64 lines (mime_out_base64). */
int smime_copy_fd(int fd, struct mime_out *o, int b64);


/* The decoded body of an application/pkcs7-* part into fd (base64 or
 * binary transfer encoding); P11AGENT_ERR_INVALID_FORMAT for bad base64. */
int smime_part_to_fd(const struct mime_entity *e, const struct smime_msg *in,
    int fd);

#endif /* P11AGENT_SMIME_INT_H */
