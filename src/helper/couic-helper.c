// SPDX-License-Identifier: GPL-2.0
/* couic-helper - loads and attaches the couic XDP program, then serves the
 * framed protocol of docs/helper-protocol.md on stdin/stdout.
 *
 * stdout carries protocol frames only (and the --abi JSON); every log line
 * goes to stderr.  Functions return 0 or -errno.
 *
 * Kernel note: BPF_MAP_UPDATE_BATCH only accepts BPF_F_LOCK in elem_flags
 * (generic_map_update_batch), so batched inserts are always BPF_ANY.  To
 * keep ADD ("exists" if present) and exact per-map counts, the helper keeps
 * the set of keys of each entry map (struct keyset, rebuilt from the kernel
 * maps on a pinned re-use); values (tag, gen) live only in the kernel.
 */
#define _GNU_SOURCE			/* ppoll */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/bpf.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "couic.h"
#include "couic.skel.h"

#define ROUND_UP8(x) (((x) + 7u) & ~7u)
#define ITER_CHUNK 4096u
#define MAX_TAGS_LIMIT (1u << 20)
#define MAX_CAPACITY (1u << 28)

enum { MODE_AUTO = 0 };

struct keyset {
	__u8 *keys;			/* slots * ks bytes */
	__u8 *used;			/* one byte per slot */
	__u32 ks;
	__u32 mask;			/* slots - 1 (0 when unallocated) */
	__u32 n;
};

struct entry_map {
	const char *name;
	struct bpf_map *map;
	int fd;
	__u32 key_size;
	__u32 capacity;
	__u32 count;
	bool lpm;
	bool batch;
	struct keyset set;
};

struct iface {
	char name[IF_NAMESIZE];
	int ifindex;
	__u32 mode;
	int link_fd;
	bool netlink;			/* attached without bpf_link */
	__u32 nl_flags;
};

static const char *const map_names[COUIC_MAP_COUNT] = {
	"drop4_exact", "drop6_exact", "drop4_lpm", "drop6_lpm",
	"ignore4_exact", "ignore6_exact", "ignore4_lpm", "ignore6_lpm",
};

static struct {
	/* options */
	const char *ifnames[COUIC_MAX_IFACES];
	int n_ifaces;
	__u32 mode;
	const char *pin_dir;
	__u32 cap_drop_exact, cap_drop_cidr, cap_ignore_exact, cap_ignore_cidr;
	__u32 max_tags;
	bool lpm_only;
	bool verbose;
	bool no_batch;

	/* state */
	struct couic_bpf *skel;
	struct entry_map maps[COUIC_MAP_COUNT];
	int cfg_fd, xdp_stats_fd, parse_fd, tag_fd[2];
	int prog_fd;
	struct couic_cfg cfg;
	__u32 features;
	int ncpus;
	bool replace_active;
	struct iface ifaces[COUIC_MAX_IFACES];
	int n_attached;
} g = {
	.mode = MODE_AUTO,
	.cap_drop_exact = COUIC_DEF_DROP_EXACT,
	.cap_drop_cidr = COUIC_DEF_DROP_CIDR,
	.cap_ignore_exact = COUIC_DEF_IGNORE_EXACT,
	.cap_ignore_cidr = COUIC_DEF_IGNORE_CIDR,
	.max_tags = COUIC_DEF_MAX_TAGS,
	.cfg_fd = -1, .xdp_stats_fd = -1, .parse_fd = -1, .tag_fd = { -1, -1 },
	.prog_fd = -1,
};

static volatile sig_atomic_t stop_signal;
static sigset_t stop_sigs;		/* SIGTERM, SIGINT */
static char errmsg[512];

/* ------------------------------------------------------------------ */
/* Logging                                                              */
/* ------------------------------------------------------------------ */

__attribute__((format(printf, 1, 2)))
static void log_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("couic-helper: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

__attribute__((format(printf, 1, 2)))
static void set_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (!g.verbose)
		return 0;
	return vfprintf(stderr, fmt, ap);
}

/* ------------------------------------------------------------------ */
/* Output                                                               */
/* ------------------------------------------------------------------ */

static int write_iov(int fd, struct iovec *iov, int cnt)
{
	while (cnt > 0) {
		ssize_t w = writev(fd, iov, cnt);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (cnt > 0 && (size_t)w >= iov->iov_len) {
			w -= iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= w;
		}
	}
	return 0;
}

static void cleanup(void);

static void send_frame(__u8 type, __u8 flags, __u32 id, __s32 status,
		       const void *payload, __u32 len)
{
	struct couic_frame_hdr h = {
		.magic = COUIC_FRAME_MAGIC,
		.type = type,
		.flags = flags | COUIC_FLAG_REPLY,
		.id = id,
		.len = len,
		.status = status,
	};
	struct iovec iov[2] = {
		{ .iov_base = &h, .iov_len = sizeof(h) },
		{ .iov_base = (void *)payload, .iov_len = len },
	};
	int err;

	err = write_iov(STDOUT_FILENO, iov, len ? 2 : 1);
	if (err) {
		log_err("write to stdout: %s", strerror(-err));
		cleanup();
		exit(1);
	}
}

/* Error reply: status -errno, errmsg as payload. */
static void send_error(const struct couic_frame_hdr *req, int err)
{
	if (!errmsg[0])
		snprintf(errmsg, sizeof(errmsg), "%s", strerror(-err));
	send_frame(req->type, 0, req->id, err, errmsg, strlen(errmsg));
	errmsg[0] = 0;
}

/* Growable output buffer for replies. */
static struct {
	__u8 *p;
	size_t cap;
} out;

static void *out_reserve(size_t n)
{
	if (n > out.cap) {
		size_t cap = out.cap ? out.cap : 65536;
		void *p;

		while (cap < n)
			cap *= 2;
		p = realloc(out.p, cap);
		if (!p)
			return NULL;
		out.p = p;
		out.cap = cap;
	}
	return out.p;
}

/* ------------------------------------------------------------------ */
/* Input (buffered, handles partial reads)                              */
/* ------------------------------------------------------------------ */

static struct {
	__u8 buf[65536];
	size_t pos, len;
} rd;

/* Waits until stdin is readable (or at EOF).  The stop signals are blocked
 * from the test of stop_signal until ppoll() atomically unblocks them, so a
 * SIGTERM arriving just before the wait cannot be missed (a plain
 * `if (stop_signal) ...; read()` sleeps through it until more input comes).
 * Returns 0, -EINTR on a stop signal, or -errno. */
