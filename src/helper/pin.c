// SPDX-License-Identifier: GPL-2.0
/* pin.c - bpffs pins: DIR/maps/<map> and DIR/links/<ifname>; the check
 * that a pinned map fits the program; removal of stale or all pins. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "helper.h"

void pin_path(char *buf, size_t sz, const char *dir, const char *sub, const char *name)
{
	snprintf(buf, sz, "%s/%s/%s", dir, sub, name);
}

int mkdir_p(const char *path)
{
	if (mkdir(path, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Checks a pinned map against the one the program defines. */
int check_pinned(const struct helper *h, struct bpf_map *map, int fd, const char *path)
{
	struct bpf_map_info info = { 0 };
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return fail(-errno, "pinned map %s: %s", path, strerror(errno));
#define CHECK(what, have, want)							\
	if ((have) != (want))							\
		return fail(-EEXIST, "pinned map %s: %s %u, expected %u (other "	\
			    "capacities or layout: --unpin %s to start fresh)",	\
			    path, what, (unsigned)(have), (unsigned)(want), h->opt.pin_dir)
	CHECK("type", info.type, bpf_map__type(map));
	CHECK("key size", info.key_size, bpf_map__key_size(map));
	CHECK("value size", info.value_size, bpf_map__value_size(map));
	CHECK("max_entries", info.max_entries, bpf_map__max_entries(map));
	CHECK("flags", info.map_flags, bpf_map__map_flags(map));
#undef CHECK
	return 0;
}

static bool configured(const struct helper *h, const char *ifname)
{
	int i;

	for (i = 0; i < h->opt.n_ifaces; i++)
		if (!strcmp(ifname, h->opt.ifnames[i]))
			return true;
	return false;
}

/* UNPIN_STALE_LINKS: detaches and unpins the links of interfaces that are
 * no longer configured.  UNPIN_ALL: every link, every map, then the dirs. */
int unpin_dir(const struct helper *h, const char *dir, enum unpin what)
{
	static const char *const subs[] = { "links", "maps" };
	bool all = what == UNPIN_ALL;
	char path[PATH_MAX], sub[PATH_MAX];
	struct dirent *de;
	int s, err = 0;

	for (s = 0; s < (all ? 2 : 1); s++) {
		DIR *d;

		snprintf(sub, sizeof(sub), "%s/%s", dir, subs[s]);
		d = opendir(sub);
		if (!d)
			continue;
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			if (!all && configured(h, de->d_name))
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
		if (all)
			rmdir(sub);
	}
	if (all)
		rmdir(dir);
	return err;
}
