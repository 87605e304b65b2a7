// SPDX-License-Identifier: GPL-2.0
/*
 * couicctl, native front: runs the plain entry commands fail2ban's seed
 * action uses (`drop|ignore add|delete|inspect|list` with -t, -e, --json,
 * -q, -c) without starting Node, and hands every other command line to the
 * Node CLI (`couicctl-node` beside this executable) with execv, unchanged.
 *
 * What it runs itself prints what the Node CLI prints, byte for byte, with
 * the same exit codes (test/cli/native.test.ts runs both on one table of
 * requests). To keep that promise cheaply it takes only what the Node CLI's
 * fast path (src/cli/fast.ts) takes, and hands over whenever the outcome
 * would be one of the Node CLI's own messages that are costly to mirror and
 * nothing has been sent yet:
 *
 *   - a command line fast.ts would leave to yargs (help, unknown or repeated
 *     flag, bad CIDR or tag: usage errors, exit 2);
 *   - a config or client file that is not the flat `key = value` TOML of
 *     config.ts's parseSimpleToml, or does not validate (`Error: Config(…)`),
 *     remote mode (TLS), a missing Unix socket;
 *   - a connect() failure (daemon down): Node reports it with its own errno
 *     text, and a retry through Node costs only on that failure path;
 *   - COUICCTL_NO_FAST_PATH set (the Node CLI then takes its slow path too).
 *
 * Once the request is sent everything is reported here, as the Node CLI
 * does: the API error envelope (`Error executing command: Couic error: API
 * error: …`, exit code from couicctl_errors.h, the mirror of src/errors.ts),
 * transport errors after the request, the 5 s timeout.
 *
 * libc only, like couic-ban.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "couicctl_errors.h"

/* src/cli/config.ts */
#define DEFAULT_CONFIG_PATH "/etc/couic/couicctl.toml"
#define DEFAULT_SOCKET "/run/couic/couic.sock"
#define DEFAULT_CLIENT_FILE "/var/lib/couic/rbac/clients/couicctl.toml"
/* src/cli/http.ts */
#define USER_AGENT "CouicClient/1.0.0"
#define TIMEOUT_MS 5000
/* src/domain/rules.ts */
#define TAG_MAX_BYTES 64
#define SET_SUFFIX ".couic"
#define MAX_SAFE_INTEGER 9007199254740991.0

static char **orig_argv;

/* ------------------------------------------------------------ handover */

static void cancel_timer(void)
{
	struct itimerval off = {0};
	setitimer(ITIMER_REAL, &off, NULL); /* a timer survives execve */
}

/* Runs the Node CLI (`couicctl-node` in this executable's directory) on the same arguments. */
static void __attribute__((noreturn)) handover(void)
{
	cancel_timer();
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		fprintf(stderr, "couicctl: cannot find its own executable: %s\n", strerror(errno));
		exit(1);
	}
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	char node_cli[PATH_MAX + 32];
	snprintf(node_cli, sizeof(node_cli), "%.*s/couicctl-node", (int)(slash ? slash - self : 0), self);
	orig_argv[0] = node_cli;
	fflush(stdout);
	execv(node_cli, orig_argv);
	fprintf(stderr, "couicctl: cannot run the Node CLI %s: %s\n", node_cli, strerror(errno));
	exit(1);
}

/* ------------------------------------------------------------ buffers */

struct buf {
	char *p;
	size_t len, cap;
};

static void buf_grow(struct buf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *p = realloc(b->p, cap);
	if (!p) {
		fprintf(stderr, "couicctl: out of memory\n");
		exit(1);
	}
	b->p = p;
	b->cap = cap;
}

