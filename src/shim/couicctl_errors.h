/* SPDX-License-Identifier: GPL-2.0 */
/*
 * couicctl's exit code for each API error code: a mirror of ERROR_CODES in
 * src/errors.ts (the one registry). test/unit/couicctl-errors.test.ts reads
 * this file and fails when a code or an exit code differs from the registry.
 * A code missing here exits 1, as the Node CLI does for codes it does not know.
 */
#ifndef COUICCTL_ERRORS_H
#define COUICCTL_ERRORS_H

static const struct couic_error_exit {
	const char *code;
	int exit_code;
} COUIC_ERROR_EXITS[] = {
	{"processing", 1},
	{"bad_request", 1},
	{"unauthorized", 1},
	{"not_found", 1},
	{"conflict", 1},
	{"invalid", 1},
	{"internal", 1},
	{"not_implemented", 1},
	{"unsupported_media_type", 1},
	{"payload_too_large", 1},
	{"busy", 75},
	{"unavailable", 69},
	{"usage", 2},
};

#endif
