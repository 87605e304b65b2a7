// SPDX-License-Identifier: GPL-2.0
/* batch.c - BATCH and REPLACE: records checked and routed to their map,
 * grouped into runs of one kind per map, applied with one kernel batch
 * call per run, one status per record.  REPLACE_BEGIN starts a write
 * generation; REPLACE_END removes every entry not written since. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "helper.h"

/* Returns the map slot of a valid record, -1 if invalid. */
static int op_slot(const struct helper *h, const struct couic_op *op, bool any_kind)
{
	unsigned int maxlen, b;

	if (!any_kind && (op->kind < COUIC_OP_ADD || op->kind > COUIC_OP_DEL))
		return -1;
	if (op->policy > COUIC_POLICY_IGNORE)
		return -1;
	if (op->family == 4) {
		maxlen = 32;
		for (b = 4; b < 16; b++)
			if (op->addr[b])
				return -1;
	} else if (op->family == 6) {
		maxlen = 128;
	} else {
		return -1;
	}
	if (op->prefixlen > maxlen)
		return -1;
	for (b = 0; b < maxlen / 8; b++) {
		int keep = (int)op->prefixlen - (int)b * 8;
		__u8 mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (__u8)(0xff << (8 - keep));

		if (op->addr[b] & ~mask)
			return -1;
	}
	return op->policy * 4 + ((op->prefixlen == maxlen && !h->opt.lpm_only) ? 0 : 2) +
	       (op->family == 6 ? 1 : 0);
}

static void build_key(const struct entry_map *m, const struct couic_op *op, __u8 *key)
{
	__u32 plen = op->prefixlen;

	if (!m->lpm) {
		memcpy(key, op->addr, m->key_size);
		return;
	}
	memcpy(key, &plen, sizeof(plen));
	memcpy(key + sizeof(plen), op->addr, m->key_size - sizeof(plen));
}

/* ADD of a present key during a REPLACE: keep the tag, take the new gen so
 * that REPLACE_END does not remove an entry the daemon just asked for. */
static __u8 restamp(struct helper *h, struct entry_map *m, const __u8 *key)
{
	struct couic_entry_val v;

	/* ENOENT below: the key was added earlier in this very batch and is
	 * not written yet (it will be, with the current gen).  On a trie the
	 * lookup is a longest-prefix match: for such a key it may return a
	 * covering prefix, so only the BPF_EXIST update tells. */
	if (!h->replace_active)
		return COUIC_ST_EXISTS;
	if (bpf_map_lookup_elem(m->fd, key, &v)) {
		if (errno == ENOENT)
			return COUIC_ST_EXISTS;
		log_err("map %s: restamp: lookup: %s", m->name, strerror(errno));
		return COUIC_ST_ERROR;
	}
	if (v.gen == h->cfg.gen)
		return COUIC_ST_EXISTS;
	v.gen = h->cfg.gen;
	if (bpf_map_update_elem(m->fd, key, &v, BPF_EXIST)) {
		if (errno == ENOENT)
			return COUIC_ST_EXISTS;
		/* REPLACE_END would remove an entry the daemon just asked for */
		log_err("map %s: restamp: %s", m->name, strerror(errno));
		return COUIC_ST_ERROR;
	}
	return COUIC_ST_EXISTS;
}

