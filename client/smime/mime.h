/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * mime.h - RFC 5322 / MIME parsing and building for p11 smime.
 * The parser takes untrusted bytes and never reads past them; every size
 * it allocates for is bounded by the limits below. A parsed entity points
 * into the caller's buffer, which must outlive it. Not thread-safe per
 * object; no global state. Uses no OpenSSL, so it fuzzes on its own.
 */
#ifndef P11AGENT_MIME_H
#define P11AGENT_MIME_H

#include <stddef.h>
#include <stdint.h>

/* Limits (hostile input). */
#define MIME_MAX_HEADER_BLOCK	(256 * 1024)	/* bytes, one entity's header */
#define MIME_MAX_FIELDS		1024		/* header fields per entity */
#define MIME_MAX_DEPTH		16		/* nested multiparts */
#define MIME_MAX_PARTS		4096		/* entities in one message */
#define MIME_MAX_BOUNDARY	70		/* bytes, RFC 2046 5.1.1 */
#define MIME_MAX_ADDRS		1024		/* addresses in one header */
#define MIME_MAX_MESSAGE	((size_t)1 << 30) /* bytes, a whole message */

/* One header field. value is unfolded and trimmed; raw is the field as
 * it appeared (folded, without the final line ending). */
struct mime_field {
	char		*name;
	char		*value;
	const uint8_t	*raw;
	size_t		 rawlen;
};

struct mime_entity {
	struct mime_field	*fields;
	size_t			 nfields;
	const uint8_t		*raw;		/* the whole entity */
	size_t			 rawlen;
	const uint8_t		*body;		/* after the empty line */
	size_t			 bodylen;
	char			*type;		/* "text/plain", lower case */
	char			*boundary;	/* multipart only, else NULL */
	const uint8_t		*preamble;	/* multipart only */
	size_t			 preamblelen;
	const uint8_t		*epilogue;	/* multipart only; may be NULL */
	size_t			 epiloguelen;
	struct mime_entity	**parts;
	size_t			 nparts;
	int			 unterminated;	/* multipart without close */
};

/* An address from an address-list header. */
struct mime_addr {
	char	*display;	/* display name, "" if none */
	char	*addr;		/* addr-spec, local@domain, CFWS removed */
};

/*
 * A growable byte string for building output. With sink set it streams
 * instead: the bytes are handed to sink (which returns 0 or a negative
 * P11AGENT_ERR_*) whenever MIME_OUT_CHUNK have gathered, large pieces
 * directly, the rest by mime_out_flush(); total counts what was handed on.
 * Long scans of the input also call sink(arg, NULL, 0) now and then, so
 * that the owner can release input pages already read.
 */
#define MIME_OUT_CHUNK		(64 * 1024)
#define MIME_SCAN_TICK		((size_t)4 << 20) /* bytes between ticks */
struct mime_out {
	uint8_t	*p;
	size_t	 len;
	size_t	 cap;
	int	 err;	/* sticky: 0 or a negative P11AGENT_ERR_* */
	int	(*sink)(void *arg, const uint8_t *p, size_t len);
	void	*arg;
	uint64_t total;
};

/*
 * Parses an RFC 5322 message (or MIME entity) with its multipart tree.
 * LF and CRLF line endings are both accepted. Returns 0,
 * P11AGENT_ERR_INVALID_FORMAT for malformed input, P11AGENT_ERR_MAX_SIZE
 * when a limit is hit, or P11AGENT_ERR_NO_MEMORY. On success *ep is owned
 * by the caller (mime_free()) and points into buf.
 */
int mime_parse(const uint8_t *buf, size_t len, struct mime_entity **ep);

/* mime_parse() that calls tick(arg) after every MIME_SCAN_TICK bytes it
 * scanned (tick may be NULL): the buffer may be a file mapping whose
 * pages the caller releases as the parser moves on. */
int mime_parse_ex(const uint8_t *buf, size_t len, void (*tick)(void *),
    void *arg, struct mime_entity **ep);

/* Frees an entity and its parts; NULL is allowed. */
void mime_free(struct mime_entity *e);

/* The unfolded value of the first field named name (case-insensitive),
 * or NULL. Points into e. */
const char *mime_get(const struct mime_entity *e, const char *name);

/* Number of fields named name. */
size_t mime_count(const struct mime_entity *e, const char *name);

