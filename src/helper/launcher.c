// SPDX-License-Identifier: GPL-2.0
/* couic-launcher - the only long-lived couic process that keeps privilege.
 *
 *   couic-launcher -- COMMAND [ARGS...]      (COMMAND: the Node daemon)
 *
 * It starts COMMAND (the daemon) with the control channel as fd 3 and does
 * nothing else than, on the daemon's request, start couic-helper with its
 * stdin/stdout and stderr bound to connections to the daemon's helper socket,
 * report the helper's pid and exit status, and kill it on request. The
 * daemon holds no capability (docs/deploy.md, "Who holds what"):
 *   - run as root, the daemon starts as root, does its root-only setup and
 *     drops to couic.toml's user/group itself (the kernel then clears its
 *     capabilities);
 *   - run as another user with ambient capabilities (systemd
 *     AmbientCapabilities=), the daemon's capabilities are cleared here,
 *     before exec.
 * The helper keeps CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON (as root, its
 * bounding set is cut down to those). SIGTERM, SIGINT and SIGHUP are
 * forwarded to the daemon; the launcher exits with the daemon's status once
 * the daemon and its helpers are gone.
 *
 * libc only; functions return -errno; logs go to stderr. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/fsuid.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <libgen.h>

#include "launcher_proto.h"

#define MAX_HELPERS 4
#define MAX_ARGS 64
/* After the daemon exits, how long its helpers get to see EOF and exit. */
#define HELPER_GRACE_MS 10000

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

struct helper {
	uint32_t spawn_id;
	pid_t pid;
};

struct launcher {
	int ctl;		/* control channel to the daemon; -1 once closed */
	int sig;		/* signalfd */
	pid_t daemon;
	int daemon_status;	/* valid once daemon == 0 */
	bool configured;
	char config[LAUNCHER_MAX_PAYLOAD + 1];
	char *helper_path;
	char *socket_path;
	char *argv[MAX_ARGS + 2];
	struct helper helpers[MAX_HELPERS];
	uint8_t rbuf[LAUNCHER_HDR_LEN + LAUNCHER_MAX_PAYLOAD];
	size_t rlen;
};

static void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("couic-launcher: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---------------------------------------------------------------- */
/* Capabilities                                                       */
/* ---------------------------------------------------------------- */

static int cap_last(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int last = CAP_BPF;

	if (f) {
		if (fscanf(f, "%d", &last) != 1)
			last = CAP_BPF;
		fclose(f);
	}
	return last;
}

/* CapEff of this process (-errno when unreadable). */
static int read_capeff(uint64_t *mask)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "CapEff:", 7) == 0) {
			*mask = strtoull(line + 7, NULL, 16);
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}

static bool has_cap(uint64_t mask, int cap)
{
	return (mask >> cap) & 1;
}

/* What the helper needs (caps.ts says the same for the plain-root mode). */
static int check_helper_caps(void)
{
	uint64_t eff = 0;
	int err = read_capeff(&eff);
	bool sys_admin;

	if (err)
		return err;
	sys_admin = has_cap(eff, CAP_SYS_ADMIN);
	if ((!has_cap(eff, CAP_BPF) && !sys_admin) || (!has_cap(eff, CAP_PERFMON) && !sys_admin) ||
	    !has_cap(eff, CAP_NET_ADMIN))
		return -EPERM;
	return 0;
}

static bool helper_cap(int cap, int last)
{
	/* CAP_SYS_ADMIN only on kernels that know no CAP_BPF (before 5.8). */
	return cap == CAP_BPF || cap == CAP_PERFMON || cap == CAP_NET_ADMIN ||
	       (cap == CAP_SYS_ADMIN && last < CAP_BPF);
}

/* In the helper's child, as root: nothing beyond what the helper needs
 * survives its exec. */
static int limit_bounding_set(void)
{
	int last = cap_last();

	for (int cap = 0; cap <= last; cap++) {
		if (helper_cap(cap, last))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL)
			return -errno;
	}
	return 0;
}

/* In the daemon's child, when not root: no capability at all survives exec. */
static int clear_caps(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];

	memset(data, 0, sizeof(data));
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		return -errno;
	if (syscall(SYS_capset, &hdr, data))
		return -errno;
	return 0;
}

/* ---------------------------------------------------------------- */
/* Control channel                                                    */
/* ---------------------------------------------------------------- */