/* ADD or UPSERT of the n records run[] (indexes into ops) of one map. */
static void apply_insert(struct helper *h, int slot, int kind, const struct couic_op *ops,
			 const __u32 *run, __u32 n, __u8 *st)
{
	struct entry_map *m = &h->maps[slot];
	struct scratch *s = h->scratch;
	__u32 ks = m->key_size, pos = 0, j, b, nb, done;
	bool full = false;
	int err, r;

	while (pos < n) {
		bool any_new = false;
		__u8 status;

		nb = 0;
		for (j = pos; j < n; j++) {
			const struct couic_op *op = &ops[run[j]];
			__u8 *key = s->keys + (size_t)nb * ks;
			bool present;

			build_key(m, op, key);
			present = ks_has(&m->set, key);
			if (present && kind == COUIC_OP_ADD) {
				st[run[j]] = restamp(h, m, key);
				continue;
			}
			if (!present && full) {
				st[run[j]] = COUIC_ST_FULL;
				continue;
			}
			if (!present) {
				r = ks_add(&m->set, key);
				if (r < 0) {
					log_err("map %s: key set: %s", m->name, strerror(-r));
					st[run[j]] = COUIC_ST_ERROR;
					continue;
				}
				any_new = true;
			}
			s->bidx[nb] = run[j];
			s->bpos[nb] = j;
			s->fresh[nb] = !present;
			s->vals[nb].tag = op->tag;
			s->vals[nb].gen = h->cfg.gen;
			nb++;
		}
		if (!nb)
			break;
		/* the bit goes up before the first insert: without it the
		 * program would not look the new entries up */
		if (any_new && set_nonempty(h, slot, true)) {
			/* the bit was clear, so the map is empty: every record
			 * left (EXISTS ones included, whose key is one of this
			 * batch's) fails, and the set drops this batch's keys */
			for (b = 0; b < nb; b++)
				if (s->fresh[b])
					ks_del(&m->set, s->keys + (size_t)b * ks);
			for (j = pos; j < n; j++)
				st[run[j]] = COUIC_ST_ERROR;
			break;
		}
		done = nb;
		err = map_apply(m, s->keys, s->vals, &done);
		for (b = 0; b < done; b++) {
			st[s->bidx[b]] = COUIC_ST_OK;
			if (s->fresh[b])
				m->count++;
		}
		if (!err)
			break;
		/* entry `done` failed; entries after it were not applied */
		status = err_status(m, err, "update");
		st[s->bidx[done]] = status;
		if (status == COUIC_ST_FULL)
			full = true;
		for (b = done; b < nb; b++)
			if (s->fresh[b])
				ks_del(&m->set, s->keys + (size_t)b * ks);
		pos = s->bpos[done] + 1;
	}
	if (!m->count)
		set_nonempty(h, slot, false);
}

/* DEL of the n records run[] (indexes into ops) of one map. */
static void apply_delete(struct helper *h, int slot, const struct couic_op *ops,
			 const __u32 *run, __u32 n, __u8 *st)
{
	struct entry_map *m = &h->maps[slot];
	struct scratch *s = h->scratch;
	__u32 ks = m->key_size, pos = 0, j, b, nb, done;
	int err;

	while (pos < n) {
		nb = 0;
		for (j = pos; j < n; j++) {
			__u8 *key = s->keys + (size_t)nb * ks;

			build_key(m, &ops[run[j]], key);
			if (!ks_del(&m->set, key)) {
				st[run[j]] = COUIC_ST_ABSENT;
				continue;
			}
			s->bidx[nb] = run[j];
			s->bpos[nb] = j;
			nb++;
		}
		if (!nb)
			break;
		done = nb;
		err = map_apply(m, s->keys, NULL, &done);
		for (b = 0; b < done; b++)
			st[s->bidx[b]] = COUIC_ST_OK;
		m->count -= done;
		if (!err)
			break;
		st[s->bidx[done]] = err_status(m, err, "delete");
		if (err == -ENOENT) {
			/* the kernel did not have it: our set was wrong */
			log_err("map %s: delete: key known to the helper was absent", m->name);
			m->count--;
		} else {
			ks_add(&m->set, s->keys + (size_t)done * ks);
		}
		for (b = done + 1; b < nb; b++)
			ks_add(&m->set, s->keys + (size_t)b * ks);
		pos = s->bpos[done] + 1;
	}
	if (!m->count)
		set_nonempty(h, slot, false);
}

/* Applies n records (REPLACE: all upserts, whatever their kind), one
 * status byte each in st[]. */
static void apply_ops(struct helper *h, const struct couic_op *ops, __u32 n, bool replace,
		      __u8 *st)
{
	__u32 start[COUIC_MAP_COUNT + 1] = { 0 }, fill[COUIC_MAP_COUNT];
	struct scratch *s = h->scratch;
	__u32 i, j;
	int slot;

	for (i = 0; i < n; i++) {
		slot = op_slot(h, &ops[i], replace);
		s->slot[i] = slot;
		if (slot < 0)
			st[i] = COUIC_ST_INVALID;
		else
			start[slot + 1]++;
	}
	for (slot = 0; slot < COUIC_MAP_COUNT; slot++) {
		start[slot + 1] += start[slot];
		fill[slot] = start[slot];
	}
	for (i = 0; i < n; i++)
		if (s->slot[i] >= 0)
			s->order[fill[s->slot[i]]++] = i;

	for (slot = 0; slot < COUIC_MAP_COUNT; slot++) {
		for (i = start[slot]; i < start[slot + 1]; i = j) {
			int kind = replace ? COUIC_OP_UPSERT : ops[s->order[i]].kind;

			for (j = i + 1; j < start[slot + 1]; j++)
				if (!replace && ops[s->order[j]].kind != kind)
					break;
			if (kind == COUIC_OP_DEL)
				apply_delete(h, slot, ops, s->order + i, j - i, st);
			else
				apply_insert(h, slot, kind, ops, s->order + i, j - i, st);
		}
	}
}

