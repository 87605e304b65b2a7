// SPDX-License-Identifier: GPL-2.0
/* log.c - stderr is for logs (stdout carries protocol frames only), and
 * errmsg holds the message of the error reply being prepared. */
#include <stdarg.h>
#include <stdio.h>

#include <bpf/libbpf.h>

#include "helper.h"

char errmsg[512];
static bool verbose;

void log_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("couic-helper: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void set_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
}

/* A start step failed: the message for the HELLO error frame; returns err. */
int fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
	return err;
}

/* libbpf's messages (the verifier log among them) only with --verbose. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

void log_set_verbose(bool on)
{
	verbose = on;
	libbpf_set_print(libbpf_print);
}
