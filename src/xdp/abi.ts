/**
 * The helper's ABI as TypeScript sees it: every table of the protocol and
 * kernel headers (src/helper/couic_proto.h, couic_kern_user.h) with the C prefixes stripped, shaped like
 * the JSON printed by `couic-helper --abi`, so test/unit/abi.test.ts can
 * compare them directly; and the name lists indexed by those values.
 * Constants only: the codec (protocol.ts) and the types (types.ts) build on it.
 */

export const PROTO_VERSION = 1;
export const MAGIC = 0xc0c1;

export const MSG = {
  HELLO: 1,
  BATCH: 2,
  REPLACE_BEGIN: 3,
  REPLACE_CHUNK: 4,
  REPLACE_END: 5,
  DUMP: 6,
  STATS: 7,
  TEST_RUN: 8,
  TAG_RESET: 9,
  SHUTDOWN: 10,
} as const;
export type MsgType = (typeof MSG)[keyof typeof MSG];

export const FLAG = {
  REPLY: 0x01,
  MORE: 0x02,
  UNPIN: 0x04,
} as const;

export const OP_KIND = {
  ADD: 1,
  UPSERT: 2,
  DEL: 3,
} as const;

export const STATUS = {
  OK: 0,
  EXISTS: 1,
  ABSENT: 2,
  FULL: 3,
  INVALID: 4,
  ERROR: 5,
} as const;

export const POLICY = {
  DROP: 0,
  IGNORE: 1,
} as const;

export const FEATURE = {
  BATCH_HASH: 0x01,
  BATCH_LPM: 0x02,
  XDP_LINK: 0x04,
  PINNED: 0x08,
  REUSED: 0x10,
  LPM_ONLY: 0x20,
} as const;

export const MODE = {
  NATIVE: 1,
  GENERIC: 2,
} as const;

export const PARSE = {
  ETH_SHORT: 0,
  VLAN_SHORT: 1,
  VLAN_DEEP: 2,
  IP4_SHORT: 3,
  IP4_BAD: 4,
  IP6_SHORT: 5,
  IP6_BAD: 6,
  NON_IP: 7,
  VLAN: 8,
  MAX: 9,
} as const;

export const MAP_SLOT = {
  DROP4_EXACT: 0,
  DROP6_EXACT: 1,
  DROP4_LPM: 2,
  DROP6_LPM: 3,
  IGNORE4_EXACT: 4,
  IGNORE6_EXACT: 5,
  IGNORE4_LPM: 6,
  IGNORE6_LPM: 7,
} as const;

export const LIMITS = {
  MAX_PAYLOAD: 4 * 1024 * 1024,
  MAX_OPS: 65536,
  MAX_PKT: 9216,
  MAX_IFACES: 64,
  DUMP_CHUNK: 16384,
  XDP_ACTIONS: 5,
  MAP_COUNT: 8,
  MAX_REPEAT: 1048576,
} as const;

export const DEFAULTS = {
  DROP_EXACT: 1048576,
  DROP_CIDR: 262144,
  IGNORE_EXACT: 65536,
  IGNORE_CIDR: 65536,
  MAX_TAGS: 4096,
} as const;

/* sizeof / offsetof: every struct and field of the helper's headers, as
 * `couic-helper --abi` prints them. */
export const SIZEOF = {
  couic_frame_hdr: 16,
  couic_op: 24,
  couic_list_hdr: 8,
  couic_hello: 88,
  couic_iface: 24,
  couic_stats_hdr: 16,
  couic_pkt_stats: 16,
  couic_tag_stats: 24,
  couic_test_req: 8,
  couic_test_result: 8,
  couic_entry_val: 8,
  couic_lpm_v4: 8,
  couic_lpm_v6: 20,
  couic_v6_addr: 16,
  couic_cfg: 8,
} as const;