/* A list of couic_op (its size checked by dispatch) -> statuses reply. */
static int handle_list(struct helper *h, const struct request *rq, bool replace)
{
	const struct couic_op *ops = (const void *)(rq->payload + sizeof(struct couic_list_hdr));
	struct couic_list_hdr *lh;
	size_t len = sizeof(*lh) + ((rq->count + 3) & ~3ul);
	__u8 *o = out_reserve(&h->io, len);

	if (!o)
		return -ENOMEM;
	memset(o, 0, len);
	lh = (struct couic_list_hdr *)o;
	lh->count = rq->count;
	apply_ops(h, ops, rq->count, replace, o + sizeof(*lh));
	send_frame(&h->io, rq->hdr->type, 0, rq->hdr->id, 0, o, len);
	return 0;
}

int handle_batch(struct helper *h, const struct request *rq)
{
	return handle_list(h, rq, false);
}

int handle_replace_chunk(struct helper *h, const struct request *rq)
{
	return handle_list(h, rq, true);
}

int handle_replace_begin(struct helper *h, const struct request *rq)
{
	int err;

	h->cfg.gen++;
	err = write_cfg(h);
	if (err) {
		h->cfg.gen--;	/* stays equal to the kernel's copy */
		set_err("couic_cfg: %s", strerror(-err));
		return err;
	}
	h->replace_active = true;
	send_frame(&h->io, rq->hdr->type, 0, rq->hdr->id, 0, NULL, 0);
	return 0;
}

static int collect_stale(struct entry_map *m, const void *key,
			 const struct couic_entry_val *val, void *ctx)
{
	struct helper *h = ctx;
	struct scratch *s = h->scratch;

	if (val->gen == h->cfg.gen)
		return 0;
	if (s->n_stale == s->stale_cap) {
		size_t cap = s->stale_cap ? s->stale_cap * 2 : 4096;
		void *p = realloc(s->stale, cap * sizeof(struct couic_lpm_v6));

		if (!p)
			return -ENOMEM;
		s->stale = p;
		s->stale_cap = cap;
	}
	memcpy(s->stale + s->n_stale * m->key_size, key, m->key_size);
	s->n_stale++;
	return 0;
}

/* Deletes the collected stale keys of m; counts them in *removed.
 * Returns the first error other than a key already gone, or 0. */
static int delete_stale(struct helper *h, struct entry_map *m, __u32 *removed)
{
	struct scratch *s = h->scratch;
	size_t pos = 0;
	int err, first_err = 0;

	while (pos < s->n_stale) {
		__u32 chunk = s->n_stale - pos > COUIC_MAX_OPS ? COUIC_MAX_OPS : s->n_stale - pos;
		__u32 done = chunk, b;
		__u8 *keys = s->stale + pos * m->key_size;

		err = map_apply(m, keys, NULL, &done);
		for (b = 0; b < done; b++)
			if (ks_del(&m->set, keys + (size_t)b * m->key_size))
				m->count--;
		*removed += done;
		if (err) {
			log_err("map %s: delete stale entry: %s", m->name, strerror(-err));
			if (err == -ENOENT) {
				if (ks_del(&m->set, keys + (size_t)done * m->key_size))
					m->count--;
			} else if (!first_err) {
				first_err = err;
			}
			done++;
		}
		pos += done;
	}
	return first_err;
}

int handle_replace_end(struct helper *h, const struct request *rq)
{
	__u32 result[2] = { 0, 0 };
	int slot, err, first_err = 0;

	for (slot = 0; slot < COUIC_MAP_COUNT; slot++) {
		struct entry_map *m = &h->maps[slot];

		h->scratch->n_stale = 0;
		err = map_iterate(h, m, collect_stale, h);
		if (err) {
			/* delete what was collected, but say the map may
			 * still hold stale entries */
			log_err("map %s: iterate: %s", m->name, strerror(-err));
			if (!first_err) {
				first_err = err;
				set_err("map %s: iterate: %s", m->name, strerror(-err));
			}
		}
		err = delete_stale(h, m, &result[0]);
		if (err && !first_err) {
			first_err = err;
			set_err("map %s: delete stale entry: %s", m->name, strerror(-err));
		}
		if (!m->count)
			set_nonempty(h, slot, false);
	}
	h->replace_active = false;
	if (first_err)
		return first_err;
	send_frame(&h->io, rq->hdr->type, 0, rq->hdr->id, 0, result, sizeof(result));
	return 0;
}
