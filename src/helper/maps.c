// SPDX-License-Identifier: GPL-2.0
/* maps.c - operations on the entry maps and couic_cfg: the one apply
 * function for updates and deletes (batched, falling back to one call per
 * entry when the kernel refuses the batch call), iteration, the nonempty
 * bits, kernel errors as per-record statuses. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "helper.h"

int write_cfg(struct helper *h)
{
	__u32 zero = 0;
	int err;

	err = bpf_map_update_elem(h->cfg_fd, &zero, &h->cfg, BPF_ANY);
	if (err) {
		err = -errno;
		log_err("map couic_cfg: update: %s", strerror(-err));
	}
	return err;
}

/* Sets or clears the nonempty bit of a slot.  On failure h->cfg keeps the
 * value the kernel has (a bit the kernel never saw must not be taken as
 * set: entries inserted under it would be invisible to the program). */
int set_nonempty(struct helper *h, int slot, bool on)
{
	__u32 bit = 1u << slot, old = h->cfg.nonempty;
	__u32 want = on ? (old | bit) : (old & ~bit);
	int err;

	if (want == old)
		return 0;
	h->cfg.nonempty = want;
	err = write_cfg(h);
	if (err)
		h->cfg.nonempty = old;
	return err;
}

/* Writes *count entries: updates (BPF_ANY) with vals, deletes without.
 * On failure *count = index of the failing entry (those before it were
 * applied, those after it were not). */
int map_apply(struct entry_map *m, const void *keys, const struct couic_entry_val *vals,
	      __u32 *count)
{
	const char *what = vals ? "update" : "delete";
	__u32 n = *count, i;
	int err;

	if (m->batch) {
		LIBBPF_OPTS(bpf_map_batch_opts, o, .elem_flags = BPF_ANY);

		err = vals ? bpf_map_update_batch(m->fd, keys, vals, count, &o)
			   : bpf_map_delete_batch(m->fd, keys, count, &o);
		if (!err)
			return 0;
		if (*count < n)
			return err;
		log_err("map %s: batch %s refused (%s), one call per entry from now on",
			m->name, what, strerror(-err));
		m->batch = false;
	}
	for (i = 0; i < n; i++) {
		const __u8 *key = (const __u8 *)keys + (size_t)i * m->key_size;

		err = vals ? bpf_map_update_elem(m->fd, key, &vals[i], BPF_ANY)
			   : bpf_map_delete_elem(m->fd, key);
		if (err) {
			err = -errno;
			*count = i;
			return err;
		}
	}
	*count = n;
	return 0;
}

/* Calls cb for every entry of m (batch lookup when possible); stops at the
 * first nonzero return of cb and returns it. */
int map_iterate(struct helper *h, struct entry_map *m, iter_cb cb, void *ctx)
{
	__u8 *kbuf = h->scratch->iter_keys;
	struct couic_entry_val *vbuf = h->scratch->iter_vals;
	__u8 key[sizeof(struct couic_lpm_v6)], next[sizeof(struct couic_lpm_v6)];
	struct couic_entry_val val;
	__u64 in_tok[8], out_tok[8];
	bool first = true;
	__u32 cnt, i;
	int err;

	while (m->batch) {
		LIBBPF_OPTS(bpf_map_batch_opts, o);

		cnt = ITER_CHUNK;
		err = bpf_map_lookup_batch(m->fd, first ? NULL : in_tok, out_tok,
					   kbuf, vbuf, &cnt, &o);
		if (err && err != -ENOENT) {
			if (!first)
				return err;
			log_err("map %s: batch lookup refused (%s), iterating by key",
				m->name, strerror(-err));
			break;
		}
		for (i = 0; i < cnt; i++) {
			int r = cb(m, kbuf + (size_t)i * m->key_size, &vbuf[i], ctx);

			if (r)
				return r;
		}
		if (err == -ENOENT)
			return 0;
		memcpy(in_tok, out_tok, sizeof(in_tok));
		first = false;
	}

	err = bpf_map_get_next_key(m->fd, NULL, key);
	while (!err) {
		if (!bpf_map_lookup_elem(m->fd, key, &val)) {
			int r = cb(m, key, &val, ctx);

			if (r)
				return r;
		}
		err = bpf_map_get_next_key(m->fd, key, next);
		memcpy(key, next, m->key_size);
	}
	err = -errno;
	return err == -ENOENT ? 0 : err;
}

/* A kernel error on one record as its status (logged when unexpected). */
__u8 err_status(struct entry_map *m, int err, const char *what)
{
	switch (-err) {
	case EEXIST:
		return COUIC_ST_EXISTS;
	case ENOENT:
		return COUIC_ST_ABSENT;
	case E2BIG:
	case ENOSPC:
	case ENOMEM:
		return COUIC_ST_FULL;
	default:
		log_err("map %s: %s: %s", m->name, what, strerror(-err));
		return COUIC_ST_ERROR;
	}
}

int scratch_alloc(struct helper *h)
{
	/* calloc: the kernel hands zero pages only as they are touched */
	h->scratch = calloc(1, sizeof(*h->scratch));
	if (!h->scratch)
		return fail(-ENOMEM, "scratch buffers: %s", strerror(ENOMEM));
	return 0;
}

void scratch_free(struct helper *h)
{
	if (h->scratch)
		free(h->scratch->stale);
	free(h->scratch);
	h->scratch = NULL;
}
