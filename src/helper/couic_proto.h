/* SPDX-License-Identifier: GPL-2.0 */
/* couic_proto.h - the framed protocol couic-helper serves on stdin/stdout
 * (docs/helper-protocol.md): frames, message types, flags, op records and
 * statuses, HELLO, STATS, TEST_RUN, limits.  Userspace only; the map
 * layouts it refers to are couic_kern_user.h.
 *
 * Byte order: every multi-byte protocol field is little-endian (the helper
 * only builds for little-endian hosts, see couic_kern_user.h); addresses
 * are always network order.  The TypeScript mirror is src/xdp/protocol.ts;
 * test/unit/abi.test.ts compares it with `couic-helper --abi` and checks
 * that --abi prints every constant, struct and field declared here.  Style
 * the test relies on: every enum member and value #define has an explicit
 * integer value.
 */
#ifndef COUIC_PROTO_H
#define COUIC_PROTO_H

#include <linux/types.h>

#include "couic_kern_user.h"

#define COUIC_PROTO_VERSION 1
#define COUIC_FRAME_MAGIC   0xC0C1

struct couic_frame_hdr {
	__u16 magic;                 /* COUIC_FRAME_MAGIC                 */
	__u8 type;                   /* COUIC_MSG_*                       */
	__u8 flags;                  /* COUIC_FLAG_*                      */
	__u32 id;                    /* request id, echoed by the reply   */
	__u32 len;                   /* payload bytes after this header   */
	__s32 status;                /* reply: 0 or -errno; request: 0    */
};

enum couic_msg {
	COUIC_MSG_HELLO = 1,         /* helper -> daemon, id 0, once     */
	COUIC_MSG_BATCH = 2,
	COUIC_MSG_REPLACE_BEGIN = 3,
	COUIC_MSG_REPLACE_CHUNK = 4,
	COUIC_MSG_REPLACE_END = 5,
	COUIC_MSG_DUMP = 6,
	COUIC_MSG_STATS = 7,
	COUIC_MSG_TEST_RUN = 8,
	COUIC_MSG_TAG_RESET = 9,
	COUIC_MSG_SHUTDOWN = 10,
};

enum couic_flag {
	COUIC_FLAG_REPLY = 0x01,     /* set on every helper -> daemon frame */
	COUIC_FLAG_MORE = 0x02,      /* more reply frames follow (DUMP)     */
	COUIC_FLAG_UNPIN = 0x04,     /* SHUTDOWN: detach and remove pins    */
};

enum couic_op_kind {
	COUIC_OP_ADD = 1,            /* insert; "exists" if present       */
	COUIC_OP_UPSERT = 2,         /* insert or overwrite the tag       */
	COUIC_OP_DEL = 3,            /* delete; "absent" if missing       */
};

/* One map operation (BATCH, REPLACE_CHUNK) or one entry (DUMP reply). */
struct couic_op {
	__u8 kind;                   /* couic_op_kind (0 in DUMP replies) */
	__u8 policy;                 /* couic_policy                      */
	__u8 family;                 /* 4 or 6                            */
	__u8 prefixlen;              /* 0..32 or 0..128, host bits zero   */
	__u32 tag;                   /* tag id                            */
	__u8 addr[16];               /* network order; v4 in addr[0..3]   */
};

enum couic_op_status {
	COUIC_ST_OK = 0,
	COUIC_ST_EXISTS = 1,
	COUIC_ST_ABSENT = 2,
	COUIC_ST_FULL = 3,
	COUIC_ST_INVALID = 4,
	COUIC_ST_ERROR = 5,
};

/* BATCH / REPLACE_CHUNK / DUMP payload head, followed by count records
 * (struct couic_op in requests and DUMP replies, __u8 status in BATCH and
 * REPLACE_CHUNK replies, padded with zeros to a multiple of 4). */
struct couic_list_hdr {
	__u32 count;
	__u32 reserved;
};

/* HELLO payload head, followed by n_ifaces struct couic_iface. */
struct couic_hello {
	__u32 proto_version;
	__u32 features;              /* COUIC_FEAT_*                      */
	__u32 ncpus;                 /* possible CPUs                     */
	__u32 max_tags;
	__u32 capacity[COUIC_MAP_COUNT];
	__u32 count[COUIC_MAP_COUNT];/* entries present (pinned reuse)    */
	__u32 n_ifaces;
	__u32 reserved;
};

enum couic_feature {
	COUIC_FEAT_BATCH_HASH = 0x01,  /* BPF_MAP_*_BATCH on hash maps    */
	COUIC_FEAT_BATCH_LPM = 0x02,   /* BPF_MAP_*_BATCH on LPM tries    */
	COUIC_FEAT_XDP_LINK = 0x04,    /* bpf_link XDP attachment         */
	COUIC_FEAT_PINNED = 0x08,      /* maps and links pinned           */
	COUIC_FEAT_REUSED = 0x10,      /* started on a surviving pinned set */
	COUIC_FEAT_LPM_ONLY = 0x20,    /* /32 and /128 go to the LPM tries */
};

enum couic_xdp_mode {
	COUIC_MODE_NATIVE = 1,
	COUIC_MODE_GENERIC = 2,
};

struct couic_iface {
	__u32 ifindex;
	__u32 mode;                  /* couic_xdp_mode                    */
	char name[16];               /* NUL-terminated                    */
};

/* STATS reply payload head, followed by
 *   struct couic_pkt_stats xdp[n_actions]
 *   __u64 parse[n_parse]
 *   __u32 count[COUIC_MAP_COUNT]
 *   struct couic_tag_stats tags[n_tags]   (only slots with packets > 0) */
struct couic_stats_hdr {
	__u32 n_actions;
	__u32 n_parse;
	__u32 n_tags;
	__u32 reserved;
};

struct couic_tag_stats {
	__u32 tag;
	__u32 policy;
	__u64 packets;
	__u64 bytes;
};

/* TEST_RUN request: head + len packet bytes; reply: struct couic_test_result. */
struct couic_test_req {
	__u32 repeat;
	__u32 len;
};

struct couic_test_result {
	__u32 retval;                /* XDP action                        */
	__u32 duration_ns;           /* mean per run, from the kernel     */
};

/* TAG_RESET request: struct couic_list_hdr + count __u32 tag ids; zeroes
 * both policies' counters for those ids (a tag id being reassigned). */

/* Limits: a frame over COUIC_MAX_PAYLOAD is skipped and answered with
 * -EMSGSIZE; a list over COUIC_MAX_OPS with -E2BIG; a TEST_RUN repeat over
 * COUIC_MAX_REPEAT with -EINVAL (one frame must not keep the helper busy:
 * 2^20 runs of a 60-byte frame take about 0.06 s, 2^32 - 1 took about two
 * minutes, every other request waiting behind it). */
#define COUIC_MAX_PAYLOAD   (4u << 20)
#define COUIC_MAX_OPS       65536u
#define COUIC_MAX_PKT       9216u
#define COUIC_MAX_REPEAT    (1u << 20)
#define COUIC_MAX_IFACES    64u
#define COUIC_DUMP_CHUNK    16384u

_Static_assert(sizeof(struct couic_frame_hdr) == 16, "frame header");
_Static_assert(sizeof(struct couic_op) == 24, "op record");
_Static_assert(sizeof(struct couic_hello) == 88, "hello");
_Static_assert(sizeof(struct couic_iface) == 24, "iface");
_Static_assert(sizeof(struct couic_tag_stats) == 24, "tag stats");

#endif /* COUIC_PROTO_H */
