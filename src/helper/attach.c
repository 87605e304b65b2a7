// SPDX-License-Identifier: GPL-2.0
/* attach.c - XDP on the interfaces: a pinned link is switched to the new
 * program, otherwise native then generic (--mode auto), by bpf_link when
 * the kernel has it, else by netlink; release on exit or SHUTDOWN. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "helper.h"

static __u32 query_mode(int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query(ifindex, 0, &q))
		return 0;
	if (q.attach_mode == XDP_ATTACHED_DRV)
		return COUIC_MODE_NATIVE;
	if (q.attach_mode == XDP_ATTACHED_SKB)
		return COUIC_MODE_GENERIC;
	return 0;
}

/* Switches a pinned link of the interface to the new program; returns
 * true when done. */
static bool reuse_link(struct helper *h, struct iface *ifc, const char *path)
{
	struct bpf_link_info info = { 0 };
	__u32 len = sizeof(info);
	__u32 mode;
	int fd, err;

	fd = bpf_obj_get(path);
	if (fd < 0)
		return false;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.type != BPF_LINK_TYPE_XDP ||
	    info.xdp.ifindex != (__u32)ifc->ifindex) {
		log_err("interface %s: pinned link is stale, re-attaching", ifc->name);
		goto drop;
	}
	mode = query_mode(ifc->ifindex);
	if (h->opt.mode != MODE_AUTO && mode != h->opt.mode) {
		log_err("interface %s: pinned link in another mode, re-attaching", ifc->name);
		goto drop;
	}
	err = bpf_link_update(fd, h->prog_fd, NULL);
	if (err) {
		log_err("interface %s: pinned link update: %s, re-attaching", ifc->name,
			strerror(-err));
		goto drop;
	}
	ifc->link_fd = fd;
	ifc->mode = mode ? mode : COUIC_MODE_NATIVE;
	return true;
drop:
	bpf_link_detach(fd);
	close(fd);
	unlink(path);
	return false;
}

int attach_iface(struct helper *h, struct iface *ifc)
{
	static const __u32 modes[2] = { COUIC_MODE_NATIVE, COUIC_MODE_GENERIC };
	const struct helper_opts *opt = &h->opt;
	char path[PATH_MAX];
	int i, fd, err = -EINVAL;

	if (opt->pin_dir) {
		pin_path(path, sizeof(path), opt->pin_dir, "links", ifc->name);
		if (reuse_link(h, ifc, path))
			return 0;
	}
	for (i = 0; i < 2; i++) {
		__u32 flags = modes[i] == COUIC_MODE_NATIVE ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;

		if (opt->mode != MODE_AUTO && opt->mode != modes[i])
			continue;
		if (h->features & COUIC_FEAT_XDP_LINK) {
			LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = flags);

			fd = bpf_link_create(h->prog_fd, ifc->ifindex, BPF_XDP, &lo);
			if (fd >= 0) {
				ifc->link_fd = fd;
				ifc->mode = modes[i];
				break;
			}
			err = fd;
		} else {
			err = bpf_xdp_attach(ifc->ifindex, h->prog_fd,
					     flags | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
			if (!err) {
				ifc->netlink = true;
				ifc->nl_flags = flags;
				ifc->mode = modes[i];
				break;
			}
		}
		if (opt->mode == MODE_AUTO && i == 0)
			log_err("interface %s: native XDP refused (%s), trying generic",
				ifc->name, strerror(-err));
	}
	if (!ifc->mode)
		return fail(err, "interface %s: %s XDP attach: %s", ifc->name,
			    opt->mode == COUIC_MODE_NATIVE ? "native" :
			    opt->mode == COUIC_MODE_GENERIC ? "generic" : "native and generic",
			    strerror(-err));
	if (opt->pin_dir && !ifc->netlink) {
		if (bpf_obj_pin(ifc->link_fd, path))
			return fail(-errno, "interface %s: pin link %s: %s", ifc->name, path,
				    strerror(errno));
	} else if (opt->pin_dir) {
		log_err("interface %s: attached without bpf_link, not pinned", ifc->name);
	}
	return 0;
}

/* Lets go of every interface.  RELEASE_KEEP_PINNED (exit): a link goes
 * with its fd unless it is pinned; a netlink attachment is detached unless
 * the helper pins.  RELEASE_DETACH_ALL (SHUTDOWN with UNPIN): every one is
 * detached now, pinned or not. */
void release_ifaces(struct helper *h, enum release how)
{
	bool all = how == RELEASE_DETACH_ALL;
	int i, err;

	for (i = 0; i < h->opt.n_ifaces; i++) {
		struct iface *ifc = &h->ifaces[i];

		err = 0;
		if (all && ifc->link_fd >= 0)
			err = bpf_link_detach(ifc->link_fd);
		else if (ifc->netlink && (all || !h->opt.pin_dir))
			err = bpf_xdp_detach(ifc->ifindex, ifc->nl_flags, NULL);
		if (err && all)
			log_err("interface %s: detach: %s", ifc->name, strerror(-err));
		if (ifc->link_fd >= 0)
			close(ifc->link_fd);
		ifc->link_fd = -1;
		ifc->netlink = false;
	}
}
