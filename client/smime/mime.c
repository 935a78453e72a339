/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * mime.c - RFC 5322 / RFC 2045-2046 parsing, address lists, and the
 * 7-bit, CRLF-canonical writer that S/MIME signs. Input is hostile: every
 * scan is bounded by the buffer length, recursion by MIME_MAX_DEPTH, and
 * allocation by the MIME_MAX_* limits. Parsed entities borrow the input.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <p11agent/err.h>

#include "mime.h"

struct parse_ctx {
	size_t	nentities;
	size_t	scanned;		/* since the last tick */
	void	(*tick)(void *);
	void	*arg;
};

static int parse_entity(struct parse_ctx *, const uint8_t *, size_t, int,
    int, struct mime_entity **);

int
mime_prefix(const char *s, const char *pfx)
{
	return strncasecmp(s, pfx, strlen(pfx)) == 0;
}

/* ------------------------------------------------------------------ */
/* Output buffer */

int
mime_out_flush(struct mime_out *o)
{
	int r;

	if (o->err != 0 || o->sink == NULL || o->len == 0)
		return o->err;
	if ((r = o->sink(o->arg, o->p, o->len)) != 0)
		o->err = r;
	else
		o->total += o->len;
	/* May hold plaintext. */
	memset(o->p, 0, o->len);
	o->len = 0;
	return o->err;
}

/* A streaming owner's chance to release input during a long scan. */
static void
out_tick(struct mime_out *o)
{
	int r;

	if (o->err == 0 && o->sink != NULL && (r = o->sink(o->arg, NULL,
	    0)) != 0)
		o->err = r;
}

static void
out_grow(struct mime_out *o, size_t need)
{
	size_t ncap;
	uint8_t *np;

	if (o->err != 0)
		return;
	if (o->sink != NULL && o->len > 0 && o->len + need > MIME_OUT_CHUNK)
		mime_out_flush(o);
	if (o->err != 0 || o->cap - o->len >= need)
		return;
	if (need > MIME_MAX_MESSAGE * 2 || o->len > MIME_MAX_MESSAGE * 2) {
		o->err = P11AGENT_ERR_MAX_SIZE;
		return;
	}
	ncap = o->cap ? o->cap : 4096;
	while (ncap - o->len < need)
		ncap *= 2;
	if ((np = realloc(o->p, ncap)) == NULL) {
		o->err = P11AGENT_ERR_NO_MEMORY;
		return;
	}
	o->p = np;
	o->cap = ncap;
}

void
mime_out_put(struct mime_out *o, const void *p, size_t len)
{
	if (len == 0)
		return;
	if (o->sink != NULL && len >= MIME_OUT_CHUNK) {
		/* Large pieces go straight through. */
		int r;

		if (mime_out_flush(o) != 0)
			return;
		if ((r = o->sink(o->arg, p, len)) != 0)
			o->err = r;
		else
			o->total += len;
		return;
	}
	out_grow(o, len);
	if (o->err != 0)
		return;
	memcpy(o->p + o->len, p, len);
	o->len += len;
}

void
mime_out_str(struct mime_out *o, const char *s)
{
	mime_out_put(o, s, strlen(s));
}

void
mime_out_free(struct mime_out *o)
{
	if (o->p != NULL) {
		/* May hold plaintext. */
		memset(o->p, 0, o->cap);
		free(o->p);
	}
	o->p = NULL;
	o->len = o->cap = 0;
}

