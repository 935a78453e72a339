/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/*
 * fuzz.h - the libFuzzer entry point every target defines, and a check
 * that turns a broken invariant into a crash the fuzzer can report.
 */
#ifndef P11AGENT_FUZZ_H
#define P11AGENT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond)	do { if (!(cond)) abort(); } while (0)

#endif /* P11AGENT_FUZZ_H */