static void buf_add(struct buf *b, const char *s, size_t n)
{
	buf_grow(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_puts(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }

static void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

static void buf_repeat(struct buf *b, const char *s, size_t times)
{
	for (size_t i = 0; i < times; i++)
		buf_puts(b, s);
}

/* ------------------------------------------------------------ CIDR, grammar (1) (src/net/cidr.ts) */

struct cidr {
	int family; /* 4 or 6 */
	unsigned char addr[16];
	int prefix;
	char text[64]; /* normalized, as formatCidr prints it */
};

/* scanV4 with GRAMMAR1_RAW: a.b.c.d/len, octets of 1-3 digits <= 255 (leading zeros ok), len 1-2 digits <= 32. */
static int scan_v4(const char *s, struct cidr *c)
{
	unsigned octet = 0, digits = 0, dots = 0;
	size_t i = 0, n = strlen(s);
	for (; i < n; i++) {
		char ch = s[i];
		if (ch >= '0' && ch <= '9') {
			octet = octet * 10 + (unsigned)(ch - '0');
			digits++;
			if (digits > 3 || octet > 255)
				return 0;
		} else if (ch == '.' && digits > 0 && dots < 3) {
			c->addr[dots++] = (unsigned char)octet;
			octet = 0;
			digits = 0;
		} else if (ch == '/' && digits > 0 && dots == 3) {
			c->addr[3] = (unsigned char)octet;
			break;
		} else {
			return 0;
		}
	}
	if (i >= n)
		return 0;
	size_t ps = i + 1, pl = n - ps;
	if (pl < 1 || pl > 2)
		return 0;
	int len = 0;
	for (size_t k = ps; k < n; k++) {
		if (s[k] < '0' || s[k] > '9')
			return 0;
		len = len * 10 + (s[k] - '0');
	}
	if (len > 32)
		return 0;
	c->family = 4;
	c->prefix = len;
	return 1;
}

/* A transcription of cidr.ts's Reader (Rust's std/ipnet parser). */
struct reader {
	const char *s;
	size_t pos, len;
};

static int rd_char(struct reader *r, char c)
{
	if (r->pos < r->len && r->s[r->pos] == c) {
		r->pos++;
		return 1;
	}
	return 0;
}

static int digit_value(char c, int radix)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (radix == 16) {
		if (c >= 'a' && c <= 'f')
			return c - 'a' + 10;
		if (c >= 'A' && c <= 'F')
			return c - 'A' + 10;
	}
	return -1;
}

/* Up to max_digits digits of radix, value < up_to; -1 (rewound) on failure. */
static long rd_number(struct reader *r, int radix, int max_digits, long up_to, int allow_zero_prefix)
{
	size_t start = r->pos;
	char first = start < r->len ? r->s[start] : '\0';
	long value = 0;
	int digits = 0;
	while (digits < max_digits && r->pos < r->len) {
		int d = digit_value(r->s[r->pos], radix);
		if (d < 0)
			break;
		value = value * radix + d;
		digits++;
		r->pos++;
	}
	if (digits == 0 || value >= up_to || (!allow_zero_prefix && first == '0' && digits > 1)) {
		r->pos = start;
		return -1;
	}
	return value;
}

static int rd_ipv4(struct reader *r, unsigned char out[4])
{
	size_t start = r->pos;
	for (int i = 0; i < 4; i++) {
		if (i > 0 && !rd_char(r, '.'))
			goto fail;
		long n = rd_number(r, 10, 3, 256, 1);
		if (n < 0)
			goto fail;
		out[i] = (unsigned char)n;
	}
	return 1;
fail:
	r->pos = start;
	return 0;
}

/* Reads up to limit groups; an IPv4 tail counts as two and ends the run. */
static int rd_groups(struct reader *r, unsigned groups[8], int limit, int *ipv4)
{
	*ipv4 = 0;
	for (int i = 0; i < limit; i++) {
		if (i < limit - 1) {
			size_t start = r->pos;
			unsigned char v4[4];
			if ((i == 0 || rd_char(r, ':')) && rd_ipv4(r, v4)) {
				groups[i] = (unsigned)(v4[0] << 8 | v4[1]);
				groups[i + 1] = (unsigned)(v4[2] << 8 | v4[3]);
				*ipv4 = 1;
				return i + 2;
			}
			r->pos = start;
		}
		size_t start = r->pos;
		long g = -1;
		if (i == 0 || rd_char(r, ':'))
			g = rd_number(r, 16, 4, 0x10000, 1);
		if (g < 0) {
			r->pos = start;
			return i;
		}
		groups[i] = (unsigned)g;
	}
	return limit;
}

static int rd_ipv6(struct reader *r, unsigned groups[8])
{
	size_t start = r->pos;
	unsigned head[8] = {0}, tail[8] = {0};
	int ipv4;
	int hs = rd_groups(r, head, 8, &ipv4);
	if (hs == 8) {
		memcpy(groups, head, sizeof(head));
		return 1;
	}
	if (ipv4 || !rd_char(r, ':') || !rd_char(r, ':')) {
		r->pos = start;
		return 0;
	}
	int ts = rd_groups(r, tail, 8 - (hs + 1), &ipv4);
	for (int i = 0; i < 8; i++)
		groups[i] = 0;
	for (int i = 0; i < hs; i++)
		groups[i] = head[i];
	for (int i = 0; i < ts; i++)
		groups[8 - ts + i] = tail[i];
	return 1;
}

/* Rust's Display of an address (cidr.ts formatAddr). */
static void format_addr(const struct cidr *c, char *out, size_t outsz)
{
	const unsigned char *a = c->addr;
	if (c->family == 4) {
		snprintf(out, outsz, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
		return;
	}
	unsigned g[8];
	for (int i = 0; i < 8; i++)
		g[i] = (unsigned)(a[i * 2] << 8 | a[i * 2 + 1]);
	if (!g[0] && !g[1] && !g[2] && !g[3] && !g[4] && g[5] == 0xffff) {
		snprintf(out, outsz, "::ffff:%u.%u.%u.%u", a[12], a[13], a[14], a[15]);
		return;
	}
	int best_start = -1, best_len = 0;
	for (int i = 0; i < 8;) {
		if (g[i]) {
			i++;
			continue;
		}
		int j = i;
		while (j < 8 && !g[j])
			j++;
		if (j - i > best_len) {
			best_start = i;
			best_len = j - i;
		}
		i = j;
	}
	size_t n = 0;
	out[0] = '\0';
#define PUT(...) n += (size_t)snprintf(out + n, outsz - n, __VA_ARGS__)
	if (best_len < 2) {
		for (int i = 0; i < 8; i++)
			PUT("%s%x", i ? ":" : "", g[i]);
		return;
	}
	for (int i = 0; i < best_start; i++)
		PUT("%s%x", i ? ":" : "", g[i]);
	PUT("::");
	for (int i = best_start + best_len; i < 8; i++)
		PUT("%s%x", i > best_start + best_len ? ":" : "", g[i]);
#undef PUT
}

/* Grammar (1), normalized (host bits zeroed); 0 when invalid. */
static int parse_cidr(const char *s, struct cidr *c)
{
	memset(c, 0, sizeof(*c));
	if (!scan_v4(s, c)) {
		struct reader r = {s, 0, strlen(s)};
		unsigned g[8];
		if (!rd_ipv6(&r, g) || !rd_char(&r, '/'))
			return 0;
		long len = rd_number(&r, 10, 3, 129, 1);
		if (len < 0 || r.pos != r.len)
			return 0;
		c->family = 6;
		c->prefix = (int)len;
		for (int i = 0; i < 8; i++) {
			c->addr[i * 2] = (unsigned char)(g[i] >> 8);
			c->addr[i * 2 + 1] = (unsigned char)(g[i] & 0xff);
		}
	}
	int size = c->family == 4 ? 4 : 16;
	for (int i = 0; i < size; i++) {
		int bits = c->prefix - i * 8;
		bits = bits < 0 ? 0 : bits > 8 ? 8 : bits;
		c->addr[i] &= (unsigned char)(bits == 0 ? 0 : (0xff << (8 - bits)) & 0xff);
	}
	char a[48];
	format_addr(c, a, sizeof(a));
	snprintf(c->text, sizeof(c->text), "%s/%d", a, c->prefix);
	return 1;
}

/* ------------------------------------------------------------ tags (src/domain/rules.ts tagError) */

static int tag_valid(const char *t)
{
	size_t n = strlen(t);
	if (n == 0)
		return 1;
	if (n > TAG_MAX_BYTES)
		return 0;
	if (n >= strlen(SET_SUFFIX) && !strcmp(t + n - strlen(SET_SUFFIX), SET_SUFFIX))
		return 0;
	if (!strcasecmp(t, "untagged"))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

static int is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return 0;
	return 1;
}

/* JavaScript's /\s/ on ASCII */
static int js_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* ------------------------------------------------------------ durations (src/cli/duration.ts) */

static const struct unit {
	const char *name;
	double factor;
} UNITS[] = {
	{"nanos", 1e-9}, {"nsec", 1e-9}, {"ns", 1e-9}, {"usec", 1e-6}, {"us", 1e-6},
	{"millis", 1e-3}, {"msec", 1e-3}, {"ms", 1e-3},
	{"seconds", 1}, {"second", 1}, {"secs", 1}, {"sec", 1}, {"s", 1},
	{"minutes", 60}, {"minute", 60}, {"mins", 60}, {"min", 60}, {"m", 60},
	{"hours", 3600}, {"hour", 3600}, {"hrs", 3600}, {"hr", 3600}, {"h", 3600},
	{"days", 86400}, {"day", 86400}, {"d", 86400},
	{"weeks", 604800}, {"week", 604800}, {"w", 604800},
	{"months", 2630016}, {"month", 2630016}, {"M", 2630016},
	{"years", 31557600}, {"year", 31557600}, {"y", 31557600},
};

/* parseHumantime on ASCII text: whole seconds, or -1 when humantime rejects it. */
static double parse_humantime(const char *s)
{
	size_t i = 0, n = strlen(s);
	double total = 0;
	int pieces = 0;
	for (;;) {
		while (i < n && js_space(s[i]))
			i++;
		if (i >= n)
			break;
		if (s[i] < '0' || s[i] > '9')
			return -1;
		double num = 0;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			num = num * 10 + (s[i++] - '0');
		if (num > MAX_SAFE_INTEGER)
			return -1;
		while (i < n && js_space(s[i]))
			i++;
		if (i < n && s[i] >= '0' && s[i] <= '9')
			return -1;
		size_t start = i;
		while (i < n && ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
			i++;
		if (i == start)
			return -1;
		double factor = -1;
		for (size_t u = 0; u < sizeof(UNITS) / sizeof(UNITS[0]); u++)
			if (strlen(UNITS[u].name) == i - start && !strncmp(UNITS[u].name, s + start, i - start))
				factor = UNITS[u].factor;
		if (factor < 0)
			return -1;
		if (i < n && !js_space(s[i]) && !(s[i] >= '0' && s[i] <= '9'))
			return -1;
		total += num * factor;
		pieces++;
	}
	if (pieces == 0 || !isfinite(total) || total > MAX_SAFE_INTEGER)
		return -1;
	return floor(total + 1e-9);
}

/* ------------------------------------------------------------ flat TOML (config.ts parseSimpleToml) */

enum tval { T_NONE, T_STR, T_BOOL, T_INT };

struct tkey {
	char key[64];
	enum tval type;
	char str[PATH_MAX];
	int b;
	long long i;
	int big; /* an integer beyond the safe range */
};

struct tdoc {
	struct tkey keys[16];
	int n;
};

static char *read_file(const char *path, int *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*err = errno;
		return NULL;
	}
	struct buf b = {0};
	char chunk[4096];
	for (;;) {
		ssize_t r = read(fd, chunk, sizeof(chunk));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			*err = errno;
			close(fd);
			free(b.p);
			return NULL;
		}
		if (r == 0)
			break;
		buf_add(&b, chunk, (size_t)r);
	}
	close(fd);
	if (!b.p)
		buf_add(&b, "", 0);
	if (memchr(b.p, '\0', b.len)) { /* not text we read like Node does */
		free(b.p);
		*err = EINVAL;
		return NULL;
	}
	return b.p;
}

/*
 * `key = "string" | true | false | integer` lines, blank lines and comments:
 * 0 for anything else (the Node CLI then reads it with its TOML parser; we
 * hand over). Only ASCII documents are taken: JavaScript's trim() knows more
 * whitespace than we do.
 */
static int parse_simple_toml(char *text, struct tdoc *d)
{
	d->n = 0;
	if (!is_ascii(text))
		return 0;
	for (char *line = text; line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		char *p = line, *e = line + strlen(line);
		while (p < e && js_space(*p))
			p++;
		while (e > p && js_space(e[-1]))
			e--;
		*e = '\0';
		line = nl ? nl + 1 : NULL;
		if (p == e || *p == '#')
			continue;
		char *k = p;
		while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-')
			p++;
		size_t klen = (size_t)(p - k);
		if (klen == 0 || klen >= sizeof(d->keys[0].key) || d->n == (int)(sizeof(d->keys) / sizeof(d->keys[0])))
			return 0;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p++ != '=')
			return 0;
		while (*p == ' ' || *p == '\t')
			p++;
		struct tkey *t = &d->keys[d->n];
		memcpy(t->key, k, klen);
		t->key[klen] = '\0';
		for (int j = 0; j < d->n; j++)
			if (!strcmp(d->keys[j].key, t->key))
				return 0;
		if (*p == '"') {
			char *q = p + 1;
			while (*q && *q != '"' && *q != '\\')
				q++;
			if (*q != '"' || (size_t)(q - p - 1) >= sizeof(t->str))
				return 0;
			t->type = T_STR;
			memcpy(t->str, p + 1, (size_t)(q - p - 1));
			t->str[q - p - 1] = '\0';
			p = q + 1;
		} else if (!strncmp(p, "true", 4) || !strncmp(p, "false", 5)) {
			t->type = T_BOOL;
			t->b = *p == 't';
			p += t->b ? 4 : 5;
		} else {
			char *q = p;
			if (*q == '+' || *q == '-')
				q++;
			if (*q < '0' || *q > '9')
				return 0;
			while (*q >= '0' && *q <= '9')
				q++;
			t->type = T_INT;
			errno = 0;
			t->i = strtoll(p, NULL, 10);
			t->big = errno == ERANGE || t->i > (long long)MAX_SAFE_INTEGER || t->i < -(long long)MAX_SAFE_INTEGER;
			p = q;
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p && *p != '#')
			return 0;
		d->n++;
	}
	return 1;
}

