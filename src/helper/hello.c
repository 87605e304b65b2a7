// SPDX-License-Identifier: GPL-2.0
/* hello.c - the HELLO frame, the helper's first and unsolicited one (id 0):
 * what was loaded and attached, or (status < 0) why the start failed. */
#include <stdio.h>
#include <string.h>

#include "helper.h"

int send_hello(struct helper *h)
{
	struct couic_hello hello = {
		.proto_version = COUIC_PROTO_VERSION,
		.features = h->features,
		.ncpus = h->ncpus,
		.max_tags = h->opt.max_tags,
		.n_ifaces = h->opt.n_ifaces,
	};
	__u8 buf[sizeof(hello) + COUIC_MAX_IFACES * sizeof(struct couic_iface)];
	int i;

	for (i = 0; i < COUIC_MAP_COUNT; i++) {
		hello.capacity[i] = h->maps[i].capacity;
		hello.count[i] = h->maps[i].count;
	}
	memcpy(buf, &hello, sizeof(hello));
	for (i = 0; i < h->opt.n_ifaces; i++) {
		struct couic_iface ci = { 0 };

		ci.ifindex = h->ifaces[i].ifindex;
		ci.mode = h->ifaces[i].mode;
		snprintf(ci.name, sizeof(ci.name), "%s", h->ifaces[i].name);
		memcpy(buf + sizeof(hello) + i * sizeof(ci), &ci, sizeof(ci));
	}
	return send_frame(&h->io, COUIC_MSG_HELLO, 0, 0, 0, buf,
			  sizeof(hello) + h->opt.n_ifaces * sizeof(struct couic_iface));
}

/* The start failed with err; errmsg says why (fail()). */
int send_start_error(struct helper *h, int err)
{
	log_err("%s", errmsg);
	return send_frame(&h->io, COUIC_MSG_HELLO, 0, 0, err, errmsg, strlen(errmsg));
}
