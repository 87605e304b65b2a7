// SPDX-License-Identifier: GPL-2.0
/* xdpgen.bpf.c - the traffic bench's frame generator program.
 *
 * Run by BPF_PROG_TEST_RUN in live-frame mode (BPF_F_TEST_XDP_LIVE_FRAMES):
 * each run rewrites the IPv4 source of the template frame from the `srcs`
 * table (frame k gets entry k & mask, so the hit/miss mix of the table is
 * the mix of the traffic) and returns XDP_TX, which the kernel turns into a
 * redirect out of the ingress interface: on a veth the frame lands in the
 * peer's receive ring as an xdp_frame, exactly as a native-XDP NIC hands
 * frames over, with no skb built on the sending side. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "xdpgen.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct xdpgen_src);
	__uint(max_entries, XDPGEN_MAX_SRCS);
} srcs SEC(".maps");

/* [0] = mask (table size - 1, a power of two minus one) */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, 1);
} cfg SEC(".maps");

/* frames generated so far: the index of the next source */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, 1);
} seq SEC(".maps");

SEC("xdp")
int xdpgen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct xdpgen_src *s;
	__u32 zero = 0, i;
	__u32 *mask;
	__u64 *n;

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_ABORTED;
	n = bpf_map_lookup_elem(&seq, &zero);
	mask = bpf_map_lookup_elem(&cfg, &zero);
	if (!n || !mask)
		return XDP_ABORTED;
	i = (__u32)*n & *mask;
	*n += 1;
	s = bpf_map_lookup_elem(&srcs, &i);
	if (!s)
		return XDP_ABORTED;
	ip->saddr = s->saddr;
	ip->check = s->check;
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";