static struct tkey *tget(struct tdoc *d, const char *key)
{
	for (int i = 0; i < d->n; i++)
		if (!strcmp(d->keys[i].key, key))
			return &d->keys[i];
	return NULL;
}

/* config.ts isUuid */
static int is_uuid(const char *s)
{
	size_t n = strlen(s);
	char t[64];
	if (n >= 2 && s[0] == '{' && s[n - 1] == '}') {
		s++;
		n -= 2;
	} else if (!strncmp(s, "urn:uuid:", 9)) {
		s += 9;
		n -= 9;
	}
	if (n != 32 && n != 36)
		return 0;
	memcpy(t, s, n);
	t[n] = '\0';
	/* 8-?4-?4-?4-?12 hex digits */
	static const int groups[5] = {8, 4, 4, 4, 12};
	const char *p = t;
	for (int g = 0; g < 5; g++) {
		if (g > 0 && *p == '-')
			p++;
		for (int k = 0; k < groups[g]; k++, p++)
			if (digit_value(*p, 16) < 0)
				return 0;
	}
	return *p == '\0';
}

struct endpoint {
	char socket[PATH_MAX];
	char token[128];
};

/*
 * loadConfig + resolveEndpoint for what we run ourselves: local mode, flat
 * files that validate. Everything else is the Node CLI's to report.
 */
static void load_endpoint(const char *explicit_path, struct endpoint *ep)
{
	const char *path = explicit_path ? explicit_path : DEFAULT_CONFIG_PATH;
	int err = 0;
	char *text = read_file(path, &err);
	char client_file[PATH_MAX];
	if (!text) {
		if (explicit_path || err != ENOENT)
			handover();
		snprintf(ep->socket, sizeof(ep->socket), "%s", DEFAULT_SOCKET);
		snprintf(client_file, sizeof(client_file), "%s", DEFAULT_CLIENT_FILE);
	} else {
		static struct tdoc d;
		if (!parse_simple_toml(text, &d))
			handover();
		free(text);
		struct tkey *mode = tget(&d, "mode"), *cf = tget(&d, "client_file"), *sock = tget(&d, "socket");
		struct tkey *host = tget(&d, "host"), *port = tget(&d, "port"), *tls = tget(&d, "tls"), *token = tget(&d, "token");
		if (!mode || mode->type != T_STR || strcmp(mode->str, "local"))
			handover(); /* remote, or an error of the Node CLI's */
		if (!cf || cf->type != T_STR || !sock || sock->type != T_STR)
			handover();
		if ((host && host->type != T_STR) || (tls && tls->type != T_BOOL))
			handover();
		if (port && (port->type != T_INT || port->big || port->i < 0 || port->i > 65535))
			handover();
		if (token && (token->type != T_STR || !is_uuid(token->str)))
			handover();
		snprintf(ep->socket, sizeof(ep->socket), "%s", sock->str);
		snprintf(client_file, sizeof(client_file), "%s", cf->str);
	}
	struct stat st;
	if (ep->socket[0] == '\0' || stat(ep->socket, &st) != 0)
		handover(); /* `Unix socket does not exist` */
	size_t n = strlen(client_file);
	if (n < 5 || strcmp(client_file + n - 5, ".toml") || stat(client_file, &st) != 0 || !S_ISREG(st.st_mode))
		handover();
	char *ctext = read_file(client_file, &err);
	if (!ctext)
		handover();
	static struct tdoc c;
	if (!parse_simple_toml(ctext, &c))
		handover();
	free(ctext);
	struct tkey *token = tget(&c, "token"), *group = tget(&c, "group");
	if (!token || token->type != T_STR || !is_uuid(token->str) || strlen(token->str) >= sizeof(ep->token))
		handover();
	static const char *const GROUPS[] = {"admin", "clientro", "clientrw", "monitoring", "peering"};
	int ok = 0;
	for (size_t i = 0; group && group->type == T_STR && i < sizeof(GROUPS) / sizeof(GROUPS[0]); i++)
		ok |= !strcmp(group->str, GROUPS[i]);
	if (!ok)
		handover();
	strcpy(ep->token, token->str);
}

