#!/bin/sh
# Installs a built couic tree (after `npm run build`) on this system, or into
# DESTDIR for packaging:
#
#   sh packaging/install.sh                         # as root: /usr/lib/couic, /usr/bin/couic{,ctl}, ...
#   DESTDIR=/tmp/pkg PREFIX=/usr sh packaging/install.sh   # staged: no user created, no chown to couic
#
# Variables: DESTDIR (staging root, default none), PREFIX (default /usr),
# BINDIR (default $PREFIX/bin; the Debian package uses /usr/sbin, Couic's
# place), SYSCONFDIR (default /etc), NODE (the node the wrappers run; default
# `node` from PATH at run time).
#
# What goes where (PREFIX=/usr):
#   /usr/lib/couic/{package.json,dist/src,node_modules,src/helper/.output/couic-helper}
#                                 the built tree; production node_modules only
#   /usr/bin/couic, /usr/bin/couicctl-node    wrappers (0755) running dist/src/{daemon,cli}/main.js
#   /usr/bin/couicctl                         the native front (C, libc only): runs the entry
#                                             commands itself, execs couicctl-node for the rest
#   /usr/bin/couic-ban                        the fail2ban action's client (C, libc only)
#   /usr/share/man/man1/couicctl.1, man8/couic.8   generated from the CLI's and the config's definitions
#   /usr/lib/systemd/system/couic.service     the hardened unit
#   /usr/lib/sysusers.d/couic.conf            the couic system user and group
#   /usr/lib/tmpfiles.d/couic.conf            /var/lib/couic, /run/couic, /var/log/couic, the config's group
#   /etc/couic/couic.toml (0640 root:couic), /etc/couic/couicctl.toml (0600 root:root)
#                                 kept when already there (the new one is written as *.dist)
#   /etc/fail2ban/action.d/*, /etc/fail2ban/jail.d/*   from action.d/ and jail.d/ of the tree
#   /var/lib/couic (0755 couic:couic, as the daemon wants its working dir)
# Without DESTDIR (a real install, as root) it also creates the couic user and group.
set -eu

here=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd)
top=$(dirname -- "$here")
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr}
SYSCONFDIR=${SYSCONFDIR:-/etc}
NODE=${NODE:-node}
BINDIR=${BINDIR:-$PREFIX/bin}

libdir=$PREFIX/lib/couic
bindir=$BINDIR
mandir=$PREFIX/share/man
unitdir=$PREFIX/lib/systemd/system
sysusersdir=$PREFIX/lib/sysusers.d
tmpfilesdir=$PREFIX/lib/tmpfiles.d
confdir=$SYSCONFDIR/couic
statedir=/var/lib/couic
helper_rel=src/helper/.output/couic-helper
banclient_rel=src/helper/.output/couic-ban
ctlfront_rel=src/helper/.output/couicctl
launcher_rel=src/helper/.output/couic-launcher

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }
d() { printf '%s%s' "$DESTDIR" "$1"; }

