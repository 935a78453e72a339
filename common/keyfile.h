/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * keyfile.h - static X25519 key files. A private key file holds one line
 * of base64 (the 32-byte private key) and must be mode 0600 and owned by
 * us; a public key file holds one line of base64, optionally followed by
 * a space and a comment. Writes go to a temporary file and are renamed.
 */
#ifndef P11AGENT_KEYFILE_H
#define P11AGENT_KEYFILE_H

#include <stdint.h>

#include "channel.h"

#define KEYFILE_B64_LEN		45	/* bytes incl. NUL: base64 of 32 bytes */

/* Loads a private key; P11AGENT_ERR_FILE_PERMISSIONS if group/other can read it. */
int keyfile_load_private(const char *path, struct channel_keypair **kpp);
/* Loads, or creates (0600, parent directories 0700) when missing. */
int keyfile_load_or_create(const char *path, struct channel_keypair **kpp);
int keyfile_save_private(const char *path, const struct channel_keypair *kp);
int keyfile_load_public(const char *path, uint8_t pub[P11AGENT_KEY_LEN]);
int keyfile_save_public(const char *path, const uint8_t pub[P11AGENT_KEY_LEN],
    const char *comment);
/* base64 text <-> 32 bytes. parse stops at the first space or end. */
int keyfile_parse_public(const char *b64, uint8_t pub[P11AGENT_KEY_LEN]);
void keyfile_format_public(const uint8_t pub[P11AGENT_KEY_LEN],
    char out[KEYFILE_B64_LEN]);
/* mkdir -p with mode 0700 for the missing parents of path. */
int keyfile_mkdir_parents(const char *path);

#endif /* P11AGENT_KEYFILE_H */