static void put_u32(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

static uint32_t get_u32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int send_msg(struct launcher *l, uint16_t type, uint32_t spawn_id, const void *payload, size_t len)
{
	uint8_t buf[LAUNCHER_HDR_LEN + LAUNCHER_MAX_PAYLOAD];
	size_t off = 0, total = LAUNCHER_HDR_LEN + len;

	if (l->ctl < 0)
		return -EPIPE;
	if (len > LAUNCHER_MAX_PAYLOAD)
		return -EMSGSIZE;
	put_u32(buf, LAUNCHER_MAGIC);
	buf[4] = type & 0xff;
	buf[5] = type >> 8;
	buf[6] = len & 0xff;
	buf[7] = len >> 8;
	put_u32(buf + 8, spawn_id);
	put_u32(buf + 12, 0);
	if (len)
		memcpy(buf + LAUNCHER_HDR_LEN, payload, len);
	while (off < total) {
		ssize_t n = send(l->ctl, buf + off, total - off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		off += n;
	}
	return 0;
}

static void send_text(struct launcher *l, uint16_t type, uint32_t spawn_id, int err, const char *text)
{
	uint8_t buf[LAUNCHER_MAX_PAYLOAD];
	size_t n = 0, tl = strlen(text);

	if (type == LMSG_SPAWN_FAILED) {
		put_u32(buf, (uint32_t)err);
		n = 4;
	}
	if (tl > sizeof(buf) - n)
		tl = sizeof(buf) - n;
	memcpy(buf + n, text, tl);
	send_msg(l, type, spawn_id, buf, n + tl);
}

/* The helper flags the launcher passes on; all but --lpm-only take a value. */
static const char *const VALUE_FLAGS[] = {
	"--iface", "--mode", "--pin-dir", "--drop-exact", "--drop-cidr",
	"--ignore-exact", "--ignore-cidr", "--max-tags", NULL,
};

static bool is_value_flag(const char *a)
{
	for (int i = 0; VALUE_FLAGS[i]; i++)
		if (strcmp(a, VALUE_FLAGS[i]) == 0)
			return true;
	return false;
}

static const char *check_executable(const char *path)
{
	struct stat st;

	if (path[0] != '/')
		return "the helper path is not absolute";
	if (stat(path, &st))
		return "the helper binary does not exist";
	if (!S_ISREG(st.st_mode) || access(path, X_OK))
		return "the helper is not an executable file";
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return "the helper binary is writable by its group or others";
	return NULL;
}

/* CONFIG: helper path, socket path, args. Returns NULL or why it is refused. */
static const char *on_config(struct launcher *l, const uint8_t *p, size_t len)
{
	char *s, *end;
	int n = 0;
	const char *why;

	if (l->configured)
		return "already configured";
	if (len == 0 || p[len - 1] != '\0')
		return "the payload does not end with NUL";
	memcpy(l->config, p, len);
	s = l->config;
	end = l->config + len;
	l->helper_path = s;
	s += strlen(s) + 1;
	if (s >= end)
		return "no helper socket path";
	l->socket_path = s;
	s += strlen(s) + 1;
	if (l->socket_path[0] != '/' || strlen(l->socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return "the helper socket path is not absolute or too long";
	why = check_executable(l->helper_path);
	if (why)
		return why;
	l->argv[n++] = l->helper_path;
	while (s < end) {
		bool takes_value;

		if (n >= MAX_ARGS)
			return "too many helper arguments";
		takes_value = is_value_flag(s);
		if (!takes_value && strcmp(s, "--lpm-only") != 0)
			return "a helper argument is not one of the accepted flags";
		l->argv[n++] = s;
		s += strlen(s) + 1;
		if (takes_value) {
			if (s >= end)
				return "a helper flag lacks its value";
			if (s[0] == '-' && strcmp(l->argv[n - 1], "--iface") != 0)
				return "a helper flag's value starts with -";
			l->argv[n++] = s;
			s += strlen(s) + 1;
		}
	}
	l->argv[n] = NULL;
	l->configured = true;
	return NULL;
}

/* connect(2) with the file identity of the socket directory's owner (the
 * daemon's user): root without CAP_DAC_OVERRIDE (the image) could not reach
 * the daemon's 0700 directory otherwise. Needs CAP_SETUID/CAP_SETGID; without
 * them the identity stays, and so does root's CAP_DAC_OVERRIDE if it has it. */
static int connect_as_owner(int fd, const struct sockaddr_un *addr, const char *path)
{
	char dir[sizeof(addr->sun_path)];
	struct stat st;
	int err = 0;
	bool switched = false;

	strcpy(dir, path);
	if (geteuid() == 0 && stat(dirname(dir), &st) == 0 && st.st_uid != 0) {
		setfsgid(st.st_gid);
		setfsuid(st.st_uid);
		switched = true;
	}
	if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)))
		err = -errno;
	if (switched) {
		setfsuid(0);
		setfsgid(0);
	}
	return err;
}

static int connect_helper_socket(const struct launcher *l, const uint8_t *nonce, uint8_t kind)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	uint8_t hdr[LAUNCHER_NONCE_LEN + 1];
	int fd, err = 0;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(addr.sun_path, l->socket_path);
	err = connect_as_owner(fd, &addr, l->socket_path);
	if (err)
		goto out;
	memcpy(hdr, nonce, LAUNCHER_NONCE_LEN);
	hdr[LAUNCHER_NONCE_LEN] = kind;
	if (send(fd, hdr, sizeof(hdr), MSG_NOSIGNAL) != (ssize_t)sizeof(hdr))
		err = errno ? -errno : -EIO;
out:
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

/* In the helper's child: never returns. */
static void exec_helper(const struct launcher *l, int io, int errfd)
{
	static char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	sigset_t none;
	int err;

	/* Own process group, as before: a Ctrl-C or a kill of the daemon's
	 * group does not stop the helper before the daemon has drained. */
	setpgid(0, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (dup2(io, 0) < 0 || dup2(io, 1) < 0 || dup2(errfd, 2) < 0)
		_exit(127);
	if (geteuid() == 0 && (err = limit_bounding_set())) {
		fprintf(stderr, "couic-launcher: cannot limit the helper's capabilities: %s\n", strerror(-err));
		_exit(127);
	}
	closefrom(3);
	execve(l->helper_path, l->argv, envp);
	fprintf(stderr, "couic-launcher: cannot run %s: %s\n", l->helper_path, strerror(errno));
	_exit(127);
}

static struct helper *find_helper(struct launcher *l, uint32_t spawn_id)
{
	for (int i = 0; i < MAX_HELPERS; i++)
		if (l->helpers[i].pid > 0 && l->helpers[i].spawn_id == spawn_id)
			return &l->helpers[i];
	return NULL;
}

static struct helper *free_slot(struct launcher *l)
{
	for (int i = 0; i < MAX_HELPERS; i++)
		if (l->helpers[i].pid == 0)
			return &l->helpers[i];
	return NULL;
}

static void on_spawn(struct launcher *l, uint32_t spawn_id, const uint8_t *p, size_t len)
{
	struct helper *slot;
	int io = -1, errfd = -1, err = 0;
	const char *why = NULL;
	uint8_t reply[4];
	pid_t pid;

	if (!l->configured) {
		err = -EINVAL;
		why = "SPAWN before CONFIG";
	} else if (spawn_id == 0 || len != LAUNCHER_NONCE_LEN) {
		err = -EINVAL;
		why = "SPAWN needs a spawn id and a 16-byte nonce";
	} else if (find_helper(l, spawn_id)) {
		err = -EEXIST;
		why = "this spawn id is running";
	} else if (!(slot = free_slot(l))) {
		err = -EBUSY;
		why = "too many helpers running";
	}
	if (err)
		goto out;
	io = connect_helper_socket(l, p, LCONN_IO);
	if (io < 0) {
		err = io;
		why = "cannot connect to the helper socket";
		goto out;
	}
	errfd = connect_helper_socket(l, p, LCONN_ERR);
	if (errfd < 0) {
		err = errfd;
		why = "cannot connect to the helper socket";
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		err = -errno;
		why = "fork failed";
		goto out;
	}
	if (pid == 0)
		exec_helper(l, io, errfd);
	slot->pid = pid;
	slot->spawn_id = spawn_id;
	put_u32(reply, (uint32_t)pid);
	send_msg(l, LMSG_SPAWNED, spawn_id, reply, sizeof(reply));
out:
	if (io >= 0)
		close(io);
	if (errfd >= 0)
		close(errfd);
	if (err) {
		char text[256];

		snprintf(text, sizeof(text), "%s: %s", why, strerror(-err));
		log_msg("spawn %u refused: %s", spawn_id, text);
		send_text(l, LMSG_SPAWN_FAILED, spawn_id, err, text);
	}
}

static void on_kill(struct launcher *l, uint32_t spawn_id, const uint8_t *p, size_t len)
{
	struct helper *h = find_helper(l, spawn_id);
	uint32_t sig;

	if (len != 4) {
		log_msg("KILL with a %zu-byte payload ignored", len);
		return;
	}
	sig = get_u32(p);
	if (sig != SIGTERM && sig != SIGKILL && sig != SIGINT) {
		log_msg("KILL with signal %u ignored (only SIGTERM, SIGKILL, SIGINT)", sig);
		return;
	}
	/* An unknown id is a helper that already exited (its EXITED is on the way). */
	if (h)
		kill(h->pid, (int)sig);
}

static void close_ctl(struct launcher *l)
{
	if (l->ctl >= 0)
		close(l->ctl);
	l->ctl = -1;
}

/* Handles every complete message in rbuf. A message that breaks the framing
 * closes the channel: nothing after it can be trusted. */
static void on_ctl_readable(struct launcher *l)
{
	ssize_t n = read(l->ctl, l->rbuf + l->rlen, sizeof(l->rbuf) - l->rlen);
	size_t off = 0;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close_ctl(l);
		return;
	}
	l->rlen += n;
	while (l->rlen - off >= LAUNCHER_HDR_LEN) {
		const uint8_t *h = l->rbuf + off;
		uint16_t type = h[4] | h[5] << 8, len = h[6] | h[7] << 8;
		uint32_t spawn_id = get_u32(h + 8);
		const char *why;

		if (get_u32(h) != LAUNCHER_MAGIC || get_u32(h + 12) != 0 || len > LAUNCHER_MAX_PAYLOAD) {
			log_msg("malformed control message: closing the control channel");
			close_ctl(l);
			return;
		}
		if (l->rlen - off < LAUNCHER_HDR_LEN + (size_t)len)
			break;
		switch (type) {
		case LMSG_CONFIG:
			why = on_config(l, h + LAUNCHER_HDR_LEN, len);
			if (why) {
				log_msg("CONFIG refused: %s", why);
				send_text(l, LMSG_CONFIG_FAILED, 0, 0, why);
			} else {
				send_msg(l, LMSG_CONFIG_OK, 0, NULL, 0);
			}
			break;
		case LMSG_SPAWN:
			on_spawn(l, spawn_id, h + LAUNCHER_HDR_LEN, len);
			break;
		case LMSG_KILL:
			on_kill(l, spawn_id, h + LAUNCHER_HDR_LEN, len);
			break;
		default:
			log_msg("unknown control message %u: closing the control channel", type);
			close_ctl(l);
			return;
		}
		off += LAUNCHER_HDR_LEN + len;
	}
	memmove(l->rbuf, l->rbuf + off, l->rlen - off);
	l->rlen -= off;
}

/* ---------------------------------------------------------------- */
/* Children and signals                                               */
/* ---------------------------------------------------------------- */

static bool helpers_running(const struct launcher *l)
{
	for (int i = 0; i < MAX_HELPERS; i++)
		if (l->helpers[i].pid > 0)
			return true;
	return false;
}

static void reap(struct launcher *l)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid == l->daemon) {
			l->daemon = 0;
			l->daemon_status = status;
			continue;
		}
		for (int i = 0; i < MAX_HELPERS; i++) {
			struct helper *h = &l->helpers[i];
			uint8_t p[12];

			if (h->pid != pid)
				continue;
			put_u32(p, (uint32_t)pid);
			put_u32(p + 4, WIFEXITED(status) ? (uint32_t)WEXITSTATUS(status) : (uint32_t)-1);
			put_u32(p + 8, WIFSIGNALED(status) ? (uint32_t)WTERMSIG(status) : 0);
			send_msg(l, LMSG_EXITED, h->spawn_id, p, sizeof(p));
			h->pid = 0;
			h->spawn_id = 0;
		}
	}
}

