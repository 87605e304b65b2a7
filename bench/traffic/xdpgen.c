// SPDX-License-Identifier: GPL-2.0
/* xdpgen - the traffic bench's sender: a bounded flood of 60-byte IPv4/UDP
 * frames out of a veth, delivered to the peer as xdp_frames (see
 * xdpgen.bpf.c), with sources taken in turn from a file.  Run it inside the
 * sending network namespace, pinned to a CPU of its own:
 *
 *   xdpgen -i IFACE -m DSTMAC -d DSTIP -f SRCFILE -c FRAMES
 *          [-t SECONDS] [-r PER_CALL] [-b BATCH] [-g GAP_US]
 *
 *   SRCFILE   one IPv4 source per line; the count must be a power of two
 *             (<= 65536): frame k has source line k mod count
 *   FRAMES    frames to send; the run also ends after SECONDS (default 10,
 *             at most 60)
 *   PER_CALL  frames per BPF_PROG_TEST_RUN call (default 65536)
 *   BATCH     frames per kernel batch inside a call (default 64, <= 256)
 *   GAP_US    pause between two calls (default 0): paces the flood so a
 *             slow receiver's ring (256 frames on veth) never overflows
 *
 * stdout (the protocol): one line "sent FRAMES WALL_NS RUN_NS CALLS" on success:
 * RUN_NS is the kernel's own time in the calls' run loops (what the frames
 * took to send), WALL_NS also has each call's set-up and tear-down (on
 * 6.x kernels the tear-down waits for an RCU grace period, ~20 ms a call,
 * so use few large calls).
 * stderr: errors.  Exit status: 0 sent, 1 failure, 2 bad arguments.
 * Needs kernel >= 5.18 (live frames) and CAP_BPF + CAP_NET_ADMIN. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <net/if.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "xdpgen.h"
#include "xdpgen.skel.h"

#ifndef BPF_F_TEST_XDP_LIVE_FRAMES
#define BPF_F_TEST_XDP_LIVE_FRAMES (1U << 1)
#endif

#define FRAME_LEN 60		/* Ethernet minimum without FCS */
#define MAX_SECONDS 60.0

struct opts {
	const char *ifname;
	const char *srcfile;
	uint8_t dmac[ETH_ALEN];
	struct in_addr daddr;
	long long frames;
	double seconds;
	unsigned per_call;
	unsigned batch;
	unsigned gap_us;
};