static int wait_input(void)
{
	struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
	sigset_t old;
	int r, err = 0;

	if (sigprocmask(SIG_BLOCK, &stop_sigs, &old))
		return -errno;
	for (;;) {
		if (stop_signal) {
			err = -EINTR;
			break;
		}
		r = ppoll(&pfd, 1, NULL, &old);
		if (r > 0)
			break;
		if (r < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	return err;
}

/* Read exactly n bytes into dst (NULL: discard).  Returns 0, 1 on EOF
 * before the first byte, -EPIPE on EOF in the middle, -EINTR on a stop
 * signal, or -errno. */
static int read_full(void *dst, size_t n)
{
	__u8 *d = dst;
	size_t got = 0;
	int err;

	while (got < n) {
		size_t avail = rd.len - rd.pos;
		ssize_t r;

		if (avail) {
			size_t take = avail < n - got ? avail : n - got;

			if (d)
				memcpy(d + got, rd.buf + rd.pos, take);
			rd.pos += take;
			got += take;
			continue;
		}
		err = wait_input();
		if (err)
			return err;
		if (d && n - got >= sizeof(rd.buf))
			r = read(STDIN_FILENO, d + got, n - got);
		else
			r = read(STDIN_FILENO, rd.buf, sizeof(rd.buf));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return got ? -EPIPE : 1;
		if (d && n - got >= sizeof(rd.buf)) {
			got += r;
		} else {
			rd.pos = 0;
			rd.len = r;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Key sets (open addressing, linear probing, backward-shift delete)    */
/* ------------------------------------------------------------------ */

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

static bool ks_has(const struct keyset *s, const void *k)
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

/* Returns 1 if added, 0 if present, -ENOMEM. */
static int ks_add(struct keyset *s, const void *k)
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

/* Returns true if the key was present (and is now removed). */
static bool ks_del(struct keyset *s, const void *k)
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

/* ------------------------------------------------------------------ */
/* Map helpers                                                          */
/* ------------------------------------------------------------------ */

static int write_cfg(void)
{
	__u32 zero = 0;
	int err;

	err = bpf_map_update_elem(g.cfg_fd, &zero, &g.cfg, BPF_ANY);
	if (err) {
		err = -errno;
		log_err("map couic_cfg: update: %s", strerror(-err));
	}
	return err;
}

/* Sets or clears the nonempty bit of a slot.  On failure g.cfg keeps the
 * value the kernel has (a bit the kernel never saw must not be taken as
 * set: entries inserted under it would be invisible to the program). */
static int set_nonempty(int slot, bool on)
{
	__u32 bit = 1u << slot, old = g.cfg.nonempty;
	__u32 want = on ? (old | bit) : (old & ~bit);
	int err;

	if (want == old)
		return 0;
	g.cfg.nonempty = want;
	err = write_cfg();
	if (err)
		g.cfg.nonempty = old;
	return err;
}

/* Update n entries; on failure *count = index of the failing entry. */
static int map_update_n(struct entry_map *m, const void *keys, const void *vals, __u32 *count)
{
	__u32 n = *count, i;
	int err;

	if (m->batch) {
		LIBBPF_OPTS(bpf_map_batch_opts, o, .elem_flags = BPF_ANY);

		err = bpf_map_update_batch(m->fd, keys, vals, count, &o);
		if (!err)
			return 0;
		if (*count < n)
			return err;
		log_err("map %s: batch update refused (%s), one call per entry from now on",
			m->name, strerror(-err));
		m->batch = false;
	}
	for (i = 0; i < n; i++) {
		err = bpf_map_update_elem(m->fd, (const __u8 *)keys + (size_t)i * m->key_size,
					  (const __u8 *)vals + (size_t)i * sizeof(struct couic_entry_val),
					  BPF_ANY);
		if (err) {
			err = -errno;
			*count = i;
			return err;
		}
	}
	*count = n;
	return 0;
}

static int map_delete_n(struct entry_map *m, const void *keys, __u32 *count)
{
	__u32 n = *count, i;
	int err;

	if (m->batch) {
		LIBBPF_OPTS(bpf_map_batch_opts, o);

		err = bpf_map_delete_batch(m->fd, keys, count, &o);
		if (!err)
			return 0;
		if (*count < n)
			return err;
		log_err("map %s: batch delete refused (%s), one call per entry from now on",
			m->name, strerror(-err));
		m->batch = false;
	}
	for (i = 0; i < n; i++) {
		err = bpf_map_delete_elem(m->fd, (const __u8 *)keys + (size_t)i * m->key_size);
		if (err) {
			err = -errno;
			*count = i;
			return err;
		}
	}
	*count = n;
	return 0;
}

typedef int (*iter_cb)(struct entry_map *m, const void *key,
		       const struct couic_entry_val *val, void *ctx);

/* Call cb for every entry of m (batch lookup when possible). */
static int map_iterate(struct entry_map *m, iter_cb cb, void *ctx)
{
	static __u8 kbuf[ITER_CHUNK * sizeof(struct couic_lpm_v6)];
	static struct couic_entry_val vbuf[ITER_CHUNK];
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

static __u8 err_status(struct entry_map *m, int err, const char *what)
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

/* ------------------------------------------------------------------ */
/* BATCH / REPLACE_CHUNK                                                */
/* ------------------------------------------------------------------ */

/* Scratch buffers sized for COUIC_MAX_OPS records. */
static __u8 s_keys[COUIC_MAX_OPS * sizeof(struct couic_lpm_v6)];
static struct couic_entry_val s_vals[COUIC_MAX_OPS];
static __u32 s_bidx[COUIC_MAX_OPS];	/* record index of batch entry */
static __u32 s_bpos[COUIC_MAX_OPS];	/* run position of batch entry */
static __u8 s_new[COUIC_MAX_OPS];
static __u32 s_order[COUIC_MAX_OPS];	/* records sorted by map, stable */
static __s8 s_slot[COUIC_MAX_OPS];

/* Returns the map slot of a valid record, -1 if invalid. */
static int op_slot(const struct couic_op *op, bool any_kind)
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
	return op->policy * 4 + ((op->prefixlen == maxlen && !g.lpm_only) ? 0 : 2) +
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
static __u8 restamp(struct entry_map *m, const __u8 *key)
{
	struct couic_entry_val v;

	/* ENOENT below: the key was added earlier in this very batch and is
	 * not written yet (it will be, with the current gen).  On a trie the
	 * lookup is a longest-prefix match: for such a key it may return a
	 * covering prefix, so only the BPF_EXIST update tells. */
	if (!g.replace_active)
		return COUIC_ST_EXISTS;
	if (bpf_map_lookup_elem(m->fd, key, &v)) {
		if (errno == ENOENT)
			return COUIC_ST_EXISTS;
		log_err("map %s: restamp: lookup: %s", m->name, strerror(errno));
		return COUIC_ST_ERROR;
	}
	if (v.gen == g.cfg.gen)
		return COUIC_ST_EXISTS;
	v.gen = g.cfg.gen;
	if (bpf_map_update_elem(m->fd, key, &v, BPF_EXIST)) {
		if (errno == ENOENT)
			return COUIC_ST_EXISTS;
		/* REPLACE_END would remove an entry the daemon just asked for */
		log_err("map %s: restamp: %s", m->name, strerror(errno));
		return COUIC_ST_ERROR;
	}
	return COUIC_ST_EXISTS;
}

static void apply_insert(int slot, int kind, const struct couic_op *ops,
			 const __u32 *run, __u32 n, __u8 *st)
{
	struct entry_map *m = &g.maps[slot];
	__u32 ks = m->key_size, pos = 0, j, b, nb, done;
	bool full = false;
	int err, r;

	while (pos < n) {
		bool any_new = false;
		__u8 s;

		nb = 0;
		for (j = pos; j < n; j++) {
			const struct couic_op *op = &ops[run[j]];
			__u8 *key = s_keys + (size_t)nb * ks;
			bool present;

			build_key(m, op, key);
			present = ks_has(&m->set, key);
			if (present && kind == COUIC_OP_ADD) {
				st[run[j]] = restamp(m, key);
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
			s_bidx[nb] = run[j];
			s_bpos[nb] = j;
			s_new[nb] = !present;
			s_vals[nb].tag = op->tag;
			s_vals[nb].gen = g.cfg.gen;
			nb++;
		}
		if (!nb)
			break;
		/* the bit goes up before the first insert: without it the
		 * program would not look the new entries up */
		if (any_new && set_nonempty(slot, true)) {
			/* the bit was clear, so the map is empty: every record
			 * left (EXISTS ones included, whose key is one of this
			 * batch's) fails, and the set drops this batch's keys */
			for (b = 0; b < nb; b++)
				if (s_new[b])
					ks_del(&m->set, s_keys + (size_t)b * ks);
			for (j = pos; j < n; j++)
				st[run[j]] = COUIC_ST_ERROR;
			break;
		}
		done = nb;
		err = map_update_n(m, s_keys, s_vals, &done);
		for (b = 0; b < done; b++) {
			st[s_bidx[b]] = COUIC_ST_OK;
			if (s_new[b])
				m->count++;
		}
		if (!err)
			break;
		/* entry `done` failed; entries after it were not applied */
		s = err_status(m, err, "update");
		st[s_bidx[done]] = s;
		if (s == COUIC_ST_FULL)
			full = true;
		for (b = done; b < nb; b++)
			if (s_new[b])
				ks_del(&m->set, s_keys + (size_t)b * ks);
		pos = s_bpos[done] + 1;
	}
	if (!m->count)
		set_nonempty(slot, false);
}

static void apply_delete(int slot, const struct couic_op *ops, const __u32 *run,
			 __u32 n, __u8 *st)
{
	struct entry_map *m = &g.maps[slot];
	__u32 ks = m->key_size, pos = 0, j, b, nb, done;
	int err;

	while (pos < n) {
		nb = 0;
		for (j = pos; j < n; j++) {
			__u8 *key = s_keys + (size_t)nb * ks;

			build_key(m, &ops[run[j]], key);
			if (!ks_del(&m->set, key)) {
				st[run[j]] = COUIC_ST_ABSENT;
				continue;
			}
			s_bidx[nb] = run[j];
			s_bpos[nb] = j;
			nb++;
		}
		if (!nb)
			break;
		done = nb;
		err = map_delete_n(m, s_keys, &done);
		for (b = 0; b < done; b++)
			st[s_bidx[b]] = COUIC_ST_OK;
		m->count -= done;
		if (!err)
			break;
		st[s_bidx[done]] = err_status(m, err, "delete");
		if (err == -ENOENT) {
			/* the kernel did not have it: our set was wrong */
			log_err("map %s: delete: key known to the helper was absent", m->name);
			m->count--;
		} else {
			ks_add(&m->set, s_keys + (size_t)done * ks);
		}
		for (b = done + 1; b < nb; b++)
			ks_add(&m->set, s_keys + (size_t)b * ks);
		pos = s_bpos[done] + 1;
	}
	if (!m->count)
		set_nonempty(slot, false);
}

static void apply_ops(const struct couic_op *ops, __u32 n, bool replace, __u8 *st)
{
	__u32 start[COUIC_MAP_COUNT + 1] = { 0 }, fill[COUIC_MAP_COUNT];
	__u32 i, j;
	int slot;

	for (i = 0; i < n; i++) {
		slot = op_slot(&ops[i], replace);
		s_slot[i] = slot;
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
		if (s_slot[i] >= 0)
			s_order[fill[s_slot[i]]++] = i;

	for (slot = 0; slot < COUIC_MAP_COUNT; slot++) {
		for (i = start[slot]; i < start[slot + 1]; i = j) {
			int kind = replace ? COUIC_OP_UPSERT : ops[s_order[i]].kind;

			for (j = i + 1; j < start[slot + 1]; j++)
				if (!replace && ops[s_order[j]].kind != kind)
					break;
			if (kind == COUIC_OP_DEL)
				apply_delete(slot, ops, s_order + i, j - i, st);
			else
				apply_insert(slot, kind, ops, s_order + i, j - i, st);
		}
	}
}

/* Validates a list payload; returns the record count or -errno. */
static long parse_list(const struct couic_frame_hdr *h, const __u8 *p, size_t rec_size)
{
	struct couic_list_hdr lh;

	if (h->len < sizeof(lh)) {
		set_err("payload of %u bytes is shorter than a list header", h->len);
		return -EINVAL;
	}
	memcpy(&lh, p, sizeof(lh));
	if (lh.count > COUIC_MAX_OPS) {
		set_err("list of %u records over the limit of %u", lh.count, COUIC_MAX_OPS);
		return -E2BIG;
	}
	if ((__u64)h->len != sizeof(lh) + (__u64)lh.count * rec_size) {
		set_err("payload of %u bytes does not match %u records of %zu bytes",
			h->len, lh.count, rec_size);
		return -EINVAL;
	}
	return lh.count;
}

static void handle_list(const struct couic_frame_hdr *h, const __u8 *p, bool replace)
{
	static struct couic_op ops[COUIC_MAX_OPS];
	struct couic_list_hdr *lh;
	long n = parse_list(h, p, sizeof(struct couic_op));
	size_t len;
	__u8 *o;

	if (n < 0) {
		send_error(h, n);
		return;
	}
	len = sizeof(*lh) + ((n + 3) & ~3ul);
	o = out_reserve(len);
	if (!o) {
		send_error(h, -ENOMEM);
		return;
	}
	memset(o, 0, len);
	memcpy(ops, p + sizeof(*lh), n * sizeof(struct couic_op));
	lh = (struct couic_list_hdr *)o;
	lh->count = n;
	apply_ops(ops, n, replace, o + sizeof(*lh));
	send_frame(h->type, 0, h->id, 0, o, len);
}

/* ------------------------------------------------------------------ */
/* REPLACE                                                              */
/* ------------------------------------------------------------------ */

static struct {
	__u8 *keys;
	size_t n, cap;
} stale;

static int collect_stale(struct entry_map *m, const void *key,
			 const struct couic_entry_val *val, void *ctx)
{
	if (val->gen == g.cfg.gen)
		return 0;
	if (stale.n == stale.cap) {
		size_t cap = stale.cap ? stale.cap * 2 : 4096;
		void *p = realloc(stale.keys, cap * sizeof(struct couic_lpm_v6));

		if (!p)
			return -ENOMEM;
		stale.keys = p;
		stale.cap = cap;
	}
	memcpy(stale.keys + stale.n * m->key_size, key, m->key_size);
	stale.n++;
	return 0;
}

static void handle_replace_end(const struct couic_frame_hdr *h)
{
	__u32 result[2] = { 0, 0 };
	int slot, err, first_err = 0;

	for (slot = 0; slot < COUIC_MAP_COUNT; slot++) {
		struct entry_map *m = &g.maps[slot];
		size_t pos = 0;

		stale.n = 0;
		err = map_iterate(m, collect_stale, NULL);
		if (err) {
			/* delete what was collected, but say the map may
			 * still hold stale entries */
			log_err("map %s: iterate: %s", m->name, strerror(-err));
			if (!first_err) {
				first_err = err;
				set_err("map %s: iterate: %s", m->name, strerror(-err));
			}
		}
		while (pos < stale.n) {
			__u32 chunk = stale.n - pos > COUIC_MAX_OPS ? COUIC_MAX_OPS : stale.n - pos;
			__u32 done = chunk, b;
			__u8 *keys = stale.keys + pos * m->key_size;

			err = map_delete_n(m, keys, &done);
			for (b = 0; b < done; b++)
				if (ks_del(&m->set, keys + (size_t)b * m->key_size))
					m->count--;
			result[0] += done;
			if (err) {
				log_err("map %s: delete stale entry: %s", m->name, strerror(-err));
				if (err == -ENOENT) {
					if (ks_del(&m->set, keys + (size_t)done * m->key_size))
						m->count--;
				} else if (!first_err) {
					first_err = err;
					set_err("map %s: delete stale entry: %s", m->name,
						strerror(-err));
				}
				done++;
			}
			pos += done;
		}
		if (!m->count)
			set_nonempty(slot, false);
	}
	g.replace_active = false;
	if (first_err)
		send_error(h, first_err);
	else
		send_frame(h->type, 0, h->id, 0, result, sizeof(result));
}

/* ------------------------------------------------------------------ */
/* DUMP                                                                 */
/* ------------------------------------------------------------------ */

struct dump_ctx {
	const struct couic_frame_hdr *h;
	__u32 n;			/* records in the pending frame */
	int policy, family;
};

static void dump_flush(struct dump_ctx *d, bool more)
{
	struct couic_list_hdr *lh = (struct couic_list_hdr *)out.p;

	lh->count = d->n;
	lh->reserved = 0;
	send_frame(d->h->type, more ? COUIC_FLAG_MORE : 0, d->h->id, 0, out.p,
		   sizeof(*lh) + d->n * sizeof(struct couic_op));
	d->n = 0;
}

static int dump_one(struct entry_map *m, const void *key,
		    const struct couic_entry_val *val, void *ctx)
{
	struct dump_ctx *d = ctx;
	struct couic_op *op;
	__u32 plen;

	if (d->n == COUIC_DUMP_CHUNK)
		dump_flush(d, true);
	op = (struct couic_op *)(out.p + sizeof(struct couic_list_hdr)) + d->n;
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

static void handle_dump(const struct couic_frame_hdr *h)
{
	struct dump_ctx d = { .h = h };
	int slot, err;

	if (!out_reserve(sizeof(struct couic_list_hdr) + COUIC_DUMP_CHUNK * sizeof(struct couic_op))) {
		send_error(h, -ENOMEM);
		return;
	}
	for (slot = 0; slot < COUIC_MAP_COUNT; slot++) {
		d.policy = slot / 4;
		d.family = (slot & 1) ? 6 : 4;
		err = map_iterate(&g.maps[slot], dump_one, &d);
		if (err) {
			/* a short dump must not pass for the whole content: the
			 * last frame carries the error (the client drops the
			 * MORE frames already received) */
			log_err("map %s: iterate: %s", g.maps[slot].name, strerror(-err));
			set_err("map %s: iterate: %s", g.maps[slot].name, strerror(-err));
			send_error(h, err);
			return;
		}
	}
	dump_flush(&d, false);
}

/* ------------------------------------------------------------------ */
/* STATS / TAG_RESET / TEST_RUN                                         */
/* ------------------------------------------------------------------ */

static int percpu_sum(int fd, __u32 key, __u64 *sums, int nwords)
{
	__u32 vsz = ROUND_UP8(nwords * 8);
	__u64 buf[vsz / 8 * g.ncpus];
	int cpu, w;

	memset(sums, 0, nwords * 8);
	if (bpf_map_lookup_elem(fd, &key, buf))
		return -errno;
	for (cpu = 0; cpu < g.ncpus; cpu++)
		for (w = 0; w < nwords; w++)
			sums[w] += buf[cpu * (vsz / 8) + w];
	return 0;
}

/* Sums the tag array of one policy into `tags` (max_tags entries). */
static int sum_tags(int fd, struct couic_pkt_stats *tags)
{
	size_t stride = g.ncpus * sizeof(struct couic_pkt_stats);
	__u32 *keys = NULL, i, done = 0, cnt;
	__u8 *vals = NULL;
	__u64 tok = 0;
	int err = 0, cpu;

	keys = malloc(g.max_tags * sizeof(*keys));
	vals = malloc(g.max_tags * stride);
	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	memset(tags, 0, g.max_tags * sizeof(*tags));
	while (done < g.max_tags) {
		LIBBPF_OPTS(bpf_map_batch_opts, o);

		cnt = g.max_tags - done;
		err = bpf_map_lookup_batch(fd, done ? &tok : NULL, &tok, keys + done,
					   vals + done * stride, &cnt, &o);
		if (err && err != -ENOENT)
			break;
		done += cnt;
		err = 0;
		if (!cnt)
			break;
	}
	if (err || done < g.max_tags) {
		for (i = done; i < g.max_tags; i++) {
			keys[i] = i;
			if (bpf_map_lookup_elem(fd, &i, vals + i * stride)) {
				err = -errno;
				goto out;
			}
		}
		err = 0;
	}
	for (i = 0; i < g.max_tags; i++) {
		const struct couic_pkt_stats *v = (const void *)(vals + i * stride);
		__u32 k = keys[i];

		if (k >= g.max_tags)
			continue;
		for (cpu = 0; cpu < g.ncpus; cpu++) {
			tags[k].packets += v[cpu].packets;
			tags[k].bytes += v[cpu].bytes;
		}
	}
out:
	free(keys);
	free(vals);
	return err;
}

static void handle_stats(const struct couic_frame_hdr *h)
{
	struct couic_pkt_stats *tags[2] = { NULL, NULL };
	struct couic_stats_hdr *sh;
	struct couic_tag_stats ts;
	size_t len, off;
	__u32 i, n_tags = 0;
	int err = 0, p;
	__u8 *o;

	for (p = 0; p < 2; p++) {
		tags[p] = malloc(g.max_tags * sizeof(struct couic_pkt_stats));
		if (!tags[p]) {
			err = -ENOMEM;
			goto out;
		}
		err = sum_tags(g.tag_fd[p], tags[p]);
		if (err) {
			set_err("tag counters: %s", strerror(-err));
			goto out;
		}
		for (i = 0; i < g.max_tags; i++)
			n_tags += tags[p][i].packets > 0;
	}
	len = sizeof(*sh) + COUIC_XDP_ACTIONS * sizeof(struct couic_pkt_stats) +
	      COUIC_PARSE_MAX * sizeof(__u64) + COUIC_MAP_COUNT * sizeof(__u32) +
	      (size_t)n_tags * sizeof(struct couic_tag_stats);
	if (len > COUIC_MAX_PAYLOAD) {
		/* --max-tags allows more active slots than a frame holds; a
		 * frame over the limit is a fatal protocol error for the reader */
		err = -EMSGSIZE;
		set_err("%u tag slots with traffic: reply of %zu bytes over the limit of %u",
			n_tags, len, COUIC_MAX_PAYLOAD);
		goto out;
	}
	o = out_reserve(len);
	if (!o) {
		err = -ENOMEM;
		goto out;
	}
	memset(o, 0, len);
	sh = (struct couic_stats_hdr *)o;
	sh->n_actions = COUIC_XDP_ACTIONS;
	sh->n_parse = COUIC_PARSE_MAX;
	sh->n_tags = n_tags;
	off = sizeof(*sh);
	for (i = 0; i < COUIC_XDP_ACTIONS; i++, off += sizeof(struct couic_pkt_stats)) {
		err = percpu_sum(g.xdp_stats_fd, i, (__u64 *)(o + off), 2);
		if (err) {
			set_err("couic_xdp_stats: %s", strerror(-err));
			goto out;
		}
	}
	for (i = 0; i < COUIC_PARSE_MAX; i++, off += sizeof(__u64)) {
		err = percpu_sum(g.parse_fd, i, (__u64 *)(o + off), 1);
		if (err) {
			set_err("couic_parse_stats: %s", strerror(-err));
			goto out;
		}
	}
	for (i = 0; i < COUIC_MAP_COUNT; i++, off += sizeof(__u32))
		memcpy(o + off, &g.maps[i].count, sizeof(__u32));
	for (p = 0; p < 2; p++) {
		for (i = 0; i < g.max_tags; i++) {
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
	send_frame(h->type, 0, h->id, 0, o, len);
out:
	if (err)
		send_error(h, err);
	free(tags[0]);
	free(tags[1]);
}

static void handle_tag_reset(const struct couic_frame_hdr *h, const __u8 *p)
{
	long n = parse_list(h, p, sizeof(__u32));
	size_t vsz = g.ncpus * sizeof(struct couic_pkt_stats);
	void *zero = NULL;
	int err = 0, pol;
	long i;

	if (n < 0) {
		send_error(h, n);
		return;
	}
	zero = calloc(1, vsz);
	if (!zero) {
		send_error(h, -ENOMEM);
		return;
	}
	for (i = 0; i < n; i++) {
		__u32 tag;

		memcpy(&tag, p + sizeof(struct couic_list_hdr) + i * sizeof(tag), sizeof(tag));
		if (tag >= g.max_tags)
			continue;	/* no slot of its own (counted in slot 0) */
		for (pol = 0; pol < 2; pol++) {
			if (bpf_map_update_elem(g.tag_fd[pol], &tag, zero, BPF_ANY)) {
				err = -errno;
				set_err("tag %u: reset: %s", tag, strerror(-err));
				log_err("%s", errmsg);
			}
		}
	}
	free(zero);
	if (err)
		send_error(h, err);
	else
		send_frame(h->type, 0, h->id, 0, NULL, 0);
}

static void handle_test_run(const struct couic_frame_hdr *h, const __u8 *p)
{
	struct couic_test_result res = { 0 };
	struct couic_test_req req;
	int err;

	if (h->len < sizeof(req)) {
		set_err("payload of %u bytes is shorter than a test request", h->len);
		send_error(h, -EINVAL);
		return;
	}
	memcpy(&req, p, sizeof(req));
	if (req.len < 1 || req.len > COUIC_MAX_PKT) {
		set_err("packet length %u out of 1..%u", req.len, COUIC_MAX_PKT);
		send_error(h, -EINVAL);
		return;
	}
	if (h->len != sizeof(req) + req.len) {
		set_err("payload of %u bytes does not match a %u-byte packet", h->len, req.len);
		send_error(h, -EINVAL);
		return;
	}
	{
		LIBBPF_OPTS(bpf_test_run_opts, t,
			    .data_in = p + sizeof(req),
			    .data_size_in = req.len,
			    .repeat = req.repeat ? req.repeat : 1);

		err = bpf_prog_test_run_opts(g.prog_fd, &t);
		if (err) {
			set_err("test run: %s", strerror(-err));
			send_error(h, err);
			return;
		}
		res.retval = t.retval;
		res.duration_ns = t.duration;
	}
	send_frame(h->type, 0, h->id, 0, &res, sizeof(res));
}

/* ------------------------------------------------------------------ */
/* Pinning                                                              */
/* ------------------------------------------------------------------ */

static void pin_path(char *buf, size_t sz, const char *dir, const char *sub, const char *name)
{
	snprintf(buf, sz, "%s/%s/%s", dir, sub, name);
}

/* Detach and unpin every pinned link of dir except those of `keep`
 * interfaces; with remove_all, also unlink the maps and the dirs. */
static int unpin_dir(const char *dir, bool keep_configured, bool remove_all)
{
	static const char *const subs[] = { "links", "maps" };
	char path[PATH_MAX], sub[PATH_MAX];
	struct dirent *de;
	int s, i, err = 0;

	for (s = 0; s < (remove_all ? 2 : 1); s++) {
		DIR *d;

		snprintf(sub, sizeof(sub), "%s/%s", dir, subs[s]);
		d = opendir(sub);
		if (!d)
			continue;
		while ((de = readdir(d))) {
			bool keep = false;

			if (de->d_name[0] == '.')
				continue;
			for (i = 0; keep_configured && i < g.n_ifaces; i++)
				keep |= !strcmp(de->d_name, g.ifnames[i]);
			if (keep)
				continue;
			pin_path(path, sizeof(path), dir, subs[s], de->d_name);
			if (s == 0) {
				int fd = bpf_obj_get(path);

				if (fd >= 0) {
					if (bpf_link_detach(fd))
						log_err("link %s: detach: %s", path, strerror(errno));
					close(fd);
				}
			}
			if (unlink(path)) {
				err = -errno;
				log_err("unlink %s: %s", path, strerror(-err));
			}
		}
		closedir(d);
		if (remove_all)
			rmdir(sub);
	}
	if (remove_all)
		rmdir(dir);
	return err;
}

static int mkdir_p(const char *path)
{
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Start                                                                */
/* ------------------------------------------------------------------ */

static struct couic_iface hello_ifaces[COUIC_MAX_IFACES];

__attribute__((noreturn, format(printf, 2, 3)))
static void start_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(errmsg, sizeof(errmsg), fmt, ap);
	va_end(ap);
	log_err("%s", errmsg);
	send_frame(COUIC_MSG_HELLO, 0, 0, err, errmsg, strlen(errmsg));
	cleanup();
	exit(1);
}

static void send_hello(void)
{
	struct couic_hello hello = {
		.proto_version = COUIC_PROTO_VERSION,
		.features = g.features,
		.ncpus = g.ncpus,
		.max_tags = g.max_tags,
		.n_ifaces = g.n_ifaces,
	};
	__u8 buf[sizeof(hello) + sizeof(hello_ifaces)];
	int i;

	for (i = 0; i < COUIC_MAP_COUNT; i++) {
		hello.capacity[i] = g.maps[i].capacity;
		hello.count[i] = g.maps[i].count;
	}
	memcpy(buf, &hello, sizeof(hello));
	for (i = 0; i < g.n_ifaces; i++) {
		struct couic_iface *ci = &hello_ifaces[i];

		memset(ci, 0, sizeof(*ci));
		ci->ifindex = g.ifaces[i].ifindex;
		ci->mode = g.ifaces[i].mode;
		snprintf(ci->name, sizeof(ci->name), "%s", g.ifaces[i].name);
	}
	memcpy(buf + sizeof(hello), hello_ifaces, g.n_ifaces * sizeof(struct couic_iface));
	send_frame(COUIC_MSG_HELLO, 0, 0, 0, buf,
		   sizeof(hello) + g.n_ifaces * sizeof(struct couic_iface));
}

static bool probe_batch(enum bpf_map_type type, __u32 key_size)
{
	LIBBPF_OPTS(bpf_map_create_opts, co, .map_flags = BPF_F_NO_PREALLOC);
	LIBBPF_OPTS(bpf_map_batch_opts, bo);
	struct couic_lpm_v4 keys[2] = { { 32, { 10, 0, 0, 1 } }, { 32, { 10, 0, 0, 2 } } };
	struct couic_entry_val vals[2] = { { 1, 0 }, { 2, 0 } };
	__u32 cnt = 2;
	bool ok = false;
	int fd;

	fd = bpf_map_create(type, "couic_probe", key_size, sizeof(vals[0]), 4, &co);
	if (fd < 0)
		return false;
	/* keys of key_size bytes packed: for the hash probe use 8-byte keys too */
	if (!bpf_map_update_batch(fd, keys, vals, &cnt, &bo) && cnt == 2) {
		cnt = 2;
		ok = !bpf_map_delete_batch(fd, keys, &cnt, &bo) && cnt == 2;
	}
	close(fd);
	return ok;
}

static bool probe_xdp_link(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	bool ok;

	if (!btf)
		return true;	/* no BTF to tell: try, fall back at attach */
	ok = btf__find_by_name_kind(btf, "bpf_xdp_link", BTF_KIND_STRUCT) >= 0;
	btf__free(btf);
	return ok;
}

/* Checks a pinned map against the one the program defines. */
static int check_pinned(struct bpf_map *map, int fd, const char *path)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		start_fail(-errno, "pinned map %s: %s", path, strerror(errno));
#define CHECK(what, have, want)							\
	if ((have) != (want))							\
		start_fail(-EEXIST, "pinned map %s: %s %u, expected %u (other "	\
			   "capacities or layout: --unpin %s to start fresh)",	\
			   path, what, (unsigned)(have), (unsigned)(want), g.pin_dir)
	CHECK("type", info.type, bpf_map__type(map));
	CHECK("key size", info.key_size, bpf_map__key_size(map));
	CHECK("value size", info.value_size, bpf_map__value_size(map));
	CHECK("max_entries", info.max_entries, bpf_map__max_entries(map));
	CHECK("flags", info.map_flags, bpf_map__map_flags(map));
#undef CHECK
	return 0;
}

static int count_entry(struct entry_map *m, const void *key,
		       const struct couic_entry_val *val, void *ctx)
{
	int r = ks_add(&m->set, key);

	if (r < 0)
		return r;
	m->count += r;
	/* a pinned set whose couic_cfg was lost restarts at gen 0: the next
	 * REPLACE_BEGIN must still move past every gen the entries carry */
	if ((__s32)(val->gen - *(__u32 *)ctx) > 0)
		*(__u32 *)ctx = val->gen;
	return 0;
}

static __u32 query_mode(int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query(ifindex, 0, &q))
		return 0;
	if (q.attach_mode == XDP_ATTACHED_DRV)
		return COUIC_MODE_NATIVE;
	if (q.attach_mode == XDP_ATTACHED_SKB)
		return COUIC_MODE_GENERIC;
	return 0;
}

/* Switches a pinned link of the interface to the new program; returns
 * true when done. */
static bool reuse_link(struct iface *ifc, const char *path)
{
	struct bpf_link_info info = { 0 };
	__u32 len = sizeof(info);
	__u32 mode;
	int fd, err;

	fd = bpf_obj_get(path);
	if (fd < 0)
		return false;
	if (bpf_obj_get_info_by_fd(fd, &info, &len) || info.type != BPF_LINK_TYPE_XDP ||
	    info.xdp.ifindex != (__u32)ifc->ifindex) {
		log_err("interface %s: pinned link is stale, re-attaching", ifc->name);
		goto drop;
	}
	mode = query_mode(ifc->ifindex);
	if (g.mode != MODE_AUTO && mode != g.mode) {
		log_err("interface %s: pinned link in another mode, re-attaching", ifc->name);
		goto drop;
	}
	err = bpf_link_update(fd, g.prog_fd, NULL);
	if (err) {
		log_err("interface %s: pinned link update: %s, re-attaching", ifc->name,
			strerror(-err));
		goto drop;
	}
	ifc->link_fd = fd;
	ifc->mode = mode ? mode : COUIC_MODE_NATIVE;
	return true;
drop:
	bpf_link_detach(fd);
	close(fd);
	unlink(path);
	return false;
}

static void attach_iface(struct iface *ifc)
{
	static const __u32 modes[2] = { COUIC_MODE_NATIVE, COUIC_MODE_GENERIC };
	char path[PATH_MAX];
	int i, fd, err = -EINVAL, first_err = 0;

	if (g.pin_dir) {
		pin_path(path, sizeof(path), g.pin_dir, "links", ifc->name);
		if (reuse_link(ifc, path))
			return;
	}
	for (i = 0; i < 2; i++) {
		__u32 flags = modes[i] == COUIC_MODE_NATIVE ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE;

		if (g.mode != MODE_AUTO && g.mode != modes[i])
			continue;
		if (g.features & COUIC_FEAT_XDP_LINK) {
			LIBBPF_OPTS(bpf_link_create_opts, lo, .flags = flags);

			fd = bpf_link_create(g.prog_fd, ifc->ifindex, BPF_XDP, &lo);
			if (fd >= 0) {
				ifc->link_fd = fd;
				ifc->mode = modes[i];
				break;
			}
			err = fd;
		} else {
			err = bpf_xdp_attach(ifc->ifindex, g.prog_fd,
					     flags | XDP_FLAGS_UPDATE_IF_NOEXIST, NULL);
			if (!err) {
				ifc->netlink = true;
				ifc->nl_flags = flags;
				ifc->mode = modes[i];
				break;
			}
		}
		if (!first_err)
			first_err = err;
		if (g.mode == MODE_AUTO && i == 0)
			log_err("interface %s: native XDP refused (%s), trying generic",
				ifc->name, strerror(-err));
	}
	if (!ifc->mode)
		start_fail(err, "interface %s: %s XDP attach: %s", ifc->name,
			   g.mode == COUIC_MODE_NATIVE ? "native" :
			   g.mode == COUIC_MODE_GENERIC ? "generic" : "native and generic",
			   strerror(-err));
	g.n_attached++;
	if (g.pin_dir && !ifc->netlink) {
		if (bpf_obj_pin(ifc->link_fd, path))
			start_fail(-errno, "interface %s: pin link %s: %s", ifc->name, path,
				   strerror(errno));
	} else if (g.pin_dir) {
		log_err("interface %s: attached without bpf_link, not pinned", ifc->name);
	}
}

static void start(void)
{
	struct bpf_map *tagmaps[2];
	bool reused = false;
	char path[PATH_MAX];
	int i, err;

	for (i = 0; i < g.n_ifaces; i++) {
		struct iface *ifc = &g.ifaces[i];

		snprintf(ifc->name, sizeof(ifc->name), "%s", g.ifnames[i]);
		ifc->link_fd = -1;
		ifc->ifindex = if_nametoindex(g.ifnames[i]);
		if (!ifc->ifindex)
			start_fail(-ENODEV, "interface %s: %s", g.ifnames[i], strerror(ENODEV));
	}

	g.ncpus = libbpf_num_possible_cpus();
	if (g.ncpus <= 0)
		start_fail(g.ncpus ? g.ncpus : -EINVAL, "possible CPUs: %s", strerror(-g.ncpus));

	g.skel = couic_bpf__open();
	if (!g.skel)
		start_fail(-errno, "open BPF object: %s", strerror(errno));
	g.skel->rodata->max_tags = g.max_tags;

	{
		struct bpf_map *maps[COUIC_MAP_COUNT] = {
			g.skel->maps.drop4_exact, g.skel->maps.drop6_exact,
			g.skel->maps.drop4_lpm, g.skel->maps.drop6_lpm,
			g.skel->maps.ignore4_exact, g.skel->maps.ignore6_exact,
			g.skel->maps.ignore4_lpm, g.skel->maps.ignore6_lpm,
		};
		__u32 caps[4] = { g.cap_drop_exact, g.cap_drop_cidr,
				  g.cap_ignore_exact, g.cap_ignore_cidr };

		for (i = 0; i < COUIC_MAP_COUNT; i++) {
			struct entry_map *m = &g.maps[i];

			m->name = map_names[i];
			m->map = maps[i];
			m->fd = -1;
			m->capacity = caps[i / 2];
			m->lpm = i & 2;
			m->key_size = bpf_map__key_size(maps[i]);
			m->set.ks = m->key_size;
			err = bpf_map__set_max_entries(maps[i], m->capacity);
			if (err)
				start_fail(err, "map %s: max_entries %u: %s", m->name,
					   m->capacity, strerror(-err));
		}
	}
	tagmaps[0] = g.skel->maps.couic_drop_tags;
	tagmaps[1] = g.skel->maps.couic_ignore_tags;
	for (i = 0; i < 2; i++) {
		err = bpf_map__set_max_entries(tagmaps[i], g.max_tags);
		if (err)
			start_fail(err, "map %s: max_entries %u: %s", bpf_map__name(tagmaps[i]),
				   g.max_tags, strerror(-err));
	}

	if (g.pin_dir) {
		struct bpf_map *map;

		bpf_object__for_each_map(map, g.skel->obj) {
			int fd;

			if (bpf_map__is_internal(map))
				continue;
			pin_path(path, sizeof(path), g.pin_dir, "maps", bpf_map__name(map));
			fd = bpf_obj_get(path);
			if (fd < 0) {
				if (errno != ENOENT)
					start_fail(-errno, "pinned map %s: %s", path, strerror(errno));
				continue;
			}
			check_pinned(map, fd, path);
			err = bpf_map__reuse_fd(map, fd);
			close(fd);
			if (err)
				start_fail(err, "pinned map %s: reuse: %s", path, strerror(-err));
			reused = true;
		}
	}

	err = couic_bpf__load(g.skel);
	if (err)
		start_fail(err, "load BPF program: %s%s", strerror(-err),
			   g.verbose ? "" : " (--verbose shows the verifier log)");
	g.prog_fd = bpf_program__fd(g.skel->progs.couic);
	g.cfg_fd = bpf_map__fd(g.skel->maps.couic_cfg);
	g.xdp_stats_fd = bpf_map__fd(g.skel->maps.couic_xdp_stats);
	g.parse_fd = bpf_map__fd(g.skel->maps.couic_parse_stats);
	g.tag_fd[0] = bpf_map__fd(tagmaps[0]);
	g.tag_fd[1] = bpf_map__fd(tagmaps[1]);

	/* features, probed by trying */
	if (probe_batch(BPF_MAP_TYPE_HASH, sizeof(struct couic_lpm_v4)))
		g.features |= COUIC_FEAT_BATCH_HASH;
	if (probe_batch(BPF_MAP_TYPE_LPM_TRIE, sizeof(struct couic_lpm_v4)))
		g.features |= COUIC_FEAT_BATCH_LPM;
	if (g.no_batch)
		g.features &= ~(COUIC_FEAT_BATCH_HASH | COUIC_FEAT_BATCH_LPM);
	if (probe_xdp_link())
		g.features |= COUIC_FEAT_XDP_LINK;
	if (g.lpm_only)
		g.features |= COUIC_FEAT_LPM_ONLY;

	for (i = 0; i < COUIC_MAP_COUNT; i++) {
		struct entry_map *m = &g.maps[i];

		m->fd = bpf_map__fd(m->map);
		m->batch = g.features & (m->lpm ? COUIC_FEAT_BATCH_LPM : COUIC_FEAT_BATCH_HASH);
	}

	if (reused) {
		__u32 zero = 0, max_gen;

		g.features |= COUIC_FEAT_REUSED;
		if (bpf_map_lookup_elem(g.cfg_fd, &zero, &g.cfg))
			start_fail(-errno, "map couic_cfg: lookup: %s", strerror(errno));
		max_gen = g.cfg.gen;

		for (i = 0; i < COUIC_MAP_COUNT; i++) {
			err = map_iterate(&g.maps[i], count_entry, &max_gen);
			if (err)
				start_fail(err, "map %s: count entries: %s", g.maps[i].name,
					   strerror(-err));
		}
		g.cfg.gen = max_gen;
	}
	g.cfg.nonempty = 0;
	for (i = 0; i < COUIC_MAP_COUNT; i++)
		if (g.maps[i].count)
			g.cfg.nonempty |= 1u << i;
	err = write_cfg();
	if (err)
		start_fail(err, "map couic_cfg: update: %s", strerror(-err));

	if (g.pin_dir) {
		struct bpf_map *map;
		char sub[PATH_MAX];

		snprintf(sub, sizeof(sub), "%s/maps", g.pin_dir);
		if ((err = mkdir_p(g.pin_dir)) || (err = mkdir_p(sub)))
			start_fail(err, "pin dir %s: %s", sub, strerror(-err));
		snprintf(sub, sizeof(sub), "%s/links", g.pin_dir);
		if ((err = mkdir_p(sub)))
			start_fail(err, "pin dir %s: %s", sub, strerror(-err));
		bpf_object__for_each_map(map, g.skel->obj) {
			if (bpf_map__is_internal(map))
				continue;
			pin_path(path, sizeof(path), g.pin_dir, "maps", bpf_map__name(map));
			if (!access(path, F_OK))
				continue;	/* re-used */
			if (bpf_obj_pin(bpf_map__fd(map), path))
				start_fail(-errno, "pin map %s: %s", path, strerror(errno));
		}
		g.features |= COUIC_FEAT_PINNED;
	}

	for (i = 0; i < g.n_ifaces; i++)
		attach_iface(&g.ifaces[i]);
	if (g.pin_dir)
		unpin_dir(g.pin_dir, true, false);
}

static void cleanup(void)
{
	int i;

	for (i = 0; i < g.n_ifaces; i++) {
		struct iface *ifc = &g.ifaces[i];

		if (ifc->netlink && !g.pin_dir)
			bpf_xdp_detach(ifc->ifindex, ifc->nl_flags, NULL);
		if (ifc->link_fd >= 0)
			close(ifc->link_fd);
		ifc->link_fd = -1;
		ifc->netlink = false;
	}
	couic_bpf__destroy(g.skel);
	g.skel = NULL;
}

/* ------------------------------------------------------------------ */
/* --abi                                                                */
/* ------------------------------------------------------------------ */

static const char *abi_sep;

static void abi_open(const char *name)
{
	printf("%s\"%s\":{", abi_sep, name);
	abi_sep = "";
}

static void abi_close(void)
{
	printf("}");
	abi_sep = ",";
}

static void abi_kv(const char *name, long long v)
{
	printf("%s\"%s\":%lld", abi_sep, name, v);
	abi_sep = ",";
}

#define KV(name, v) abi_kv(name, (long long)(v))
#define SZ(t) abi_kv(#t, (long long)sizeof(struct t))
#define OFF(t, f) abi_kv(#t "." #f, (long long)__builtin_offsetof(struct t, f))

static void print_abi(void)
{
	abi_sep = "";
	printf("{");
	KV("proto_version", COUIC_PROTO_VERSION);
	KV("magic", COUIC_FRAME_MAGIC);
	abi_open("msg");
	KV("HELLO", COUIC_MSG_HELLO);
	KV("BATCH", COUIC_MSG_BATCH);
	KV("REPLACE_BEGIN", COUIC_MSG_REPLACE_BEGIN);
	KV("REPLACE_CHUNK", COUIC_MSG_REPLACE_CHUNK);
	KV("REPLACE_END", COUIC_MSG_REPLACE_END);
	KV("DUMP", COUIC_MSG_DUMP);
	KV("STATS", COUIC_MSG_STATS);
	KV("TEST_RUN", COUIC_MSG_TEST_RUN);
	KV("TAG_RESET", COUIC_MSG_TAG_RESET);
	KV("SHUTDOWN", COUIC_MSG_SHUTDOWN);
	abi_close();
	abi_open("flags");
	KV("REPLY", COUIC_FLAG_REPLY);
	KV("MORE", COUIC_FLAG_MORE);
	KV("UNPIN", COUIC_FLAG_UNPIN);
	abi_close();
	abi_open("op");
	KV("ADD", COUIC_OP_ADD);
	KV("UPSERT", COUIC_OP_UPSERT);
	KV("DEL", COUIC_OP_DEL);
	abi_close();
	abi_open("status");
	KV("OK", COUIC_ST_OK);
	KV("EXISTS", COUIC_ST_EXISTS);
	KV("ABSENT", COUIC_ST_ABSENT);
	KV("FULL", COUIC_ST_FULL);
	KV("INVALID", COUIC_ST_INVALID);
	KV("ERROR", COUIC_ST_ERROR);
	abi_close();
	abi_open("policy");
	KV("DROP", COUIC_POLICY_DROP);
	KV("IGNORE", COUIC_POLICY_IGNORE);
	abi_close();
	abi_open("feature");
	KV("BATCH_HASH", COUIC_FEAT_BATCH_HASH);
	KV("BATCH_LPM", COUIC_FEAT_BATCH_LPM);
	KV("XDP_LINK", COUIC_FEAT_XDP_LINK);
	KV("PINNED", COUIC_FEAT_PINNED);
	KV("REUSED", COUIC_FEAT_REUSED);
	KV("LPM_ONLY", COUIC_FEAT_LPM_ONLY);
	abi_close();
	abi_open("mode");
	KV("NATIVE", COUIC_MODE_NATIVE);
	KV("GENERIC", COUIC_MODE_GENERIC);
	abi_close();
	abi_open("parse");
	KV("ETH_SHORT", COUIC_PARSE_ETH_SHORT);
	KV("VLAN_SHORT", COUIC_PARSE_VLAN_SHORT);
	KV("VLAN_DEEP", COUIC_PARSE_VLAN_DEEP);
	KV("IP4_SHORT", COUIC_PARSE_IP4_SHORT);
	KV("IP4_BAD", COUIC_PARSE_IP4_BAD);
	KV("IP6_SHORT", COUIC_PARSE_IP6_SHORT);
	KV("IP6_BAD", COUIC_PARSE_IP6_BAD);
	KV("NON_IP", COUIC_PARSE_NON_IP);
	KV("VLAN", COUIC_PARSE_VLAN);
	KV("MAX", COUIC_PARSE_MAX);
	abi_close();
	abi_open("map_slot");
	KV("DROP4_EXACT", COUIC_MAP_DROP4_EXACT);
	KV("DROP6_EXACT", COUIC_MAP_DROP6_EXACT);
	KV("DROP4_LPM", COUIC_MAP_DROP4_LPM);
	KV("DROP6_LPM", COUIC_MAP_DROP6_LPM);
	KV("IGNORE4_EXACT", COUIC_MAP_IGNORE4_EXACT);
	KV("IGNORE6_EXACT", COUIC_MAP_IGNORE6_EXACT);
	KV("IGNORE4_LPM", COUIC_MAP_IGNORE4_LPM);
	KV("IGNORE6_LPM", COUIC_MAP_IGNORE6_LPM);
	abi_close();
	abi_open("limits");
	KV("MAX_PAYLOAD", COUIC_MAX_PAYLOAD);
	KV("MAX_OPS", COUIC_MAX_OPS);
	KV("MAX_PKT", COUIC_MAX_PKT);
	KV("MAX_IFACES", COUIC_MAX_IFACES);
	KV("DUMP_CHUNK", COUIC_DUMP_CHUNK);
	KV("XDP_ACTIONS", COUIC_XDP_ACTIONS);
	KV("MAP_COUNT", COUIC_MAP_COUNT);
	abi_close();
	abi_open("defaults");
	KV("DROP_EXACT", COUIC_DEF_DROP_EXACT);
	KV("DROP_CIDR", COUIC_DEF_DROP_CIDR);
	KV("IGNORE_EXACT", COUIC_DEF_IGNORE_EXACT);
	KV("IGNORE_CIDR", COUIC_DEF_IGNORE_CIDR);
	KV("MAX_TAGS", COUIC_DEF_MAX_TAGS);
	abi_close();
	abi_open("sizeof");
	SZ(couic_frame_hdr);
	SZ(couic_op);
	SZ(couic_list_hdr);
	SZ(couic_hello);
	SZ(couic_iface);
	SZ(couic_stats_hdr);
	SZ(couic_pkt_stats);
	SZ(couic_tag_stats);
	SZ(couic_test_req);
	SZ(couic_test_result);
	SZ(couic_entry_val);
	SZ(couic_lpm_v4);
	SZ(couic_lpm_v6);
	SZ(couic_cfg);
	abi_close();
	abi_open("offsetof");
	OFF(couic_frame_hdr, magic);
	OFF(couic_frame_hdr, type);
	OFF(couic_frame_hdr, flags);
	OFF(couic_frame_hdr, id);
	OFF(couic_frame_hdr, len);
	OFF(couic_frame_hdr, status);
	OFF(couic_op, kind);
	OFF(couic_op, policy);
	OFF(couic_op, family);
	OFF(couic_op, prefixlen);
	OFF(couic_op, tag);
	OFF(couic_op, addr);
	OFF(couic_hello, features);
	OFF(couic_hello, ncpus);
	OFF(couic_hello, max_tags);
	OFF(couic_hello, capacity);
	OFF(couic_hello, count);
	OFF(couic_hello, n_ifaces);
	OFF(couic_iface, ifindex);
	OFF(couic_iface, mode);
	OFF(couic_iface, name);
	OFF(couic_tag_stats, tag);
	OFF(couic_tag_stats, policy);
	OFF(couic_tag_stats, packets);
	OFF(couic_tag_stats, bytes);
	abi_close();
	printf("}\n");
}

/* ------------------------------------------------------------------ */
/* Main                                                                 */
/* ------------------------------------------------------------------ */

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: couic-helper [--iface NAME]... [--mode auto|native|generic] [--pin-dir DIR]\n"
		"                    [--drop-exact N] [--drop-cidr N] [--ignore-exact N] [--ignore-cidr N]\n"
		"                    [--max-tags N] [--lpm-only] [--no-batch] [--verbose]\n"
		"       couic-helper --abi\n"
		"       couic-helper --unpin DIR\n"
		"Serves the protocol of docs/helper-protocol.md on stdin/stdout.\n");
}

static bool parse_u32(const char *s, __u32 min, __u32 max, __u32 *out_v)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max || s[0] == '-')
		return false;
	*out_v = v;
	return true;
}

enum {
	OPT_IFACE = 256, OPT_MODE, OPT_PIN_DIR, OPT_DROP_EXACT, OPT_DROP_CIDR,
	OPT_IGNORE_EXACT, OPT_IGNORE_CIDR, OPT_MAX_TAGS, OPT_LPM_ONLY, OPT_VERBOSE,
	OPT_NO_BATCH, OPT_ABI, OPT_UNPIN, OPT_HELP,
};

static void parse_args(int argc, char **argv, const char **unpin, bool *abi)
{
	static const struct option opts[] = {
		{ "iface", required_argument, NULL, OPT_IFACE },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "pin-dir", required_argument, NULL, OPT_PIN_DIR },
		{ "drop-exact", required_argument, NULL, OPT_DROP_EXACT },
		{ "drop-cidr", required_argument, NULL, OPT_DROP_CIDR },
		{ "ignore-exact", required_argument, NULL, OPT_IGNORE_EXACT },
		{ "ignore-cidr", required_argument, NULL, OPT_IGNORE_CIDR },
		{ "max-tags", required_argument, NULL, OPT_MAX_TAGS },
		{ "lpm-only", no_argument, NULL, OPT_LPM_ONLY },
		{ "no-batch", no_argument, NULL, OPT_NO_BATCH },
		{ "verbose", no_argument, NULL, OPT_VERBOSE },
		{ "abi", no_argument, NULL, OPT_ABI },
		{ "unpin", required_argument, NULL, OPT_UNPIN },
		{ "help", no_argument, NULL, OPT_HELP },
		{ 0 },
	};
	int c, i;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case OPT_IFACE:
			if (g.n_ifaces == (int)COUIC_MAX_IFACES)
				start_fail(-E2BIG, "more than %u interfaces", COUIC_MAX_IFACES);
			if (!optarg[0] || strlen(optarg) >= IF_NAMESIZE)
				start_fail(-EINVAL, "interface %s: invalid name", optarg);
			for (i = 0; i < g.n_ifaces; i++)
				if (!strcmp(g.ifnames[i], optarg))
					start_fail(-EINVAL, "interface %s: given twice", optarg);
			g.ifnames[g.n_ifaces++] = optarg;
			break;
		case OPT_MODE:
			if (!strcmp(optarg, "auto"))
				g.mode = MODE_AUTO;
			else if (!strcmp(optarg, "native"))
				g.mode = COUIC_MODE_NATIVE;
			else if (!strcmp(optarg, "generic"))
				g.mode = COUIC_MODE_GENERIC;
			else
				start_fail(-EINVAL, "--mode %s: expected auto, native or generic", optarg);
			break;
		case OPT_PIN_DIR:
			g.pin_dir = optarg;
			break;
#define CAP(opt, field, max)							\
		case opt:							\
			if (!parse_u32(optarg, 1, max, &g.field))		\
				start_fail(-EINVAL, "--%s %s: expected 1..%u",	\
					   opts[opt - OPT_IFACE].name, optarg, max);	\
			break;
		CAP(OPT_DROP_EXACT, cap_drop_exact, MAX_CAPACITY)
		CAP(OPT_DROP_CIDR, cap_drop_cidr, MAX_CAPACITY)
		CAP(OPT_IGNORE_EXACT, cap_ignore_exact, MAX_CAPACITY)
		CAP(OPT_IGNORE_CIDR, cap_ignore_cidr, MAX_CAPACITY)
		CAP(OPT_MAX_TAGS, max_tags, MAX_TAGS_LIMIT)
#undef CAP
		case OPT_LPM_ONLY:
			g.lpm_only = true;
			break;
		case OPT_NO_BATCH:
			g.no_batch = true;
			break;
		case OPT_VERBOSE:
			g.verbose = true;
			break;
		case OPT_ABI:
			*abi = true;
			break;
		case OPT_UNPIN:
			*unpin = optarg;
			break;
		case OPT_HELP:
			usage(stderr);
			exit(0);
		default:
			start_fail(-EINVAL, "invalid argument %s (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		start_fail(-EINVAL, "unexpected argument %s (see --help)", argv[optind]);
}

static int serve(void)
{
	static __u8 *payload;
	struct couic_frame_hdr h;
	int err;

	payload = malloc(COUIC_MAX_PAYLOAD);
	if (!payload) {
		log_err("payload buffer: %s", strerror(ENOMEM));
		return 1;
	}
	for (;;) {
		err = read_full(&h, sizeof(h));
		if (err == 1 || err == -EINTR)
			return 0;
		if (err) {
			log_err("read stdin: %s", err == -EPIPE ? "frame cut short by end of input" :
				strerror(-err));
			return 0;
		}
		if (h.magic != COUIC_FRAME_MAGIC) {
			set_err("bad magic 0x%04x, expected 0x%04x", h.magic, COUIC_FRAME_MAGIC);
			log_err("%s", errmsg);
			h.id = 0;
			send_error(&h, -EPROTO);
			return 2;
		}
		if (h.len > COUIC_MAX_PAYLOAD) {
			err = read_full(NULL, h.len);
			if (err) {
				log_err("read stdin: %s", err == 1 || err == -EPIPE ?
				"frame cut short by end of input" : strerror(-err));
				return 0;
			}
			set_err("payload of %u bytes over the limit of %u", h.len, COUIC_MAX_PAYLOAD);
			send_error(&h, -EMSGSIZE);
			continue;
		}
		err = read_full(payload, h.len);
		if (err) {
			log_err("read stdin: %s", err == 1 || err == -EPIPE ?
				"frame cut short by end of input" : strerror(-err));
			return 0;
		}
		switch (h.type) {
		case COUIC_MSG_BATCH:
			handle_list(&h, payload, false);
			continue;
		case COUIC_MSG_REPLACE_CHUNK:
			handle_list(&h, payload, true);
			continue;
		case COUIC_MSG_TEST_RUN:
			handle_test_run(&h, payload);
			continue;
		case COUIC_MSG_TAG_RESET:
			handle_tag_reset(&h, payload);
			continue;
		case COUIC_MSG_REPLACE_BEGIN:
		case COUIC_MSG_REPLACE_END:
		case COUIC_MSG_DUMP:
		case COUIC_MSG_STATS:
		case COUIC_MSG_SHUTDOWN:
			if (h.len) {
				set_err("message type %u takes no payload, got %u bytes", h.type, h.len);
				send_error(&h, -EINVAL);
				continue;
			}
			break;
		default:
			set_err("unknown message type %u", h.type);
			send_error(&h, -EOPNOTSUPP);
			continue;
		}
		switch (h.type) {
		case COUIC_MSG_REPLACE_BEGIN:
			g.cfg.gen++;
			err = write_cfg();
			if (err) {
				g.cfg.gen--;	/* stays equal to the kernel's copy */
				set_err("couic_cfg: %s", strerror(-err));
				send_error(&h, err);
			} else {
				g.replace_active = true;
				send_frame(h.type, 0, h.id, 0, NULL, 0);
			}
			break;
		case COUIC_MSG_REPLACE_END:
			handle_replace_end(&h);
			break;
		case COUIC_MSG_DUMP:
			handle_dump(&h);
			break;
		case COUIC_MSG_STATS:
			handle_stats(&h);
			break;
		case COUIC_MSG_SHUTDOWN:
			/* reply once done: a daemon restarting on the reply must
			 * not find the pins half removed */
			if (h.flags & COUIC_FLAG_UNPIN) {
				int i;

				for (i = 0; i < g.n_ifaces; i++) {
					struct iface *ifc = &g.ifaces[i];

					err = 0;
					if (ifc->link_fd >= 0)
						err = bpf_link_detach(ifc->link_fd);
					else if (ifc->netlink)
						err = bpf_xdp_detach(ifc->ifindex, ifc->nl_flags, NULL);
					if (err)
						log_err("interface %s: detach: %s", ifc->name,
							strerror(-err));
					ifc->netlink = false;
				}
				if (g.pin_dir)
					unpin_dir(g.pin_dir, false, true);
			}
			send_frame(h.type, 0, h.id, 0, NULL, 0);
			return 0;
		}
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	const char *unpin = NULL;
	bool abi = false;
	int rc;

	signal(SIGPIPE, SIG_IGN);
	for (rc = 0; rc < (int)COUIC_MAX_IFACES; rc++)
		g.ifaces[rc].link_fd = -1;	/* cleanup() closes fds >= 0 */
	libbpf_set_print(libbpf_print);
	parse_args(argc, argv, &unpin, &abi);
	if (abi) {
		print_abi();
		return fflush(stdout) ? 1 : 0;
	}
	if (unpin) {
		struct stat st;

		if (stat(unpin, &st)) {
			int e = errno;	/* log_err's stdio may change errno */

			log_err("--unpin %s: %s", unpin, strerror(e));
			return e == ENOENT ? 0 : 1;
		}
		return unpin_dir(unpin, false, true) ? 1 : 0;
	}

	sigemptyset(&sa.sa_mask);
	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGTERM);
	sigaddset(&stop_sigs, SIGINT);
	if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL))
		start_fail(-errno, "sigaction: %s", strerror(errno));

	start();
	send_hello();
	rc = serve();
	cleanup();
	return rc;
}
