// SPDX-License-Identifier: GPL-2.0
/* abi.c - `couic-helper --abi`: every constant, struct size and field
 * offset of couic_kern_user.h and couic_proto.h as one JSON object, in the
 * shape of the `ABI` tables of src/xdp/protocol.ts.  test/unit/abi.test.ts
 * compares the two, and also reads the headers: a constant, struct or
 * field declared there but missing below fails it. */
#include <stddef.h>
#include <stdio.h>

#include "helper.h"

struct abi_kv {
	const char *name;
	long long value;
};

/* C(COUIC_MSG_, HELLO) -> "HELLO": COUIC_MSG_HELLO */
#define C(prefix, name) { #name, (long long)(prefix##name) }
#define SZ(t) { #t, (long long)sizeof(struct t) }
#define OFF(t, f) { #t "." #f, (long long)offsetof(struct t, f) }

static const struct abi_kv msg[] = {
	C(COUIC_MSG_, HELLO), C(COUIC_MSG_, BATCH), C(COUIC_MSG_, REPLACE_BEGIN),
	C(COUIC_MSG_, REPLACE_CHUNK), C(COUIC_MSG_, REPLACE_END), C(COUIC_MSG_, DUMP),
	C(COUIC_MSG_, STATS), C(COUIC_MSG_, TEST_RUN), C(COUIC_MSG_, TAG_RESET),
	C(COUIC_MSG_, SHUTDOWN),
};
static const struct abi_kv flags[] = {
	C(COUIC_FLAG_, REPLY), C(COUIC_FLAG_, MORE), C(COUIC_FLAG_, UNPIN),
};
static const struct abi_kv op[] = {
	C(COUIC_OP_, ADD), C(COUIC_OP_, UPSERT), C(COUIC_OP_, DEL),
};
static const struct abi_kv status[] = {
	C(COUIC_ST_, OK), C(COUIC_ST_, EXISTS), C(COUIC_ST_, ABSENT), C(COUIC_ST_, FULL),
	C(COUIC_ST_, INVALID), C(COUIC_ST_, ERROR),
};
static const struct abi_kv policy[] = {
	C(COUIC_POLICY_, DROP), C(COUIC_POLICY_, IGNORE),
};
static const struct abi_kv feature[] = {
	C(COUIC_FEAT_, BATCH_HASH), C(COUIC_FEAT_, BATCH_LPM), C(COUIC_FEAT_, XDP_LINK),
	C(COUIC_FEAT_, PINNED), C(COUIC_FEAT_, REUSED), C(COUIC_FEAT_, LPM_ONLY),
};
static const struct abi_kv mode[] = {
	C(COUIC_MODE_, NATIVE), C(COUIC_MODE_, GENERIC),
};
static const struct abi_kv parse[] = {
	C(COUIC_PARSE_, ETH_SHORT), C(COUIC_PARSE_, VLAN_SHORT), C(COUIC_PARSE_, VLAN_DEEP),
	C(COUIC_PARSE_, IP4_SHORT), C(COUIC_PARSE_, IP4_BAD), C(COUIC_PARSE_, IP6_SHORT),
	C(COUIC_PARSE_, IP6_BAD), C(COUIC_PARSE_, NON_IP), C(COUIC_PARSE_, VLAN),
	C(COUIC_PARSE_, MAX),
};
static const struct abi_kv map_slot[] = {
	C(COUIC_MAP_, DROP4_EXACT), C(COUIC_MAP_, DROP6_EXACT), C(COUIC_MAP_, DROP4_LPM),
	C(COUIC_MAP_, DROP6_LPM), C(COUIC_MAP_, IGNORE4_EXACT), C(COUIC_MAP_, IGNORE6_EXACT),
	C(COUIC_MAP_, IGNORE4_LPM), C(COUIC_MAP_, IGNORE6_LPM),
};
static const struct abi_kv limits[] = {
	C(COUIC_, MAX_PAYLOAD), C(COUIC_, MAX_OPS), C(COUIC_, MAX_PKT), C(COUIC_, MAX_REPEAT),
	C(COUIC_, MAX_IFACES),
	C(COUIC_, DUMP_CHUNK), C(COUIC_, XDP_ACTIONS), C(COUIC_, MAP_COUNT),
};
static const struct abi_kv defaults[] = {
	C(COUIC_DEF_, DROP_EXACT), C(COUIC_DEF_, DROP_CIDR), C(COUIC_DEF_, IGNORE_EXACT),
	C(COUIC_DEF_, IGNORE_CIDR), C(COUIC_DEF_, MAX_TAGS),
};
static const struct abi_kv sizes[] = {
	SZ(couic_frame_hdr), SZ(couic_op), SZ(couic_list_hdr), SZ(couic_hello),
	SZ(couic_iface), SZ(couic_stats_hdr), SZ(couic_pkt_stats), SZ(couic_tag_stats),
	SZ(couic_test_req), SZ(couic_test_result), SZ(couic_entry_val), SZ(couic_lpm_v4),
	SZ(couic_lpm_v6), SZ(couic_cfg), SZ(couic_v6_addr),
};
static const struct abi_kv offsets[] = {
	OFF(couic_frame_hdr, magic), OFF(couic_frame_hdr, type), OFF(couic_frame_hdr, flags),
	OFF(couic_frame_hdr, id), OFF(couic_frame_hdr, len), OFF(couic_frame_hdr, status),
	OFF(couic_op, kind), OFF(couic_op, policy), OFF(couic_op, family),
	OFF(couic_op, prefixlen), OFF(couic_op, tag), OFF(couic_op, addr),
	OFF(couic_list_hdr, count), OFF(couic_list_hdr, reserved),
	OFF(couic_hello, proto_version), OFF(couic_hello, features), OFF(couic_hello, ncpus),
	OFF(couic_hello, max_tags), OFF(couic_hello, capacity), OFF(couic_hello, count),
	OFF(couic_hello, n_ifaces), OFF(couic_hello, reserved),
	OFF(couic_iface, ifindex), OFF(couic_iface, mode), OFF(couic_iface, name),
	OFF(couic_stats_hdr, n_actions), OFF(couic_stats_hdr, n_parse),
	OFF(couic_stats_hdr, n_tags), OFF(couic_stats_hdr, reserved),
	OFF(couic_tag_stats, tag), OFF(couic_tag_stats, policy),
	OFF(couic_tag_stats, packets), OFF(couic_tag_stats, bytes),
	OFF(couic_test_req, repeat), OFF(couic_test_req, len),
	OFF(couic_test_result, retval), OFF(couic_test_result, duration_ns),
	OFF(couic_lpm_v4, prefixlen), OFF(couic_lpm_v4, addr),
	OFF(couic_lpm_v6, prefixlen), OFF(couic_lpm_v6, addr),
	OFF(couic_v6_addr, addr),
	OFF(couic_entry_val, tag), OFF(couic_entry_val, gen),
	OFF(couic_pkt_stats, packets), OFF(couic_pkt_stats, bytes),
	OFF(couic_cfg, nonempty), OFF(couic_cfg, gen),
};

#define TABLE(json_name, kvs) { json_name, kvs, ARRAY_SIZE(kvs) }

static const struct {
	const char *name;
	const struct abi_kv *kv;
	size_t n;
} tables[] = {
	TABLE("msg", msg), TABLE("flags", flags), TABLE("op", op), TABLE("status", status),
	TABLE("policy", policy), TABLE("feature", feature), TABLE("mode", mode),
	TABLE("parse", parse), TABLE("map_slot", map_slot), TABLE("limits", limits),
	TABLE("defaults", defaults), TABLE("sizeof", sizes), TABLE("offsetof", offsets),
};

int print_abi(void)
{
	size_t t, i;

	printf("{\"proto_version\":%d,\"magic\":%d", COUIC_PROTO_VERSION, COUIC_FRAME_MAGIC);
	for (t = 0; t < ARRAY_SIZE(tables); t++) {
		printf(",\"%s\":{", tables[t].name);
		for (i = 0; i < tables[t].n; i++)
			printf("%s\"%s\":%lld", i ? "," : "", tables[t].kv[i].name,
			       tables[t].kv[i].value);
		printf("}");
	}
	printf("}\n");
	return fflush(stdout) ? 1 : 0;
}