static void logf_(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("xdpgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint16_t ip_checksum(const void *hdr, size_t len)
{
	const uint16_t *w = hdr;
	uint32_t sum = 0;

	for (; len > 1; len -= 2)
		sum += *w++;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
	char *e;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &e, 10);
	if (errno || e == s || *e || s[0] == '-' || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	unsigned long long v;
	char *e;
	int c, have_mac = 0, have_dst = 0;

	*o = (struct opts){ .frames = -1, .seconds = 10, .per_call = 65536, .batch = 64 };
	while ((c = getopt(argc, argv, "i:m:d:f:c:t:r:b:g:")) != -1) {
		switch (c) {
		case 'i':
			o->ifname = optarg;
			break;
		case 'f':
			o->srcfile = optarg;
			break;
		case 'm':
			if (sscanf(optarg, "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx", &o->dmac[0], &o->dmac[1],
				   &o->dmac[2], &o->dmac[3], &o->dmac[4], &o->dmac[5]) != 6) {
				logf_("-m %s: expected a MAC address aa:bb:cc:dd:ee:ff", optarg);
				return -EINVAL;
			}
			have_mac = 1;
			break;
		case 'd':
			if (inet_pton(AF_INET, optarg, &o->daddr) != 1) {
				logf_("-d %s: expected an IPv4 address", optarg);
				return -EINVAL;
			}
			have_dst = 1;
			break;
		case 'c':
			if (parse_uint(optarg, LLONG_MAX, &v) || v == 0) {
				logf_("-c %s: expected a frame count >= 1", optarg);
				return -EINVAL;
			}
			o->frames = (long long)v;
			break;
		case 't':
			errno = 0;
			o->seconds = strtod(optarg, &e);
			if (errno || e == optarg || *e || !(o->seconds > 0)) {
				logf_("-t %s: expected seconds > 0", optarg);
				return -EINVAL;
			}
			if (o->seconds > MAX_SECONDS)
				o->seconds = MAX_SECONDS;
			break;
		case 'r':
			if (parse_uint(optarg, 1u << 24, &v) || v == 0) {
				logf_("-r %s: expected 1 to %u frames per call", optarg, 1u << 24);
				return -EINVAL;
			}
			o->per_call = (unsigned)v;
			break;
		case 'b':
			if (parse_uint(optarg, 256, &v) || v == 0) {
				logf_("-b %s: expected a batch of 1 to 256 frames", optarg);
				return -EINVAL;
			}
			o->batch = (unsigned)v;
			break;
		case 'g':
			if (parse_uint(optarg, 1000000, &v)) {
				logf_("-g %s: expected a pause of 0 to 1000000 us", optarg);
				return -EINVAL;
			}
			o->gap_us = (unsigned)v;
			break;
		default:
			return -EINVAL;
		}
	}
	if (optind != argc || !o->ifname || !o->srcfile || !have_mac || !have_dst || o->frames < 0) {
		logf_("usage: xdpgen -i IFACE -m DSTMAC -d DSTIP -f SRCFILE -c FRAMES "
		      "[-t SECONDS] [-r PER_CALL] [-b BATCH] [-g GAP_US]");
		return -EINVAL;
	}
	return 0;
}

static int iface_mac(const char *ifname, uint8_t mac[ETH_ALEN])
{
	struct ifreq ifr = { 0 };
	int fd, err = 0;

	if (strlen(ifname) >= sizeof(ifr.ifr_name))
		return -ENAMETOOLONG;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(ifr.ifr_name, ifname);
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0)
		err = -errno;
	else
		memcpy(mac, ifr.ifr_hwaddr.sa_data, ETH_ALEN);
	close(fd);
	return err;
}

/* The template frame; its source address and checksum are rewritten per frame. */
static void build_frame(uint8_t *pkt, const struct opts *o, const uint8_t smac[ETH_ALEN])
{
	struct ethhdr *eth = (struct ethhdr *)pkt;
	struct iphdr *ip = (struct iphdr *)(eth + 1);
	struct udphdr *udp = (struct udphdr *)(ip + 1);

	memset(pkt, 0, FRAME_LEN);
	memcpy(eth->h_dest, o->dmac, ETH_ALEN);
	memcpy(eth->h_source, smac, ETH_ALEN);
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	ip->ihl = 5;
	ip->ttl = 64;
	ip->protocol = IPPROTO_UDP;
	ip->tot_len = htons(FRAME_LEN - sizeof(*eth));
	ip->daddr = o->daddr.s_addr;
	udp->source = htons(40000);
	udp->dest = htons(9);	/* discard: nothing listens, a passed frame ends as UdpNoPorts */
	udp->len = htons(FRAME_LEN - sizeof(*eth) - sizeof(*ip));
	/* udp->check = 0: no checksum (valid for IPv4) */
}

/* Fills the program's source table from the file; returns the count or -errno. */
static int load_sources(const char *path, uint8_t *pkt, int map_fd)
{
	struct iphdr *ip = (struct iphdr *)(pkt + sizeof(struct ethhdr));
	char line[128];
	unsigned n = 0, lineno = 0;
	int err = 0;
	FILE *f = fopen(path, "re");

	if (!f) {
		err = -errno;
		logf_("%s: %s", path, strerror(errno));
		return err;
	}
	while (fgets(line, sizeof(line), f)) {
		struct xdpgen_src s = { 0 };
		struct in_addr a;

		lineno++;
		line[strcspn(line, "\r\n")] = 0;
		if (!line[0])
			continue;
		if (inet_pton(AF_INET, line, &a) != 1) {
			logf_("%s:%u: not an IPv4 address: %.40s", path, lineno, line);
			err = -EINVAL;
			goto out;
		}
		if (n == XDPGEN_MAX_SRCS) {
			logf_("%s: more than %u sources", path, XDPGEN_MAX_SRCS);
			err = -E2BIG;
			goto out;
		}
		ip->saddr = a.s_addr;
		ip->check = 0;
		s.saddr = a.s_addr;
		s.check = ip_checksum(ip, sizeof(*ip));
		if (bpf_map_update_elem(map_fd, &n, &s, BPF_ANY)) {
			err = -errno;
			logf_("source table: %s", strerror(errno));
			goto out;
		}
		n++;
	}
	if (ferror(f)) {
		err = -EIO;
		logf_("%s: read error", path);
	} else if (n == 0 || (n & (n - 1))) {
		err = -EINVAL;
		logf_("%s: %u sources; the count must be a power of two (1 to %u)", path, n, XDPGEN_MAX_SRCS);
	}
out:
	fclose(f);
	return err ? err : (int)n;
}

static int flood(const struct opts *o, int prog_fd, uint8_t *pkt, int ifindex)
{
	struct xdp_md ctx = { .data_end = FRAME_LEN, .ingress_ifindex = ifindex };
	long long sent = 0;
	double run_ns = 0;
	unsigned calls = 0;
	double t0 = now_s(), t = t0;

	while (sent < o->frames && t - t0 < o->seconds) {
		long long left = o->frames - sent;
		unsigned n = left < o->per_call ? (unsigned)left : o->per_call;
		LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = pkt, .data_size_in = FRAME_LEN,
			    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = n,
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = o->batch);

		if (bpf_prog_test_run_opts(prog_fd, &run)) {
			int err = -errno;

			logf_("BPF_PROG_TEST_RUN (live frames) on %s: %s%s", o->ifname, strerror(errno),
			      errno == EINVAL ? " (kernel >= 5.18 needed)" : "");
			return err;
		}
		/* run.duration: mean ns per frame of this call's run loop */
		run_ns += (double)run.duration * n;
		sent += n;
		calls++;
		if (o->gap_us && sent < o->frames)
			usleep(o->gap_us);
		t = now_s();
	}
	printf("sent %lld %.0f %.0f %u\n", sent, (t - t0) * 1e9, run_ns, calls);
	return fflush(stdout) ? -EIO : 0;
}