case $PREFIX in /*) ;; *) die "PREFIX must be an absolute path (got '$PREFIX')" ;; esac
case $BINDIR in /*) ;; *) die "BINDIR must be an absolute path (got '$BINDIR')" ;; esac
[ -f "$top/dist/src/daemon/main.js" ] || die "$top/dist/src/daemon/main.js is missing: run 'npm run build' first"
[ -f "$top/dist/src/cli/main.js" ] || die "$top/dist/src/cli/main.js is missing: run 'npm run build' first"
[ -x "$top/$helper_rel" ] || die "$top/$helper_rel is missing: run 'npm run build' first"
[ -x "$top/$launcher_rel" ] || die "$top/$launcher_rel is missing: run 'npm run build' first"
[ -x "$top/$banclient_rel" ] || die "$top/$banclient_rel is missing: run 'npm run build' first"
[ -x "$top/$ctlfront_rel" ] || die "$top/$ctlfront_rel is missing: run 'npm run build' first"
[ -d "$top/node_modules" ] || die "$top/node_modules is missing: run 'npm ci' first"
if [ -z "$DESTDIR" ] && [ "$(id -u)" != 0 ]; then die "a system install needs root (or set DESTDIR)"; fi

# --- the built tree ---------------------------------------------------------
rm -rf "$(d "$libdir")"
install -d -m 0755 "$(d "$libdir")" "$(d "$libdir/dist")" "$(d "$libdir/src/helper/.output")"
install -m 0644 "$top/package.json" "$(d "$libdir/package.json")"
[ -f "$top/package-lock.json" ] && install -m 0644 "$top/package-lock.json" "$(d "$libdir/package-lock.json")"
cp -R "$top/dist/src" "$(d "$libdir/dist/src")"
install -m 0755 "$top/$helper_rel" "$(d "$libdir/$helper_rel")"
install -m 0755 "$top/$launcher_rel" "$(d "$libdir/$launcher_rel")"
[ -f "$top/docs/deploy.md" ] && install -D -m 0644 "$top/docs/deploy.md" "$(d "$libdir/docs/deploy.md")"
chmod 0755 "$(d "$libdir/dist/src/daemon/main.js")" "$(d "$libdir/dist/src/cli/main.js")"

# Production dependencies only: the packages package-lock.json does not mark "dev".
install -d -m 0755 "$(d "$libdir/node_modules")"
if [ -f "$top/package-lock.json" ] && command -v node >/dev/null 2>&1; then
  node -e '
    const lock = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    for (const [p, m] of Object.entries(lock.packages ?? {})) {
      if (p.startsWith("node_modules/") && !m.dev && !m.link) console.log(p.slice("node_modules/".length));
    }' "$top/package-lock.json" |
  while IFS= read -r pkg; do
    [ -d "$top/node_modules/$pkg" ] || die "node_modules/$pkg is missing: run 'npm ci' first"
    mkdir -p "$(d "$libdir/node_modules/$pkg")"
    # nested node_modules are packages of their own, listed separately
    (cd "$top/node_modules/$pkg" && tar -c --exclude=./node_modules .) | (cd "$(d "$libdir/node_modules/$pkg")" && tar -x --no-same-owner)
  done
else
  say "no package-lock.json or node: copying node_modules whole"
  cp -R "$top/node_modules/." "$(d "$libdir/node_modules")"
fi

# --- wrappers ---------------------------------------------------------------
install -d -m 0755 "$(d "$bindir")"
for pair in couic:daemon couicctl-node:cli; do
  name=${pair%%:*}
  sub=${pair#*:}
  cat > "$(d "$bindir/$name")" <<EOF
#!/bin/sh
# $name: couic's ${sub} (installed by packaging/install.sh)
exec $NODE $libdir/dist/src/$sub/main.js "\$@"
EOF
  chmod 0755 "$(d "$bindir/$name")"
done
# the fail2ban shim's client: libc only, no Node per ban
install -m 0755 "$top/$banclient_rel" "$(d "$bindir/couic-ban")"
# couicctl: the native front; it execs couicctl-node (beside it) for what it does not run
install -m 0755 "$top/$ctlfront_rel" "$(d "$bindir/couicctl")"

# --- man pages: generated from the definitions --help uses ------------------
if command -v node >/dev/null 2>&1; then
  mantmp=$(mktemp -d)
  node "$top/dist/src/man/main.js" "$mantmp" || { rm -rf "$mantmp"; die "cannot generate the man pages"; }
  install -d -m 0755 "$(d "$mandir/man1")" "$(d "$mandir/man8")"
  install -m 0644 "$mantmp/couicctl.1" "$(d "$mandir/man1/couicctl.1")"
  install -m 0644 "$mantmp/couic.8" "$(d "$mandir/man8/couic.8")"
  rm -rf "$mantmp"
else
  say "no node in PATH: man pages not installed"
fi

# --- systemd: unit, sysusers, tmpfiles --------------------------------------
install -d -m 0755 "$(d "$unitdir")" "$(d "$sysusersdir")" "$(d "$tmpfilesdir")"
sed -e "s|/usr/bin/couic|$bindir/couic|g" \
    -e "s|/etc/couic/|$confdir/|g" \
    -e "s|file:/usr/lib/couic/|file:$libdir/|g" \
    -e "s|/usr/lib/couic/src/|$libdir/src/|g" \
    "$here/systemd/couic.service" > "$(d "$unitdir/couic.service")"
chmod 0644 "$(d "$unitdir/couic.service")"
cat > "$(d "$sysusersdir/couic.conf")" <<EOF
# couic daemon: system user and group (systemd-sysusers)
u couic - "couic XDP firewall daemon" $statedir /usr/sbin/nologin
EOF
cat > "$(d "$tmpfilesdir/couic.conf")" <<EOF
# couic: state, socket and log directories, the config's group (systemd-tmpfiles)
d $statedir 0755 couic couic -
d /run/couic 0750 couic couic -
d /var/log/couic 0750 couic couic -
# the bpffs pin dir ([dataplane] pin_dir): the XDP program keeps dropping while couic restarts
d /sys/fs/bpf/couic 0700 couic couic -
z $confdir/couic.toml 0640 root couic -
z $confdir/couicctl.toml 0600 root root -
EOF
chmod 0644 "$(d "$sysusersdir/couic.conf")" "$(d "$tmpfilesdir/couic.conf")"

# --- the couic user and group (real installs only) --------------------------
if [ -z "$DESTDIR" ]; then
  if ! getent group couic >/dev/null || ! getent passwd couic >/dev/null; then
    if command -v systemd-sysusers >/dev/null 2>&1; then
      systemd-sysusers "$sysusersdir/couic.conf"
    else
      getent group couic >/dev/null || groupadd --system couic
      getent passwd couic >/dev/null || useradd --system --gid couic --home-dir "$statedir" --no-create-home --shell /usr/sbin/nologin couic
    fi
    say "created the couic system user and group"
  fi
fi

# --- configs ----------------------------------------------------------------
# The config's group is couic when that group exists here (always on a real
# install); in a DESTDIR without it, root, and tmpfiles.d fixes it on the target.
confgroup=0
if [ "$(id -u)" = 0 ] && getent group couic >/dev/null; then confgroup=couic; fi
install -d -m 0755 "$(d "$confdir")"
put_conf() { # src dest mode group
  dest=$(d "$2")
  if [ -e "$dest" ] && [ -z "$DESTDIR" ]; then
    dest=$dest.dist
    say "kept the existing $2; the shipped one is $2.dist"
  fi
  install -m "$3" "$1" "$dest"
  if [ "$(id -u)" = 0 ]; then chown "0:$4" "$dest"; fi
}
put_conf "$here/couic.toml" "$confdir/couic.toml" 0640 "$confgroup"
put_conf "$here/couicctl.toml" "$confdir/couicctl.toml" 0600 0

# --- fail2ban actions and jails (those the tree has) ------------------------
for kind in action.d jail.d; do
  [ -d "$top/$kind" ] || continue
  for f in "$top/$kind"/*; do
    [ -f "$f" ] || continue     # also skips the literal glob of an empty dir
    install -d -m 0755 "$(d "/etc/fail2ban/$kind")"
    if [ -x "$f" ]; then mode=0755; else mode=0644; fi
    install -m "$mode" "$f" "$(d "/etc/fail2ban/$kind/$(basename "$f")")"
  done
done
# the action calls couic-ban where this install put it
if [ -f "$(d /etc/fail2ban/action.d/couic.conf)" ]; then
  sed -i "s|^couic_ban = .*|couic_ban = $bindir/couic-ban|" "$(d /etc/fail2ban/action.d/couic.conf)"
fi

# --- state directory ----------------------------------------------------------
install -d -m 0755 "$(d "$statedir")"
if [ -z "$DESTDIR" ]; then chown couic:couic "$statedir"; fi

if [ -z "$DESTDIR" ]; then
  command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ] && systemctl daemon-reload || true
  say "installed. Next: edit $confdir/couic.toml (ifaces), then: systemctl enable --now couic"
  command -v "$NODE" >/dev/null 2>&1 || say "warning: '$NODE' is not in PATH: couic needs Node >= 20.19 (set NODE=/path/to/node)"
else
  say "installed into $DESTDIR"
fi
