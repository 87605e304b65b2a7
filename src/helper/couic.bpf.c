// SPDX-License-Identifier: GPL-2.0
/* couic.bpf.c - the XDP program of couic.
 *
 * Parses Ethernet, up to two VLAN tags and the IPv4/IPv6 header, then
 * decides on the source address: ignore maps first (any hit passes), then
 * drop maps (a hit drops); within a policy the exact-match hash map is
 * consulted before the LPM trie.  Empty maps are skipped thanks to the
 * couic_cfg.nonempty bits maintained by the helper.  Every frame is
 * counted in couic_xdp_stats; frames passed without a lookup are counted
 * in couic_parse_stats; hits are counted per tag.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "couic_kern_user.h"

#define ETH_P_8021Q_BE	bpf_htons(0x8100)
#define ETH_P_8021AD_BE	bpf_htons(0x88A8)
#define ETH_P_IP_BE	bpf_htons(0x0800)
#define ETH_P_IPV6_BE	bpf_htons(0x86DD)

/* Set by the helper before load (number of slots of the tag arrays). */
const volatile __u32 max_tags = COUIC_DEF_MAX_TAGS;

/* max_entries of every map below is resized by the helper before load. */
#define EXACT_MAP(_name, _key)						\
struct {								\
	__uint(type, BPF_MAP_TYPE_HASH);				\
	__type(key, _key);						\
	__type(value, struct couic_entry_val);				\
	__uint(max_entries, 1024);					\
	__uint(map_flags, BPF_F_NO_PREALLOC);				\
} _name SEC(".maps")

#define LPM_MAP(_name, _key)						\
struct {								\
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);				\
	__type(key, _key);						\
	__type(value, struct couic_entry_val);				\
	__uint(max_entries, 1024);					\
	__uint(map_flags, BPF_F_NO_PREALLOC);				\
} _name SEC(".maps")

EXACT_MAP(drop4_exact, __u32);
EXACT_MAP(drop6_exact, struct couic_v6_addr);
LPM_MAP(drop4_lpm, struct couic_lpm_v4);
LPM_MAP(drop6_lpm, struct couic_lpm_v6);
EXACT_MAP(ignore4_exact, __u32);
EXACT_MAP(ignore6_exact, struct couic_v6_addr);
LPM_MAP(ignore4_lpm, struct couic_lpm_v4);
LPM_MAP(ignore6_lpm, struct couic_lpm_v6);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct couic_pkt_stats);
	__uint(max_entries, COUIC_XDP_ACTIONS);
} couic_xdp_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, COUIC_PARSE_MAX);
} couic_parse_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct couic_pkt_stats);
	__uint(max_entries, COUIC_DEF_MAX_TAGS);
} couic_drop_tags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, struct couic_pkt_stats);
	__uint(max_entries, COUIC_DEF_MAX_TAGS);
} couic_ignore_tags SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct couic_cfg);
	__uint(max_entries, 1);
} couic_cfg SEC(".maps");

#define BIT(slot) (1u << (slot))

static __always_inline void count_parse(__u32 reason)
{
	__u64 *c = bpf_map_lookup_elem(&couic_parse_stats, &reason);

	if (c)
		*c += 1;
}

static __always_inline int verdict(__u32 action, __u64 bytes)
{
	struct couic_pkt_stats *s = bpf_map_lookup_elem(&couic_xdp_stats, &action);

	if (s) {
		s->packets += 1;
		s->bytes += bytes;
	}
	return action;
}

static __always_inline void count_tag(void *tags, __u32 tag, __u64 bytes)
{
	struct couic_pkt_stats *s;
	__u32 slot = tag < max_tags ? tag : 0;

	s = bpf_map_lookup_elem(tags, &slot);
	if (s) {
		s->packets += 1;
		s->bytes += bytes;
	}
}

/* Source address decision.  @saddr points into the packet, bounds already
 * checked; it is the exact-map key as is (the verifier accepts packet
 * pointers as map keys).  The LPM key is built on the stack only when a
 * trie is to be consulted.  @v6 is a constant: every ternary below folds. */
