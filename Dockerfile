# syntax=docker/dockerfile:1
#
# couic as a sidecar container (docs/deploy.md).
#
#   docker build -t couic .                                   # public Node 22 base
#   podman build --build-arg BASE=localhost/debian:bookworm -t couic .   # a local Debian base
#   docker build --target fail2ban -t couic-fail2ban .         # the fail2ban sidecar
#
# Stages:
#   node      a Node >= 20.19 for the other stages: the base's own when it has one,
#             else node-linux-<arch>@NODE_MAJOR (the official binary) and npm@NPM_MAJOR
#             from the npm registry, fetched with Debian's npm (thrown away with the stage)
#   build     BPF object, couic-helper, TypeScript; `packaging/install.sh` into /out
#   runtime   Node, the helper, dist/, production node_modules, action.d/, jail.d/,
#             the container config
#   fail2ban  runtime + Debian's fail2ban, our action.d/jail.d in /etc/fail2ban (sidecar)
#   nats      Debian's nats-server with JetStream: the fleet's engine (docs/fleet.md)
#   couic     (last, the default) = runtime
#
# The base is Debian 12 (bookworm) or a derivative; it must have apt.
ARG BASE=node:22-bookworm-slim

FROM ${BASE} AS node
ARG NODE_MAJOR=22
ARG NPM_MAJOR=10
# /opt/node-rt  -> merged into /usr/local of the runtime (empty when the base has Node)
# /opt/node-npm -> merged into /usr/local of the build stage (empty when the base has npm)
RUN set -eu; \
    mkdir -p /opt/node-rt /opt/node-npm; \
    if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 && \
       node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then \
        echo "node stage: the base has Node $(node --version) and npm $(npm --version)"; touch /opt/.base-has-node; exit 0; \
    fi; \
    export DEBIAN_FRONTEND=noninteractive; \
    apt-get update -qq; \
    apt-get install -y -qq --no-install-recommends ca-certificates nodejs npm >/dev/null
