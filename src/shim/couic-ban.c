// SPDX-License-Identifier: GPL-2.0
/*
 * couic-ban: the tiny client fail2ban's couic action runs once per ban.
 *
 *   couic-ban [-s SOCKET] [-k TOKEN_FILE] [-t TIMEOUT] [-b BANSTART]
 *             ban|prolong OWNER IP BANTIME
 *   couic-ban [options] unban OWNER IP
 *   couic-ban [options] flush|check OWNER
 *
 * It validates its arguments locally (a hostname, `a;b`, `None`, a zone id,
 * a bad prefix or bantime, a ban wider than /8 (IPv4) or /16 (IPv6):
 * message on stderr, exit 2, no request), reads the
 * token from the client file's `token = "…"` line, sends ONE HTTP/1.1
 * request over the daemon's Unix socket (Connection: close) and exits 0 on a
 * 2xx answer, 1 otherwise with the daemon's message on stderr.
 *
 *   ban, prolong  POST   /v1/bans/OWNER  {"cidr":"IP/LEN","expiration":E}
 *   unban         DELETE /v1/bans/OWNER/IP/LEN
 *   flush         DELETE /v1/bans/OWNER
 *   check         GET    /v1/bans/OWNER  (the daemon answers; body ignored)
 *
 * Expiration: E = round(BANSTART) + BANTIME with BANSTART = now unless -b
 * gives fail2ban's <time> (rounded as fail2ban's database does, so a
 * restored ban gets the very same expiration), and at least now + 2 (the daemon wants it in the
 * future, and the request may cross a second boundary); a negative BANTIME (fail2ban's -1) means permanent, E = 0.
 * TIMEOUT (-t) bounds the whole call: milliseconds, or seconds with an `s`
 * suffix (default 5000 ms); a dead or stuck daemon fails within it.
 *
 * libc only: no libbpf, no allocation beyond a few fixed buffers.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_SOCKET "/run/couic/couic.sock"
#define DEFAULT_TOKEN_FILE "/var/lib/couic/rbac/clients/couicctl.toml"
#define DEFAULT_TIMEOUT_MS 5000L

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

static const char *prog = "couic-ban";
static char timeout_msg[512];

static void usage_fail(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_USAGE);
}

static void fail(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_FAIL);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: %s [-s SOCKET] [-k TOKEN_FILE] [-t TIMEOUT_MS|SECONDSs] [-b BANSTART]\n"
		"           ban|prolong OWNER IP[/LEN] BANTIME\n"
		"       %s [options] unban OWNER IP[/LEN]\n"
		"       %s [options] flush|check OWNER\n"
		"defaults: -s " DEFAULT_SOCKET " -k " DEFAULT_TOKEN_FILE " -t 5000\n",
		prog, prog, prog);
	exit(EXIT_USAGE);
}

static void on_alarm(int sig)
{
	(void)sig;
	ssize_t r = write(STDERR_FILENO, timeout_msg, strlen(timeout_msg));
	(void)r;
	_exit(EXIT_FAIL);
}

/* Owner = a Couic tag (spec §1.6): 1..64 bytes of [A-Za-z0-9_-], not "untagged". */
static void check_owner(const char *o)
{
	size_t n = strlen(o);
	if (n == 0 || n > 64)
		usage_fail("invalid owner '%s': 1 to 64 characters", o);
	for (size_t i = 0; i < n; i++) {
		char c = o[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_'))
			usage_fail("invalid owner '%s': only letters, digits, '-' and '_'", o);
	}
	if (strcasecmp(o, "untagged") == 0)
		usage_fail("invalid owner '%s': reserved", o);
}

struct net {
	int family;
	unsigned char addr[16];
	unsigned len;
	char text[INET6_ADDRSTRLEN];
};

/* IP or IP/LEN; host bits zeroed; a clear message and exit 2 otherwise. */
static void parse_ip(const char *arg, struct net *n)
{
	char buf[INET6_ADDRSTRLEN + 8];
	size_t alen = strlen(arg);
	if (alen == 0 || alen >= sizeof(buf))
		usage_fail("invalid IP address '%s'", arg);
	memcpy(buf, arg, alen + 1);
	char *slash = strchr(buf, '/');
	const char *plen = NULL;
	if (slash) {
		*slash = '\0';
		plen = slash + 1;
	}
	if (inet_pton(AF_INET, buf, n->addr) == 1) {
		n->family = AF_INET;
		n->len = 32;
	} else if (inet_pton(AF_INET6, buf, n->addr) == 1) {
		n->family = AF_INET6;
		n->len = 128;
	} else {
		usage_fail("invalid IP address '%s' (not an IPv4/IPv6 address or CIDR)", arg);
	}
	if (plen) {
		size_t k = strlen(plen);
		if (k == 0 || k > 3 || strspn(plen, "0123456789") != k)
			usage_fail("invalid prefix length in '%s'", arg);
		unsigned v = (unsigned)atoi(plen);
		if (v > n->len)
			usage_fail("invalid prefix length in '%s' (at most %u)", arg, n->len);
		n->len = v;
	}
	unsigned bytes = n->family == AF_INET ? 4 : 16;
	for (unsigned i = 0; i < bytes; i++) {
		unsigned lo = i * 8;
		if (lo >= n->len)
			n->addr[i] = 0;
		else if (lo + 8 > n->len)
			n->addr[i] &= (unsigned char)(0xff << (8 - (n->len - lo)));
	}
	if (!inet_ntop(n->family, n->addr, n->text, sizeof(n->text)))
		usage_fail("invalid IP address '%s'", arg);
}

/* Python's round() (fail2ban's database stores int(round(<time>))); no libm. */
static double round_half_even(double x)
{
	double f = (double)(long long)x; /* x >= 0 here */
	double d = x - f;
	if (d > 0.5 || (d == 0.5 && ((long long)f & 1)))
		f += 1;
	return f;
}

/* A decimal number (fail2ban's <bantime> is an int, <time> a float). */
static double parse_number(const char *what, const char *s, int allow_negative)
{
	const char *p = s;
	if (*p == '-' && allow_negative)
		p++;
	size_t d = strspn(p, "0123456789");
	if (d == 0 || d > 15)
		usage_fail("invalid %s '%s'", what, s);
	p += d;
	if (*p == '.') {
		p++;
		p += strspn(p, "0123456789");
	}
	if (*p != '\0')
		usage_fail("invalid %s '%s'", what, s);
	return strtod(s, NULL);
}

static long parse_timeout(const char *s)
{
	size_t k = strlen(s);
	if (k > 1 && s[k - 1] == 's') {
		char b[32];
		if (k >= sizeof(b))
			usage_fail("invalid timeout '%s'", s);
		memcpy(b, s, k - 1);
		b[k - 1] = '\0';
		double v = parse_number("timeout", b, 0);
		long ms = (long)(v * 1000.0);
		if (ms < 1 || ms > 3600000)
			usage_fail("invalid timeout '%s'", s);
		return ms;
	}
	double v = parse_number("timeout", s, 0);
	if (v < 1 || v > 3600000)
		usage_fail("invalid timeout '%s' (milliseconds, 1 to 3600000)", s);
	return (long)v;
}

/* token = "…" from the client file (Couic's client TOML). */
static void read_token(const char *path, char *out, size_t outsz)
{
	char buf[4096];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail("cannot read client file %s: %s", path, strerror(errno));
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		fail("cannot read client file %s: %s", path, strerror(e));
	buf[n] = '\0';
	for (char *line = buf; line && *line; ) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		char *p = line + strspn(line, " \t");
		if (strncmp(p, "token", 5) == 0) {
			p += 5;
			p += strspn(p, " \t");
			if (*p == '=') {
				p++;
				p += strspn(p, " \t");
				char q = *p;
				if (q == '"' || q == '\'') {
					char *end = strchr(p + 1, q);
					size_t len = end ? (size_t)(end - p - 1) : 0;
					if (end && len > 0 && len < outsz) {
						memcpy(out, p + 1, len);
						out[len] = '\0';
						for (size_t i = 0; i < len; i++)
							if (!((out[i] >= '0' && out[i] <= '9') || (out[i] >= 'a' && out[i] <= 'z') ||
							      (out[i] >= 'A' && out[i] <= 'Z') || out[i] == '-' || out[i] == '{' ||
							      out[i] == '}' || out[i] == ':'))
								fail("bad token in client file %s", path);
						return;
					}
				}
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	fail("no 'token = \"…\"' line in client file %s", path);
}

static void write_all(int fd, const char *p, size_t n, const char *sock)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			fail("cannot send to %s: %s", sock, strerror(errno));
		}
		p += w;
		n -= (size_t)w;
	}
}