void
mime_out_crlf(struct mime_out *o, const uint8_t *in, size_t len)
{
	size_t i, start = 0;

	for (i = 0; i < len; i++) {
		if (in[i] == '\n') {
			mime_out_put(o, in + start, i - start);
			mime_out_put(o, "\r\n", 2);
			start = i + 1;
		} else if (in[i] == '\r') {
			mime_out_put(o, in + start, i - start);
			mime_out_put(o, "\r\n", 2);
			if (i + 1 < len && in[i + 1] == '\n')
				i++;
			start = i + 1;
		}
	}
	mime_out_put(o, in + start, len - start);
}

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void
mime_out_base64(struct mime_out *o, const uint8_t *in, size_t len)
{
	char line[80];
	size_t i = 0, n = 0;
	uint32_t v;

	while (i < len) {
		size_t rem = len - i;

		v = (uint32_t)in[i] << 16;
		if (rem > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (rem > 2)
			v |= in[i + 2];
		line[n++] = b64chars[(v >> 18) & 63];
		line[n++] = b64chars[(v >> 12) & 63];
		line[n++] = rem > 1 ? b64chars[(v >> 6) & 63] : '=';
		line[n++] = rem > 2 ? b64chars[v & 63] : '=';
		i += rem > 2 ? 3 : rem;
		if (n == 76 || i >= len) {
			line[n++] = '\r';
			line[n++] = '\n';
			mime_out_put(o, line, n);
			n = 0;
		}
	}
}

static int
b64val(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
mime_base64_decode(const uint8_t *in, size_t len, uint8_t **outp,
    size_t *lenp)
{
	struct mime_out o = { 0 };
	int r;

	*outp = NULL;
	*lenp = 0;
	if ((r = mime_base64_decode_out(in, len, &o)) != 0) {
		mime_out_free(&o);
		return r;
	}
	if (o.p == NULL && (o.p = malloc(1)) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	*outp = o.p;
	*lenp = o.len;
	return 0;
}

int
mime_base64_decode_out(const uint8_t *in, size_t len, struct mime_out *o)
{
	uint8_t out[3 * 1024 + 3];
	size_t i, n = 0, q = 0, pad = 0;
	uint32_t acc = 0;
	int v;

	for (i = 0; i < len; i++) {
		uint8_t c = in[i];

		if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
			continue;
		if (c == '=') {
			/* Padding only at the end of a quantum. */
			if (q < 2)
				goto bad;
			pad++;
			if (q + pad > 4)
				goto bad;
			continue;
		}
		if (pad != 0 || (v = b64val(c)) < 0)
			goto bad;
		acc = acc << 6 | (uint32_t)v;
		if (++q == 4) {
			out[n++] = (uint8_t)(acc >> 16);
			out[n++] = (uint8_t)(acc >> 8);
			out[n++] = (uint8_t)acc;
			q = 0;
			acc = 0;
			if (n >= 3 * 1024) {
				mime_out_put(o, out, n);
				n = 0;
				if (o->err != 0)
					return o->err;
			}
		}
	}
	if (pad != 0) {
		if (q + pad != 4)
			goto bad;
		if (q == 2) {
			out[n++] = (uint8_t)(acc >> 4);
		} else {
			out[n++] = (uint8_t)(acc >> 10);
			out[n++] = (uint8_t)(acc >> 2);
		}
	} else if (q != 0) {
		/* Truncated: a partial quantum without padding. */
		goto bad;
	}
	mime_out_put(o, out, n);
	memset(out, 0, sizeof(out));
	return o->err;
 bad:
	memset(out, 0, sizeof(out));
	return P11AGENT_ERR_INVALID_FORMAT;
}

void
mime_out_qp(struct mime_out *o, const uint8_t *in, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	char line[96];
	size_t i = 0, n = 0;

	while (i < len) {
		uint8_t c = in[i];
		char enc[3];
		size_t elen;
		int eol = 0;

		if (c == '\r' || c == '\n') {
			/* Hard line break; CRLF, LF or CR in the input. */
			if (c == '\r' && i + 1 < len && in[i + 1] == '\n')
				i++;
			i++;
			mime_out_put(o, line, n);
			mime_out_put(o, "\r\n", 2);
			n = 0;
			continue;
		}
		if (i + 1 >= len || in[i + 1] == '\r' || in[i + 1] == '\n')
			eol = 1;
		if ((c >= 33 && c <= 126 && c != '=') ||
		    ((c == ' ' || c == '\t') && !eol)) {
			enc[0] = (char)c;
			elen = 1;
			/* "From " at a line start would be mangled by mbox;
			 * a lone "." would end an SMTP DATA phase. */
			if (n == 0 && ((c == 'F' && len - i >= 5 &&
			    memcmp(in + i, "From ", 5) == 0) ||
			    (c == '.' && eol)))
				elen = 0;
		} else
			elen = 0;
		if (elen == 0) {
			enc[0] = '=';
			enc[1] = hex[c >> 4];
			enc[2] = hex[c & 15];
			elen = 3;
		}
		/* Soft break so that no line exceeds 76 characters. */
		if (n + elen > (eol ? 76 : 75)) {
			mime_out_put(o, line, n);
			mime_out_put(o, "=\r\n", 3);
			n = 0;
		}
		memcpy(line + n, enc, elen);
		n += elen;
		i++;
	}
	if (n > 0) {
		mime_out_put(o, line, n);
		/* A soft break keeps "no final newline" exact. */
		mime_out_put(o, "=\r\n", 3);
	}
}

int
mime_needs_encoding(const uint8_t *p, size_t len)
{
	size_t i, col = 0;

	for (i = 0; i < len; i++) {
		if (p[i] >= 0x80 || p[i] == 0)
			return 1;
		if (p[i] == '\r') {
			if (i + 1 >= len || p[i + 1] != '\n')
				return 1;
			continue;
		}
		if (p[i] == '\n') {
			col = 0;
			continue;
		}
		if (++col > 998)
			return 1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Header fields */

static char *
xstrndup(const char *s, size_t n)
{
	char *p;

	if ((p = malloc(n + 1)) == NULL)
		return NULL;
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* Position after the line ending at or after i, and the line content end. */
static size_t
line_end(const uint8_t *p, size_t len, size_t i, size_t *contentendp)
{
	const uint8_t *nl;

	nl = memchr(p + i, '\n', len - i);
	if (nl == NULL) {
		*contentendp = len;
		return len;
	}
	*contentendp = (size_t)(nl - p);
	if (*contentendp > i && p[*contentendp - 1] == '\r')
		(*contentendp)--;
	return (size_t)(nl - p) + 1;
}

static int
unfold(const uint8_t *raw, size_t len, char **valuep)
{
	char *v;
	size_t i, n = 0, start;

	*valuep = NULL;
	if ((v = malloc(len + 1)) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	for (i = 0; i < len; i++) {
		if (raw[i] == '\r' || raw[i] == '\n')
			continue;
		/* A NUL would silently truncate the C string. */
		v[n++] = raw[i] == '\0' ? ' ' : (char)raw[i];
	}
	v[n] = '\0';
	for (start = 0; v[start] == ' ' || v[start] == '\t'; start++)
		;
	while (n > start && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		v[--n] = '\0';
	memmove(v, v + start, n - start + 1);
	*valuep = v;
	return 0;
}

static int
add_field(struct mime_entity *e, const uint8_t *raw, size_t rawlen)
{
	struct mime_field *nf, *f;
	const uint8_t *colon;
	size_t namelen;
	int r;

	if (e->nfields >= MIME_MAX_FIELDS)
		return P11AGENT_ERR_MAX_SIZE;
	colon = memchr(raw, ':', rawlen);
	if (colon == NULL)
		return P11AGENT_ERR_INVALID_FORMAT;
	namelen = (size_t)(colon - raw);
	/* obs-field: WSP between the name and the colon. */
	while (namelen > 0 && (raw[namelen - 1] == ' ' ||
	    raw[namelen - 1] == '\t'))
		namelen--;
	if (namelen == 0)
		return P11AGENT_ERR_INVALID_FORMAT;
	for (size_t i = 0; i < namelen; i++)
		if (raw[i] < 33 || raw[i] > 126)
			return P11AGENT_ERR_INVALID_FORMAT;
	if ((nf = reallocarray(e->fields, e->nfields + 1,
	    sizeof(*nf))) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	e->fields = nf;
	f = &e->fields[e->nfields];
	memset(f, 0, sizeof(*f));
	if ((f->name = xstrndup((const char *)raw, namelen)) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	if ((r = unfold(colon + 1, rawlen - (size_t)(colon - raw) - 1,
	    &f->value)) != 0) {
		free(f->name);
		return r;
	}
	f->raw = raw;
	f->rawlen = rawlen;
	e->nfields++;
	return 0;
}

/* Parses the header block; sets e->body/bodylen. */
static int
parse_header(struct mime_entity *e, const uint8_t *p, size_t len, int top)
{
	size_t i = 0, next, cend, fstart = 0, fend = 0;
	int infield = 0, r;

	/* An mbox "From " separator line is not a header field. */
	if (top && len >= 5 && memcmp(p, "From ", 5) == 0)
		i = line_end(p, len, 0, &cend);
	while (i < len) {
		if (i > MIME_MAX_HEADER_BLOCK)
			return P11AGENT_ERR_MAX_SIZE;
		next = line_end(p, len, i, &cend);
		if (cend == i) {
			/* Empty line: end of the header. */
			if (infield && (r = add_field(e, p + fstart,
			    fend - fstart)) != 0)
				return r;
			e->body = p + next;
			e->bodylen = len - next;
			return 0;
		}
		if (p[i] == ' ' || p[i] == '\t') {
			/* Continuation; one before any field is malformed. */
			if (!infield)
				return P11AGENT_ERR_INVALID_FORMAT;
			fend = cend;
		} else {
			if (infield && (r = add_field(e, p + fstart,
			    fend - fstart)) != 0)
				return r;
			infield = 1;
			fstart = i;
			fend = cend;
		}
		i = next;
	}
	/* Header only, no body. */
	if (infield && (r = add_field(e, p + fstart, fend - fstart)) != 0)
		return r;
	e->body = p + len;
	e->bodylen = 0;
	return 0;
}

const char *
mime_get(const struct mime_entity *e, const char *name)
{
	size_t i;

	for (i = 0; i < e->nfields; i++)
		if (strcasecmp(e->fields[i].name, name) == 0)
			return e->fields[i].value;
	return NULL;
}

size_t
mime_count(const struct mime_entity *e, const char *name)
{
	size_t i, n = 0;

	for (i = 0; i < e->nfields; i++)
		if (strcasecmp(e->fields[i].name, name) == 0)
			n++;
	return n;
}

/* ------------------------------------------------------------------ */
/* Structured values: RFC 2045 tokens, quoted strings, comments */

static const char *
skip_cfws(const char *s)
{
	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s != '(')
			return s;
		/* Comments nest; quoted-pairs escape. */
		int depth = 0;
		do {
			if (*s == '\\' && s[1] != '\0')
				s++;
			else if (*s == '(')
				depth++;
			else if (*s == ')')
				depth--;
			s++;
		} while (*s != '\0' && depth > 0);
	}
}

static int
is_tspecial(int c)
{
	return c != '\0' && strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static int
is_token(int c)
{
	return c > 32 && c < 127 && !is_tspecial(c);
}

/* Reads a token or quoted-string into a malloc'd string; NULL on error
 * with *errp set. */
static char *
read_word(const char **sp, int *errp)
{
	const char *s = *sp, *start;
	char *out;
	size_t n = 0;

	*errp = 0;
	if (*s == '"') {
		size_t cap = strlen(s);

		if ((out = malloc(cap + 1)) == NULL) {
			*errp = P11AGENT_ERR_NO_MEMORY;
			return NULL;
		}
		s++;
		while (*s != '\0' && *s != '"') {
			if (*s == '\\' && s[1] != '\0')
				s++;
			out[n++] = *s++;
		}
		if (*s == '"')
			s++;
		out[n] = '\0';
		*sp = s;
		return out;
	}
	for (start = s; is_token((unsigned char)*s); s++)
		;
	if (s == start) {
		*errp = P11AGENT_ERR_INVALID_FORMAT;
		return NULL;
	}
	if ((out = xstrndup(start, (size_t)(s - start))) == NULL)
		*errp = P11AGENT_ERR_NO_MEMORY;
	*sp = s;
	return out;
}

int
mime_media_type(const char *value, char **outp)
{
	const char *s;
	char *type = NULL, *sub = NULL, *out;
	int r;

	*outp = NULL;
	s = skip_cfws(value);
	if ((type = read_word(&s, &r)) == NULL)
		return r;
	s = skip_cfws(s);
	if (*s != '/') {
		free(type);
		return P11AGENT_ERR_INVALID_FORMAT;
	}
	s = skip_cfws(s + 1);
	if ((sub = read_word(&s, &r)) == NULL) {
		free(type);
		return r;
	}
	if ((out = malloc(strlen(type) + strlen(sub) + 2)) == NULL) {
		free(type);
		free(sub);
		return P11AGENT_ERR_NO_MEMORY;
	}
	strcpy(out, type);
	strcat(out, "/");
	strcat(out, sub);
	free(type);
	free(sub);
	for (char *c = out; *c != '\0'; c++)
		*c = (char)tolower((unsigned char)*c);
	*outp = out;
	return 0;
}

int
mime_param(const char *value, const char *param, char **outp)
{
	const char *s = value;
	char *name, *val;
	int r;

	*outp = NULL;
	for (;;) {
		/* Skip to the next ';' outside quoted strings and comments. */
		while (*s != '\0' && *s != ';') {
			if (*s == '"') {
				for (s++; *s != '\0' && *s != '"'; s++)
					if (*s == '\\' && s[1] != '\0')
						s++;
				if (*s == '"')
					s++;
			} else if (*s == '(')
				s = skip_cfws(s);
			else
				s++;
		}
		if (*s == '\0')
			return P11AGENT_ERR_KEY_NOT_FOUND;
		s = skip_cfws(s + 1);
		if ((name = read_word(&s, &r)) == NULL) {
			if (r == P11AGENT_ERR_NO_MEMORY)
				return r;
			continue;
		}
		s = skip_cfws(s);
		if (*s != '=') {
			free(name);
			continue;
		}
		s = skip_cfws(s + 1);
		if ((val = read_word(&s, &r)) == NULL) {
			free(name);
			if (r == P11AGENT_ERR_NO_MEMORY)
				return r;
			continue;
		}
		/* XXX RFC 2231 continuations (name*0=) are not joined; no
		 * parameter we act on needs them in practice. */
		if (strcasecmp(name, param) == 0) {
			free(name);
			*outp = val;
			return 0;
		}
		free(name);
		free(val);
	}
}

/* ------------------------------------------------------------------ */
/* Entities and multiparts */

/* Does the line at p[i..cend) start a boundary delimiter? Returns 0 no,
 * 1 delimiter, 2 close delimiter. */
static int
is_delimiter(const uint8_t *p, size_t i, size_t cend, const char *b,
    size_t blen)
{
	size_t j;
	int close = 0;

	if (cend - i < 2 + blen || p[i] != '-' || p[i + 1] != '-' ||
	    memcmp(p + i + 2, b, blen) != 0)
		return 0;
	j = i + 2 + blen;
	if (cend - j >= 2 && p[j] == '-' && p[j + 1] == '-') {
		close = 1;
		j += 2;
	}
	/* Only transport padding may follow. */
	for (; j < cend; j++)
		if (p[j] != ' ' && p[j] != '\t')
			return 0;
	return close ? 2 : 1;
}

/* Start of the line ending just before position i (a line start). */
static size_t
before_eol(const uint8_t *p, size_t start, size_t i)
{
	if (i > start && p[i - 1] == '\n') {
		i--;
		if (i > start && p[i - 1] == '\r')
			i--;
	}
	return i;
}

static int
parse_multipart(struct parse_ctx *ctx, struct mime_entity *e, int depth)
{
	const uint8_t *p = e->body;
	size_t len = e->bodylen, blen = strlen(e->boundary);
	size_t i = 0, next, cend, partstart = 0;
	struct mime_entity *part, **np;
	int inpart = 0, d, r;

	e->preamble = p;
	e->preamblelen = len;
	while (i < len) {
		next = line_end(p, len, i, &cend);
		if (ctx->tick != NULL && (ctx->scanned += next - i) >=
		    MIME_SCAN_TICK) {
			ctx->tick(ctx->arg);
			ctx->scanned = 0;
		}
		if ((d = is_delimiter(p, i, cend, e->boundary, blen)) != 0) {
			size_t end = before_eol(p, 0, i);

			if (inpart) {
				if (end < partstart)
					end = partstart;
				if ((r = parse_entity(ctx, p + partstart,
				    end - partstart, depth + 1, 0,
				    &part)) != 0)
					return r;
				np = reallocarray(e->parts, e->nparts + 1,
				    sizeof(*np));
				if (np == NULL) {
					mime_free(part);
					return P11AGENT_ERR_NO_MEMORY;
				}
				e->parts = np;
				e->parts[e->nparts++] = part;
			} else
				e->preamblelen = end;
			if (d == 2) {
				e->epilogue = p + next;
				e->epiloguelen = len - next;
				return 0;
			}
			inpart = 1;
			partstart = next;
		}
		i = next;
	}
	/* No close delimiter: keep the last part, remember the damage. */
	e->unterminated = 1;
	if (inpart) {
		if ((r = parse_entity(ctx, p + partstart, len - partstart,
		    depth + 1, 0, &part)) != 0)
			return r;
		if ((np = reallocarray(e->parts, e->nparts + 1,
		    sizeof(*np))) == NULL) {
			mime_free(part);
			return P11AGENT_ERR_NO_MEMORY;
		}
		e->parts = np;
		e->parts[e->nparts++] = part;
	}
	return 0;
}

static int
parse_entity(struct parse_ctx *ctx, const uint8_t *buf, size_t len,
    int depth, int digest, struct mime_entity **ep)
{
	struct mime_entity *e;
	const char *ct;
	int r;

	*ep = NULL;
	if (depth > MIME_MAX_DEPTH || ++ctx->nentities > MIME_MAX_PARTS)
		return P11AGENT_ERR_MAX_SIZE;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return P11AGENT_ERR_NO_MEMORY;
	e->raw = buf;
	e->rawlen = len;
	if ((r = parse_header(e, buf, len, depth == 0)) != 0)
		goto out;
	ct = mime_get(e, "Content-Type");
	if (ct == NULL || mime_media_type(ct, &e->type) != 0) {
		/* RFC 2045 5.2: default (also for an unusable value). */
		free(e->type);
		e->type = strdup(digest ? "message/rfc822" : "text/plain");
		if (e->type == NULL) {
			r = P11AGENT_ERR_NO_MEMORY;
			goto out;
		}
	}
	if (strncmp(e->type, "multipart/", 10) == 0 && ct != NULL) {
		r = mime_param(ct, "boundary", &e->boundary);
		if (r == P11AGENT_ERR_KEY_NOT_FOUND)
			r = P11AGENT_ERR_INVALID_FORMAT;
		if (r != 0)
			goto out;
		if (e->boundary[0] == '\0' ||
		    strlen(e->boundary) > MIME_MAX_BOUNDARY) {
			r = P11AGENT_ERR_INVALID_FORMAT;
			goto out;
		}
		if ((r = parse_multipart(ctx, e, depth)) != 0)
			goto out;
	}
	*ep = e;
	e = NULL;
	r = 0;
 out:
	mime_free(e);
	return r;
}

int
mime_parse(const uint8_t *buf, size_t len, struct mime_entity **ep)
{
	return mime_parse_ex(buf, len, NULL, NULL, ep);
}

int
mime_parse_ex(const uint8_t *buf, size_t len, void (*tick)(void *),
    void *arg, struct mime_entity **ep)
{
	struct parse_ctx ctx = { 0 };

	ctx.tick = tick;
	ctx.arg = arg;
	*ep = NULL;
	if (len > MIME_MAX_MESSAGE)
		return P11AGENT_ERR_MAX_SIZE;
	return parse_entity(&ctx, buf, len, 0, 0, ep);
}

void
mime_free(struct mime_entity *e)
{
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < e->nfields; i++) {
		free(e->fields[i].name);
		free(e->fields[i].value);
	}
	free(e->fields);
	for (i = 0; i < e->nparts; i++)
		mime_free(e->parts[i]);
	free(e->parts);
	free(e->type);
	free(e->boundary);
	free(e);
}

/* ------------------------------------------------------------------ */
/* Addresses (RFC 5322 3.4) */

enum tok { T_END, T_WORD, T_QUOTED, T_LITERAL, T_SPECIAL };

struct lexer {
	const char	*s;
	char		*text;	/* scratch, as long as the input */
};

/* Next token; text of words in lx->text. Comments are skipped. */
static enum tok
lex(struct lexer *lx, char *specialp)
{
	const char *s = skip_cfws(lx->s);
	size_t n = 0;
	enum tok t;

	if (*s == '\0') {
		lx->s = s;
		return T_END;
	}
	if (*s == '"') {
		for (s++; *s != '\0' && *s != '"'; s++) {
			if (*s == '\\' && s[1] != '\0')
				s++;
			lx->text[n++] = *s;
		}
		if (*s == '"')
			s++;
		t = T_QUOTED;
	} else if (*s == '[') {
		for (; *s != '\0' && *s != ']'; s++) {
			if (*s == '\\' && s[1] != '\0')
				s++;
			lx->text[n++] = *s;
		}
		if (*s == ']')
			lx->text[n++] = *s++;
		t = T_LITERAL;
	} else if (strchr("<>@,;:.", *s) != NULL) {
		*specialp = *s++;
		t = T_SPECIAL;
	} else {
		/* atext, and anything else that is not a special, so that
		 * malformed input still yields words rather than loops. */
		while (*s != '\0' && *s != ' ' && *s != '\t' &&
		    strchr("<>@,;:.\"()[]\\", *s) == NULL)
			lx->text[n++] = *s++;
		if (n == 0) {
			/* A lone ')' '\\' or ']': skip it. */
			s++;
		}
		t = T_WORD;
	}
	lx->text[n] = '\0';
	lx->s = s;
	return t;
}

static int
atext_only(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) &&
		    strchr("!#$%&'*+-/=?^_`{|}~.", *s) == NULL &&
		    (unsigned char)*s < 0x80)
			return 0;
	return 1;
}

struct mbox {
	char	*display;	/* phrase before '<' */
	size_t	 dlen;
	char	*spec;		/* addr-spec being built */
	size_t	 slen;
	int	 angle;		/* inside <> */
	int	 seen_angle;
	int	 route;		/* inside an obs-route before ':' */
};

static void
app(char *dst, size_t *lenp, const char *s)
{
	size_t n = strlen(s);

	memcpy(dst + *lenp, s, n);
	*lenp += n;
	dst[*lenp] = '\0';
}

/* An addr-spec has no spaces or specials outside a quoted local part
 * (what is left after a lexer ran over malformed input may). */
static int
plausible(const char *s)
{
	if (*s == '"') {
		for (s++; *s != '\0' && *s != '"'; s++)
			if (*s == '\\' && s[1] != '\0')
				s++;
		if (*s == '"')
			s++;
	}
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 32 || *s == 127 ||
		    strchr("<>()[],;:\\\"", *s) != NULL)
			return 0;
	return 1;
}

static int
emit(struct mbox *m, struct mime_addr **listp, size_t *np)
{
	struct mime_addr *nl;
	char *at, *addr, *disp;

	/* Without <>, the words collected are the addr-spec itself. */
	if (!m->seen_angle && m->slen == 0 && m->dlen != 0) {
		memcpy(m->spec, m->display, m->dlen + 1);
		m->slen = m->dlen;
		m->dlen = 0;
		m->display[0] = '\0';
	}
	at = strrchr(m->spec, '@');
	if (at == NULL || at == m->spec || at[1] == '\0' ||
	    !plausible(m->spec))
		goto reset;
	if (*np >= MIME_MAX_ADDRS)
		return P11AGENT_ERR_MAX_SIZE;
	/* Trim the display name's trailing space. */
	while (m->dlen > 0 && m->display[m->dlen - 1] == ' ')
		m->display[--m->dlen] = '\0';
	addr = strdup(m->spec);
	disp = strdup(m->seen_angle ? m->display : "");
	nl = reallocarray(*listp, *np + 1, sizeof(*nl));
	if (addr == NULL || disp == NULL || nl == NULL) {
		free(addr);
		free(disp);
		if (nl != NULL)
			*listp = nl;
		return P11AGENT_ERR_NO_MEMORY;
	}
	*listp = nl;
	nl[*np].addr = addr;
	nl[*np].display = disp;
	(*np)++;
 reset:
	m->dlen = m->slen = 0;
	m->display[0] = m->spec[0] = '\0';
	m->angle = m->seen_angle = m->route = 0;
	return 0;
}

int
mime_addrs(const char *value, struct mime_addr **listp, size_t *np)
{
	struct lexer lx;
	struct mbox m;
	size_t cap = strlen(value) * 2 + 8;
	enum tok t;
	char sp = 0;
	int r = P11AGENT_ERR_NO_MEMORY;

	memset(&m, 0, sizeof(m));
	lx.s = value;
	lx.text = malloc(cap);
	m.display = malloc(cap);
	m.spec = malloc(cap);
	if (lx.text == NULL || m.display == NULL || m.spec == NULL)
		goto out;
	m.display[0] = m.spec[0] = '\0';
	while ((t = lex(&lx, &sp)) != T_END) {
		if (t == T_SPECIAL) {
			switch (sp) {
			case '<':
				m.angle = 1;
				m.seen_angle = 1;
				m.slen = 0;
				m.spec[0] = '\0';
				continue;
			case '>':
				m.angle = 0;
				continue;
			case ',':
				if (m.angle && m.route)
					continue;	/* obs-route list */
				/* FALLTHROUGH */
			case ';':
				if ((r = emit(&m, listp, np)) != 0)
					goto out;
				continue;
			case ':':
				if (m.angle) {
					/* End of an obs-route: drop it. */
					m.slen = 0;
					m.spec[0] = '\0';
					m.route = 0;
					continue;
				}
				/* A group name: forget it. */
				m.dlen = 0;
				m.display[0] = '\0';
				continue;
			case '@':
				if (m.angle && m.slen == 0)
					m.route = 1;
				break;
			default:
				break;
			}
			if (m.angle) {
				char s2[2] = { sp, '\0' };
				app(m.spec, &m.slen, s2);
			} else if (sp == '@' || sp == '.') {
				/* Bare addr-spec: collect in display for
				 * now, emit() moves it. No spaces added. */
				char s2[2] = { sp, '\0' };
				while (m.dlen > 0 &&
				    m.display[m.dlen - 1] == ' ')
					m.display[--m.dlen] = '\0';
				app(m.display, &m.dlen, s2);
			}
			continue;
		}
		if (m.angle) {
			if (t == T_QUOTED && !atext_only(lx.text)) {
				/* Keep a local part that needs its quotes. */
				app(m.spec, &m.slen, "\"");
				app(m.spec, &m.slen, lx.text);
				app(m.spec, &m.slen, "\"");
			} else
				app(m.spec, &m.slen, lx.text);
			continue;
		}
		/* Phrase word (or bare addr-spec part). */
		if (m.dlen > 0 && m.display[m.dlen - 1] != '@' &&
		    m.display[m.dlen - 1] != '.')
			app(m.display, &m.dlen, " ");
		app(m.display, &m.dlen, lx.text);
	}
	r = emit(&m, listp, np);
 out:
	free(lx.text);
	free(m.display);
	free(m.spec);
	return r;
}

void
mime_addrs_free(struct mime_addr *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(list[i].addr);
		free(list[i].display);
	}
	free(list);
}

int
mime_addrs_of(const struct mime_entity *e, const char *name,
    struct mime_addr **listp, size_t *np)
{
	size_t i;
	int r;

	for (i = 0; i < e->nfields; i++) {
		if (strcasecmp(e->fields[i].name, name) != 0)
			continue;
		if ((r = mime_addrs(e->fields[i].value, listp, np)) != 0)
			return r;
	}
	return 0;
}

int
mime_addr_equal(const char *a, const char *b)
{
	const char *aa = strrchr(a, '@'), *bb = strrchr(b, '@');

	if (aa == NULL || bb == NULL || aa - a != bb - b)
		return 0;
	return memcmp(a, b, (size_t)(aa - a)) == 0 &&
	    strcasecmp(aa + 1, bb + 1) == 0;
}

/* ------------------------------------------------------------------ */
/* Writing */

static int
is_content_field(const char *name)
{
	return mime_prefix(name, "Content-");
}

void
mime_write_outer(const struct mime_entity *e, struct mime_out *o)
{
	size_t i;

	for (i = 0; i < e->nfields; i++) {
		const char *n = e->fields[i].name;

		if (is_content_field(n) || strcasecmp(n, "MIME-Version") == 0 ||
		    strcasecmp(n, "Bcc") == 0)
			continue;
		mime_out_crlf(o, e->fields[i].raw, e->fields[i].rawlen);
		mime_out_put(o, "\r\n", 2);
	}
}

/* mime_needs_encoding() in pieces that end after a line feed, ticking
 * o's sink in between (a large body may be a file mapping). */
static int
needs_encoding_ticked(struct mime_out *o, const uint8_t *p, size_t len)
{
	const uint8_t *nl;
	size_t n, lim;

	while (len > MIME_SCAN_TICK && o->sink != NULL) {
		lim = len - MIME_SCAN_TICK < 1000 ? len - MIME_SCAN_TICK : 1000;
		/* No line feed within 1000 bytes: a line over 998. */
		if ((nl = memchr(p + MIME_SCAN_TICK, '\n', lim)) == NULL)
			return 1;
		n = (size_t)(nl - p) + 1;
		if (mime_needs_encoding(p, n))
			return 1;
		out_tick(o);
		p += n;
		len -= n;
	}
	return mime_needs_encoding(p, len);
}

static int
write_entity(const struct mime_entity *e, struct mime_out *o, int depth)
{
	const char *cte = mime_get(e, "Content-Transfer-Encoding");
	int multipart = e->boundary != NULL;
	int encode = 0, text, have_ct = 0;
	size_t i;

	if (depth > MIME_MAX_DEPTH)
		return P11AGENT_ERR_MAX_SIZE;
	text = strncmp(e->type, "text/", 5) == 0;
	/* base64 and quoted-printable bodies are 7-bit by definition;
	 * anything else with 8-bit data is re-encoded. */
	if (!multipart && (cte == NULL || (strcasecmp(cte, "base64") != 0 &&
	    strcasecmp(cte, "quoted-printable") != 0)) &&
	    needs_encoding_ticked(o, e->body, e->bodylen))
		encode = 1;
	/* XXX message/rfc822 with 8-bit content is base64-encoded here,
	 * which RFC 2046 5.2.1 does not allow; converting inside it would
	 * mean rewriting the enclosed message. */
	for (i = 0; i < e->nfields; i++) {
		const char *n = e->fields[i].name;

		/* Outside fields belong to the outer message; inside a
		 * multipart, a part keeps all of its fields. */
		if (depth == 0 && !is_content_field(n))
			continue;
		if (strcasecmp(n, "Content-Type") == 0)
			have_ct = 1;
		if (encode && strcasecmp(n, "Content-Transfer-Encoding") == 0)
			continue;
		mime_out_crlf(o, e->fields[i].raw, e->fields[i].rawlen);
		mime_out_put(o, "\r\n", 2);
	}
	if (!have_ct && depth == 0) {
		if (encode || (!multipart && needs_encoding_ticked(o, e->body,
		    e->bodylen)))
			mime_out_str(o, "Content-Type: text/plain; "
			    "charset=utf-8\r\n");
		else
			mime_out_str(o, "Content-Type: text/plain; "
			    "charset=us-ascii\r\n");
	}
	if (encode)
		mime_out_str(o, text ? "Content-Transfer-Encoding: "
		    "quoted-printable\r\n" : "Content-Transfer-Encoding: "
		    "base64\r\n");
	mime_out_put(o, "\r\n", 2);
	if (!multipart) {
		if (!encode)
			mime_out_crlf(o, e->body, e->bodylen);
		else if (text)
			mime_out_qp(o, e->body, e->bodylen);
		else
			mime_out_base64(o, e->body, e->bodylen);
		return o->err;
	}
	/* Multipart: the preamble, each part, the close delimiter. */
	mime_out_crlf(o, e->preamble, e->preamblelen);
	for (i = 0; i < e->nparts; i++) {
		int r;

		if (i > 0 || e->preamblelen > 0)
			mime_out_put(o, "\r\n", 2);
		mime_out_str(o, "--");
		mime_out_str(o, e->boundary);
		mime_out_put(o, "\r\n", 2);
		if ((r = write_entity(e->parts[i], o, depth + 1)) != 0)
			return r;
	}
	mime_out_str(o, "\r\n--");
	mime_out_str(o, e->boundary);
	mime_out_str(o, "--\r\n");
	if (e->epilogue != NULL)
		mime_out_crlf(o, e->epilogue, e->epiloguelen);
	return o->err;
}

int
mime_write_content(const struct mime_entity *e, struct mime_out *o)
{
	return write_entity(e, o, 0);
}

void
mime_make_boundary(char b[64], const uint8_t *seed, size_t seedlen)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, n;

	n = strlen(strcpy(b, "----=_p11agent_"));
	for (i = 0; i < seedlen && i < 12; i++) {
		b[n++] = hex[seed[i] >> 4];
		b[n++] = hex[seed[i] & 15];
	}
	b[n] = '\0';
}