/*
 * The parameter param of a structured header value (Content-Type,
 * Content-Disposition), with quoted strings and comments handled.
 * Returns 0 with *outp malloc'd (caller frees), P11AGENT_ERR_KEY_NOT_FOUND
 * if absent, or P11AGENT_ERR_NO_MEMORY.
 */
int mime_param(const char *value, const char *param, char **outp);

/*
 * The media type of a Content-Type value as "type/subtype", lower case,
 * comments removed. Returns 0 with *outp malloc'd (caller frees),
 * P11AGENT_ERR_INVALID_FORMAT or P11AGENT_ERR_NO_MEMORY.
 */
int mime_media_type(const char *value, char **outp);

/*
 * Parses an RFC 5322 address-list (From, To, Cc, Bcc, Reply-To) with
 * display names, quoted strings, groups and comments, appending to
 * *listp / *np (which may start as NULL / 0). Entries without an addr-spec
 * are skipped. Returns 0, P11AGENT_ERR_MAX_SIZE or P11AGENT_ERR_NO_MEMORY.
 * Release with mime_addrs_free().
 */
int mime_addrs(const char *value, struct mime_addr **listp, size_t *np);
void mime_addrs_free(struct mime_addr *list, size_t n);

/* Collects the addresses of every field named name in e. */
int mime_addrs_of(const struct mime_entity *e, const char *name,
    struct mime_addr **listp, size_t *np);

/* 1 if two addr-specs name the same mailbox: local part exact, domain
 * case-insensitive. */
int mime_addr_equal(const char *a, const char *b);

/* Output buffer helpers; errors are sticky in o->err. */
void mime_out_put(struct mime_out *o, const void *p, size_t len);
void mime_out_str(struct mime_out *o, const char *s);
void mime_out_free(struct mime_out *o);

/* Hands what is buffered to the sink (no-op without one); returns o->err. */
int mime_out_flush(struct mime_out *o);

/* Appends in with every line ending (LF, CR or CRLF) made CRLF. */
void mime_out_crlf(struct mime_out *o, const uint8_t *in, size_t len);

/* Appends base64 of in, 76 characters a line, CRLF line endings. */
void mime_out_base64(struct mime_out *o, const uint8_t *in, size_t len);

/* Appends in as quoted-printable (RFC 2045 6.7), input line endings
 * becoming CRLF hard breaks; "From " at a line start is protected. */
void mime_out_qp(struct mime_out *o, const uint8_t *in, size_t len);

/*
 * Decodes base64, ignoring whitespace. Returns 0 with *outp malloc'd,
 * P11AGENT_ERR_INVALID_FORMAT for a bad character or truncated input,
 * or P11AGENT_ERR_NO_MEMORY.
 */
int mime_base64_decode(const uint8_t *in, size_t len, uint8_t **outp,
    size_t *lenp);

/* The same, appending to o (which may stream); returns 0,
 * P11AGENT_ERR_INVALID_FORMAT or o's error. */
int mime_base64_decode_out(const uint8_t *in, size_t len,
    struct mime_out *o);

/* 1 if the bytes need a 7-bit transfer encoding to survive mail: 8-bit
 * bytes, NUL, a bare CR, or a line longer than 998 octets. */
int mime_needs_encoding(const uint8_t *p, size_t len);

/*
 * Writes e as a 7-bit-safe, CRLF-canonical MIME entity: only its Content-*
 * header fields (Content-Type added if missing), leaves with 8-bit data
 * re-encoded as quoted-printable (text) or base64, multiparts rebuilt
 * around their parts. This is what gets signed or encrypted.
 */
int mime_write_content(const struct mime_entity *e, struct mime_out *o);

/*
 * Writes the header fields of e that stay outside the S/MIME layer
 * (everything but Content-*, MIME-Version and Bcc), CRLF-canonical.
 */
void mime_write_outer(const struct mime_entity *e, struct mime_out *o);

/*
 * Writes a new boundary string (at most 40 characters) into b, derived
 * from seed so that it does not occur in the data that follows.
 */
void mime_make_boundary(char b[64], const uint8_t *seed, size_t seedlen);

/* 1 if s (NUL-terminated, len bytes) case-insensitively starts with pfx. */
int mime_prefix(const char *s, const char *pfx);

#endif /* P11AGENT_MIME_H */
