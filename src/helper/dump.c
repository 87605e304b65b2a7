// SPDX-License-Identifier: GPL-2.0
/* dump.c - DUMP: every entry of every map as couic_op records (kind 0),
 * COUIC_DUMP_CHUNK per frame, MORE on all frames but the last. */
#include <errno.h>
#include <string.h>

#include "helper.h"

struct dump_ctx {
	struct helper *h;
	const struct couic_frame_hdr *req;
	__u32 n;			/* records in the pending frame */
	int policy, family;
};

static int dump_flush(struct dump_ctx *d, bool more)
{
	struct io *io = &d->h->io;
	struct couic_list_hdr *lh = (struct couic_list_hdr *)io->out;
	__u32 n = d->n;

	lh->count = n;
	lh->reserved = 0;
	d->n = 0;
	return send_frame(io, d->req->type, more ? COUIC_FLAG_MORE : 0, d->req->id, 0, io->out,
			  sizeof(*lh) + n * sizeof(struct couic_op));
}

static int dump_one(struct entry_map *m, const void *key,
		    const struct couic_entry_val *val, void *ctx)
{
	struct dump_ctx *d = ctx;
	struct couic_op *op;
	__u32 plen;
	int err;

	if (d->n == COUIC_DUMP_CHUNK) {
		err = dump_flush(d, true);
		if (err)
			return err;
	}
	op = (struct couic_op *)(d->h->io.out + sizeof(struct couic_list_hdr)) + d->n;
	memset(op, 0, sizeof(*op));
	op->policy = d->policy;
	op->family = d->family;
	op->tag = val->tag;
	if (m->lpm) {
		memcpy(&plen, key, sizeof(plen));
		op->prefixlen = plen;
		memcpy(op->addr, (const __u8 *)key + sizeof(plen), m->key_size - sizeof(plen));
	} else {
		op->prefixlen = d->family == 6 ? 128 : 32;
		memcpy(op->addr, key, m->key_size);
	}
	d->n++;
	return 0;
}

int handle_dump(struct helper *h, const struct request *rq)
{
	struct dump_ctx d = { .h = h, .req = rq->hdr };
	int slot, err;

	if (!out_reserve(&h->io, sizeof(struct couic_list_hdr) +
				 COUIC_DUMP_CHUNK * sizeof(struct couic_op)))
		return -ENOMEM;
	for (slot = 0; slot < COUIC_MAP_COUNT; slot++) {
		struct entry_map *m = &h->maps[slot];

		d.policy = slot / 4;
		d.family = (slot & 1) ? 6 : 4;
		err = map_iterate(h, m, dump_one, &d);
		if (h->io.write_err)
			return 0;	/* the conversation is over */
		if (err) {
			/* a short dump must not pass for the whole content: the
			 * last frame carries the error (the client drops the
			 * MORE frames already received) */
			log_err("map %s: iterate: %s", m->name, strerror(-err));
			set_err("map %s: iterate: %s", m->name, strerror(-err));
			return err;
		}
	}
	dump_flush(&d, false);
	return 0;
}
