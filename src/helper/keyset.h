/* SPDX-License-Identifier: GPL-2.0 */
/* keyset.h - a set of fixed-size keys (open addressing, linear probing,
 * backward-shift delete).  The helper keeps one per entry map: the kernel's
 * batch update accepts only BPF_ANY, so this set is what answers "exists"
 * and "absent" per record and keeps the per-map counts exact. */
#ifndef COUIC_KEYSET_H
#define COUIC_KEYSET_H

#include <stdbool.h>
#include <linux/types.h>

struct keyset {
	__u8 *keys;			/* slots * ks bytes */
	__u8 *used;			/* one byte per slot */
	__u32 ks;			/* key size */
	__u32 mask;			/* slots - 1 (0 when unallocated) */
	__u32 n;
};

bool ks_has(const struct keyset *s, const void *k);
/* Returns 1 if added, 0 if present, -ENOMEM. */
int ks_add(struct keyset *s, const void *k);
/* Returns true if the key was present (and is now removed). */
bool ks_del(struct keyset *s, const void *k);
void ks_free(struct keyset *s);

#endif /* COUIC_KEYSET_H */
