/* SPDX-License-Identifier: GPL-2.0 */
/* helper.h - couic-helper's state and the interface of each of its
 * modules, one .c file per concern:
 *
 *   main.c      command line, the one start/cleanup path, exit codes
 *   load.c      start(): open the skeleton, size the maps, load, count the
 *               entries of a re-used pinned set, pin, attach
 *   probe.c     kernel features, probed by trying
 *   pin.c       bpffs pins: paths, checks of a pinned map, removal
 *   attach.c    XDP attach/detach of the interfaces
 *   hello.c     the HELLO frame (start report or start error)
 *   io.c        framed I/O on stdin/stdout, stop signals
 *   dispatch.c  the serve loop and the one table: message type -> handler
 *   keyset.c    the set of keys of each entry map
 *   maps.c      entry map operations: apply (update/delete), iterate, cfg
 *   batch.c     BATCH, REPLACE_BEGIN / REPLACE_CHUNK / REPLACE_END
 *   dump.c      DUMP
 *   stats.c     STATS, TAG_RESET
 *   testrun.c   TEST_RUN
 *   abi.c       --abi
 *   log.c       stderr, and the message of an error reply
 *   fuzz/       libFuzzer harness: the serve path (io, dispatch, keyset,
 *               maps, batch, dump, stats, testrun, log) on a fake kernel
 *               (`make fuzz`; not part of couic-helper)
 *
 * Every function that can fail returns 0 or -errno; a failing request
 * handler leaves its message in errmsg (set_err) for the error reply.
 */
#ifndef COUIC_HELPER_H
#define COUIC_HELPER_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "couic_proto.h"
#include "keyset.h"

#define ROUND_UP8(x) (((x) + 7u) & ~7u)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_TAGS_LIMIT (1u << 20)	/* --max-tags */
#define MAX_CAPACITY (1u << 28)		/* --drop-exact and the others */
#define MODE_AUTO 0u			/* --mode auto: native, else generic */
#define ITER_CHUNK 4096u		/* entries per batch lookup */

/* What the command line asked for; read-only once parsed. */
struct helper_opts {
	const char *ifnames[COUIC_MAX_IFACES];
	int n_ifaces;
	__u32 mode;			/* MODE_AUTO or COUIC_MODE_* */
	const char *pin_dir;		/* NULL: no pinning */
	__u32 cap_drop_exact, cap_drop_cidr, cap_ignore_exact, cap_ignore_cidr;
	__u32 max_tags;
	bool lpm_only;
	bool verbose;
	bool no_batch;
};

/* One entry map (a slot of enum couic_map_slot). */
struct entry_map {
	const char *name;
	struct bpf_map *map;
	int fd;
	__u32 key_size;
	__u32 capacity;
	__u32 count;			/* entries in the kernel map */
	bool lpm;
	bool batch;			/* batch calls work (turned off on refusal) */
	struct keyset set;
};

struct iface {
	char name[IF_NAMESIZE];
	int ifindex;
	__u32 mode;			/* COUIC_MODE_*, 0 while not attached */
	int link_fd;			/* -1: none */
	bool netlink;			/* attached without bpf_link */
	__u32 nl_flags;
};

/* Framed I/O: the input buffer, the reply buffer, the payload of the
 * current request. */
struct io {
	int in_fd, out_fd;
	__u8 rbuf[65536];
	size_t rpos, rlen;
	__u8 *out;			/* growable reply buffer */
	size_t out_cap;
	__u8 *payload;			/* COUIC_MAX_PAYLOAD bytes */
	int write_err;			/* first failed write to out_fd, sticky */
};

/* Working memory of the map operations, sized for COUIC_MAX_OPS records
 * (allocated once at start: a batch must not fail for want of memory
 * halfway). */
struct scratch {
	__u8 keys[COUIC_MAX_OPS * sizeof(struct couic_lpm_v6)];
	struct couic_entry_val vals[COUIC_MAX_OPS];
	__u32 bidx[COUIC_MAX_OPS];	/* record index of batch entry */
	__u32 bpos[COUIC_MAX_OPS];	/* run position of batch entry */
	__u8 fresh[COUIC_MAX_OPS];	/* key not in the set before this batch */
	__u32 order[COUIC_MAX_OPS];	/* records sorted by map, stable */
	__s8 slot[COUIC_MAX_OPS];	/* map slot of each record, -1 invalid */
	/* map_iterate: one batch lookup */
	__u8 iter_keys[ITER_CHUNK * sizeof(struct couic_lpm_v6)];
	struct couic_entry_val iter_vals[ITER_CHUNK];
	/* REPLACE_END: keys of stale entries of one map */
	__u8 *stale;
	size_t n_stale, stale_cap;
};

