/* SPDX-License-Identifier: GPL-2.0 */
/* xdpgen.h - shared by the generator program and its loader. */
#ifndef XDPGEN_H
#define XDPGEN_H

#include <linux/types.h>

#define XDPGEN_MAX_SRCS 65536

/* One source of the table: the address and the IPv4 header checksum of the
 * template frame with that source (precomputed, so the program does no
 * checksum work). */
struct xdpgen_src {
	__be32 saddr;
	__u16 check;
	__u16 pad;
};

#endif