static __always_inline int decide(__u32 nonempty, int v6, void *saddr, __u64 bytes)
{
	struct couic_entry_val *v = NULL;
	struct couic_lpm_v6 lpm_key;	/* a couic_lpm_v4 in its first 8 bytes */
	void *exact_key = saddr;
	void *ign_exact = v6 ? (void *)&ignore6_exact : (void *)&ignore4_exact;
	void *ign_lpm = v6 ? (void *)&ignore6_lpm : (void *)&ignore4_lpm;
	void *drop_exact = v6 ? (void *)&drop6_exact : (void *)&drop4_exact;
	void *drop_lpm = v6 ? (void *)&drop6_lpm : (void *)&drop4_lpm;
	__u32 f = v6 ? 1 : 0;

	if (nonempty & (BIT(COUIC_MAP_IGNORE4_LPM + f) | BIT(COUIC_MAP_DROP4_LPM + f))) {
		lpm_key.prefixlen = v6 ? 128 : 32;
		/* typed source: 4-byte loads rather than byte loads */
		__builtin_memcpy(lpm_key.addr, (const __u32 *)saddr, v6 ? 16 : 4);
	}

	if (nonempty & BIT(COUIC_MAP_IGNORE4_EXACT + f))
		v = bpf_map_lookup_elem(ign_exact, exact_key);
	if (!v && (nonempty & BIT(COUIC_MAP_IGNORE4_LPM + f)))
		v = bpf_map_lookup_elem(ign_lpm, &lpm_key);
	if (v) {
		count_tag(&couic_ignore_tags, v->tag, bytes);
		return verdict(XDP_PASS, bytes);
	}

	if (nonempty & BIT(COUIC_MAP_DROP4_EXACT + f))
		v = bpf_map_lookup_elem(drop_exact, exact_key);
	if (!v && (nonempty & BIT(COUIC_MAP_DROP4_LPM + f)))
		v = bpf_map_lookup_elem(drop_lpm, &lpm_key);
	if (v) {
		count_tag(&couic_drop_tags, v->tag, bytes);
		return verdict(XDP_DROP, bytes);
	}
	return verdict(XDP_PASS, bytes);
}

SEC("xdp")
int couic(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u64 bytes = end - data;
	struct ethhdr *eth = data;
	struct couic_cfg *cfg;
	void *l3;
	__u16 proto;
	__u32 zero = 0, nonempty;
	int tags = 0;

	if ((void *)(eth + 1) > end) {
		count_parse(COUIC_PARSE_ETH_SHORT);
		return verdict(XDP_PASS, bytes);
	}
	proto = eth->h_proto;
	l3 = eth + 1;

	/* Up to two VLAN tags (802.1Q / 802.1ad, any order): 2 bytes TCI,
	 * 2 bytes encapsulated ethertype. */
#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != ETH_P_8021Q_BE && proto != ETH_P_8021AD_BE)
			break;
		if (l3 + 4 > end) {
			count_parse(COUIC_PARSE_VLAN_SHORT);
			return verdict(XDP_PASS, bytes);
		}
		proto = *(__u16 *)(l3 + 2);
		l3 += 4;
		tags++;
	}
	if (tags) {
		if (proto == ETH_P_8021Q_BE || proto == ETH_P_8021AD_BE) {
			count_parse(COUIC_PARSE_VLAN_DEEP);
			return verdict(XDP_PASS, bytes);
		}
		count_parse(COUIC_PARSE_VLAN);
	}

	if (proto == ETH_P_IP_BE) {
		struct iphdr *iph = l3;

		if ((void *)(iph + 1) > end) {
			count_parse(COUIC_PARSE_IP4_SHORT);
			return verdict(XDP_PASS, bytes);
		}
		if (iph->version != 4 || iph->ihl < 5) {
			count_parse(COUIC_PARSE_IP4_BAD);
			return verdict(XDP_PASS, bytes);
		}
		cfg = bpf_map_lookup_elem(&couic_cfg, &zero);
		if (!cfg)
			return verdict(XDP_PASS, bytes);
		nonempty = cfg->nonempty;
		return decide(nonempty, 0, &iph->saddr, bytes);
	}
	if (proto == ETH_P_IPV6_BE) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > end) {
			count_parse(COUIC_PARSE_IP6_SHORT);
			return verdict(XDP_PASS, bytes);
		}
		if (ip6->version != 6) {
			count_parse(COUIC_PARSE_IP6_BAD);
			return verdict(XDP_PASS, bytes);
		}
		cfg = bpf_map_lookup_elem(&couic_cfg, &zero);
		if (!cfg)
			return verdict(XDP_PASS, bytes);
		nonempty = cfg->nonempty;
		return decide(nonempty, 1, &ip6->saddr, bytes);
	}
	count_parse(COUIC_PARSE_NON_IP);
	return verdict(XDP_PASS, bytes);
}

char _license[] SEC("license") = "GPL";
