// SPDX-License-Identifier: GPL-2.0
/* fake_bpf.c - see fake_bpf.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "couic_proto.h"
#include "fake_bpf.h"

#define FAKE_FD_BASE 1000
#define FAKE_MAX_MAPS 16

struct fake_map {
	enum fake_kind kind;
	__u32 key_size, value_size, max_entries;
	__u32 n;			/* hash: entries */
	__u8 *keys;			/* hash: n keys, insertion order */
	__u8 *vals;			/* hash: n values; arrays: max_entries (x cpus) */
};

static struct fake_map maps[FAKE_MAX_MAPS];
static int n_maps;
static unsigned int fail_countdown;
static int fail_err;
static bool refuse_batch;

static __u8 *array_elem(const struct fake_map *m, const void *key);

static int ret_err(int err)
{
	errno = -err;
	return err;
}

void fake_reset(void)
{
	int i;

	for (i = 0; i < n_maps; i++) {
		struct fake_map *m = &maps[i];
		size_t vlen = (size_t)m->max_entries * m->value_size *
			      (m->kind == FAKE_PERCPU_ARRAY ? FAKE_NCPUS : 1);

		m->n = 0;
		if (m->kind != FAKE_HASH)
			memset(m->vals, 0, vlen);
	}
	fail_countdown = 0;
	refuse_batch = false;
}

int fake_map_create(enum fake_kind kind, __u32 key_size, __u32 value_size, __u32 max_entries)
{
	struct fake_map *m;
	size_t vsz;

	if (n_maps == FAKE_MAX_MAPS)
		abort();
	m = &maps[n_maps];
	m->kind = kind;
	m->key_size = key_size;
	m->value_size = value_size;
	m->max_entries = max_entries;
	vsz = (size_t)value_size * (kind == FAKE_PERCPU_ARRAY ? FAKE_NCPUS : 1);
	m->keys = calloc(max_entries, key_size);
	m->vals = calloc(max_entries, vsz);
	if (!m->keys || !m->vals)
		abort();
	return FAKE_FD_BASE + n_maps++;
}

static struct fake_map *get(int fd)
{
	if (fd < FAKE_FD_BASE || fd >= FAKE_FD_BASE + n_maps)
		return NULL;
	return &maps[fd - FAKE_FD_BASE];
}

long fake_map_entries(int fd)
{
	struct fake_map *m = get(fd);

	return m && m->kind == FAKE_HASH ? (long)m->n : -1;
}



const void *fake_array_value(int fd, __u32 key)
{
	struct fake_map *m = get(fd);

	return m && m->kind != FAKE_HASH ? array_elem(m, &key) : NULL;
}

void fake_plan(unsigned int countdown, int err, bool refuse)
{
	fail_countdown = countdown;
	fail_err = err;
	refuse_batch = refuse;
}

/* True when the planned fault is due now. */
static bool fault(void)
{
	return fail_countdown && !--fail_countdown;
}

static long find(const struct fake_map *m, const void *key)
{
	__u32 i;

	for (i = 0; i < m->n; i++)
		if (!memcmp(m->keys + (size_t)i * m->key_size, key, m->key_size))
			return i;
	return -1;
}

static size_t elem_size(const struct fake_map *m)
{
	return (size_t)m->value_size * (m->kind == FAKE_PERCPU_ARRAY ? FAKE_NCPUS : 1);
}

/* The element of an array map at the u32 *key, NULL past its end. */
static __u8 *array_elem(const struct fake_map *m, const void *key)
{
	__u32 k;

	memcpy(&k, key, sizeof(k));
	return k < m->max_entries ? m->vals + k * elem_size(m) : NULL;
}

static int update(struct fake_map *m, const void *key, const void *value, __u64 flags)
{
	long i;

	if (fault())
		return fail_err;
	if (m->kind != FAKE_HASH) {
		__u8 *e = array_elem(m, key);

		if (!e)
			return -E2BIG;
		if (flags == BPF_NOEXIST)
			return -EEXIST;
		memcpy(e, value, elem_size(m));
		return 0;
	}
	i = find(m, key);
	if (i < 0 && flags == BPF_EXIST)
		return -ENOENT;
	if (i >= 0 && flags == BPF_NOEXIST)
		return -EEXIST;
	if (i < 0) {
		if (m->n == m->max_entries)
			return -E2BIG;
		i = m->n++;
		memcpy(m->keys + (size_t)i * m->key_size, key, m->key_size);
	}
	memcpy(m->vals + (size_t)i * m->value_size, value, m->value_size);
	return 0;
}

static int delete(struct fake_map *m, const void *key)
{
	long i;

	if (fault())
		return fail_err;
	if (m->kind != FAKE_HASH)
		return -EINVAL;
	i = find(m, key);
	if (i < 0)
		return -ENOENT;
	m->n--;
	memmove(m->keys + (size_t)i * m->key_size, m->keys + (size_t)(i + 1) * m->key_size,
		(size_t)(m->n - i) * m->key_size);
	memmove(m->vals + (size_t)i * m->value_size, m->vals + (size_t)(i + 1) * m->value_size,
		(size_t)(m->n - i) * m->value_size);
	return 0;
}