/* ------------------------------------------------------------ JSON values */

enum jtype { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct jv {
	enum jtype type;
	int b;
	double num;
	char *str; /* J_STR: UTF-8, NUL-ended (no NUL inside: we refuse \u0000) */
	size_t n;  /* J_ARR / J_OBJ: children */
	struct jv *items;
	char **keys; /* J_OBJ */
};

struct jparser {
	const char *s;
	size_t pos, len;
	int depth;
};

static void jp_ws(struct jparser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' || p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

static int hex4(const char *s, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		int d = digit_value(s[i], 16);
		if (d < 0)
			return 0;
		v = v << 4 | (unsigned)d;
	}
	*out = v;
	return 1;
}

static void utf8_put(struct buf *b, unsigned cp)
{
	char o[4];
	size_t n;
	if (cp < 0x80) {
		o[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		o[0] = (char)(0xf0 | cp >> 18);
		o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	buf_add(b, o, n);
}

static int jp_string(struct jparser *p, char **out)
{
	if (p->pos >= p->len || p->s[p->pos] != '"')
		return 0;
	p->pos++;
	struct buf b = {0};
	buf_add(&b, "", 0);
	while (p->pos < p->len) {
		unsigned char c = (unsigned char)p->s[p->pos++];
		if (c == '"') {
			*out = b.p;
			return 1;
		}
		if (c < 0x20)
			break;
		if (c != '\\') {
			buf_add(&b, (const char *)&c, 1);
			continue;
		}
		if (p->pos >= p->len)
			break;
		char e = p->s[p->pos++];
		const char *simple = strchr("\"\\/bfnrt", e);
		if (simple && e) {
			static const char to[] = "\"\\/\b\f\n\r\t";
			buf_add(&b, &to[simple - "\"\\/bfnrt"], 1);
			continue;
		}
		unsigned cp, lo;
		if (e != 'u' || p->pos + 4 > p->len || !hex4(p->s + p->pos, &cp))
			break;
		p->pos += 4;
		if (cp >= 0xd800 && cp < 0xdc00 && p->pos + 6 <= p->len && p->s[p->pos] == '\\' && p->s[p->pos + 1] == 'u' &&
		    hex4(p->s + p->pos + 2, &lo) && lo >= 0xdc00 && lo < 0xe000) {
			p->pos += 6;
			cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		} else if ((cp >= 0xd800 && cp < 0xe000) || cp == 0) {
			break; /* a lone surrogate or a NUL: not a text we print like Node */
		}
		utf8_put(&b, cp);
	}
	free(b.p);
	return 0;
}

static int jp_value(struct jparser *p, struct jv *v);

static int jp_container(struct jparser *p, struct jv *v, int obj)
{
	char close = obj ? '}' : ']';
	p->pos++;
	v->type = obj ? J_OBJ : J_ARR;
	v->n = 0;
	v->items = NULL;
	v->keys = NULL;
	size_t cap = 0;
	jp_ws(p);
	if (p->pos < p->len && p->s[p->pos] == close) {
		p->pos++;
		return 1;
	}
	for (;;) {
		if (v->n == cap) {
			cap = cap ? cap * 2 : 8;
			v->items = realloc(v->items, cap * sizeof(*v->items));
			if (obj)
				v->keys = realloc(v->keys, cap * sizeof(*v->keys));
			if (!v->items || (obj && !v->keys))
				return 0;
		}
		jp_ws(p);
		if (obj) {
			if (!jp_string(p, &v->keys[v->n]))
				return 0;
			jp_ws(p);
			if (p->pos >= p->len || p->s[p->pos++] != ':')
				return 0;
		}
		if (!jp_value(p, &v->items[v->n]))
			return 0;
		v->n++;
		jp_ws(p);
		if (p->pos >= p->len)
			return 0;
		char c = p->s[p->pos++];
		if (c == close)
			break;
		if (c != ',')
			return 0;
	}
	if (obj) /* JSON.parse: a repeated key keeps its first place and its last value */
		for (size_t i = 0; i < v->n; i++)
			for (size_t j = i + 1; j < v->n; j++)
				if (!strcmp(v->keys[i], v->keys[j]))
					return 0; /* not worth mirroring: the daemon never repeats a key */
	return 1;
}

static int jp_value(struct jparser *p, struct jv *v)
{
	memset(v, 0, sizeof(*v));
	if (++p->depth > 64)
		return 0;
	jp_ws(p);
	if (p->pos >= p->len)
		return 0;
	const char *s = p->s + p->pos;
	size_t left = p->len - p->pos;
	int ok = 1;
	if (*s == '{' || *s == '[') {
		ok = jp_container(p, v, *s == '{');
	} else if (*s == '"') {
		v->type = J_STR;
		ok = jp_string(p, &v->str);
	} else if (left >= 4 && !strncmp(s, "true", 4)) {
		v->type = J_BOOL;
		v->b = 1;
		p->pos += 4;
	} else if (left >= 5 && !strncmp(s, "false", 5)) {
		v->type = J_BOOL;
		p->pos += 5;
	} else if (left >= 4 && !strncmp(s, "null", 4)) {
		v->type = J_NULL;
		p->pos += 4;
	} else {
		/* -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)? */
		size_t i = 0;
		if (i < left && s[i] == '-')
			i++;
		if (i < left && s[i] == '0')
			i++;
		else if (i < left && s[i] >= '1' && s[i] <= '9')
			while (i < left && s[i] >= '0' && s[i] <= '9')
				i++;
		else
			return 0;
		if (i < left && s[i] == '.') {
			i++;
			if (i >= left || s[i] < '0' || s[i] > '9')
				return 0;
			while (i < left && s[i] >= '0' && s[i] <= '9')
				i++;
		}
		if (i < left && (s[i] == 'e' || s[i] == 'E')) {
			i++;
			if (i < left && (s[i] == '+' || s[i] == '-'))
				i++;
			if (i >= left || s[i] < '0' || s[i] > '9')
				return 0;
			while (i < left && s[i] >= '0' && s[i] <= '9')
				i++;
		}
		char tmp[64];
		if (i >= sizeof(tmp))
			return 0;
		memcpy(tmp, s, i);
		tmp[i] = '\0';
		v->type = J_NUM;
		v->num = strtod(tmp, NULL);
		p->pos += i;
	}
	p->depth--;
	return ok;
}

/* JSON.parse(text): 0 when it would throw. */
static int json_parse(const char *text, size_t len, struct jv *out)
{
	struct jparser p = {text, 0, len, 0};
	if (!jp_value(&p, out))
		return 0;
	jp_ws(&p);
	return p.pos == p.len;
}

static struct jv *jget(const struct jv *o, const char *key)
{
	if (o->type != J_OBJ)
		return NULL;
	for (size_t i = 0; i < o->n; i++)
		if (!strcmp(o->keys[i], key))
			return &o->items[i];
	return NULL;
}

/* ------------------------------------------------------------ printing like JavaScript */

/* String(x) for a number (integers below 1e21 as JavaScript prints them; others close to it). */
static void js_number(struct buf *b, double x)
{
	if (isnan(x)) {
		buf_puts(b, "null");
		return;
	}
	if (x == 0) {
		buf_puts(b, "0");
		return;
	}
	if (x == floor(x) && fabs(x) < 1e21) {
		if (fabs(x) <= MAX_SAFE_INTEGER) {
			buf_printf(b, "%.0f", x);
			return;
		}
		/* the shortest digits that read back as x, then zeros */
		for (int prec = 1; prec <= 17; prec++) {
			char t[64];
			snprintf(t, sizeof(t), "%.*e", prec - 1, x);
			if (strtod(t, NULL) != x)
				continue;
			char *e = strchr(t, 'e');
			int exp = atoi(e + 1);
			*e = '\0';
			if (t[0] == '-') {
				buf_puts(b, "-");
				memmove(t, t + 1, strlen(t));
			}
			int digits = 0;
			for (char *q = t; *q; q++)
				if (*q != '.') {
					buf_add(b, q, 1);
					digits++;
				}
			buf_repeat(b, "0", (size_t)(exp + 1 - digits));
			return;
		}
	}
	for (int prec = 1; prec <= 17; prec++) {
		char t[64];
		snprintf(t, sizeof(t), "%.*g", prec, x);
		if (strtod(t, NULL) == x || prec == 17) {
			buf_puts(b, t);
			return;
		}
	}
}

/* JSON.stringify of a string */
static void js_quote(struct buf *b, const char *s)
{
	buf_puts(b, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		switch (c) {
		case '"': buf_puts(b, "\\\""); break;
		case '\\': buf_puts(b, "\\\\"); break;
		case '\b': buf_puts(b, "\\b"); break;
		case '\f': buf_puts(b, "\\f"); break;
		case '\n': buf_puts(b, "\\n"); break;
		case '\r': buf_puts(b, "\\r"); break;
		case '\t': buf_puts(b, "\\t"); break;
		default:
			if (c < 0x20)
				buf_printf(b, "\\u%04x", c);
			else
				buf_add(b, (const char *)&c, 1);
		}
	}
	buf_puts(b, "\"");
}

/* JSON.stringify(v, null, 2) */
static void js_pretty(struct buf *b, const struct jv *v, int indent)
{
	switch (v->type) {
	case J_NULL: buf_puts(b, "null"); return;
	case J_BOOL: buf_puts(b, v->b ? "true" : "false"); return;
	case J_NUM: js_number(b, v->num); return;
	case J_STR: js_quote(b, v->str); return;
	case J_ARR:
	case J_OBJ: break;
	}
	int obj = v->type == J_OBJ;
	if (v->n == 0) {
		buf_puts(b, obj ? "{}" : "[]");
		return;
	}
	buf_puts(b, obj ? "{\n" : "[\n");
	for (size_t i = 0; i < v->n; i++) {
		buf_repeat(b, " ", (size_t)indent + 2);
		if (obj) {
			js_quote(b, v->keys[i]);
			buf_puts(b, ": ");
		}
		js_pretty(b, &v->items[i], indent + 2);
		buf_puts(b, i + 1 < v->n ? ",\n" : "\n");
	}
	buf_repeat(b, " ", (size_t)indent);
	buf_puts(b, obj ? "}" : "]");
}

/* format.ts entryJson: the entry's fields in the Entry struct's order, absent ones left out. */
static void entry_json(struct buf *b, const struct jv *e, int indent)
{
	static const char *const FIELDS[] = {"creation", "cidr", "tag", "expiration"};
	struct jv o = {.type = J_OBJ};
	char *keys[4];
	struct jv items[4];
	for (int i = 0; i < 4; i++) {
		struct jv *f = jget(e, FIELDS[i]);
		if (!f)
			continue;
		keys[o.n] = (char *)FIELDS[i];
		items[o.n++] = *f;
	}
	o.keys = keys;
	o.items = items;
	js_pretty(b, &o, indent);
}

/* ------------------------------------------------------------ tables (src/cli/table.ts) */

static int code_point_width(unsigned cp)
{
	if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
		return 0;
	if (cp == 0x200b || (cp >= 0x0300 && cp <= 0x036f) || (cp >= 0xfe00 && cp <= 0xfe0f))
		return 0;
	if ((cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf && cp != 0x303f) || (cp >= 0xac00 && cp <= 0xd7a3) ||
	    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
	    (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1f64f) || (cp >= 0x1f900 && cp <= 0x1f9ff) ||
	    (cp >= 0x20000 && cp <= 0x3fffd))
		return 2;
	return 1;
}

/* Display width of the first n bytes of s (valid UTF-8: JSON.parse gave it). */
static size_t display_width(const char *s, size_t n)
{
	size_t w = 0;
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		unsigned cp;
		size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
		if (len == 1)
			cp = c;
		else if (len == 2)
			cp = c & 0x1f;
		else if (len == 3)
			cp = c & 0x0f;
		else
			cp = c & 0x07;
		for (size_t k = 1; k < len && i + k < n; k++)
			cp = cp << 6 | ((unsigned char)s[i + k] & 0x3f);
		w += (size_t)code_point_width(cp);
		i += len;
	}
	return w;
}

#define COLS 4

struct row {
	const char *cell[COLS];
};

/* Line `li` of a cell (split on \n): start and length; 0 when the cell has fewer lines. */
static int cell_line(const char *cell, int li, const char **start, size_t *len)
{
	const char *p = cell;
	for (int i = 0; i < li; i++) {
		p = strchr(p, '\n');
		if (!p)
			return 0;
		p++;
	}
	const char *e = strchr(p, '\n');
	*start = p;
	*len = e ? (size_t)(e - p) : strlen(p);
	return 1;
}

static int cell_lines(const char *cell)
{
	int n = 1;
	for (; *cell; cell++)
		n += *cell == '\n';
	return n;
}

static void border(struct buf *b, const char *l, const char *fill, const char *cross, const char *r, const size_t *w)
{
	buf_puts(b, l);
	for (int c = 0; c < COLS; c++) {
		if (c)
			buf_puts(b, cross);
		buf_repeat(b, fill, w[c] + 2);
	}
	buf_puts(b, r);
	buf_puts(b, "\n");
}

static void content(struct buf *b, const struct row *r, const size_t *w)
{
	int height = 1;
	for (int c = 0; c < COLS; c++)
		if (cell_lines(r->cell[c]) > height)
			height = cell_lines(r->cell[c]);
	for (int li = 0; li < height; li++) {
		buf_puts(b, "│");
		for (int c = 0; c < COLS; c++) {
			const char *s = "";
			size_t n = 0;
			cell_line(r->cell[c], li, &s, &n);
			if (c)
				buf_puts(b, "┆");
			buf_puts(b, " ");
			buf_add(b, s, n);
			size_t dw = display_width(s, n);
			buf_repeat(b, " ", w[c] > dw ? w[c] - dw : 0);
			buf_puts(b, " ");
		}
		buf_puts(b, "│\n");
	}
}

/* renderTable + println: the table and a newline. */
static void render_table(struct buf *b, const struct row *rows, size_t nrows)
{
	static const struct row header = {{"Policy", "CIDR", "Tag", "Expiration"}};
	size_t w[COLS] = {0};
	for (size_t ri = 0; ri <= nrows; ri++) {
		const struct row *r = ri == 0 ? &header : &rows[ri - 1];
		for (int c = 0; c < COLS; c++)
			for (int li = 0;; li++) {
				const char *s;
				size_t n;
				if (!cell_line(r->cell[c], li, &s, &n))
					break;
				size_t dw = display_width(s, n);
				if (dw > w[c])
					w[c] = dw;
			}
	}
	border(b, "┌", "─", "┬", "┐", w);
	content(b, &header, w);
	border(b, "╞", "═", "╪", "╡", w);
	for (size_t i = 0; i < nrows; i++) {
		if (i)
			border(b, "├", "╌", "┼", "┤", w);
		content(b, &rows[i], w);
	}
	border(b, "└", "─", "┴", "┘", w);
}

/* format.ts formatExpiration */
static void format_expiration(char *out, size_t outsz, double expiration, long long now)
{
	if (expiration == 0) {
		snprintf(out, outsz, "never");
		return;
	}
	if (expiration <= (double)now) {
		snprintf(out, outsz, "expired");
		return;
	}
	long long rest = (long long)(expiration - (double)now);
	long long d = rest / 86400;
	rest -= d * 86400;
	long long h = rest / 3600;
	rest -= h * 3600;
	long long m = rest / 60;
	long long s = rest - m * 60;
	if (d > 0)
		snprintf(out, outsz, "%lldd %lldh%lldm%llds", d, h, m, s);
	else if (h > 0)
		snprintf(out, outsz, "%lldh%lldm%llds", h, m, s);
	else if (m > 0)
		snprintf(out, outsz, "%lldm%llds", m, s);
	else
		snprintf(out, outsz, "%llds", s);
}

static long long now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec;
}

/* entriesTable(policy, entries, now) + "\n"; 0 when an entry is not what the table can show. */
static int entries_table(struct buf *b, const char *policy, const struct jv *const *entries, size_t n)
{
	struct row *rows = calloc(n ? n : 1, sizeof(*rows));
	char(*exp)[96] = calloc(n ? n : 1, sizeof(*exp));
	if (!rows || !exp)
		return 0;
	long long now = now_seconds();
	for (size_t i = 0; i < n; i++) {
		const struct jv *e = entries[i];
		struct jv *cidr = jget(e, "cidr"), *tag = jget(e, "tag"), *x = jget(e, "expiration");
		if (!cidr || cidr->type != J_STR || !tag || (tag->type != J_STR && tag->type != J_NULL) || !x || x->type != J_NUM)
			return 0;
		format_expiration(exp[i], sizeof(exp[i]), x->num, now);
		rows[i] = (struct row){{policy, cidr->str, tag->type == J_NULL ? "-" : tag->str, exp[i]}};
	}
	render_table(b, rows, n);
	return 1;
}

/* ------------------------------------------------------------ tag patterns (src/cli/tags.ts) */

static int ends_with(const char *s, const char *suffix, size_t n)
{
	size_t ls = strlen(s);
	return ls >= n && !memcmp(s + ls - n, suffix, n);
}

static int tag_matches(const struct jv *tag, const char *pat, size_t plen)
{
	if (tag->type != J_STR)
		return 0;
	const char *t = tag->str;
	if ((plen == 1 && pat[0] == '*') || (plen == 2 && !memcmp(pat, "**", 2)))
		return 1;
	if (plen == 0)
		return t[0] == '\0';
	int starts = pat[0] == '*', ends = pat[plen - 1] == '*';
	if (starts && ends && plen > 2) {
		char *mid = strndup(pat + 1, plen - 2);
		int r = strstr(t, mid) != NULL;
		free(mid);
		return r;
	}
	if (starts)
		return ends_with(t, pat + 1, plen - 1);
	if (ends)
		return !strncmp(t, pat, plen - 1);
	return strlen(t) == plen && !memcmp(t, pat, plen);
}

static int tag_matches_any(const struct jv *tag, const char *patterns)
{
	for (const char *p = patterns;;) {
		const char *comma = strchr(p, ',');
		const char *e = comma ? comma : p + strlen(p);
		const char *s = p;
		while (s < e && js_space(*s))
			s++;
		while (e > s && js_space(e[-1]))
			e--;
		if (tag_matches(tag, s, (size_t)(e - s)))
			return 1;
		if (!comma)
			return 0;
		p = comma + 1;
	}
}

/* ------------------------------------------------------------ HTTP over the Unix socket */

static char http_fail_prefix[PATH_MAX + 512];

static void __attribute__((noreturn)) http_fail(const char *what)
{
	fflush(stdout);
	fprintf(stderr, "%s%s\n", http_fail_prefix, what);
	exit(1);
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char tail[] = "operation timed out\n";
	ssize_t r = write(STDERR_FILENO, http_fail_prefix, strlen(http_fail_prefix));
	r = write(STDERR_FILENO, tail, sizeof(tail) - 1);
	(void)r;
	_exit(1);
}

struct response {
	int status;
	char *body;
	size_t body_len;
};

/* Decodes a chunked body in place; 0 when incomplete or malformed. */
static int dechunk(char *p, size_t len, size_t *out_len)
{
	size_t in = 0, out = 0;
	for (;;) {
		char *crlf = memmem(p + in, len - in, "\r\n", 2);
		if (!crlf)
			return 0;
		char *stop;
		unsigned long n = strtoul(p + in, &stop, 16);
		if (stop == p + in)
			return 0;
		in = (size_t)(crlf - p) + 2;
		if (n == 0) {
			*out_len = out;
			return 1; /* trailers, if any, are not ours */
		}
		if (len - in < n + 2)
			return 0;
		memmove(p + out, p + in, n);
		out += n;
		in += n + 2;
	}
}

static long long header_value(const char *head, const char *name, const char **value)
{
	size_t nl = strlen(name);
	for (const char *line = strstr(head, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
		if (!strncasecmp(line + 2, name, nl) && line[2 + nl] == ':') {
			const char *v = line + 3 + nl;
			while (*v == ' ' || *v == '\t')
				v++;
			*value = v;
			return 1;
		}
	}
	return 0;
}

/* One request (Connection: close); the status and body, or http_fail. */
static void http_call(const struct endpoint *ep, const char *method, const char *path, const char *body, struct response *res)
{
	snprintf(http_fail_prefix, sizeof(http_fail_prefix),
		 "Error executing command: Couic error: HTTP error: error sending request for url (http://localhost%s): ", path);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(ep->socket) >= sizeof(sa.sun_path))
		handover();
	strcpy(sa.sun_path, ep->socket);

	/* the Node CLI's timer covers the whole exchange */
	struct sigaction act = {0};
	act.sa_handler = on_alarm;
	sigaction(SIGALRM, &act, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct itimerval it = {.it_value = {.tv_sec = TIMEOUT_MS / 1000, .tv_usec = (TIMEOUT_MS % 1000) * 1000}};
	setitimer(ITIMER_REAL, &it, NULL);

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		handover();
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (errno == EINTR)
			continue;
		close(fd);
		handover(); /* nothing sent: the Node CLI reports it in its words */
	}

	struct buf req = {0};
	buf_printf(&req, "%s %s HTTP/1.1\r\nuser-agent: " USER_AGENT "\r\nauthorization: Bearer %s\r\n"
			 "accept: application/json\r\ncontent-type: application/json\r\n",
		   method, path, ep->token);
	if (body)
		buf_printf(&req, "content-length: %zu\r\n", strlen(body));
	buf_puts(&req, "Host: localhost\r\nConnection: close\r\n\r\n");
	if (body)
		buf_puts(&req, body);
	for (size_t off = 0; off < req.len;) {
		ssize_t w = write(fd, req.p + off, req.len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			http_fail(errno == EPIPE ? "write EPIPE" : errno == ECONNRESET ? "write ECONNRESET" : strerror(errno));
		}
		off += (size_t)w;
	}
	free(req.p);

	/* read until the body is complete (Content-Length or the last chunk) or EOF */
	struct buf in = {0};
	long long total = -1;
	int chunked = 0, head_done = 0;
	size_t head_len = 0;
	for (;;) {
		buf_grow(&in, 65536);
		ssize_t r = read(fd, in.p + in.len, in.cap - in.len - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECONNRESET)
				break;
			http_fail(strerror(errno));
		}
		if (r == 0)
			break;
		in.len += (size_t)r;
		in.p[in.len] = '\0';
		if (!head_done) {
			char *end = strstr(in.p, "\r\n\r\n");
			if (!end)
				continue;
			head_done = 1;
			head_len = (size_t)(end + 4 - in.p);
			*end = '\0';
			int status = 0;
			if (sscanf(in.p, "HTTP/1.%*d %d", &status) != 1)
				http_fail("Parse Error: Invalid response status");
			res->status = status;
			const char *v;
			if (header_value(in.p, "transfer-encoding", &v) && !strncasecmp(v, "chunked", 7))
				chunked = 1;
			else if (header_value(in.p, "content-length", &v))
				total = (long long)head_len + strtoll(v, NULL, 10);
			else if (status == 204 || status == 304 || (status >= 100 && status < 200))
				total = (long long)head_len;
			*end = '\r';
		}
		if (total >= 0 && (long long)in.len >= total)
			break;
		if (chunked) {
			size_t n;
			char *copy = malloc(in.len - head_len + 1);
			memcpy(copy, in.p + head_len, in.len - head_len);
			int done = dechunk(copy, in.len - head_len, &n);
			free(copy);
			if (done)
				break;
		}
	}
	close(fd);
	cancel_timer();
	if (!head_done)
		http_fail("socket hang up");
	size_t blen = in.len - head_len;
	if (chunked) {
		if (!dechunk(in.p + head_len, blen, &blen))
			http_fail("aborted");
	} else if (total >= 0) {
		if ((long long)in.len < total)
			http_fail("aborted");
		blen = (size_t)(total - (long long)head_len);
	}
	res->body = in.p + head_len;
	res->body_len = blen;
	res->body[blen] = '\0';
}

