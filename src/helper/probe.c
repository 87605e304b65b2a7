// SPDX-License-Identifier: GPL-2.0
/* probe.c - kernel features, probed by trying (never from uname). */
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "helper.h"

/* Do batch update and delete work on a map of this type? */
static bool probe_batch(enum bpf_map_type type, __u32 key_size)
{
	LIBBPF_OPTS(bpf_map_create_opts, co, .map_flags = BPF_F_NO_PREALLOC);
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	struct couic_lpm_v4 keys[2] = { { 32, { 10, 0, 0, 1 } }, { 32, { 10, 0, 0, 2 } } };
	struct couic_entry_val vals[2] = { { 1, 0 }, { 2, 0 } };
	__u32 cnt = 2;
	bool ok = false;
	int fd;

	fd = bpf_map_create(type, "couic_probe", key_size, sizeof(vals[0]), 4, &co);
	if (fd < 0)
		return false;
	/* keys of key_size bytes packed: for the hash probe use 8-byte keys too */
	if (!bpf_map_update_batch(fd, keys, vals, &cnt, &bo) && cnt == 2) {
		cnt = 2;
		ok = !bpf_map_delete_batch(fd, keys, &cnt, &bo) && cnt == 2;
	}
	close(fd);
	return ok;
}

static bool probe_xdp_link(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	bool ok;

	if (!btf)
		return true;	/* no BTF to tell: try, fall back at attach */
	ok = btf__find_by_name_kind(btf, "bpf_xdp_link", BTF_KIND_STRUCT) >= 0;
	btf__free(btf);
	return ok;
}

/* Sets the COUIC_FEAT_* bits the kernel and the options allow. */
void probe_features(struct helper *h)
{
	if (probe_batch(BPF_MAP_TYPE_HASH, sizeof(struct couic_lpm_v4)))
		h->features |= COUIC_FEAT_BATCH_HASH;
	if (probe_batch(BPF_MAP_TYPE_LPM_TRIE, sizeof(struct couic_lpm_v4)))
		h->features |= COUIC_FEAT_BATCH_LPM;
	if (h->opt.no_batch)
		h->features &= ~(COUIC_FEAT_BATCH_HASH | COUIC_FEAT_BATCH_LPM);
	if (probe_xdp_link())
		h->features |= COUIC_FEAT_XDP_LINK;
	if (h->opt.lpm_only)
		h->features |= COUIC_FEAT_LPM_ONLY;
}