static int lookup(struct fake_map *m, const void *key, void *value)
{
	long i;

	if (fault())
		return fail_err;
	if (m->kind != FAKE_HASH) {
		const __u8 *e = array_elem(m, key);

		if (!e)
			return -ENOENT;
		memcpy(value, e, elem_size(m));
		return 0;
	}
	i = find(m, key);
	if (i < 0)
		return -ENOENT;
	memcpy(value, m->vals + (size_t)i * m->value_size, m->value_size);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The libbpf calls (same prototypes as <bpf/bpf.h>: -errno and errno)  */
/* ------------------------------------------------------------------ */

int bpf_map_update_elem(int fd, const void *key, const void *value, __u64 flags)
{
	struct fake_map *m = get(fd);

	return ret_err(m ? update(m, key, value, flags) : -EBADF);
}

int bpf_map_delete_elem(int fd, const void *key)
{
	struct fake_map *m = get(fd);

	return ret_err(m ? delete(m, key) : -EBADF);
}

int bpf_map_lookup_elem(int fd, const void *key, void *value)
{
	struct fake_map *m = get(fd);

	return ret_err(m ? lookup(m, key, value) : -EBADF);
}

int bpf_map_get_next_key(int fd, const void *key, void *next_key)
{
	struct fake_map *m = get(fd);
	long i;

	if (!m)
		return ret_err(-EBADF);
	if (fault())
		return ret_err(fail_err);
	if (m->kind != FAKE_HASH) {
		__u32 k = 0;

		if (key) {
			memcpy(&k, key, sizeof(k));
			k++;
		}
		if (k >= m->max_entries)
			return ret_err(-ENOENT);
		memcpy(next_key, &k, sizeof(k));
		return 0;
	}
	i = key ? find(m, key) + 1 : 0;	/* a missing key restarts, as in the kernel */
	if (i >= m->n)
		return ret_err(-ENOENT);
	memcpy(next_key, m->keys + (size_t)i * m->key_size, m->key_size);
	return 0;
}

/* A batch of updates (values) or deletes (no values), stopping at the
 * first failing element as the kernel does. */
static int batch_apply(int fd, const void *keys, const void *values, __u32 *count)
{
	struct fake_map *m = get(fd);
	__u32 i, n = *count;
	int err;

	if (!m)
		return ret_err(-EBADF);
	if (refuse_batch)
		return ret_err(-EINVAL);
	for (i = 0; i < n; i++) {
		const __u8 *key = (const __u8 *)keys + (size_t)i * m->key_size;

		err = values ? update(m, key, (const __u8 *)values + (size_t)i * m->value_size,
				      BPF_ANY)
			     : delete(m, key);
		if (err) {
			*count = i;
			return ret_err(err);
		}
	}
	return 0;
}

int bpf_map_update_batch(int fd, const void *keys, const void *values, __u32 *count,
			 const struct bpf_map_batch_opts *opts)
{
	return batch_apply(fd, keys, values, count);
}

int bpf_map_delete_batch(int fd, const void *keys, __u32 *count,
			 const struct bpf_map_batch_opts *opts)
{
	return batch_apply(fd, keys, NULL, count);
}

/* The token is the position of the next element (a u32 in the caller's
 * token buffer). */
int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values,
			 __u32 *count, const struct bpf_map_batch_opts *opts)
{
	struct fake_map *m = get(fd);
	__u32 pos = 0, total, i, k;

	if (!m)
		return ret_err(-EBADF);
	if (refuse_batch)
		return ret_err(-EINVAL);
	if (fault())
		return ret_err(fail_err);
	if (in_batch)
		memcpy(&pos, in_batch, sizeof(pos));
	total = m->kind == FAKE_HASH ? m->n : m->max_entries;
	for (i = 0; i < *count && pos + i < total; i++) {
		k = pos + i;
		if (m->kind == FAKE_HASH) {
			memcpy((__u8 *)keys + (size_t)i * m->key_size,
			       m->keys + (size_t)k * m->key_size, m->key_size);
			memcpy((__u8 *)values + (size_t)i * m->value_size,
			       m->vals + (size_t)k * m->value_size, m->value_size);
		} else {
			memcpy((__u8 *)keys + (size_t)i * sizeof(k), &k, sizeof(k));
			memcpy((__u8 *)values + (size_t)i * elem_size(m),
			       m->vals + (size_t)k * elem_size(m), elem_size(m));
		}
	}
	*count = i;
	pos += i;
	memcpy(out_batch, &pos, sizeof(pos));
	return pos >= total ? ret_err(-ENOENT) : 0;
}

/* The bound under test: a frame never asks for more than COUIC_MAX_REPEAT
 * runs (a crash here is a finding). */
int bpf_prog_test_run_opts(int prog_fd, struct bpf_test_run_opts *opts)
{
	if (opts->repeat < 1 || (__u32)opts->repeat > COUIC_MAX_REPEAT)
		__builtin_trap();
	if (opts->data_size_in < 1 || opts->data_size_in > COUIC_MAX_PKT)
		__builtin_trap();
	if (opts->data_size_in < 14)
		return ret_err(-EINVAL);	/* the kernel's answer under an Ethernet header */
	opts->retval = XDP_PASS;
	opts->duration = 1;
	return 0;
}

libbpf_print_fn_t libbpf_set_print(libbpf_print_fn_t fn)
{
	return NULL;
}