/* The message of a JSON error body, or the body itself, on one line. */
static void report_error(int status, char *body, const char *method, const char *path)
{
	for (char *p = body; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	size_t n = strlen(body);
	while (n > 0 && body[n - 1] == ' ')
		body[--n] = '\0';
	if (n > 600)
		strcpy(body + 597, "...");
	fprintf(stderr, "%s: %s %s: HTTP %d%s%s\n", prog, method, path, status, n ? ": " : "", body);
	exit(EXIT_FAIL);
}

/*
 * Length of a response (head + body) from its head in `resp` (NUL-ended):
 * -1 while the head is incomplete or has no valid Content-Length. A 204 or
 * 304 ends with its head (RFC 9112 §6.3; the daemon sends no
 * Content-Length with them).
 */
static long long response_length(const char *resp)
{
	const char *end = strstr(resp, "\r\n\r\n");
	if (!end)
		return -1;
	long long head = (long long)(end + 4 - resp);
	int status = 0;
	if (sscanf(resp, "HTTP/1.%*d %d", &status) == 1 && (status == 204 || status == 304))
		return head;
	for (const char *line = strstr(resp, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
		static const char name[] = "content-length:";
		if (strncasecmp(line + 2, name, sizeof(name) - 1))
			continue;
		/* 1*DIGIT between optional blanks: strtoll alone would take a
		 * sign, or skip an empty value's CRLF into the next line */
		const char *v = line + 2 + sizeof(name) - 1;
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v < '0' || *v > '9')
			return -1;
		char *stop;
		errno = 0;
		long long n = strtoll(v, &stop, 10);
		while (*stop == ' ' || *stop == '\t')
			stop++;
		if (errno || n > LLONG_MAX - head || *stop != '\r')
			return -1;
		return head + n;
	}
	return -1;
}

int main(int argc, char **argv)
{
	const char *sock = DEFAULT_SOCKET;
	const char *token_file = DEFAULT_TOKEN_FILE;
	long timeout_ms = DEFAULT_TIMEOUT_MS;
	const char *banstart = NULL;
	int opt;

	while ((opt = getopt(argc, argv, "+s:k:t:b:h")) != -1) {
		switch (opt) {
		case 's': sock = optarg; break;
		case 'k': token_file = optarg; break;
		case 't': timeout_ms = parse_timeout(optarg); break;
		case 'b': banstart = optarg; break;
		default: usage();
		}
	}
	int nargs = argc - optind;
	if (nargs < 2)
		usage();
	const char *cmd = argv[optind];
	const char *owner = argv[optind + 1];
	int want;
	if (!strcmp(cmd, "ban") || !strcmp(cmd, "prolong"))
		want = 4;
	else if (!strcmp(cmd, "unban"))
		want = 3;
	else if (!strcmp(cmd, "flush") || !strcmp(cmd, "check"))
		want = 2;
	else
		usage_fail("unknown command '%s' (ban, unban, flush, prolong, check)", cmd);
	if (nargs != want)
		usage_fail("'%s' takes %d argument%s", cmd, want - 1, want == 2 ? "" : "s");
	check_owner(owner);

	struct net n = {0};
	if (want >= 3)
		parse_ip(argv[optind + 2], &n);
	/* a jail must never ban the whole Internet (the daemon refuses it too) */
	if (want == 4 && n.len < (n.family == AF_INET ? 8u : 16u))
		usage_fail("prefix /%u is too wide for a ban: at least /8 (IPv4) or /16 (IPv6)", n.len);
	unsigned long long expiration = 0;
	if (want == 4) {
		double bantime = parse_number("bantime", argv[optind + 3], 1);
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		double start = banstart ? parse_number("ban start time", banstart, 0) : (double)now.tv_sec;
		if (bantime < 0) {
			expiration = 0;
		} else {
			/* fail2ban stores round(<time>) in its database: the same end after a restore */
			double e = round_half_even(start) + (double)(long long)bantime;
			if ((double)(long long)bantime < bantime)
				e += 1; /* a fractional bantime rounds up */
			/* now + 2, like couic.py: a ban about to end must not cross
			 * a second boundary on its way and arrive in the past (422) */
			if (e < (double)now.tv_sec + 2)
				e = (double)now.tv_sec + 2;
			expiration = (unsigned long long)e;
		}
	}

	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(sock) >= sizeof(sa.sun_path))
		usage_fail("socket path too long: %s", sock);
	strcpy(sa.sun_path, sock);

	char token[128];
	read_token(token_file, token, sizeof(token));

	char path[256];
	char body[256];
	const char *method;
	body[0] = '\0';
	if (want == 4) {
		method = "POST";
		snprintf(path, sizeof(path), "/v1/bans/%s", owner);
		snprintf(body, sizeof(body), "{\"cidr\":\"%s/%u\",\"expiration\":%llu}", n.text, n.len, expiration);
	} else if (want == 3) {
		method = "DELETE";
		snprintf(path, sizeof(path), "/v1/bans/%s/%s/%u", owner, n.text, n.len);
	} else {
		method = !strcmp(cmd, "flush") ? "DELETE" : "GET";
		snprintf(path, sizeof(path), "/v1/bans/%s", owner);
	}

	/* from here on, the whole exchange is bounded by the timeout */
	snprintf(timeout_msg, sizeof(timeout_msg), "%s: %s %s: no answer from %s within %ld ms\n", prog, method, path,
		 sock, timeout_ms);
	struct sigaction act = {0};
	act.sa_handler = on_alarm;
	sigaction(SIGALRM, &act, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct itimerval it = {0};
	it.it_value.tv_sec = timeout_ms / 1000;
	it.it_value.tv_usec = (timeout_ms % 1000) * 1000;
	setitimer(ITIMER_REAL, &it, NULL);

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fail("socket: %s", strerror(errno));
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		fail("cannot connect to %s: %s (is the couic daemon running?)", sock, strerror(errno));
	}

	char req[1024];
	size_t blen = strlen(body);
	int rl;
	if (blen)
		rl = snprintf(req, sizeof(req),
			      "%s %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: couic-ban/1.0\r\n"
			      "Authorization: Bearer %s\r\nAccept: application/json\r\nConnection: close\r\n"
			      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
			      method, path, token, blen, body);
	else
		rl = snprintf(req, sizeof(req),
			      "%s %s HTTP/1.1\r\nHost: localhost\r\nUser-Agent: couic-ban/1.0\r\n"
			      "Authorization: Bearer %s\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
			      method, path, token);
	if (rl < 0 || (size_t)rl >= sizeof(req))
		fail("request too long");
	write_all(fd, req, (size_t)rl, sock);

	/* Read until the Content-Length body is in (not until EOF: the daemon
	 * closes its end a few event-loop turns after the answer, time every
	 * ban would wait for), or to EOF without one. Keep the first 64 KiB:
	 * enough for the head and a message. */
	static char resp[65536];
	size_t got = 0;
	long long seen = 0;   /* bytes read, kept or not */
	long long total = -1; /* head + body length, once the head is in */
	for (;;) {
		char sink[16384];
		int keep = got < sizeof(resp) - 1;
		ssize_t r = keep ? read(fd, resp + got, sizeof(resp) - 1 - got) : read(fd, sink, sizeof(sink));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECONNRESET && got > 0)
				break;
			fail("%s %s: read from %s: %s", method, path, sock, strerror(errno));
		}
		if (r == 0)
			break;
		seen += r;
		if (keep) {
			got += (size_t)r;
			resp[got] = '\0';
			if (total < 0)
				total = response_length(resp);
		}
		if (total >= 0 && seen >= total)
			break;
	}
	close(fd);
	resp[got] = '\0';
	int status = 0;
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
		fail("%s %s: no HTTP answer from %s%s", method, path, sock, got ? " (malformed response)" : " (connection closed)");
	if (status >= 200 && status < 300)
		return EXIT_OK;
	char *head_end = strstr(resp, "\r\n\r\n");
	report_error(status, head_end ? head_end + 4 : (char *)"", method, path);
	return EXIT_FAIL;
}
