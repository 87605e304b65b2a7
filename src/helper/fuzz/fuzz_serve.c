// SPDX-License-Identifier: GPL-2.0
/* fuzz_serve.c - libFuzzer entry point: one input is a 3-byte setup then a
 * byte stream read by the helper's real serve loop (io.c, dispatch.c and
 * every request handler), with the kernel replaced by fake_bpf.c.
 *
 *   byte 0  bit 0 --lpm-only, bit 1 --no-batch, bit 2 batch calls refused
 *   byte 1  fault countdown: the n-th kernel element operation fails (0: none)
 *   byte 2  the errno of that fault (index into faults[])
 *   rest    frames, as the daemon would write them on the helper's stdin
 *
 * After the stream, the harness checks what must hold whatever the input:
 * the helper's key set of each map, its count and the fake kernel map
 * agree; the helper's copy of couic_cfg equals the kernel's; every map
 * with entries has its nonempty bit (or the XDP program would not see
 * them); the replies are well-formed frames.  A violation aborts. */
#define _GNU_SOURCE			/* memfd_create */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <sanitizer/common_interface_defs.h>

#include "helper.h"
#include "fake_bpf.h"

#define CAPACITY 8			/* per entry map: small, so "full" is reached */
#define MAX_TAGS 16

/* errnos a kernel may answer without having applied the operation; not
 * ENOENT or EEXIST, which would say something false about the map */
static const int faults[] = { -ENOSPC, -ENOMEM, -E2BIG, -EPERM, -EINVAL, -EFAULT, -EBUSY };

static struct helper h;
static int in_fd, out_fd;

/* A broken invariant: said through the sanitizer's report channel (it
 * stays open under -close_fd_mask=2, which silences the helper's logs). */
#define CHECK(cond)							\
	do {								\
		if (!(cond))						\
			broken(__FILE__, __LINE__, #cond);		\
	} while (0)

__attribute__((noreturn))
static void broken(const char *file, int line, const char *what)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "fuzz_serve: invariant broken at %s:%d: %s", file, line, what);
	__sanitizer_report_error_summary(msg);
	abort();
}

static void setup_maps(void)
{
	static const __u32 key_sizes[4] = {
		sizeof(__u32), sizeof(struct couic_v6_addr),
		sizeof(struct couic_lpm_v4), sizeof(struct couic_lpm_v6),
	};
	static const char *const names[COUIC_MAP_COUNT] = {
		"drop4_exact", "drop6_exact", "drop4_lpm", "drop6_lpm",
		"ignore4_exact", "ignore6_exact", "ignore4_lpm", "ignore6_lpm",
	};
	int i;

	for (i = 0; i < COUIC_MAP_COUNT; i++) {
		struct entry_map *m = &h.maps[i];

		m->name = names[i];
		m->lpm = i & 2;
		m->key_size = key_sizes[i & 3];
		m->capacity = CAPACITY;
		m->set.ks = m->key_size;
		m->fd = fake_map_create(FAKE_HASH, m->key_size, sizeof(struct couic_entry_val),
					CAPACITY);
	}
	h.cfg_fd = fake_map_create(FAKE_ARRAY, sizeof(__u32), sizeof(struct couic_cfg), 1);
	h.xdp_stats_fd = fake_map_create(FAKE_PERCPU_ARRAY, sizeof(__u32),
					 sizeof(struct couic_pkt_stats), COUIC_XDP_ACTIONS);
	h.parse_fd = fake_map_create(FAKE_PERCPU_ARRAY, sizeof(__u32), sizeof(__u64),
				     COUIC_PARSE_MAX);
	h.tag_fd[0] = fake_map_create(FAKE_PERCPU_ARRAY, sizeof(__u32),
				      sizeof(struct couic_pkt_stats), MAX_TAGS);
	h.tag_fd[1] = fake_map_create(FAKE_PERCPU_ARRAY, sizeof(__u32),
				      sizeof(struct couic_pkt_stats), MAX_TAGS);
	h.prog_fd = 999;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	in_fd = memfd_create("couic-fuzz-in", 0);
	out_fd = memfd_create("couic-fuzz-out", 0);
	if (in_fd < 0 || out_fd < 0)
		abort();
	h.io.in_fd = in_fd;
	h.io.out_fd = out_fd;
	h.opt.max_tags = MAX_TAGS;
	h.ncpus = FAKE_NCPUS;
	if (io_init(&h.io) || scratch_alloc(&h))
		abort();
	setup_maps();
	return 0;
}

/* A fresh helper on empty maps, as after start() without pins. */
static void reset(const uint8_t *setup)
{
	int i;

	fake_reset();
	h.opt.lpm_only = setup[0] & 1;
	h.features = COUIC_FEAT_BATCH_HASH | COUIC_FEAT_BATCH_LPM;
	for (i = 0; i < COUIC_MAP_COUNT; i++) {
		ks_free(&h.maps[i].set);
		h.maps[i].count = 0;
		h.maps[i].batch = !(setup[0] & 2);
	}
	memset(&h.cfg, 0, sizeof(h.cfg));
	CHECK(write_cfg(&h) == 0);
	h.replace_active = false;
	h.io.rpos = h.io.rlen = 0;
	h.io.write_err = 0;
	errmsg[0] = 0;
	fake_plan(setup[1], faults[setup[2] % ARRAY_SIZE(faults)], setup[0] & 4);
}

static void check_state(void)
{
	const struct couic_cfg *kcfg = fake_array_value(h.cfg_fd, 0);
	int i;

	fake_plan(0, 0, false);
	CHECK(kcfg && !memcmp(kcfg, &h.cfg, sizeof(h.cfg)));
	for (i = 0; i < COUIC_MAP_COUNT; i++) {
		const struct entry_map *m = &h.maps[i];

		CHECK(m->set.n == m->count);
		CHECK(fake_map_entries(m->fd) == (long)m->count);
		CHECK(!m->count || (kcfg->nonempty & (1u << i)));
	}
}

/* Every reply is a whole frame with the magic and the REPLY flag. */
static void check_replies(void)
{
	off_t end = lseek(out_fd, 0, SEEK_END), pos = 0;
	struct couic_frame_hdr fh;

	CHECK(end >= 0);
	while (pos < end) {
		CHECK(pread(out_fd, &fh, sizeof(fh), pos) == sizeof(fh));
		CHECK(fh.magic == COUIC_FRAME_MAGIC);
		CHECK(fh.flags & COUIC_FLAG_REPLY);
		CHECK(fh.len <= COUIC_MAX_PAYLOAD);
		CHECK(fh.status <= 0);
		pos += sizeof(fh) + fh.len;
	}
	CHECK(pos == end);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return -1;	/* not an input: no setup bytes */
	reset(data);
	CHECK(ftruncate(in_fd, 0) == 0 && ftruncate(out_fd, 0) == 0);
	CHECK(pwrite(in_fd, data + 3, size - 3, 0) == (ssize_t)(size - 3));
	CHECK(lseek(in_fd, 0, SEEK_SET) == 0 && lseek(out_fd, 0, SEEK_SET) == 0);
	serve(&h);
	check_state();
	check_replies();
	return 0;
}

/* SHUTDOWN's interface and pin work is outside the fuzzed boundary: no
 * interface is configured and nothing is pinned here. */
void release_ifaces(struct helper *hp, enum release how)
{
	CHECK(hp->opt.n_ifaces == 0);
}

int unpin_dir(const struct helper *hp, const char *dir, enum unpin what)
{
	abort();	/* unreachable: no --pin-dir */
}
