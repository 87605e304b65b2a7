// SPDX-License-Identifier: GPL-2.0
/* stats.c - STATS (counters summed over CPUs, entry counts, the tag slots
 * that saw traffic) and TAG_RESET (zero the slots of reassigned tag ids). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "helper.h"

static int percpu_sum(const struct helper *h, int fd, __u32 key, __u64 *sums, int nwords)
{
	__u32 vsz = ROUND_UP8(nwords * 8);
	__u64 buf[vsz / 8 * h->ncpus];
	int cpu, w;

	memset(sums, 0, nwords * 8);
	if (bpf_map_lookup_elem(fd, &key, buf))
		return -errno;
	for (cpu = 0; cpu < h->ncpus; cpu++)
		for (w = 0; w < nwords; w++)
			sums[w] += buf[cpu * (vsz / 8) + w];
	return 0;
}

/* Sums the tag array of one policy into `tags` (max_tags entries). */
static int sum_tags(const struct helper *h, int fd, struct couic_pkt_stats *tags)
{
	__u32 max_tags = h->opt.max_tags;
	size_t stride = h->ncpus * sizeof(struct couic_pkt_stats);
	__u32 *keys = NULL, i, done = 0, cnt;
	__u8 *vals = NULL;
	__u64 tok = 0;
	int err = 0, cpu;

	keys = malloc(max_tags * sizeof(*keys));
	vals = malloc(max_tags * stride);
	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	memset(tags, 0, max_tags * sizeof(*tags));
	while (done < max_tags) {
		LIBBPF_OPTS(bpf_map_batch_opts, o);

		cnt = max_tags - done;
		err = bpf_map_lookup_batch(fd, done ? &tok : NULL, &tok, keys + done,
					   vals + done * stride, &cnt, &o);
		if (err && err != -ENOENT)
			break;
		done += cnt;
		err = 0;
		if (!cnt)
			break;
	}
	if (err || done < max_tags) {
		for (i = done; i < max_tags; i++) {
			keys[i] = i;
			if (bpf_map_lookup_elem(fd, &i, vals + i * stride)) {
				err = -errno;
				goto out;
			}
		}
		err = 0;
	}
	for (i = 0; i < max_tags; i++) {
		const struct couic_pkt_stats *v = (const void *)(vals + i * stride);
		__u32 k = keys[i];

		if (k >= max_tags)
			continue;
		for (cpu = 0; cpu < h->ncpus; cpu++) {
			tags[k].packets += v[cpu].packets;
			tags[k].bytes += v[cpu].bytes;
		}
	}
out:
	free(keys);
	free(vals);
	return err;
}

/* Builds the STATS payload in the reply buffer; *len = its size. */
static int build_stats(struct helper *h, struct couic_pkt_stats *tags[2], size_t *len)
{
	__u32 max_tags = h->opt.max_tags, i, n_tags = 0;
	struct couic_stats_hdr *sh;
	struct couic_tag_stats ts;
	size_t off;
	int err, p;
	__u8 *o;

	for (p = 0; p < 2; p++) {
		err = sum_tags(h, h->tag_fd[p], tags[p]);
		if (err) {
			set_err("tag counters: %s", strerror(-err));
			return err;
		}
		for (i = 0; i < max_tags; i++)
			n_tags += tags[p][i].packets > 0;
	}
	*len = sizeof(*sh) + COUIC_XDP_ACTIONS * sizeof(struct couic_pkt_stats) +
	       COUIC_PARSE_MAX * sizeof(__u64) + COUIC_MAP_COUNT * sizeof(__u32) +
	       (size_t)n_tags * sizeof(struct couic_tag_stats);
	if (*len > COUIC_MAX_PAYLOAD) {
		/* --max-tags allows more active slots than a frame holds; a
		 * frame over the limit is a fatal protocol error for the reader */
		set_err("%u tag slots with traffic: reply of %zu bytes over the limit of %u",
			n_tags, *len, COUIC_MAX_PAYLOAD);
		return -EMSGSIZE;
	}
	o = out_reserve(&h->io, *len);
	if (!o)
		return -ENOMEM;
	memset(o, 0, *len);
	sh = (struct couic_stats_hdr *)o;
	sh->n_actions = COUIC_XDP_ACTIONS;
	sh->n_parse = COUIC_PARSE_MAX;
	sh->n_tags = n_tags;
	off = sizeof(*sh);
	for (i = 0; i < COUIC_XDP_ACTIONS; i++, off += sizeof(struct couic_pkt_stats)) {
		err = percpu_sum(h, h->xdp_stats_fd, i, (__u64 *)(o + off), 2);
		if (err) {
			set_err("couic_xdp_stats: %s", strerror(-err));
			return err;
		}
	}
	for (i = 0; i < COUIC_PARSE_MAX; i++, off += sizeof(__u64)) {
		err = percpu_sum(h, h->parse_fd, i, (__u64 *)(o + off), 1);
		if (err) {
			set_err("couic_parse_stats: %s", strerror(-err));
			return err;
		}
	}
	for (i = 0; i < COUIC_MAP_COUNT; i++, off += sizeof(__u32))
		memcpy(o + off, &h->maps[i].count, sizeof(__u32));
	for (p = 0; p < 2; p++) {
		for (i = 0; i < max_tags; i++) {
			if (!tags[p][i].packets)
				continue;
			ts.tag = i;
			ts.policy = p;
			ts.packets = tags[p][i].packets;
			ts.bytes = tags[p][i].bytes;
			memcpy(o + off, &ts, sizeof(ts));
			off += sizeof(ts);
		}
	}
	return 0;
}

int handle_stats(struct helper *h, const struct request *rq)
{
	struct couic_pkt_stats *tags[2];
	size_t len = 0;
	int err = -ENOMEM;

	tags[0] = malloc(h->opt.max_tags * sizeof(struct couic_pkt_stats));
	tags[1] = malloc(h->opt.max_tags * sizeof(struct couic_pkt_stats));
	if (tags[0] && tags[1])
		err = build_stats(h, tags, &len);
	free(tags[0]);
	free(tags[1]);
	if (err)
		return err;
	send_frame(&h->io, rq->hdr->type, 0, rq->hdr->id, 0, h->io.out, len);
	return 0;
}

int handle_tag_reset(struct helper *h, const struct request *rq)
{
	size_t vsz = h->ncpus * sizeof(struct couic_pkt_stats);
	void *zero;
	int err = 0, pol;
	__u32 i;

	zero = calloc(1, vsz);
	if (!zero)
		return -ENOMEM;
	for (i = 0; i < rq->count; i++) {
		__u32 tag;

		memcpy(&tag, rq->payload + sizeof(struct couic_list_hdr) + i * sizeof(tag),
		       sizeof(tag));
		if (tag >= h->opt.max_tags)
			continue;	/* no slot of its own (counted in slot 0) */
		for (pol = 0; pol < 2; pol++) {
			if (bpf_map_update_elem(h->tag_fd[pol], &tag, zero, BPF_ANY)) {
				err = -errno;
				set_err("tag %u: reset: %s", tag, strerror(-err));
				log_err("%s", errmsg);
			}
		}
	}
	free(zero);
	if (err)
		return err;
	send_frame(&h->io, rq->hdr->type, 0, rq->hdr->id, 0, NULL, 0);
	return 0;
}
