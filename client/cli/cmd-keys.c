/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * cmd-keys.c - "p11 keys [--json]": one line, or one JSON object, per
 * key the agent holds. The subject is printed in RFC 2253 form; names
 * from tokens and certificates are made safe for the terminal, and the
 * JSON writer emits valid UTF-8 whatever the token stored.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <p11agent/client.h>

#include "certinfo.h"
#include "cli.h"

/* What the certificate says, for printing. */
struct certview {
	char *subject;
	char **emails;
	size_t nemails;
};

static void
certview_load(const struct p11agent_key *k, struct certview *v)
{
	const uint8_t *der;
	size_t len;

	memset(v, 0, sizeof(*v));
	if ((der = p11agent_key_cert(k, &len)) == NULL)
		return;
	/* A certificate OpenSSL cannot read shows as none. */
	(void)certinfo_subject(der, len, &v->subject);
	(void)certinfo_emails(der, len, &v->emails, &v->nemails);
}

static void
certview_free(struct certview *v)
{
	free(v->subject);
	certinfo_strv_free(v->emails, v->nemails);
	memset(v, 0, sizeof(*v));
}

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t
utf8_len(const unsigned char *p)
{
	size_t n, i;
	unsigned int cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	/* Overlong forms, surrogates and beyond U+10FFFF are not UTF-8. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

/* A JSON string: quotes, backslashes, controls escaped; bad UTF-8: U+FFFD. */
static void
json_string(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n;

	fputc('"', f);
	while (*p != '\0') {
		if (*p == '"' || *p == '\\') {
			fputc('\\', f);
			fputc(*p++, f);
		} else if (*p < 0x20) {
			fprintf(f, "\\u%04x", *p++);
		} else if ((n = utf8_len(p)) == 0) {
			fputs("\\ufffd", f);
			p++;
		} else {
			fwrite(p, 1, n, f);
			p += n;
		}
	}
	fputc('"', f);
}

/* A quoted value for the text listing: \" and \\ escaped. */
static void
text_quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (s = cli_vis(s); *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void
print_text(FILE *f, const struct p11agent_key *k)
{
	struct certview v;
	char type[32], ops[64];
	size_t i;

	certview_load(k, &v);
	cli_key_type(k, type, sizeof(type));
	cli_key_ops(p11agent_key_operations(k), ops, sizeof(ops));
	fprintf(f, "%.16s %-9s %-19s label=", p11agent_key_id_hex(k), type,
	    ops);
	text_quoted(f, p11agent_key_label(k));
	fputs(" token=", f);
	text_quoted(f, p11agent_key_token_label(k));
	fputs(" subject=", f);
	text_quoted(f, v.subject != NULL ? v.subject : "");
	fputs(" emails=", f);
	for (i = 0; i < v.nemails; i++)
		fprintf(f, "%s%s", i > 0 ? "," : "", cli_vis(v.emails[i]));
	if (v.nemails == 0)
		fputc('-', f);
	fprintf(f, " uri=%s\n", cli_vis(p11agent_key_uri(k)));
	certview_free(&v);
}

static void
print_json(FILE *f, const struct p11agent_key *k, int last)
{
	static const struct {
		unsigned int bit;
		const char *name;
	} opnames[] = {
		{ P11AGENT_OP_SIGN, "sign" },
		{ P11AGENT_OP_DECRYPT, "decrypt" },
		{ P11AGENT_OP_DERIVE, "derive" },
	};
	struct certview v;
	unsigned int ops = p11agent_key_operations(k);
	size_t i, n = 0;
	int type = p11agent_key_type(k);

	certview_load(k, &v);
	fputs("  {\n    \"id\": ", f);
	json_string(f, p11agent_key_id_hex(k));
	fputs(",\n    \"label\": ", f);
	json_string(f, p11agent_key_label(k));
	fputs(",\n    \"token\": ", f);
	json_string(f, p11agent_key_token_label(k));
	fputs(",\n    \"type\": ", f);
	json_string(f, type == P11AGENT_KEY_RSA ? "rsa" :
	    type == P11AGENT_KEY_EC ? "ec" : "unknown");
	fprintf(f, ",\n    \"bits\": %u", p11agent_key_bits(k));
	if (type == P11AGENT_KEY_EC) {
		fputs(",\n    \"curve\": ", f);
		json_string(f, p11agent_key_curve(k));
	}
	fputs(",\n    \"operations\": [", f);
	for (i = 0; i < sizeof(opnames) / sizeof(opnames[0]); i++) {
		if ((ops & opnames[i].bit) == 0)
			continue;
		fputs(n++ > 0 ? ", " : "", f);
		json_string(f, opnames[i].name);
	}
	fputs("],\n    \"subject\": ", f);
	json_string(f, v.subject != NULL ? v.subject : "");
	fputs(",\n    \"emails\": [", f);
	for (i = 0; i < v.nemails; i++) {
		fputs(i > 0 ? ", " : "", f);
		json_string(f, v.emails[i]);
	}
	fputs("],\n    \"uri\": ", f);
	json_string(f, p11agent_key_uri(k));
	fprintf(f, "\n  }%s\n", last ? "" : ",");
	certview_free(&v);
}

int
cmd_keys(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 }
	};
	struct p11agent_client *c = NULL;
	struct p11agent_keylist *l = NULL;
	size_t i, n;
	int ch, r, ret, json = 0;

	while ((ch = cli_getopt(argc, argv, "j", longopts)) != -1) {
		if (CLI_GETOPT_DONE(ch))
			return CLI_GETOPT_EXIT(ch);
		switch (ch) {
		case 'j':
			json = 1;
			break;
		default:
			return cli_usage("unexpected option");
		}
	}
	if ((ret = cli_no_operands(argc, argv)) != CLI_OK ||
	    (ret = cli_connect(&c)) != CLI_OK)
		return ret;
	if ((r = p11agent_client_list_keys(c, &l)) != 0) {
		ret = cli_report(c, r, NULL);
		goto out;
	}
	n = p11agent_keylist_count(l);
	if (json)
		fputs(n == 0 ? "[" : "[\n", stdout);
	for (i = 0; i < n; i++) {
		if (json)
			print_json(stdout, p11agent_keylist_get(l, i),
			    i + 1 == n);
		else
			print_text(stdout, p11agent_keylist_get(l, i));
	}
	if (json)
		fputs("]\n", stdout);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		cli_err("cannot write to standard output");
		ret = CLI_USAGE;
		goto out;
	}
	ret = CLI_OK;
 out:
	p11agent_keylist_free(l);
	p11agent_client_free(c);
	return ret;
}
