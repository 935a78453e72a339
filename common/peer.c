/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * peer.c - credentials of the process at the other end of a Unix
 * socket, as the kernel recorded them at connect() (SO_PEERCRED). On
 * failure the uid and gid are set to -1, never to 0, so that a caller
 * that forgets to check cannot mistake the peer for root. Thread-safe.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>

#include <p11agent/err.h>

#include "peer.h"

int
peer_getcred(int fd, uid_t *uidp, gid_t *gidp, pid_t *pidp)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (uidp != NULL)
		*uidp = (uid_t)-1;
	if (gidp != NULL)
		*gidp = (gid_t)-1;
	if (pidp != NULL)
		*pidp = -1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1 ||
	    len != sizeof(cred))
		return P11AGENT_ERR_SYSTEM_ERROR;
	if (uidp != NULL)
		*uidp = cred.uid;
	if (gidp != NULL)
		*gidp = cred.gid;
	if (pidp != NULL)
		*pidp = cred.pid;
	return 0;
}
