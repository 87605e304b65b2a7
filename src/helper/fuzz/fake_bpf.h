/* SPDX-License-Identifier: GPL-2.0 */
/* fake_bpf.h - in-memory stand-ins for the libbpf calls the serve path
 * makes (map element and batch calls, BPF_PROG_TEST_RUN), so the fuzzer
 * runs the real frame parser, dispatch and map logic without a kernel.
 * Semantics follow the kernel's where the helper depends on them: a hash
 * map answers -E2BIG when full and -ENOENT for a missing key; a batch call
 * stops at the first failing element with *count = elements done; a batch
 * lookup answers -ENOENT once it reaches the end.  Differences: LPM tries
 * are exact-match hash maps here (the helper only looks up keys it wrote)
 * and iteration order is insertion order. */
#ifndef COUIC_FAKE_BPF_H
#define COUIC_FAKE_BPF_H

#include <stdbool.h>
#include <linux/types.h>

#define FAKE_NCPUS 2			/* CPUs of a per-CPU array */

enum fake_kind { FAKE_HASH, FAKE_ARRAY, FAKE_PERCPU_ARRAY };

/* Resets every map and the fault plan. */
void fake_reset(void);
/* A new map; returns its fd. */
int fake_map_create(enum fake_kind kind, __u32 key_size, __u32 value_size, __u32 max_entries);
/* Entries of a hash map (-1 for another fd). */
long fake_map_entries(int fd);
/* The value of element `key` of an array map (first CPU), or NULL. */
const void *fake_array_value(int fd, __u32 key);

/* Fault plan: the `countdown`-th element operation from now fails with
 * err (negative errno), without effect; 0 = none.  With refuse_batch,
 * every batch call fails with -EINVAL before doing anything (as on a
 * kernel without batch support). */
void fake_plan(unsigned int countdown, int err, bool refuse_batch);

#endif /* COUIC_FAKE_BPF_H */
