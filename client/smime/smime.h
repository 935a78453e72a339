/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * smime.h - S/MIME (RFC 8551) sign, verify, encrypt, decrypt and show over
 * OpenSSL CMS. The API takes EVP_PKEY / X509 objects, so the same code
 * runs with software keys and with agent-held keys from the p11agent
 * provider. Library rules: returns 0 or a negative P11AGENT_ERR_*, never
 * prints; a verdict about the message (bad, untrusted) is returned in a
 * struct smime_report, not as an error. Only client/smime includes
 * openssl/cms.h.
 */
#ifndef P11AGENT_SMIME_H
#define P11AGENT_SMIME_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#define SMIME_LINE_MAX	1024	/* bytes, one report line */
#define SMIME_MAX_CHAIN	10	/* certificates in a chain we build */

/* What happened, in words a person can read. */
struct smime_report {
	int	 bad;			/* 1: bad, untrusted or not for us */
	char	 line[SMIME_LINE_MAX];	/* the verdict or the reason */
	int	 signed_inside;		/* decrypt: content was signed */
	int	 inner_bad;		/* decrypt: that signature is bad */
	char	 inner[SMIME_LINE_MAX];	/* decrypt: the signature's line */
	int	 efail;			/* decrypt: no integrity, no signature */
	char	 warning[SMIME_LINE_MAX]; /* a warning, "" if none */
	BIO	*details;		/* if set, --verbose lines go here */
};

/*
 * A message to work on: its bytes, typically a read-only file mapping,
 * and an optional release hook that the library calls now and then while
 * it works through them. The hook may drop the mapping's pages from the
 * resident set (madvise MADV_DONTNEED): they are read back from the file
 * when touched again, so memory use stays bounded however large the
 * message is. Large intermediate data goes to unlinked 0600 temporary
 * files in $TMPDIR (default /tmp), never to memory.
 */
struct smime_msg {
	const uint8_t	*p;
	size_t		 len;
	void		(*release)(void *arg);
	void		*arg;
};

/* An unlinked 0600 temporary file in $TMPDIR (or /tmp): an fd, or a
 * negative P11AGENT_ERR_*. */
int smime_tmpfd(void);

/* Maps fd read-only into *m, with a release hook that drops its pages;
 * m->p is "" for an empty file. smime_unmap() undoes it. */
int smime_map_fd(int fd, struct smime_msg *m);
void smime_unmap(struct smime_msg *m);

struct smime_signer {
	EVP_PKEY	*key;
	X509		*cert;
	STACK_OF(X509)	*chain;		/* intermediates, no root; may be NULL */
	const char	*digest;	/* "sha256", "sha384", "sha512"; NULL:
					 * SHA-256, or the EC curve's size */
	int		 opaque;	/* signed-data instead of multipart/signed */
};

struct smime_trust {
	X509_STORE	*store;		/* trust anchors */
	STACK_OF(X509)	*untrusted;	/* extra intermediates; may be NULL */
	int		 allow_sha1;
	time_t		 now;		/* 0: the current time */
};

/*
 * Signs an RFC 5322 message: the Content-* part is made 7-bit safe and
 * CRLF canonical, signed with the signed attributes of RFC 8551 (and ESS
 * signingCertificateV2), and written to out with the outer header fields
 * kept (Bcc removed). Returns 0, P11AGENT_ERR_INVALID_FORMAT (message),
 * P11AGENT_ERR_LIBCRYPTO (signing failed) or _NO_MEMORY.
 */
int smime_sign(const struct smime_signer *s, const struct smime_msg *m,
    BIO *out);

/*
 * Verifies a multipart/signed or opaque signed message: signature,
 * chain to t->store at the signing time and now, key usage, digest
 * strength and the signer's address against From:. Returns 0 with the
 * verdict in *rep (rep->bad), P11AGENT_ERR_INVALID_FORMAT when the message
 * is not parseable, or another error. On a good verdict, if content is
 * not NULL, the signed content (a MIME entity) is written to it.
 */
int smime_verify(const struct smime_trust *t, const struct smime_msg *m,
    BIO *content, struct smime_report *rep);

struct smime_encrypt_params {
	STACK_OF(X509)	*recipients;	/* every recipient, sender included */
	const char	*cipher;	/* "aes256-cbc" (NULL), "aes128-cbc",
					 * "aes256-gcm", "aes128-gcm" */
	int		 oaep;		/* RSA-OAEP (SHA-256) key transport */
	const struct smime_signer *sign; /* sign first; NULL: do not sign */
};

/*
 * Encrypts (optionally signs first) a message to every certificate in
 * p->recipients and writes application/pkcs7-mime with the outer header
 * fields kept (Bcc removed). Returns 0 or a negative P11AGENT_ERR_*.
 */
int smime_encrypt(const struct smime_encrypt_params *p,
    const struct smime_msg *m, BIO *out);

/* A key we may decrypt with: the certificate, and a way to get the key
 * only when it is the one the message needs (an agent round trip). */
struct smime_decrypt_params {
	X509		**certs;
	size_t		  ncerts;
	int		(*get_key)(void *arg, size_t i, EVP_PKEY **keyp);
	void		 *arg;
	const struct smime_trust *trust; /* for a signature inside */
	int		  no_verify;	/* do not check a signature inside */
};

