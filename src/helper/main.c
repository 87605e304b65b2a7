// SPDX-License-Identifier: GPL-2.0
/* couic-helper - loads and attaches the couic XDP program, then serves the
 * framed protocol of docs/helper-protocol.md on stdin/stdout.
 *
 * stdout carries protocol frames only (and the --abi JSON); every log line
 * goes to stderr.  Functions return 0 or -errno.  The modules are listed
 * in helper.h.
 *
 * Exit codes: 0 on EOF, SIGTERM/SIGINT or SHUTDOWN; 1 on a start failure
 * (after a HELLO frame with status < 0) or a failed write to stdout; 2 on
 * a bad frame magic.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper.h"

enum action { ACT_SERVE, ACT_ABI, ACT_UNPIN, ACT_HELP };

static struct helper helper = {
	.opt = {
		.mode = MODE_AUTO,
		.cap_drop_exact = COUIC_DEF_DROP_EXACT,
		.cap_drop_cidr = COUIC_DEF_DROP_CIDR,
		.cap_ignore_exact = COUIC_DEF_IGNORE_EXACT,
		.cap_ignore_cidr = COUIC_DEF_IGNORE_CIDR,
		.max_tags = COUIC_DEF_MAX_TAGS,
	},
	.io = { .in_fd = STDIN_FILENO, .out_fd = STDOUT_FILENO },
	.cfg_fd = -1, .xdp_stats_fd = -1, .parse_fd = -1, .tag_fd = { -1, -1 },
	.prog_fd = -1,
};

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

/* In the order of opts[] below (the CAP rule names the option from it). */
enum {
	OPT_IFACE = 256, OPT_MODE, OPT_PIN_DIR, OPT_DROP_EXACT, OPT_DROP_CIDR,
	OPT_IGNORE_EXACT, OPT_IGNORE_CIDR, OPT_MAX_TAGS, OPT_LPM_ONLY, OPT_VERBOSE,
	OPT_NO_BATCH, OPT_ABI, OPT_UNPIN, OPT_HELP,
};

/* Fills opt; *act says what to do, *unpin the --unpin DIR.  Returns 0 or
 * -errno with errmsg set. */
static int parse_args(int argc, char **argv, struct helper_opts *opt, enum action *act,
		      const char **unpin)
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
	bool abi = false;
	int c, i;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case OPT_IFACE:
			if (opt->n_ifaces == (int)COUIC_MAX_IFACES)
				return fail(-E2BIG, "more than %u interfaces", COUIC_MAX_IFACES);
			if (!optarg[0] || strlen(optarg) >= IF_NAMESIZE)
				return fail(-EINVAL, "interface %s: invalid name", optarg);
			for (i = 0; i < opt->n_ifaces; i++)
				if (!strcmp(opt->ifnames[i], optarg))
					return fail(-EINVAL, "interface %s: given twice", optarg);
			opt->ifnames[opt->n_ifaces++] = optarg;
			break;
		case OPT_MODE:
			if (!strcmp(optarg, "auto"))
				opt->mode = MODE_AUTO;
			else if (!strcmp(optarg, "native"))
				opt->mode = COUIC_MODE_NATIVE;
			else if (!strcmp(optarg, "generic"))
				opt->mode = COUIC_MODE_GENERIC;
			else
				return fail(-EINVAL, "--mode %s: expected auto, native or generic",
					    optarg);
			break;
		case OPT_PIN_DIR:
			opt->pin_dir = optarg;
			break;
#define CAP(o, field, max)							\
		case o:								\
			if (!parse_u32(optarg, 1, max, &opt->field))		\
				return fail(-EINVAL, "--%s %s: expected 1..%u",	\
					    opts[o - OPT_IFACE].name, optarg, max);	\
			break;
		CAP(OPT_DROP_EXACT, cap_drop_exact, MAX_CAPACITY)
		CAP(OPT_DROP_CIDR, cap_drop_cidr, MAX_CAPACITY)
		CAP(OPT_IGNORE_EXACT, cap_ignore_exact, MAX_CAPACITY)
		CAP(OPT_IGNORE_CIDR, cap_ignore_cidr, MAX_CAPACITY)
		CAP(OPT_MAX_TAGS, max_tags, MAX_TAGS_LIMIT)
#undef CAP
		case OPT_LPM_ONLY:
			opt->lpm_only = true;
			break;
		case OPT_NO_BATCH:
			opt->no_batch = true;
			break;
		case OPT_VERBOSE:
			opt->verbose = true;
			break;
		case OPT_ABI:
			abi = true;
			break;
		case OPT_UNPIN:
			*unpin = optarg;
			break;
		case OPT_HELP:
			*act = ACT_HELP;
			return 0;
		default:
			return fail(-EINVAL, "invalid argument %s (see --help)", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return fail(-EINVAL, "unexpected argument %s (see --help)", argv[optind]);
	*act = abi ? ACT_ABI : *unpin ? ACT_UNPIN : ACT_SERVE;
	return 0;
}

/* --unpin DIR: a missing DIR is nothing to do. */
static int unpin_only(struct helper *h, const char *dir)
{
	struct stat st;

	if (stat(dir, &st)) {
		int e = errno;	/* log_err's stdio may change errno */

		log_err("--unpin %s: %s", dir, strerror(e));
		return e == ENOENT ? 0 : 1;
	}
	return unpin_dir(h, dir, UNPIN_ALL) ? 1 : 0;
}

int main(int argc, char **argv)
{
	struct helper *h = &helper;
	const char *unpin = NULL;
	enum action act = ACT_SERVE;
	int i, err, rc = 1;

	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < (int)COUIC_MAX_IFACES; i++)
		h->ifaces[i].link_fd = -1;	/* release_ifaces() closes fds >= 0 */
	log_set_verbose(false);
	err = parse_args(argc, argv, &h->opt, &act, &unpin);
	if (err)
		goto start_failed;
	log_set_verbose(h->opt.verbose);
	switch (act) {
	case ACT_HELP:
		usage(stderr);
		return 0;
	case ACT_ABI:
		return print_abi();
	case ACT_UNPIN:
		return unpin_only(h, unpin);
	case ACT_SERVE:
		break;
	}

	err = stop_signals_install();
	if (!err)
		err = io_init(&h->io);
	if (!err)
		err = scratch_alloc(h);
	if (!err)
		err = start(h);
	if (err)
		goto start_failed;
	if (send_hello(h))
		goto cleanup;
	rc = serve(h);
	goto cleanup;

start_failed:
	send_start_error(h, err);
	rc = 1;
cleanup:
	stop(h);
	scratch_free(h);
	io_free(&h->io);
	return rc;
}
