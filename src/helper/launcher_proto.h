/* SPDX-License-Identifier: GPL-2.0 */
/* launcher_proto.h - the control channel between couic-launcher and the Node
 * daemon it starts (docs/deploy.md, "Who holds what"). Mirrored by
 * src/xdp/launcher.ts.
 *
 * One AF_UNIX stream socket, inherited by the daemon as fd 3
 * (COUIC_LAUNCHER_FD=3). Every message is a 16-byte header followed by `len`
 * payload bytes; all integers little-endian.
 *
 * daemon -> launcher
 *   CONFIG  payload: NUL-terminated strings: helper path, helper socket path,
 *           then the helper's arguments (flags of a fixed list). Accepted once,
 *           before the first SPAWN: the daemon sends it at startup, before it
 *           reads any request.
 *   SPAWN   spawn_id != 0; payload: the 16-byte nonce the launcher writes on
 *           both connections it makes to the helper socket.
 *   KILL    spawn_id; payload: u32 signal (SIGTERM, SIGKILL or SIGINT).
 * launcher -> daemon
 *   CONFIG_OK / CONFIG_FAILED (payload: message)
 *   SPAWNED      payload: u32 pid
 *   SPAWN_FAILED payload: i32 -errno, then a message
 *   EXITED       payload: u32 pid, i32 exit code (-1 if killed), i32 signal
 *
 * Each connection to the helper socket starts with the nonce and one byte:
 * 0 = the helper's stdin/stdout, 1 = its stderr. */
#ifndef COUIC_LAUNCHER_PROTO_H
#define COUIC_LAUNCHER_PROTO_H

#include <stdint.h>

#define LAUNCHER_MAGIC 0x55414c43u /* "CLAU" */
#define LAUNCHER_HDR_LEN 16
#define LAUNCHER_MAX_PAYLOAD 4096
#define LAUNCHER_NONCE_LEN 16
#define LAUNCHER_FD 3

enum launcher_msg {
	LMSG_CONFIG = 1,
	LMSG_SPAWN = 2,
	LMSG_KILL = 3,
	LMSG_CONFIG_OK = 0x81,
	LMSG_CONFIG_FAILED = 0x82,
	LMSG_SPAWNED = 0x83,
	LMSG_SPAWN_FAILED = 0x84,
	LMSG_EXITED = 0x85,
};

enum launcher_conn { LCONN_IO = 0, LCONN_ERR = 1 };

struct launcher_hdr {
	uint32_t magic;
	uint16_t type;
	uint16_t len;
	uint32_t spawn_id;
	uint32_t reserved; /* 0 */
};

#endif