/* ------------------------------------------------------------ errors (src/cli/errors.ts, http.ts) */

static int exit_code_of(const char *code)
{
	for (size_t i = 0; i < sizeof(COUIC_ERROR_EXITS) / sizeof(COUIC_ERROR_EXITS[0]); i++)
		if (!strcmp(COUIC_ERROR_EXITS[i].code, code))
			return COUIC_ERROR_EXITS[i].exit_code;
	return 1;
}

/* serde_json's message for a body that is not JSON (http.ts jsonParseMessage), ASCII bodies */
static void json_parse_message(struct buf *b, const char *text, size_t len)
{
	size_t i = 0;
	while (i < len && strchr(" \t\n\r", text[i]) && text[i])
		i++;
	size_t at = i >= len ? len : i + 1;
	int line = 1, column = 0;
	for (size_t k = 0; k < at && k < len; k++) {
		if (text[k] == '\n') {
			line++;
			column = 0;
		} else {
			column++;
		}
	}
	if (i >= len)
		buf_printf(b, "EOF while parsing a value at line %d column %d", line, column);
	else if (!strchr("{[\"-0123456789tfn", text[i]) || !text[i])
		buf_printf(b, "expected value at line %d column %d", line, column);
	else
		buf_puts(b, "invalid type: expected struct ErrorResponse");
}

