/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * stats.c - clocks, latency percentiles, memory readings and the JSON
 * result line of the bench programs. Not thread-safe except
 * stats_now_ns() and lat_add() on a thread's own sample set.
 */
#include <sys/resource.h>
#include <sys/types.h>

#include <ctype.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"

uint64_t
stats_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
lat_add(struct lat_samples *s, uint64_t ns)
{
	uint32_t *nv;
	size_t ncap;

	if (s->n == s->cap) {
		ncap = s->cap == 0 ? 65536 : s->cap * 2;
		if ((nv = realloc(s->v, ncap * sizeof(*nv))) == NULL)
			return;
		s->v = nv;
		s->cap = ncap;
	}
	s->v[s->n++] = ns > UINT32_MAX ? UINT32_MAX : (uint32_t)ns;
}

void
lat_free(struct lat_samples *s)
{
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

void
lat_percentiles(struct lat_samples *s, size_t n, double *p50, double *p99)
{
	uint32_t *all;
	size_t total = 0, off = 0, i;

	*p50 = *p99 = 0;
	for (i = 0; i < n; i++)
		total += s[i].n;
	if (total == 0 || (all = malloc(total * sizeof(*all))) == NULL)
		return;
	for (i = 0; i < n; i++) {
		if (s[i].n > 0)
			memcpy(all + off, s[i].v, s[i].n * sizeof(*all));
		off += s[i].n;
	}
	qsort(all, total, sizeof(*all), cmp_u32);
	*p50 = all[(total - 1) / 2] / 1000.0;
	*p99 = all[(size_t)((double)(total - 1) * 0.99)] / 1000.0;
	free(all);
}

static double
self_cpu(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

struct pstat {
	int pid, ppid;
	unsigned long long ticks;	/* utime + stime + cutime + cstime */
};

/* Reads /proc/PID/stat; 0 on success. */
static int
read_pstat(int pid, struct pstat *ps)
{
	char path[64], buf[1024], *p;
	unsigned long long ut, st, cut, cst;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: skip past it. */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	if (sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%llu %llu %llu %llu", &ps->ppid, &ut, &st, &cut, &cst) != 5)
		return -1;
	ps->pid = pid;
	ps->ticks = ut + st + cut + cst;
	return 0;
}

/* CPU seconds of pids and every descendant, from /proc. */
static double
watched_cpu(const int *pids, size_t npids)
{
	struct pstat *all = NULL, *na;
	size_t n = 0, cap = 0, i, j, k;
	unsigned long long ticks = 0;
	struct dirent *de;
	DIR *d;
	int pid, hop, hit;

	if (npids == 0 || (d = opendir("/proc")) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if ((pid = atoi(de->d_name)) <= 0)
			continue;
		if (n == cap) {
			cap = cap == 0 ? 256 : cap * 2;
			if ((na = realloc(all, cap * sizeof(*all))) == NULL)
				break;
			all = na;
		}
		if (read_pstat(pid, &all[n]) == 0)
			n++;
	}
	closedir(d);
	for (i = 0; i < n; i++) {
		/* Walk up the parents (bounded) looking for a watched pid. */
		for (pid = all[i].pid, hop = 0, hit = 0; pid > 1 && hop < 32 &&
		    !hit; hop++) {
			for (k = 0; k < npids; k++)
				if (pids[k] == pid)
					hit = 1;
			for (j = 0; j < n && all[j].pid != pid; j++)
				;
			if (j == n)
				break;
			pid = all[j].ppid;
		}
		if (hit)
			ticks += all[i].ticks;
	}
	free(all);
	return (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

/* Busy CPU seconds of the whole machine (user..steal less idle, iowait). */
static double
machine_cpu(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f;
	int n;

	if ((f = fopen("/proc/stat", "r")) == NULL)
		return 0;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
	    &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
	fclose(f);
	if (n != 8)
		return 0;
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) /
	    (double)sysconf(_SC_CLK_TCK);
}

static void
sleep_until(uint64_t ns)
{
	struct timespec ts;
	uint64_t now = stats_now_ns();

	if (ns <= now)
		return;
	ts.tv_sec = (time_t)((ns - now) / 1000000000u);
	ts.tv_nsec = (long)((ns - now) % 1000000000u);
	while (nanosleep(&ts, &ts) != 0)
		;
}

void
stats_window(const int *pids, size_t npids, uint64_t warm_end, uint64_t end,
    struct cpu_mark *m0, struct cpu_mark *m1)
{
	sleep_until(warm_end);
	m0->self = self_cpu();
	m0->watched = watched_cpu(pids, npids);
	m0->machine = machine_cpu();
	sleep_until(end);
	m1->self = self_cpu();
	m1->watched = watched_cpu(pids, npids);
	m1->machine = machine_cpu();
}

void
stats_self_memory(unsigned long *rss_kb, unsigned long *hwm_kb)
{
	char line[256];
	FILE *f;

	*rss_kb = *hwm_kb = 0;
	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "VmRSS:", 6) == 0)
			*rss_kb = strtoul(line + 6, NULL, 10);
		else if (strncmp(line, "VmHWM:", 6) == 0)
			*hwm_kb = strtoul(line + 6, NULL, 10);
	}
	fclose(f);
}

/* Prints s as a JSON string body (no quotes). */
static void
json_str(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
}

void
stats_print(uint64_t ops, uint64_t errors, double seconds, double p50,
    double p99, const char *lat_unit, const struct cpu_mark *m0,
    const struct cpu_mark *m1, const char *note)
{
	unsigned long rss, hwm;

	stats_self_memory(&rss, &hwm);
	printf("{\"ops\":%llu,\"errors\":%llu,\"seconds\":%.6f,"
	    "\"ops_per_s\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,"
	    "\"lat_unit\":\"", (unsigned long long)ops,
	    (unsigned long long)errors, seconds,
	    seconds > 0 ? (double)ops / seconds : 0.0, p50, p99);
	json_str(lat_unit);
	printf("\",\"cpu_self_s\":%.3f,\"cpu_watched_s\":%.3f",
	    m0 != NULL && m1 != NULL ? m1->self - m0->self : 0.0,
	    m0 != NULL && m1 != NULL ? m1->watched - m0->watched : 0.0);
	printf(",\"cpu_machine_s\":%.3f",
	    m0 != NULL && m1 != NULL ? m1->machine - m0->machine : 0.0);
	printf(",\"rss_kb\":%lu,\"hwm_kb\":%lu", rss, hwm);
	if (note != NULL) {
		printf(",\"note\":\"");
		json_str(note);
		putchar('"');
	}
	printf("}\n");
	fflush(stdout);
}

void
stats_die(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "bench: %s\n", msg);
	printf("{\"error\":\"");
	json_str(msg);
	printf("\"}\n");
	fflush(stdout);
	exit(1);
}

int
stats_read_pin(const char *path, char *pin, size_t len)
{
	FILE *f;
	size_t n;

	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(pin, 1, len - 1, f);
	fclose(f);
	pin[n] = '\0';
	while (n > 0 && (pin[n - 1] == '\n' || pin[n - 1] == '\r'))
		pin[--n] = '\0';
	return 0;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int
stats_unhex(const char *hex, uint8_t *out, size_t max)
{
	size_t n = 0;
	int hi, lo;

	while (hex[0] != '\0') {
		if ((hi = hexval(hex[0])) < 0 || (lo = hexval(hex[1])) < 0 ||
		    n == max)
			return -1;
		out[n++] = (uint8_t)(hi << 4 | lo);
		hex += 2;
	}
	return (int)n;
}
