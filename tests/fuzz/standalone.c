/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * standalone.c - runs a fuzz target over files and directories of
 * inputs without libFuzzer, so every build exercises the parsers on the
 * committed corpus (the fuzz-smoke tests). A crash or abort fails the
 * test; so does finding no input at all.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

static int
run_file(const char *path)
{
	FILE *fp;
	uint8_t *data = NULL;
	size_t len = 0, cap = 0, n;

	if ((fp = fopen(path, "rb")) == NULL) {
		perror(path);
		return -1;
	}
	for (;;) {
		if (len == cap) {
			cap = cap ? 2 * cap : 4096;
			if ((data = realloc(data, cap)) == NULL)
				abort();
		}
		if ((n = fread(data + len, 1, cap - len, fp)) == 0)
			break;
		len += n;
	}
	fclose(fp);
	/* An exact-size copy, so that sanitizers see any over-read. */
	{
		uint8_t *exact = malloc(len ? len : 1);

		memcpy(exact, data, len);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	free(data);
	return 0;
}

static int
cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
run_path(const char *path, int *count)
{
	struct stat st;
	struct dirent *de;
	char **names = NULL, full[4096];
	size_t n = 0, i;
	DIR *d;
	int r = 0;

	if (stat(path, &st) == -1) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		(*count)++;
		return run_file(path);
	}
	if ((d = opendir(path)) == NULL) {
		perror(path);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp);
	for (i = 0; i < n; i++) {
		snprintf(full, sizeof(full), "%s/%s", path, names[i]);
		if (run_path(full, count) != 0)
			r = -1;
		free(names[i]);
	}
	free(names);
	return r;
}

int
main(int argc, char **argv)
{
	int i, count = 0, r = 0;

	for (i = 1; i < argc; i++)
		if (run_path(argv[i], &count) != 0)
			r = 1;
	/* The empty input is always worth a try. */
	LLVMFuzzerTestOneInput((const uint8_t *)"", 0);
	printf("%s: %d inputs%s\n", argv[0], count, r ? ", with errors" : "");
	return r != 0 || count == 0;
}
