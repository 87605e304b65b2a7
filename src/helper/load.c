// SPDX-License-Identifier: GPL-2.0
/* load.c - start(): from the command line to an attached program, in
 * steps that each return 0 or -errno with errmsg set; the caller sends
 * the HELLO (or the start error) and runs the one cleanup path, stop(). */
#include <errno.h>
#include <limits.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "helper.h"
#include "couic.skel.h"

static const char *const map_names[COUIC_MAP_COUNT] = {
	"drop4_exact", "drop6_exact", "drop4_lpm", "drop6_lpm",
	"ignore4_exact", "ignore6_exact", "ignore4_lpm", "ignore6_lpm",
};

static int resolve_ifaces(struct helper *h)
{
	int i;

	for (i = 0; i < h->opt.n_ifaces; i++) {
		struct iface *ifc = &h->ifaces[i];

		snprintf(ifc->name, sizeof(ifc->name), "%s", h->opt.ifnames[i]);
		ifc->link_fd = -1;
		ifc->ifindex = if_nametoindex(h->opt.ifnames[i]);
		if (!ifc->ifindex)
			return fail(-ENODEV, "interface %s: %s", h->opt.ifnames[i],
				    strerror(ENODEV));
	}
	return 0;
}

/* Opens the skeleton and sizes every map from the options. */
static int open_skel(struct helper *h)
{
	const struct helper_opts *opt = &h->opt;
	struct bpf_map *maps[COUIC_MAP_COUNT], *tagmaps[2];
	__u32 caps[4] = { opt->cap_drop_exact, opt->cap_drop_cidr,
			  opt->cap_ignore_exact, opt->cap_ignore_cidr };
	int i, err;

	h->skel = couic_bpf__open();
	if (!h->skel)
		return fail(-errno, "open BPF object: %s", strerror(errno));
	h->skel->rodata->max_tags = opt->max_tags;

	maps[COUIC_MAP_DROP4_EXACT] = h->skel->maps.drop4_exact;
	maps[COUIC_MAP_DROP6_EXACT] = h->skel->maps.drop6_exact;
	maps[COUIC_MAP_DROP4_LPM] = h->skel->maps.drop4_lpm;
	maps[COUIC_MAP_DROP6_LPM] = h->skel->maps.drop6_lpm;
	maps[COUIC_MAP_IGNORE4_EXACT] = h->skel->maps.ignore4_exact;
	maps[COUIC_MAP_IGNORE6_EXACT] = h->skel->maps.ignore6_exact;
	maps[COUIC_MAP_IGNORE4_LPM] = h->skel->maps.ignore4_lpm;
	maps[COUIC_MAP_IGNORE6_LPM] = h->skel->maps.ignore6_lpm;
	for (i = 0; i < COUIC_MAP_COUNT; i++) {
		struct entry_map *m = &h->maps[i];

		m->name = map_names[i];
		m->map = maps[i];
		m->fd = -1;
		m->capacity = caps[i / 2];
		m->lpm = i & 2;
		m->key_size = bpf_map__key_size(maps[i]);
		m->set.ks = m->key_size;
		err = bpf_map__set_max_entries(maps[i], m->capacity);
		if (err)
			return fail(err, "map %s: max_entries %u: %s", m->name, m->capacity,
				    strerror(-err));
	}
	tagmaps[0] = h->skel->maps.couic_drop_tags;
	tagmaps[1] = h->skel->maps.couic_ignore_tags;
	for (i = 0; i < 2; i++) {
		err = bpf_map__set_max_entries(tagmaps[i], opt->max_tags);
		if (err)
			return fail(err, "map %s: max_entries %u: %s", bpf_map__name(tagmaps[i]),
				    opt->max_tags, strerror(-err));
	}
	return 0;
}

/* Makes the skeleton use the maps of a compatible pinned set; *reused
 * tells whether there was one. */
static int reuse_pinned_maps(struct helper *h, bool *reused)
{
	char path[PATH_MAX];
	struct bpf_map *map;
	int fd, err;

	bpf_object__for_each_map(map, h->skel->obj) {
		if (bpf_map__is_internal(map))
			continue;
		pin_path(path, sizeof(path), h->opt.pin_dir, "maps", bpf_map__name(map));
		fd = bpf_obj_get(path);
		if (fd < 0) {
			if (errno != ENOENT)
				return fail(-errno, "pinned map %s: %s", path, strerror(errno));
			continue;
		}
		err = check_pinned(h, map, fd, path);
		if (!err) {
			err = bpf_map__reuse_fd(map, fd);
			if (err)
				fail(err, "pinned map %s: reuse: %s", path, strerror(-err));
		}
		close(fd);
		if (err)
			return err;
		*reused = true;
	}
	return 0;
}

