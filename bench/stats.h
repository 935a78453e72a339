/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * stats.h - timing and latency statistics shared by the bench programs.
 * Each measuring thread owns one struct lat_samples and appends to it
 * without locks; the main thread merges them after the threads are
 * joined. Results go to stdout as one JSON object (bench/run reads it).
 */
#ifndef P11AGENT_BENCH_STATS_H
#define P11AGENT_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Latencies in nanoseconds (uint32: up to 4.2 s per sample). */
struct lat_samples {
	uint32_t *v;
	size_t n, cap;
};

/* Monotonic nanoseconds. */
uint64_t stats_now_ns(void);

/* Appends one latency; on allocation failure the sample is dropped. */
void lat_add(struct lat_samples *s, uint64_t ns);
void lat_free(struct lat_samples *s);

/*
 * Merges n sample sets (s[i] may be empty) and computes the median and
 * the 99th percentile in microseconds (0 when there are no samples).
 */
void lat_percentiles(struct lat_samples *s, size_t n, double *p50,
    double *p99);

/* CPU seconds (user + system) used so far. */
struct cpu_mark {
	double self;		/* this process, every thread */
	double watched;		/* watched processes, descendants */
	double machine;		/* all CPUs, busy, from /proc/stat */
};

#define STATS_MAX_WATCH	8	/* --watch-pid options */

/*
 * Called by the main thread once the measuring threads are released:
 * sleeps until warm_end (ns), takes a CPU mark, sleeps until end, takes
 * another. The difference is the CPU the measured window cost, in this
 * process and in the server processes given (and their children).
 */
void stats_window(const int *pids, size_t npids, uint64_t warm_end,
    uint64_t end, struct cpu_mark *m0, struct cpu_mark *m1);

/* VmRSS and VmHWM of the calling process, in KiB (0 if unknown). */
void stats_self_memory(unsigned long *rss_kb, unsigned long *hwm_kb);

/*
 * Prints the result line bench/run parses:
 * {"ops":..,"errors":..,"seconds":..,"ops_per_s":..,"p50_us":..,
 *  "p99_us":..,"lat_unit":"..","cpu_self_s":..,"cpu_watched_s":..,
 *  "cpu_machine_s":..,"rss_kb":..,"hwm_kb":..,"note":".."}
 * The CPU figures are m1 - m0 (zero when either is NULL); note may be
 * NULL.
 */
void stats_print(uint64_t ops, uint64_t errors, double seconds, double p50,
    double p99, const char *lat_unit, const struct cpu_mark *m0,
    const struct cpu_mark *m1, const char *note);

/* A fatal setup error: prints {"error":"..."} and exits 1. */
void stats_die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* Reads a PIN file (trailing newline dropped) into pin (size len). */
int stats_read_pin(const char *path, char *pin, size_t len);

/* Decodes hex into out (at most max bytes); returns the length or -1. */
int stats_unhex(const char *hex, uint8_t *out, size_t max);

#endif /* P11AGENT_BENCH_STATS_H */