struct helper {
	struct helper_opts opt;
	struct io io;
	struct scratch *scratch;
	struct couic_bpf *skel;
	struct entry_map maps[COUIC_MAP_COUNT];
	int cfg_fd, xdp_stats_fd, parse_fd, tag_fd[2], prog_fd;
	struct couic_cfg cfg;		/* the kernel's copy of couic_cfg */
	__u32 features;			/* COUIC_FEAT_* */
	int ncpus;
	bool replace_active;		/* between REPLACE_BEGIN and REPLACE_END */
	struct iface ifaces[COUIC_MAX_IFACES];
};

/* log.c */
extern char errmsg[512];
__attribute__((format(printf, 1, 2))) void log_err(const char *fmt, ...);
__attribute__((format(printf, 1, 2))) void set_err(const char *fmt, ...);
__attribute__((format(printf, 2, 3))) int fail(int err, const char *fmt, ...);
void log_set_verbose(bool on);

/* io.c */
int io_init(struct io *io);
void io_free(struct io *io);
int stop_signals_install(void);
int io_read(struct io *io, void *dst, size_t n);
int io_read_payload(struct io *io, size_t len);
void io_payload_done(struct io *io, size_t len);
int send_frame(struct io *io, __u8 type, __u8 flags, __u32 id, __s32 status,
	       const void *payload, __u32 len);
int send_error(struct io *io, const struct couic_frame_hdr *req, int err);
void *out_reserve(struct io *io, size_t n);

/* dispatch.c */
#define SERVE_STOP 1			/* a handler's "stop serving" (SHUTDOWN) */
int serve(struct helper *h);

/* maps.c */
int write_cfg(struct helper *h);
int set_nonempty(struct helper *h, int slot, bool on);
int map_apply(struct entry_map *m, const void *keys, const struct couic_entry_val *vals,
	      __u32 *count);
typedef int (*iter_cb)(struct entry_map *m, const void *key,
		       const struct couic_entry_val *val, void *ctx);
int map_iterate(struct helper *h, struct entry_map *m, iter_cb cb, void *ctx);
__u8 err_status(struct entry_map *m, int err, const char *what);
int scratch_alloc(struct helper *h);
void scratch_free(struct helper *h);

/* Request handlers (batch.c, dump.c, stats.c, testrun.c, dispatch.c).
 * dispatch has checked the payload's size for the message type (`count`:
 * the records of a list payload).  A handler sends its own reply and
 * returns 0, or SERVE_STOP (SHUTDOWN), or a -errno that dispatch answers
 * as an error reply carrying errmsg. */
struct request {
	const struct couic_frame_hdr *hdr;
	const __u8 *payload;
	__u32 count;
};
int handle_batch(struct helper *h, const struct request *rq);
int handle_replace_begin(struct helper *h, const struct request *rq);
int handle_replace_chunk(struct helper *h, const struct request *rq);
int handle_replace_end(struct helper *h, const struct request *rq);
int handle_dump(struct helper *h, const struct request *rq);
int handle_stats(struct helper *h, const struct request *rq);
int handle_tag_reset(struct helper *h, const struct request *rq);
int handle_test_run(struct helper *h, const struct request *rq);

/* load.c */
int start(struct helper *h);
void stop(struct helper *h);

/* probe.c */
void probe_features(struct helper *h);

/* pin.c */
void pin_path(char *buf, size_t sz, const char *dir, const char *sub, const char *name);
int mkdir_p(const char *path);
int check_pinned(const struct helper *h, struct bpf_map *map, int fd, const char *path);
enum unpin {
	UNPIN_STALE_LINKS,		/* links of interfaces no longer configured */
	UNPIN_ALL,			/* every link (detached), every map, the dirs */
};
int unpin_dir(const struct helper *h, const char *dir, enum unpin what);

/* attach.c */
int attach_iface(struct helper *h, struct iface *ifc);
enum release { RELEASE_KEEP_PINNED, RELEASE_DETACH_ALL };
void release_ifaces(struct helper *h, enum release how);

/* hello.c */
int send_hello(struct helper *h);
int send_start_error(struct helper *h, int err);

/* abi.c */
int print_abi(void);

#endif /* COUIC_HELPER_H */
