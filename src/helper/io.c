// SPDX-License-Identifier: GPL-2.0
/* io.c - framed I/O: buffered reads of stdin that survive partial reads
 * and wake up on a stop signal, frame writes to stdout, error replies. */
#define _GNU_SOURCE			/* ppoll */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "helper.h"

/* Under ASan (the fuzz build) the payload buffer is poisoned but for the
 * bytes of the frame being served: a handler that reads past the payload
 * it was given gets a report, not a silent read of an earlier frame. */
#if defined(__SANITIZE_ADDRESS__)
#define COUIC_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COUIC_ASAN 1
#endif
#endif
#ifdef COUIC_ASAN
#include <sanitizer/asan_interface.h>
#define PAYLOAD_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define PAYLOAD_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define PAYLOAD_POISON(p, n) ((void)(p), (void)(n))
#define PAYLOAD_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

static volatile sig_atomic_t stop_signal;
static sigset_t stop_sigs;		/* SIGTERM, SIGINT */

static void on_signal(int sig)
{
	stop_signal = sig;
}

int stop_signals_install(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	sigemptyset(&sa.sa_mask);
	sigemptyset(&stop_sigs);
	sigaddset(&stop_sigs, SIGTERM);
	sigaddset(&stop_sigs, SIGINT);
	if (sigaction(SIGTERM, &sa, NULL) || sigaction(SIGINT, &sa, NULL))
		return fail(-errno, "sigaction: %s", strerror(errno));
	return 0;
}

/* Allocates the payload buffer (in_fd and out_fd are set by the owner). */
int io_init(struct io *io)
{
	io->payload = malloc(COUIC_MAX_PAYLOAD);
	if (!io->payload)
		return fail(-ENOMEM, "payload buffer: %s", strerror(ENOMEM));
	PAYLOAD_POISON(io->payload, COUIC_MAX_PAYLOAD);
	return 0;
}

/* Reads the len payload bytes of a frame (len <= COUIC_MAX_PAYLOAD) into
 * io->payload, where they stay valid until io_payload_done(). */
int io_read_payload(struct io *io, size_t len)
{
	int err;

	PAYLOAD_UNPOISON(io->payload, len);
	err = io_read(io, io->payload, len);
	if (err)
		PAYLOAD_POISON(io->payload, len);
	return err;
}

void io_payload_done(struct io *io, size_t len)
{
	PAYLOAD_POISON(io->payload, len);
}

void io_free(struct io *io)
{
	if (io->payload)
		PAYLOAD_UNPOISON(io->payload, COUIC_MAX_PAYLOAD);
	free(io->payload);
	free(io->out);
	io->payload = NULL;
	io->out = NULL;
	io->out_cap = 0;
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

/* Writes one frame.  A failed write is fatal for the conversation: it is
 * logged once, kept in io->write_err (the serve loop stops on it, the
 * helper exits 1), and every later frame is dropped. */
int send_frame(struct io *io, __u8 type, __u8 flags, __u32 id, __s32 status,
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

	if (io->write_err)
		return io->write_err;
	err = write_iov(io->out_fd, iov, len ? 2 : 1);
	if (err) {
		log_err("write to stdout: %s", strerror(-err));
		io->write_err = err;
	}
	return err;
}

/* Error reply: status -errno, errmsg (or strerror) as payload. */
int send_error(struct io *io, const struct couic_frame_hdr *req, int err)
{
	int r;

	if (!errmsg[0])
		snprintf(errmsg, sizeof(errmsg), "%s", strerror(-err));
	r = send_frame(io, req->type, 0, req->id, err, errmsg, strlen(errmsg));
	errmsg[0] = 0;
	return r;
}

/* The reply buffer, grown to at least n bytes; NULL when out of memory. */
void *out_reserve(struct io *io, size_t n)
{
	if (n > io->out_cap) {
		size_t cap = io->out_cap ? io->out_cap : 65536;
		void *p;

		while (cap < n)
			cap *= 2;
		p = realloc(io->out, cap);
		if (!p)
			return NULL;
		io->out = p;
		io->out_cap = cap;
	}
	return io->out;
}

/* ------------------------------------------------------------------ */
/* Input                                                                */
/* ------------------------------------------------------------------ */

/* Waits until the input is readable (or at EOF).  The stop signals are
 * blocked from the test of stop_signal until ppoll() atomically unblocks
 * them, so a SIGTERM arriving just before the wait cannot be missed (a
 * plain `if (stop_signal) ...; read()` sleeps through it until more input
 * comes).  Returns 0, -EINTR on a stop signal, or -errno. */
static int wait_input(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
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

/* Reads exactly n bytes into dst (NULL: discard).  Returns 0, 1 on EOF
 * before the first byte, -EPIPE on EOF in the middle, -EINTR on a stop
 * signal, or -errno. */
int io_read(struct io *io, void *dst, size_t n)
{
	__u8 *d = dst;
	size_t got = 0;
	int err;

	while (got < n) {
		size_t avail = io->rlen - io->rpos;
		ssize_t r;

		if (avail) {
			size_t take = avail < n - got ? avail : n - got;

			if (d)
				memcpy(d + got, io->rbuf + io->rpos, take);
			io->rpos += take;
			got += take;
			continue;
		}
		err = wait_input(io->in_fd);
		if (err)
			return err;
		/* a large read goes straight to its destination */
		if (d && n - got >= sizeof(io->rbuf))
			r = read(io->in_fd, d + got, n - got);
		else
			r = read(io->in_fd, io->rbuf, sizeof(io->rbuf));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return got ? -EPIPE : 1;
		if (d && n - got >= sizeof(io->rbuf)) {
			got += r;
		} else {
			io->rpos = 0;
			io->rlen = r;
		}
	}
	return 0;
}
