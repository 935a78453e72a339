/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * log.h - logging for the agent: stderr in the foreground, syslog when
 * daemonised. Messages are lowercase and short and never contain a PIN,
 * key material, or plaintext. Thread-safe (one write per line).
 */
#ifndef P11AGENT_LOG_H
#define P11AGENT_LOG_H

enum log_level { LOG_LEVEL_ERROR = 0, LOG_LEVEL_INFO = 1, LOG_LEVEL_DEBUG = 2 };

/* to_stderr: 1 stderr, 0 syslog (LOG_DAEMON). */
void log_init(const char *progname, enum log_level level, int to_stderr);
enum log_level log_get_level(void);

void log_msg(enum log_level level, const char *func, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The _r forms append ": <p11agent_strerror(r)>". */
#define log_err_f(...)		log_msg(LOG_LEVEL_ERROR, __func__, 0, __VA_ARGS__)
#define log_err_fr(r, ...)	log_msg(LOG_LEVEL_ERROR, __func__, (r), __VA_ARGS__)
#define log_info_f(...)		log_msg(LOG_LEVEL_INFO, __func__, 0, __VA_ARGS__)
#define log_info_fr(r, ...)	log_msg(LOG_LEVEL_INFO, __func__, (r), __VA_ARGS__)
#define log_debug_f(...)	log_msg(LOG_LEVEL_DEBUG, __func__, 0, __VA_ARGS__)
#define log_debug_fr(r, ...)	log_msg(LOG_LEVEL_DEBUG, __func__, (r), __VA_ARGS__)

#endif /* P11AGENT_LOG_H */