static void on_signal(struct launcher *l)
{
	struct signalfd_siginfo si;

	while (read(l->sig, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			reap(l);
		else if (l->daemon > 0 && kill(l->daemon, (int)si.ssi_signo))
			/* EPERM: root without CAP_KILL cannot signal the daemon's uid (the image needs --cap-add KILL). */
			log_msg("cannot forward signal %u to the daemon (pid %d): %s", si.ssi_signo, (int)l->daemon, strerror(errno));
	}
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the daemon's child: never returns. */
static void exec_daemon(int ctl, char **argv)
{
	sigset_t none;
	int err;

	/* Own process group: terminal signals reach the launcher only, which
	 * forwards them once. */
	setpgid(0, 0);
	if (geteuid() != 0 && (err = clear_caps())) {
		fprintf(stderr, "couic-launcher: cannot clear the daemon's capabilities: %s\n", strerror(-err));
		_exit(127);
	}
	if (dup2(ctl, LAUNCHER_FD) < 0)
		_exit(127);
	setenv("COUIC_LAUNCHER_FD", "3", 1);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execvp(argv[0], argv);
	fprintf(stderr, "couic-launcher: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static int run(struct launcher *l, char **argv)
{
	int64_t deadline = -1;

	for (;;) {
		struct pollfd fds[2] = { { .fd = l->sig, .events = POLLIN }, { .fd = l->ctl, .events = POLLIN } };
		int timeout = -1;

		if (l->daemon == 0) {
			/* The daemon is gone: its helpers see EOF and exit. */
			close_ctl(l);
			if (!helpers_running(l))
				break;
			if (deadline < 0)
				deadline = now_ms() + HELPER_GRACE_MS;
			if (now_ms() >= deadline) {
				for (int i = 0; i < MAX_HELPERS; i++)
					if (l->helpers[i].pid > 0)
						kill(l->helpers[i].pid, SIGKILL);
				deadline = now_ms() + HELPER_GRACE_MS;
			}
			timeout = (int)(deadline - now_ms());
		}
		if (poll(fds, l->ctl >= 0 ? 2 : 1, timeout) < 0 && errno != EINTR)
			return -errno;
		if (fds[0].revents & POLLIN)
			on_signal(l);
		if (l->ctl >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
			on_ctl_readable(l);
	}
	(void)argv;
	return 0;
}

int main(int argc, char **argv)
{
	static struct launcher l = { .ctl = -1, .sig = -1 };
	sigset_t mask;
	int sv[2] = { -1, -1 }, err = 0, code = 1;
	char **cmd;

	if (argc < 3 || strcmp(argv[1], "--") != 0) {
		fprintf(stderr, "usage: couic-launcher -- COMMAND [ARGS...]\n"
				"Starts COMMAND (the couic daemon) without privilege and couic-helper\n"
				"with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON on its request.\n");
		return 2;
	}
	cmd = argv + 2;
	err = check_helper_caps();
	if (err) {
		/* Without them no helper can run: the daemon is run as it is,
		 * without the channel, which answers --version and --help and
		 * otherwise refuses to start for the same capabilities. */
		log_msg("couic-helper needs CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN (or CAP_SYS_ADMIN) in "
			"the launcher's effective set: run it as root or grant them (systemd "
			"AmbientCapabilities=CAP_BPF CAP_PERFMON CAP_NET_ADMIN)%s%s; running %s without the launcher",
			err == -EPERM ? "" : ": ", err == -EPERM ? "" : strerror(-err), cmd[0]);
		execvp(cmd[0], cmd);
		log_msg("cannot run %s: %s", cmd[0], strerror(errno));
		code = 127;
		goto out;
	}
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL)) {
		err = -errno;
		goto fail;
	}
	l.sig = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (l.sig < 0) {
		err = -errno;
		goto fail;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		err = -errno;
		goto fail;
	}
	l.daemon = fork();
	if (l.daemon < 0) {
		err = -errno;
		goto fail;
	}
	if (l.daemon == 0)
		exec_daemon(sv[1], cmd);
	close(sv[1]);
	sv[1] = -1;
	l.ctl = sv[0];
	sv[0] = -1;
	err = run(&l, cmd);
	if (err)
		goto fail;
	if (WIFEXITED(l.daemon_status))
		code = WEXITSTATUS(l.daemon_status);
	else
		code = 128 + WTERMSIG(l.daemon_status);
	goto out;
fail:
	log_msg("%s", strerror(-err));
	code = 1;
out:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	close_ctl(&l);
	if (l.sig >= 0)
		close(l.sig);
	return code;
}