/*
 * Decrypts an enveloped-data or authEnveloped-data message with the key
 * whose certificate one of its RecipientInfos names. If the content is
 * signed, verifies it too (both layers reported in *rep). Writes the
 * decrypted message to out only when everything succeeded. Returns 0
 * with the verdict in *rep, or a negative P11AGENT_ERR_*.
 */
int smime_decrypt(const struct smime_decrypt_params *p,
    const struct smime_msg *m, BIO *out, struct smime_report *rep);

/*
 * Writes the MIME tree of a message with its S/MIME layers (signers,
 * recipients, algorithms) to out. Returns 0 or a negative P11AGENT_ERR_*.
 */
int smime_show(const uint8_t *msg, size_t len, BIO *out);

/* Certificates (certs.c) */

/*
 * Reads every certificate in a PEM (or one DER) file, appending to *skp
 * (created if NULL). Returns 0, P11AGENT_ERR_IO or _INVALID_FORMAT.
 */
int smime_read_certs(const char *path, STACK_OF(X509) **skp);

/*
 * The certificate for addr in dir (a file ADDRESS.pem; the domain is
 * tried as given and in lower case). Extra certificates in the file are
 * appended to *extrap if extrap is not NULL. Returns 0,
 * P11AGENT_ERR_KEY_NOT_FOUND or another error.
 */
int smime_certdir_find(const char *dir, const char *addr, X509 **certp,
    STACK_OF(X509) **extrap);

/* Appends the CA certificates found in dir's *.pem files to *skp. */
int smime_certdir_cas(const char *dir, STACK_OF(X509) **skp);

/*
 * Builds the issuer chain of cert from pool (not including cert, the
 * root left out) into a new stack *chainp. Missing issuers end the chain
 * early: a verifier may still have them. Returns 0 or _NO_MEMORY.
 */
int smime_build_chain(X509 *cert, STACK_OF(X509) *pool,
    STACK_OF(X509) **chainp);

/* A trust store from cafile and/or capath; both NULL: the system store. */
int smime_trust_store(const char *cafile, const char *capath,
    X509_STORE **storep);

/* 1 if cert names addr (SAN rfc822Name or subject emailAddress). */
int smime_cert_has_addr(X509 *cert, const char *addr);

/* The certificate's addresses joined by ", " into buf. */
void smime_cert_addrs(X509 *cert, char *buf, size_t len);

/* "CN" of name, else the whole name in one line, into buf. */
void smime_name(const X509_NAME *name, char *buf, size_t len);

/* The default certificate directory ($XDG_DATA_HOME/p11agent/certs or
 * ~/.local/share/p11agent/certs) into buf; -1 if none can be formed. */
int smime_default_certdir(char *buf, size_t len);

/* Detached signatures over raw bytes, for git (gitsig.c) */

/* Verdicts of smime_detached_verify(); 0 means none was reached. */
#define SMIME_SIG_GOOD		1	/* valid, trusted, for signing */
#define SMIME_SIG_BAD		2	/* does not match the data */
#define SMIME_SIG_UNTRUSTED	3	/* valid; no chain to an anchor */
#define SMIME_SIG_INVALID_CERT	4	/* valid; certificate refused */
#define SMIME_SIG_EXPIRED	5	/* valid; certificate expired now */
#define SMIME_SIG_NO_CERT	6	/* the signer's certificate is missing */
#define SMIME_SIG_WEAK		7	/* SHA-1, MD5 or an unknown digest */

struct smime_sigcheck {
	int	 verdict;		/* SMIME_SIG_* */
	char	 line[SMIME_LINE_MAX];	/* the verdict or the reason */
	char	 fpr[41];		/* signer certificate SHA-1, hex */
	char	 signer[512];		/* "Name <address>" from the cert */
	char	 issuer[256];		/* the issuer's CN */
	time_t	 signed_at;		/* signingTime; 0 if absent */
	time_t	 not_after;		/* the certificate's */
	int	 pk_nid;		/* NID_rsaEncryption, ..._ecPublicKey */
	int	 md_nid;		/* NID_sha256, ... */
};

/*
 * Signs data (raw bytes, not canonicalised) with a detached CMS
 * signature carrying s->cert and s->chain, and writes it to out as PEM
 * "SIGNED MESSAGE" (pem set, as gpgsm -a writes) or DER. If info is not
 * NULL it describes the signature made. Returns 0, _DENIED (certificate
 * expired or not yet valid), _INVALID_ARGUMENT (digest) or _LIBCRYPTO.
 */
int smime_detached_sign(const struct smime_signer *s, const uint8_t *data,
    size_t len, int pem, BIO *out, struct smime_sigcheck *info);

/*
 * Verifies a detached signature (PEM or DER) over data: exactly one
 * signer, the signature, the chain to t->store now and at the signing
 * time, key usage and digest strength. Returns 0 with the verdict in
 * *res, or _INVALID_FORMAT (res->line says why) or another error.
 */
int smime_detached_verify(const struct smime_trust *t, const uint8_t *sig,
    size_t siglen, const uint8_t *data, size_t len,
    struct smime_sigcheck *res);

#endif /* P11AGENT_SMIME_H */
