// SPDX-License-Identifier: GPL-2.0
/* keyset.c - see keyset.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "keyset.h"

static __u32 key_hash(const __u8 *k, __u32 ks)
{
	__u64 h = 0xcbf29ce484222325ull;
	__u32 i;

	for (i = 0; i < ks; i++) {
		h ^= k[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 29;
	return (__u32)h;
}

/* Returns true if found; *slot = its slot, or the free slot to use. */
static bool ks_find(const struct keyset *s, const void *k, __u32 *slot)
{
	__u32 i;

	if (!s->mask)
		return false;
	for (i = key_hash(k, s->ks) & s->mask; s->used[i]; i = (i + 1) & s->mask) {
		if (!memcmp(s->keys + (size_t)i * s->ks, k, s->ks)) {
			*slot = i;
			return true;
		}
	}
	*slot = i;
	return false;
}

bool ks_has(const struct keyset *s, const void *k)
{
	__u32 slot;

	return ks_find(s, k, &slot);
}

static int ks_grow(struct keyset *s)
{
	struct keyset ns = { .ks = s->ks };
	__u32 slots = s->mask ? (s->mask + 1) * 2 : 1024, i, slot;

	ns.keys = malloc((size_t)slots * s->ks);
	ns.used = calloc(slots, 1);
	if (!ns.keys || !ns.used) {
		free(ns.keys);
		free(ns.used);
		return -ENOMEM;
	}
	ns.mask = slots - 1;
	for (i = 0; s->mask && i <= s->mask; i++) {
		if (!s->used[i])
			continue;
		ks_find(&ns, s->keys + (size_t)i * s->ks, &slot);
		memcpy(ns.keys + (size_t)slot * s->ks, s->keys + (size_t)i * s->ks, s->ks);
		ns.used[slot] = 1;
	}
	ns.n = s->n;
	free(s->keys);
	free(s->used);
	*s = ns;
	return 0;
}

int ks_add(struct keyset *s, const void *k)
{
	__u32 slot;
	int err;

	if (ks_find(s, k, &slot))
		return 0;
	if ((__u64)(s->n + 1) * 5 > (__u64)(s->mask + 1) * 3 || !s->mask) {
		err = ks_grow(s);
		if (err)
			return err;
		ks_find(s, k, &slot);
	}
	memcpy(s->keys + (size_t)slot * s->ks, k, s->ks);
	s->used[slot] = 1;
	s->n++;
	return 1;
}

bool ks_del(struct keyset *s, const void *k)
{
	__u32 i, j, h;

	if (!ks_find(s, k, &i))
		return false;
	s->used[i] = 0;
	s->n--;
	for (j = (i + 1) & s->mask; s->used[j]; j = (j + 1) & s->mask) {
		h = key_hash(s->keys + (size_t)j * s->ks, s->ks) & s->mask;
		/* entry j may move to the hole i unless its home h lies
		 * cyclically in (i, j] */
		if (i <= j ? (i < h && h <= j) : (i < h || h <= j))
			continue;
		memcpy(s->keys + (size_t)i * s->ks, s->keys + (size_t)j * s->ks, s->ks);
		s->used[i] = 1;
		s->used[j] = 0;
		i = j;
	}
	return true;
}

void ks_free(struct keyset *s)
{
	free(s->keys);
	free(s->used);
	s->keys = NULL;
	s->used = NULL;
	s->mask = 0;
	s->n = 0;
}