static int load_prog(struct helper *h)
{
	int i, err;

	err = couic_bpf__load(h->skel);
	if (err)
		return fail(err, "load BPF program: %s%s", strerror(-err),
			    h->opt.verbose ? "" : " (--verbose shows the verifier log)");
	h->prog_fd = bpf_program__fd(h->skel->progs.couic);
	h->cfg_fd = bpf_map__fd(h->skel->maps.couic_cfg);
	h->xdp_stats_fd = bpf_map__fd(h->skel->maps.couic_xdp_stats);
	h->parse_fd = bpf_map__fd(h->skel->maps.couic_parse_stats);
	h->tag_fd[0] = bpf_map__fd(h->skel->maps.couic_drop_tags);
	h->tag_fd[1] = bpf_map__fd(h->skel->maps.couic_ignore_tags);
	for (i = 0; i < COUIC_MAP_COUNT; i++)
		h->maps[i].fd = bpf_map__fd(h->maps[i].map);
	return 0;
}

static int count_entry(struct entry_map *m, const void *key,
		       const struct couic_entry_val *val, void *ctx)
{
	__u32 *max_gen = ctx;
	int r = ks_add(&m->set, key);

	if (r < 0)
		return r;
	m->count += r;
	/* a pinned set whose couic_cfg was lost restarts at gen 0: the next
	 * REPLACE_BEGIN must still move past every gen the entries carry */
	if ((__s32)(val->gen - *max_gen) > 0)
		*max_gen = val->gen;
	return 0;
}

/* A re-used pinned set: the key sets and counts from the kernel maps, the
 * generation from couic_cfg and the entries. */
static int count_reused(struct helper *h)
{
	__u32 zero = 0, max_gen;
	int i, err;

	h->features |= COUIC_FEAT_REUSED;
	if (bpf_map_lookup_elem(h->cfg_fd, &zero, &h->cfg))
		return fail(-errno, "map couic_cfg: lookup: %s", strerror(errno));
	max_gen = h->cfg.gen;
	for (i = 0; i < COUIC_MAP_COUNT; i++) {
		err = map_iterate(h, &h->maps[i], count_entry, &max_gen);
		if (err)
			return fail(err, "map %s: count entries: %s", h->maps[i].name,
				    strerror(-err));
	}
	h->cfg.gen = max_gen;
	return 0;
}

static int init_cfg(struct helper *h)
{
	int i, err;

	h->cfg.nonempty = 0;
	for (i = 0; i < COUIC_MAP_COUNT; i++)
		if (h->maps[i].count)
			h->cfg.nonempty |= 1u << i;
	err = write_cfg(h);
	if (err)
		return fail(err, "map couic_cfg: update: %s", strerror(-err));
	return 0;
}

/* Pins every map not pinned yet (re-used ones already are). */
static int pin_maps(struct helper *h)
{
	const char *dir = h->opt.pin_dir;
	char path[PATH_MAX], sub[PATH_MAX];
	struct bpf_map *map;
	int err;

	snprintf(sub, sizeof(sub), "%s/maps", dir);
	if ((err = mkdir_p(dir)) || (err = mkdir_p(sub)))
		return fail(err, "pin dir %s: %s", sub, strerror(-err));
	snprintf(sub, sizeof(sub), "%s/links", dir);
	if ((err = mkdir_p(sub)))
		return fail(err, "pin dir %s: %s", sub, strerror(-err));
	bpf_object__for_each_map(map, h->skel->obj) {
		if (bpf_map__is_internal(map))
			continue;
		pin_path(path, sizeof(path), dir, "maps", bpf_map__name(map));
		if (!access(path, F_OK))
			continue;	/* re-used */
		if (bpf_obj_pin(bpf_map__fd(map), path))
			return fail(-errno, "pin map %s: %s", path, strerror(errno));
	}
	h->features |= COUIC_FEAT_PINNED;
	return 0;
}

int start(struct helper *h)
{
	bool reused = false;
	int i, err;

	err = resolve_ifaces(h);
	if (err)
		return err;
	h->ncpus = libbpf_num_possible_cpus();
	if (h->ncpus <= 0)
		return fail(h->ncpus ? h->ncpus : -EINVAL, "possible CPUs: %s",
			    strerror(-h->ncpus));
	err = open_skel(h);
	if (!err && h->opt.pin_dir)
		err = reuse_pinned_maps(h, &reused);
	if (!err)
		err = load_prog(h);
	if (err)
		return err;
	probe_features(h);
	for (i = 0; i < COUIC_MAP_COUNT; i++) {
		struct entry_map *m = &h->maps[i];

		m->batch = h->features & (m->lpm ? COUIC_FEAT_BATCH_LPM : COUIC_FEAT_BATCH_HASH);
	}
	if (reused && (err = count_reused(h)))
		return err;
	err = init_cfg(h);
	if (!err && h->opt.pin_dir)
		err = pin_maps(h);
	for (i = 0; !err && i < h->opt.n_ifaces; i++)
		err = attach_iface(h, &h->ifaces[i]);
	if (err)
		return err;
	if (h->opt.pin_dir)
		unpin_dir(h, h->opt.pin_dir, UNPIN_STALE_LINKS);
	return 0;
}

/* The one cleanup path, whatever start() reached. */
void stop(struct helper *h)
{
	int i;

	release_ifaces(h, RELEASE_KEEP_PINNED);
	couic_bpf__destroy(h->skel);
	h->skel = NULL;
	for (i = 0; i < COUIC_MAP_COUNT; i++)
		ks_free(&h->maps[i].set);
}
