/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * kit.h - the agent's p11-kit work (RFC 7512 URIs, registered module
 * names), done by a short-lived helper process, p11agent-p11kit, so that
 * the agent links no libp11-kit and never loads every registered module.
 * One struct kit is one running helper, from kit_open() to kit_close();
 * one thread at a time may use it. Only URIs, module names and paths,
 * slot and token descriptions, key labels and CKA_IDs go to the helper:
 * never a PIN or key material.
 *
 * The helper protocol: argv[1] is P11AGENT_KIT_PROTOCOL; one request line
 * on the helper's stdin, one answer line on its stdout, each at most
 * P11AGENT_KIT_LINE_MAX bytes with its LF. Fields are separated by one
 * space; strings and bytes of a request are lowercase hex, "-" when empty
 * or absent (at most P11AGENT_KIT_FIELD_MAX bytes before hex). INFO
 * fields are the hex of the blank-padded fields RFC 7512 names:
 *   MODINFO   libraryDescription[32] manufacturerID[32] libraryVersion[2]
 *   SLOTINFO  slotDescription[64] manufacturerID[32]
 *   TOKENINFO label[32] manufacturerID[32] model[16] serialNumber[16]
 *
 *   module ARG                 ok PATH NAME | none
 *   uri URI                    ok 0|1 (1: it has a module-name) | err TEXT
 *   match URI NAME PATH SLOTID MODINFO SLOTINFO TOKENINFO    yes | no
 *   keyuri TOKENINFO LABEL ID  ok URI-TEXT | err TEXT
 *
 * In answers PATH and NAME are hex too ("-": no p11-kit name); TEXT and
 * URI-TEXT are printable ASCII to the end of the line; SLOTID is decimal.
 * A malformed request makes the helper say why on stderr and exit 2; the
 * end of its input makes it exit 0.
 */
#ifndef P11AGENT_KIT_H
#define P11AGENT_KIT_H

#include <stddef.h>

#include <p11-kit/pkcs11.h>

struct kit;

/*
 * Starts the helper: p11agent-p11kit beside the agent's executable (the
 * build tree), else the installed one. Returns 0, or
 * P11AGENT_ERR_SYSTEM_ERROR (logged in one line that names the helper and
 * says what to do) or P11AGENT_ERR_NO_MEMORY. On success *kp is owned by
 * the caller; release it with kit_close().
 */
int kit_open(struct kit **kp);
/* Ends the helper's input and reaps it (killed if it lingers); frees k. */
void kit_close(struct kit *k);

#ifdef P11AGENT_FUZZING
/*
 * For tests/fuzz/fuzz-kit.c only: a struct kit whose helper is no process
 * but these ends of two pipes (its stdin, its stdout); on success k owns
 * them.
 */
int kit_open_fds(struct kit **kp, int wfd, int rfd);
#endif

/*
 * Each call below returns 0 or a negative P11AGENT_ERR_*. Once the helper
 * failed (died, hung past P11AGENT_KIT_TIMEOUT, answered nonsense: logged
 * once, P11AGENT_ERR_SYSTEM_ERROR) every later call on k fails the same way
 * at once.
 */

/*
 * The file of a --module argument: a path as it is, else the module that
 * p11-kit has registered under that name, else a file name in p11-kit's
 * module directory. *namep is p11-kit's name for it, or NULL. Returns
 * P11AGENT_ERR_TOKEN_NOT_FOUND when p11-kit knows no such module. The
 * caller frees *pathp and *namep.
 */
int kit_module(struct kit *k, const char *arg, char **pathp, char **namep);

/*
 * Parses uri with p11-kit. *names_modulep is set to 1 when it has a
 * module-name. Returns P11AGENT_ERR_INVALID_ARGUMENT with p11-kit's
 * reason in msg (always NUL-terminated) when uri is not a PKCS#11 URI
 * p11-kit fully understands.
 */
int kit_uri_check(struct kit *k, const char *uri, int *names_modulep,
    char *msg, size_t msglen);

/*
 * Sets *matchp to 1 when uri (checked) names slot sid of the module at
 * path (p11-kit's name kitname, or NULL) and the token in it, else to 0.
 */
int kit_uri_match(struct kit *k, const char *uri, const char *kitname,
    const char *path, CK_SLOT_ID sid, const CK_INFO *mi,
    const CK_SLOT_INFO *si, const CK_TOKEN_INFO *ti, int *matchp);

/*
 * The pkcs11: URI of the private key with label (may be empty) and CKA_ID
 * id on token ti. On success *urip is owned by the caller (free()).
 */
int kit_key_uri(struct kit *k, const CK_TOKEN_INFO *ti, const char *label,
    const unsigned char *id, size_t idlen, char **urip);

#endif /* P11AGENT_KIT_H */