# A TLS-intercepting proxy's CA, if the build needs one to reach the npm registry:
#   --secret id=ca_bundle,src=/etc/ssl/certs/ca-certificates.crt
RUN --mount=type=secret,id=ca_bundle set -eu; \
    [ -e /opt/.base-has-node ] && exit 0; \
    if [ -s /run/secrets/ca_bundle ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca_bundle; fi; \
    case "$(dpkg --print-architecture)" in \
        amd64) arch=x64 ;; arm64) arch=arm64 ;; ppc64el) arch=ppc64le ;; s390x) arch=s390x ;; \
        *) echo "no node-linux package for $(dpkg --print-architecture)"; exit 1 ;; \
    esac; \
    cd /tmp; \
    npm pack --loglevel=error "node-linux-${arch}@${NODE_MAJOR}" "npm@${NPM_MAJOR}"; \
    mkdir -p /opt/node-rt/bin /opt/node-npm/lib/node_modules/npm /opt/node-npm/bin; \
    tar -xzf node-linux-${arch}-*.tgz --strip-components=2 -C /opt/node-rt/bin package/bin/node; \
    tar -xzf npm-*.tgz --strip-components=1 -C /opt/node-npm/lib/node_modules/npm; \
    ln -s ../lib/node_modules/npm/bin/npm-cli.js /opt/node-npm/bin/npm; \
    ln -s ../lib/node_modules/npm/bin/npx-cli.js /opt/node-npm/bin/npx; \
    echo "node stage: Node $(/opt/node-rt/bin/node --version) from node-linux-${arch}@${NODE_MAJOR}"; \
    rm -f /tmp/*.tgz

FROM ${BASE} AS build
COPY --from=node /opt/node-rt/ /usr/local/
COPY --from=node /opt/node-npm/ /usr/local/
RUN set -eu; export DEBIAN_FRONTEND=noninteractive; \
    apt-get update -qq; \
    apt-get install -y -qq --no-install-recommends ca-certificates clang llvm libbpf-dev libelf-dev \
        zlib1g-dev bpftool make gcc libc6-dev pkg-config >/dev/null; \
    rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=ca_bundle \
    if [ -s /run/secrets/ca_bundle ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca_bundle; fi; \
    npm ci --no-audit --no-fund --loglevel=error
COPY tsconfig.json ./
COPY src ./src
RUN make -C src/helper && npx tsc -p tsconfig.json
COPY packaging ./packaging
# action.d/ and jail.d/ may hold only a .gitkeep: install.sh skips them then.
COPY action.d ./action.d
COPY jail.d ./jail.d
# install.sh copies only the production packages of package-lock.json.
RUN DESTDIR=/out PREFIX=/usr sh packaging/install.sh \
    && install -m 0640 packaging/docker/couic.toml /out/etc/couic/couic.toml \
    && install -m 0600 packaging/docker/couicctl.toml /out/etc/couic/couicctl.toml \
    && mkdir -p /out/etc/fail2ban/action.d /out/etc/fail2ban/jail.d \
    && rm -rf /out/lib/systemd /out/usr/lib/systemd /out/usr/lib/sysusers.d /out/usr/lib/tmpfiles.d \
    && /out/usr/lib/couic/src/helper/.output/couic-helper --abi >/dev/null

FROM ${BASE} AS runtime
RUN set -eu; export DEBIAN_FRONTEND=noninteractive; \
    apt-get update -qq; \
    apt-get install -y -qq --no-install-recommends libbpf1 libelf1 zlib1g >/dev/null; \
    rm -rf /var/lib/apt/lists/*
COPY --from=node /opt/node-rt/ /usr/local/
COPY --from=build /out/ /
# The daemon drops to couic:couic after startup (packaging/docker/couic.toml);
# fresh volumes take these directories' owner.
RUN groupadd --system couic \
    && useradd --system --gid couic --home-dir /var/lib/couic --no-create-home --shell /usr/sbin/nologin couic \
    && mkdir -p /var/lib/couic /run/couic && chown couic:couic /var/lib/couic /run/couic \
    && /usr/lib/couic/src/helper/.output/couic-helper --abi >/dev/null \
    && node -e 'process.exit(0)' && node --version
# State (journal, rbac/clients, sets) and the socket directory are meant to be volumes:
#   -v couic-state:/var/lib/couic -v couic-run:/run/couic
VOLUME ["/var/lib/couic", "/run/couic"]
# couic-launcher is PID 1, as root with only CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON
# (the helper's) and CAP_SETUID, CAP_SETGID, CAP_CHOWN (the daemon's drop to
# couic:couic after its setup; SETPCAP: the launcher cuts the helper's bounding
# set to the first three; KILL: it forwards SIGTERM to the daemon, another uid):
# --cap-drop ALL --cap-add BPF --cap-add NET_ADMIN --cap-add PERFMON --cap-add SETUID
# --cap-add SETGID --cap-add CHOWN --cap-add SETPCAP --cap-add KILL
# --security-opt seccomp=packaging/docker/seccomp.json (docs/deploy.md, "Who
# holds what"). The daemon then runs as couic with no capability.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/lib/couic/src/helper/.output/couic-launcher", "--", "couic"]
CMD ["-c", "/etc/couic/couic.toml"]

# The fail2ban sidecar (optional): Debian's fail2ban, with couic and couicctl (for
# actions that call them) and our action.d/jail.d in /etc/fail2ban. It needs no
# capability: it bans through couic's socket (shared volume /run/couic).
FROM runtime AS fail2ban
RUN set -eu; export DEBIAN_FRONTEND=noninteractive; \
    apt-get update -qq; \
    apt-get install -y -qq --no-install-recommends fail2ban python3-systemd curl >/dev/null; \
    rm -rf /var/lib/apt/lists/* /etc/fail2ban/jail.d/defaults-debian.conf; \
    mkdir -p /run/fail2ban
COPY --from=build /out/etc/fail2ban/ /etc/fail2ban/
VOLUME ["/var/lib/fail2ban"]
ENTRYPOINT []
# Foreground (-f), logs to stderr, -x removes a stale fail2ban socket.
CMD ["fail2ban-server", "-f", "-x", "--logtarget=STDERR"]

# The fleet's engine for a trial (docs/fleet.md): Debian's nats-server, JetStream on,
# its store a volume. Production runs a 3-server cluster (docs/fleet.md, step 1).
FROM ${BASE} AS nats
RUN set -eu; export DEBIAN_FRONTEND=noninteractive; \
    apt-get update -qq; \
    apt-get install -y -qq --no-install-recommends nats-server >/dev/null; \
    rm -rf /var/lib/apt/lists/*; \
    mkdir -p /var/lib/nats && chown nats:nats /var/lib/nats
VOLUME ["/var/lib/nats"]
USER nats
ENTRYPOINT ["nats-server"]
CMD ["-js", "-sd", "/var/lib/nats", "-a", "127.0.0.1", "-p", "4222"]

# The default target: the couic daemon.
FROM runtime AS couic
