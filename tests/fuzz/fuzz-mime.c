/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * fuzz-mime.c - libFuzzer target for client/smime/mime.c: parses the
 * input as a message, then runs every consumer of the parse (header
 * parameters, address lists, the 7-bit writer, base64 of each body).
 * With standalone.c it is the fuzz-smoke-mime test over corpus/mime.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mime.h"

static void
walk(const struct mime_entity *e)
{
	struct mime_addr *a = NULL;
	struct mime_out o = { 0 };
	uint8_t *d = NULL;
	size_t n = 0, i;
	char *v = NULL;

	for (i = 0; i < e->nfields; i++) {
		if (mime_addrs(e->fields[i].value, &a, &n) == 0)
			for (size_t j = 0; j < n; j++)
				(void)mime_addr_equal(a[j].addr, "a@b.example");
		mime_addrs_free(a, n);
		a = NULL;
		n = 0;
		if (mime_param(e->fields[i].value, "boundary", &v) == 0)
			free(v);
		if (mime_media_type(e->fields[i].value, &v) == 0)
			free(v);
	}
	if (mime_base64_decode(e->body, e->bodylen, &d, &n) == 0)
		free(d);
	mime_out_qp(&o, e->body, e->bodylen);
	mime_out_free(&o);
	for (i = 0; i < e->nparts; i++)
		walk(e->parts[i]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_entity *e = NULL;
	struct mime_out o = { 0 };

	if (mime_parse(data, size, &e) != 0)
		return 0;
	walk(e);
	(void)mime_write_content(e, &o);
	mime_write_outer(e, &o);
	mime_out_free(&o);
	mime_free(e);
	return 0;
}