/* apiErrorFrom + CommandError.describe, printed; exits with the registry's code. */
static void __attribute__((noreturn)) report_api_error(const struct response *res)
{
	struct buf out = {0};
	struct jv body;
	const char *code = "internal";
	struct buf message = {0};
	const struct jv *errors = NULL;
	int parsed = json_parse(res->body, res->body_len, &body);
	if (parsed && body.type == J_OBJ) {
		struct jv *c = jget(&body, "code"), *m = jget(&body, "message");
		if (c && c->type == J_STR && m && m->type == J_STR) {
			code = c->str;
			buf_puts(&message, m->str);
			struct jv *e = jget(&body, "errors");
			int fields_ok = e && e->type == J_OBJ;
			for (size_t i = 0; fields_ok && i < e->n; i++) {
				struct jv *fc = jget(&e->items[i], "code"), *fm = jget(&e->items[i], "message");
				fields_ok = fc && fc->type == J_STR && fm && fm->type == J_STR;
			}
			if (fields_ok)
				errors = e;
		} else {
			buf_printf(&message, "missing field `%s`", !c || c->type != J_STR ? "code" : "message");
		}
	} else if (parsed || res->body_len == 0 || !is_ascii(res->body)) {
		json_parse_message(&message, res->body, res->body_len);
	} else {
		/* JSON.parse's own message would follow; the daemon never sends such a body */
		json_parse_message(&message, res->body, res->body_len);
	}
	buf_printf(&out, "Error executing command: Couic error: API error:\n  Status: %d\n  Code: %s\n  Message: %s", res->status,
		   code, message.p ? message.p : "");
	if (errors && errors->n > 0) {
		buf_puts(&out, "\n  Details:");
		for (size_t i = 0; i < errors->n; i++)
			buf_printf(&out, "\n    %s: Code: %s, Message: %s", errors->keys[i], jget(&errors->items[i], "code")->str,
				   jget(&errors->items[i], "message")->str);
	}
	buf_puts(&out, "\n");
	fflush(stdout);
	fwrite(out.p, 1, out.len, stderr);
	exit(exit_code_of(code));
}

