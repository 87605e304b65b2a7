// SPDX-License-Identifier: GPL-2.0
/* testrun.c - TEST_RUN: one packet through the loaded program
 * (BPF_PROG_TEST_RUN), against the live maps, at most COUIC_MAX_REPEAT
 * times per request (0 means once). */
#include <errno.h>
#include <string.h>

#include <bpf/bpf.h>

#include "helper.h"

int handle_test_run(struct helper *h, const struct request *rq)
{
	const struct couic_frame_hdr *fh = rq->hdr;
	struct couic_test_result res = { 0 };
	struct couic_test_req req;
	int err;

	memcpy(&req, rq->payload, sizeof(req));	/* size checked by dispatch */
	if (req.len < 1 || req.len > COUIC_MAX_PKT) {
		set_err("packet length %u out of 1..%u", req.len, COUIC_MAX_PKT);
		return -EINVAL;
	}
	if (fh->len != sizeof(req) + req.len) {
		set_err("payload of %u bytes does not match a %u-byte packet", fh->len, req.len);
		return -EINVAL;
	}
	if (req.repeat > COUIC_MAX_REPEAT) {
		set_err("repeat %u over the limit of %u", req.repeat, COUIC_MAX_REPEAT);
		return -EINVAL;
	}
	{
		LIBBPF_OPTS(bpf_test_run_opts, t,
			    .data_in = rq->payload + sizeof(req),
			    .data_size_in = req.len,
			    .repeat = req.repeat ? req.repeat : 1);

		err = bpf_prog_test_run_opts(h->prog_fd, &t);
		if (err) {
			set_err("test run: %s", strerror(-err));
			return err;
		}
		res.retval = t.retval;
		res.duration_ns = t.duration;
	}
	send_frame(&h->io, fh->type, 0, fh->id, 0, &res, sizeof(res));
	return 0;
}
