/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * paths.h - default locations shared by agent and clients:
 * the socket ($XDG_RUNTIME_DIR/p11agent/socket, else
 * /tmp/p11agent-UID/socket), the published agent key ("<socket>.pub")
 * and the config directory ($XDG_CONFIG_HOME/p11agent, else
 * ~/.config/p11agent). Results are malloc'd; the caller frees them.
 */
#ifndef P11AGENT_PATHS_H
#define P11AGENT_PATHS_H

/* Each returns 0 and sets *pathp, or a negative P11AGENT_ERR_*. */
int paths_default_socket(char **pathp);
int paths_socket_pubkey(const char *sock, char **pathp);
int paths_config_dir(char **pathp);
/* <config dir>/<name> */
int paths_config_file(const char *name, char **pathp);

#endif /* P11AGENT_PATHS_H */