static void __attribute__((noreturn)) command_error(const char *describe)
{
	fflush(stdout);
	fprintf(stderr, "Error executing command: %s\n", describe);
	exit(1);
}

/* CouicClient.call: the decoded 2xx body (J_NULL type with parsed=0 when empty). */
static int call(const struct endpoint *ep, const char *method, const char *path, const char *body, struct jv *out)
{
	struct response res = {0};
	http_call(ep, method, path, body, &res);
	if (res.status < 200 || res.status > 299)
		report_api_error(&res);
	if (res.body_len == 0)
		return 0;
	if (!json_parse(res.body, res.body_len, out))
		command_error("Serialization error: the daemon's answer is not JSON");
	return 1;
}

/* ------------------------------------------------------------ command line (src/cli/fast.ts) */

struct cmdline {
	const char *policy, *sub, *target;
	const char *config, *tag, *expiration;
	int quiet, json;
	int has_config, has_tag, has_expiration;
};

enum flag { F_UNKNOWN = -1, F_BOOL = 0, F_VALUE = 1 };

/* FLAGS[sub][flag] (and -c/--config everywhere) */
static int flag_kind(const char *sub, const char *a)
{
	if (!strcmp(a, "-c") || !strcmp(a, "--config"))
		return F_VALUE;
	if (!sub)
		return F_UNKNOWN;
	if (!strcmp(sub, "add")) {
		if (!strcmp(a, "-t") || !strcmp(a, "--tag") || !strcmp(a, "-e") || !strcmp(a, "--expiration"))
			return F_VALUE;
		if (!strcmp(a, "--json"))
			return F_BOOL;
	} else if (!strcmp(sub, "inspect")) {
		if (!strcmp(a, "--json"))
			return F_BOOL;
	} else if (!strcmp(sub, "list")) {
		if (!strcmp(a, "-t") || !strcmp(a, "--tags"))
			return F_VALUE;
		if (!strcmp(a, "-q") || !strcmp(a, "--quiet") || !strcmp(a, "--json"))
			return F_BOOL;
	}
	return F_UNKNOWN;
}

