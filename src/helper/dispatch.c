// SPDX-License-Identifier: GPL-2.0
/* dispatch.c - the serve loop: reads a frame, checks its header and the
 * size of its payload against the one table below, calls the handler,
 * answers a request error.  Only a bad magic ends the conversation
 * (exit 2); every other bad frame gets an error reply. */
#include <errno.h>
#include <string.h>

#include "helper.h"

/* What a message's payload must look like before its handler runs. */
enum payload_shape {
	PAYLOAD_NONE,			/* len == 0 */
	PAYLOAD_LIST,			/* couic_list_hdr + count * rec_size */
	PAYLOAD_HEAD,			/* at least rec_size bytes; the handler checks the rest */
};

struct handler {
	int (*fn)(struct helper *h, const struct request *rq);
	enum payload_shape shape;
	size_t rec_size;		/* LIST: record size; HEAD: head size */
	const char *head_name;		/* HEAD: for "shorter than ..." */
};

static int handle_shutdown(struct helper *h, const struct request *rq);

/* Message type -> handler.  A type without a handler (HELLO included: only
 * the helper sends it) is answered -EOPNOTSUPP. */
static const struct handler handlers[] = {
	[COUIC_MSG_BATCH] = { handle_batch, PAYLOAD_LIST, sizeof(struct couic_op), NULL },
	[COUIC_MSG_REPLACE_BEGIN] = { handle_replace_begin, PAYLOAD_NONE, 0, NULL },
	[COUIC_MSG_REPLACE_CHUNK] = { handle_replace_chunk, PAYLOAD_LIST, sizeof(struct couic_op), NULL },
	[COUIC_MSG_REPLACE_END] = { handle_replace_end, PAYLOAD_NONE, 0, NULL },
	[COUIC_MSG_DUMP] = { handle_dump, PAYLOAD_NONE, 0, NULL },
	[COUIC_MSG_STATS] = { handle_stats, PAYLOAD_NONE, 0, NULL },
	[COUIC_MSG_TEST_RUN] = { handle_test_run, PAYLOAD_HEAD, sizeof(struct couic_test_req),
				 "a test request" },
	[COUIC_MSG_TAG_RESET] = { handle_tag_reset, PAYLOAD_LIST, sizeof(__u32), NULL },
	[COUIC_MSG_SHUTDOWN] = { handle_shutdown, PAYLOAD_NONE, 0, NULL },
};

/* SHUTDOWN: replies once done (a daemon restarting on the reply must not
 * find the pins half removed), then the helper exits 0. */
static int handle_shutdown(struct helper *h, const struct request *rq)
{
	if (rq->hdr->flags & COUIC_FLAG_UNPIN) {
		release_ifaces(h, RELEASE_DETACH_ALL);
		if (h->opt.pin_dir)
			unpin_dir(h, h->opt.pin_dir, UNPIN_ALL);
	}
	send_frame(&h->io, rq->hdr->type, 0, rq->hdr->id, 0, NULL, 0);
	return SERVE_STOP;
}

/* Checks the payload size of a list; sets rq->count.  Returns 0 or -errno. */
static int check_list(const struct couic_frame_hdr *fh, const __u8 *p, size_t rec_size,
		      __u32 *count)
{
	struct couic_list_hdr lh;

	if (fh->len < sizeof(lh)) {
		set_err("payload of %u bytes is shorter than a list header", fh->len);
		return -EINVAL;
	}
	memcpy(&lh, p, sizeof(lh));
	if (lh.count > COUIC_MAX_OPS) {
		set_err("list of %u records over the limit of %u", lh.count, COUIC_MAX_OPS);
		return -E2BIG;
	}
	if ((__u64)fh->len != sizeof(lh) + (__u64)lh.count * rec_size) {
		set_err("payload of %u bytes does not match %u records of %zu bytes",
			fh->len, lh.count, rec_size);
		return -EINVAL;
	}
	*count = lh.count;
	return 0;
}

/* Serves one frame whose payload was read.  Returns 0, SERVE_STOP, or the
 * write error that ends the conversation. */
static int dispatch(struct helper *h, const struct couic_frame_hdr *fh, const __u8 *payload)
{
	struct request rq = { .hdr = fh, .payload = payload };
	const struct handler *hd = NULL;
	int err = 0;

	if (fh->type < ARRAY_SIZE(handlers) && handlers[fh->type].fn)
		hd = &handlers[fh->type];
	if (!hd) {
		set_err("unknown message type %u", fh->type);
		err = -EOPNOTSUPP;
	} else if (hd->shape == PAYLOAD_NONE && fh->len) {
		set_err("message type %u takes no payload, got %u bytes", fh->type, fh->len);
		err = -EINVAL;
	} else if (hd->shape == PAYLOAD_HEAD && fh->len < hd->rec_size) {
		set_err("payload of %u bytes is shorter than %s", fh->len, hd->head_name);
		err = -EINVAL;
	} else if (hd->shape == PAYLOAD_LIST) {
		err = check_list(fh, payload, hd->rec_size, &rq.count);
	}
	if (!err)
		err = hd->fn(h, &rq);
	if (err < 0)
		send_error(&h->io, fh, err);
	if (h->io.write_err)
		return h->io.write_err;
	return err == SERVE_STOP ? SERVE_STOP : 0;
}

static void log_read_err(int err)
{
	log_err("read stdin: %s", err == 1 || err == -EPIPE ?
		"frame cut short by end of input" : strerror(-err));
}

/* Serves frames until EOF, a stop signal or SHUTDOWN (returns 0), a bad
 * magic (2) or a failed write (1). */
int serve(struct helper *h)
{
	struct couic_frame_hdr fh;
	int err;

	for (;;) {
		err = io_read(&h->io, &fh, sizeof(fh));
		if (err == 1 || err == -EINTR)
			return 0;
		if (err) {
			log_read_err(err);
			return 0;
		}
		if (fh.magic != COUIC_FRAME_MAGIC) {
			set_err("bad magic 0x%04x, expected 0x%04x", fh.magic, COUIC_FRAME_MAGIC);
			log_err("%s", errmsg);
			fh.id = 0;
			return send_error(&h->io, &fh, -EPROTO) ? 1 : 2;
		}
		if (fh.len > COUIC_MAX_PAYLOAD) {
			err = io_read(&h->io, NULL, fh.len);
			if (err) {
				log_read_err(err);
				return 0;
			}
			set_err("payload of %u bytes over the limit of %u", fh.len, COUIC_MAX_PAYLOAD);
			if (send_error(&h->io, &fh, -EMSGSIZE))
				return 1;
			continue;
		}
		err = io_read_payload(&h->io, fh.len);
		if (err) {
			log_read_err(err);
			return 0;
		}
		err = dispatch(h, &fh, h->io.payload);
		io_payload_done(&h->io, fh.len);
		if (err == SERVE_STOP)
			return 0;
		if (err)
			return 1;
	}
}
