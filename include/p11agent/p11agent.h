/* SPDX-License-Identifier: ISC */
/* Copyright (c) 2026 The p11agent authors */
/* p11agent.h - umbrella header for libp11agent. */
#ifndef P11AGENT_H
#define P11AGENT_H
#include <p11agent/err.h>
#include <p11agent/client.h>
#define P11AGENT_VERSION "0.1.0"
#endif