/* fastParse: the command line we run, or handover() for anything the Node CLI's fast path leaves to yargs. */
static void parse_command_line(int argc, char **argv, struct cmdline *c, struct cidr *cidr)
{
	const char *pos[4];
	int npos = 0;
	memset(c, 0, sizeof(*c));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (a[0] != '-' || !strcmp(a, "-")) {
			if (npos == 4)
				handover();
			pos[npos++] = a;
			continue;
		}
		int kind = flag_kind(npos >= 2 ? pos[1] : NULL, a);
		if (kind == F_UNKNOWN)
			handover();
		const char **slot = NULL;
		int *seen, *boolean = NULL;
		if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
			slot = &c->config;
			seen = &c->has_config;
		} else if (!strcmp(a, "-t") || !strcmp(a, "--tag") || !strcmp(a, "--tags")) {
			slot = &c->tag;
			seen = &c->has_tag;
		} else if (!strcmp(a, "-e") || !strcmp(a, "--expiration")) {
			slot = &c->expiration;
			seen = &c->has_expiration;
		} else if (!strcmp(a, "--json")) {
			boolean = &c->json;
			seen = &c->json;
		} else {
			boolean = &c->quiet;
			seen = &c->quiet;
		}
		if (*seen)
			handover();
		if (kind == F_VALUE) {
			const char *v = i + 1 < argc ? argv[i + 1] : NULL;
			if (!v || v[0] == '-')
				handover();
			*slot = v;
			*seen = 1;
			i++;
		} else {
			*boolean = 1;
		}
	}
	if (npos < 2 || npos > 3 || (strcmp(pos[0], "drop") && strcmp(pos[0], "ignore")))
		handover();
	c->policy = pos[0];
	c->sub = pos[1];
	c->target = npos == 3 ? pos[2] : NULL;
	if (!strcmp(c->sub, "list")) {
		if (c->target || (c->quiet && c->json))
			handover();
		if (c->has_tag && !is_ascii(c->tag))
			handover(); /* trim() of Unicode spaces: the Node CLI's */
		return;
	}
	if (strcmp(c->sub, "add") && strcmp(c->sub, "delete") && strcmp(c->sub, "inspect"))
		handover();
	if (!c->target || !parse_cidr(c->target, cidr))
		handover();
	if (!strcmp(c->sub, "add") && c->has_tag && !tag_valid(c->tag))
		handover();
}

/* ------------------------------------------------------------ the commands (src/cli/commands/entries.ts) */

static void print_and_exit(struct buf *out)
{
	if (out->len)
		fwrite(out->p, 1, out->len, stdout);
	if (fflush(stdout) != 0)
		exit(1);
	exit(0);
}

int main(int argc, char **argv)
{
	orig_argv = argv;
	if (getenv("COUICCTL_NO_FAST_PATH"))
		handover();
	struct cmdline c;
	struct cidr cidr;
	parse_command_line(argc, argv, &c, &cidr);

	struct endpoint ep;
	load_endpoint(c.has_config ? c.config : NULL, &ep);

	struct buf out = {0};
	struct jv v;
	char path[128];
	const char *policy = c.policy;

	if (!strcmp(c.sub, "add")) {
		double expiration = 0;
		const char *e = c.has_expiration ? c.expiration : "0";
		if (strcmp(e, "0")) {
			if (!is_ascii(e))
				handover(); /* Unicode spaces, µs: the Node CLI's */
			double secs = parse_humantime(e);
			if (secs < 0)
				command_error("Generic error: Invalid expiration format");
			expiration = (double)now_seconds() + secs;
			if (expiration > MAX_SAFE_INTEGER)
				handover(); /* JavaScript's digits for such a number: not ours to mirror */
		}
		struct buf body = {0};
		buf_puts(&body, "{\"cidr\":");
		js_quote(&body, cidr.text);
		buf_puts(&body, ",\"tag\":");
		if (c.has_tag)
			js_quote(&body, c.tag);
		else
			buf_puts(&body, !strcmp(policy, "drop") ? "\"couicctl\"" : "null");
		buf_puts(&body, ",\"expiration\":");
		js_number(&body, expiration);
		buf_puts(&body, "}");
		snprintf(path, sizeof(path), "/v1/%s", policy);
		if (!call(&ep, "POST", path, body.p, &v) || v.type != J_OBJ)
			command_error("Generic error: the daemon's answer is not an entry");
	} else if (!strcmp(c.sub, "delete")) {
		snprintf(path, sizeof(path), "/v1/%s/%s", policy, cidr.text);
		call(&ep, "DELETE", path, NULL, &v);
		print_and_exit(&out);
	} else if (!strcmp(c.sub, "inspect")) {
		snprintf(path, sizeof(path), "/v1/%s/%s", policy, cidr.text);
		if (!call(&ep, "GET", path, NULL, &v) || v.type != J_OBJ)
			command_error("Generic error: the daemon's answer is not an entry");
	} else { /* list */
		snprintf(path, sizeof(path), "/v1/%s", policy);
		if (!call(&ep, "GET", path, NULL, &v) || v.type != J_ARR)
			command_error("Generic error: the daemon's answer is not a list of entries");
		const struct jv **kept = calloc(v.n ? v.n : 1, sizeof(*kept));
		size_t n = 0;
		for (size_t i = 0; i < v.n; i++) {
			if (v.items[i].type != J_OBJ)
				command_error("Generic error: the daemon's answer is not a list of entries");
			struct jv *tag = jget(&v.items[i], "tag");
			if (c.has_tag && !(tag && tag_matches_any(tag, c.tag)))
				continue;
			kept[n++] = &v.items[i];
		}
		if (c.json) {
			if (n == 0) {
				buf_puts(&out, "[]");
			} else {
				buf_puts(&out, "[\n");
				for (size_t i = 0; i < n; i++) {
					buf_puts(&out, "  ");
					entry_json(&out, kept[i], 2);
					buf_puts(&out, i + 1 < n ? ",\n" : "\n");
				}
				buf_puts(&out, "]");
			}
			buf_puts(&out, "\n");
		} else if (c.quiet) {
			for (size_t i = 0; i < n; i++) {
				struct jv *cd = jget(kept[i], "cidr");
				if (!cd || cd->type != J_STR)
					command_error("Generic error: the daemon's answer is not a list of entries");
				buf_printf(&out, "%s\n", cd->str);
			}
		} else if (!entries_table(&out, policy, kept, n)) {
			command_error("Generic error: the daemon's answer is not a list of entries");
		}
		print_and_exit(&out);
	}
	/* add, inspect: one entry */
	if (c.json) {
		entry_json(&out, &v, 0);
		buf_puts(&out, "\n");
	} else {
		const struct jv *one = &v;
		if (!entries_table(&out, policy, &one, 1))
			command_error("Generic error: the daemon's answer is not an entry");
	}
	print_and_exit(&out);
}
