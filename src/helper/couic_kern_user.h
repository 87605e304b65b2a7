/* SPDX-License-Identifier: GPL-2.0 */
/* couic_kern_user.h - what the XDP program (couic.bpf.c) and userspace
 * share: map slots, map keys and values, counters, default capacities.
 * Changing anything here changes the layout of the kernel maps, so pinned
 * maps of an older helper no longer fit (the helper says so at start).
 *
 * Addresses are network order (big-endian bytes, as on the wire); every
 * other multi-byte field is host order.  The wire protocol built on top
 * is couic_proto.h; `couic-helper --abi` prints both, and
 * test/unit/abi.test.ts checks that it prints every constant, struct and
 * field declared here.  Style the test relies on: every enum member and
 * value #define has an explicit integer value.
 */
#ifndef COUIC_KERN_USER_H
#define COUIC_KERN_USER_H

#include <linux/types.h>

/* Map slots, in the order used by every per-map array of the protocol
 * (capacities and counts in HELLO and STATS).
 * slot = policy * 4 + (lpm ? 2 : 0) + (family == 6 ? 1 : 0)            */
enum couic_map_slot {
	COUIC_MAP_DROP4_EXACT = 0,   /* HASH     key __be32 addr          */
	COUIC_MAP_DROP6_EXACT = 1,   /* HASH     key struct couic_v6_addr */
	COUIC_MAP_DROP4_LPM = 2,     /* LPM_TRIE key struct couic_lpm_v4  */
	COUIC_MAP_DROP6_LPM = 3,     /* LPM_TRIE key struct couic_lpm_v6  */
	COUIC_MAP_IGNORE4_EXACT = 4,
	COUIC_MAP_IGNORE6_EXACT = 5,
	COUIC_MAP_IGNORE4_LPM = 6,
	COUIC_MAP_IGNORE6_LPM = 7,
	COUIC_MAP_COUNT = 8,
};

enum couic_policy {
	COUIC_POLICY_DROP = 0,
	COUIC_POLICY_IGNORE = 1,
};

struct couic_lpm_v4 {
	__u32 prefixlen;             /* host order, as the LPM trie wants */
	__u8 addr[4];                /* network order                     */
};

struct couic_lpm_v6 {
	__u32 prefixlen;
	__u8 addr[16];
};

struct couic_v6_addr {
	__u8 addr[16];
};

/* Value of every entry map.  `tag` is the daemon's numeric tag id; `gen`
 * is the helper's write generation, used by REPLACE to find stale entries.
 * (The helper keeps a set of the keys of each map, because the kernel's
 * batch update accepts only BPF_ANY: the set is what answers "exists" and
 * "absent" per record.) */
struct couic_entry_val {
	__u32 tag;
	__u32 gen;
};

/* Per-CPU counters: couic_xdp_stats is indexed by XDP action (Couic's
 * five), couic_drop_tags / couic_ignore_tags by tag id (arrays of
 * max_tags slots; ids >= max_tags are counted in slot 0, the overflow
 * slot, so no hit is ever lost, only its attribution). */
struct couic_pkt_stats {
	__u64 packets;
	__u64 bytes;
};

#define COUIC_XDP_ACTIONS 5          /* ABORTED DROP PASS TX REDIRECT */

/* Why a frame passed without a lookup (or what it carried): per-CPU
 * array couic_parse_stats. */
enum couic_parse_reason {
	COUIC_PARSE_ETH_SHORT = 0,   /* shorter than an Ethernet header   */
	COUIC_PARSE_VLAN_SHORT = 1,  /* VLAN tag cut short                */
	COUIC_PARSE_VLAN_DEEP = 2,   /* more than two VLAN tags           */
	COUIC_PARSE_IP4_SHORT = 3,   /* IPv4 header cut short             */
	COUIC_PARSE_IP4_BAD = 4,     /* version != 4 or ihl < 5           */
	COUIC_PARSE_IP6_SHORT = 5,   /* IPv6 header cut short             */
	COUIC_PARSE_IP6_BAD = 6,     /* version != 6                      */
	COUIC_PARSE_NON_IP = 7,      /* ARP and every other ethertype     */
	COUIC_PARSE_VLAN = 8,        /* carried 1 or 2 VLAN tags (info)   */
	COUIC_PARSE_MAX = 9,
};

/* couic_cfg: ARRAY map with one element.  `nonempty` has bit (1 << slot)
 * set while the map of that slot may hold entries: the program skips the
 * lookup of an empty map.  The helper sets a bit before the first insert
 * and clears it after the last delete. */
struct couic_cfg {
	__u32 nonempty;
	__u32 gen;                   /* current write generation */
};

/* Default capacities (helper arguments override them at load time). */
#define COUIC_DEF_DROP_EXACT    1048576
#define COUIC_DEF_DROP_CIDR     262144
#define COUIC_DEF_IGNORE_EXACT  65536
#define COUIC_DEF_IGNORE_CIDR   65536
#define COUIC_DEF_MAX_TAGS      4096

#ifndef __bpf__
_Static_assert(sizeof(struct couic_entry_val) == 8, "entry value");
_Static_assert(sizeof(struct couic_lpm_v4) == 8, "lpm v4 key");
_Static_assert(sizeof(struct couic_lpm_v6) == 20, "lpm v6 key");
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "little-endian hosts only");
#endif

#endif /* COUIC_KERN_USER_H */