export const OFFSETOF = {
  'couic_frame_hdr.magic': 0,
  'couic_frame_hdr.type': 2,
  'couic_frame_hdr.flags': 3,
  'couic_frame_hdr.id': 4,
  'couic_frame_hdr.len': 8,
  'couic_frame_hdr.status': 12,
  'couic_op.kind': 0,
  'couic_op.policy': 1,
  'couic_op.family': 2,
  'couic_op.prefixlen': 3,
  'couic_op.tag': 4,
  'couic_op.addr': 8,
  'couic_hello.features': 4,
  'couic_hello.ncpus': 8,
  'couic_hello.max_tags': 12,
  'couic_hello.capacity': 16,
  'couic_hello.count': 48,
  'couic_hello.n_ifaces': 80,
  'couic_iface.ifindex': 0,
  'couic_iface.mode': 4,
  'couic_iface.name': 8,
  'couic_tag_stats.tag': 0,
  'couic_tag_stats.policy': 4,
  'couic_tag_stats.packets': 8,
  'couic_tag_stats.bytes': 16,
  'couic_hello.proto_version': 0,
  'couic_hello.reserved': 84,
  'couic_list_hdr.count': 0,
  'couic_list_hdr.reserved': 4,
  'couic_stats_hdr.n_actions': 0,
  'couic_stats_hdr.n_parse': 4,
  'couic_stats_hdr.n_tags': 8,
  'couic_stats_hdr.reserved': 12,
  'couic_pkt_stats.packets': 0,
  'couic_pkt_stats.bytes': 8,
  'couic_test_req.repeat': 0,
  'couic_test_req.len': 4,
  'couic_test_result.retval': 0,
  'couic_test_result.duration_ns': 4,
  'couic_entry_val.tag': 0,
  'couic_entry_val.gen': 4,
  'couic_lpm_v4.prefixlen': 0,
  'couic_lpm_v4.addr': 4,
  'couic_lpm_v6.prefixlen': 0,
  'couic_lpm_v6.addr': 4,
  'couic_v6_addr.addr': 0,
  'couic_cfg.nonempty': 0,
  'couic_cfg.gen': 4,
} as const;

/** Every table, keyed like the JSON printed by `couic-helper --abi`. */
export const ABI = {
  proto_version: PROTO_VERSION,
  magic: MAGIC,
  msg: MSG,
  flags: FLAG,
  op: OP_KIND,
  status: STATUS,
  policy: POLICY,
  feature: FEATURE,
  mode: MODE,
  parse: PARSE,
  map_slot: MAP_SLOT,
  limits: LIMITS,
  defaults: DEFAULTS,
  sizeof: SIZEOF,
  offsetof: OFFSETOF,
} as const;

export const HEADER_SIZE = SIZEOF.couic_frame_hdr;
export const OP_SIZE = SIZEOF.couic_op;
export const LIST_HDR_SIZE = SIZEOF.couic_list_hdr;
/** Most records one list frame can carry (count limit and payload limit). */
export const MAX_OPS_PER_FRAME = Math.min(
  LIMITS.MAX_OPS,
  Math.floor((LIMITS.MAX_PAYLOAD - LIST_HDR_SIZE) / OP_SIZE),
);

/** Status byte → name, indexed by STATUS value. */
export const OP_STATUS_NAMES = ['ok', 'exists', 'absent', 'full', 'invalid', 'error'] as const;
/** What the kernel made of one map op. */
export type OpStatus = (typeof OP_STATUS_NAMES)[number];


/* Name lists, indexed by the values above. */

/** Kernel map slots, in couic_map_slot order (HELLO capacity[] and count[], STATS count[]). */
export const MAP_SLOTS = [
  'drop4_exact', 'drop6_exact', 'drop4_lpm', 'drop6_lpm',
  'ignore4_exact', 'ignore6_exact', 'ignore4_lpm', 'ignore6_lpm',
] as const;
export type MapSlot = (typeof MAP_SLOTS)[number];

/** XDP actions in the kernel's enum xdp_action order (STATS). */
export const XDP_ACTIONS = ['XDP_ABORTED', 'XDP_DROP', 'XDP_PASS', 'XDP_TX', 'XDP_REDIRECT'] as const;
export type XdpAction = (typeof XDP_ACTIONS)[number];

/** Parse counters in couic_parse_reason order (STATS). */
export const PARSE_REASONS = [
  'eth_short', 'vlan_short', 'vlan_deep', 'ip4_short', 'ip4_bad',
  'ip6_short', 'ip6_bad', 'non_ip', 'vlan',
] as const;
export type ParseReason = (typeof PARSE_REASONS)[number];