int main(int argc, char **argv)
{
	struct xdpgen_bpf *skel = NULL;
	uint8_t pkt[FRAME_LEN], smac[ETH_ALEN];
	struct opts o;
	int err, n, ifindex;
	__u32 zero = 0, mask;

	if (parse_args(argc, argv, &o))
		return 2;
	ifindex = (int)if_nametoindex(o.ifname);
	if (!ifindex) {
		logf_("interface %s: %s", o.ifname, strerror(errno));
		return 1;
	}
	err = iface_mac(o.ifname, smac);
	if (err) {
		logf_("interface %s: MAC address: %s", o.ifname, strerror(-err));
		return 1;
	}
	build_frame(pkt, &o, smac);
	skel = xdpgen_bpf__open_and_load();
	if (!skel) {
		err = -errno;
		logf_("loading the generator program: %s", strerror(errno));
		goto out;
	}
	n = load_sources(o.srcfile, pkt, bpf_map__fd(skel->maps.srcs));
	if (n < 0) {
		err = n;
		goto out;
	}
	mask = (__u32)n - 1;
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.cfg), &zero, &mask, BPF_ANY)) {
		err = -errno;
		logf_("config map: %s", strerror(errno));
		goto out;
	}
	/* the template's own source is rewritten by the program anyway */
	err = flood(&o, bpf_program__fd(skel->progs.xdpgen), pkt, ifindex);
out:
	xdpgen_bpf__destroy(skel);
	return err ? 1 : 0;
}
