/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/* peer.h - credentials of the process at the other end of a Unix socket. */
#ifndef P11AGENT_PEER_H
#define P11AGENT_PEER_H

#include <sys/types.h>

/* SO_PEERCRED. Returns 0 or P11AGENT_ERR_SYSTEM_ERROR. pidp may be NULL. */
int peer_getcred(int fd, uid_t *uidp, gid_t *gidp, pid_t *pidp);

#endif /* P11AGENT_PEER_H */
