#!/bin/sh
# A podman for Debian 12's podman-compose (1.0.3), which gives every container
# `--net <project>_default --network-alias <service>`, also those with a
# network_mode (host, ns:<path>, ...): podman refuses that pair ("cannot set
# multiple networks without bridge network mode"), so compose.yaml's
# `network_mode: host` services cannot start. This drops that pair (once,
# where podman-compose puts it) when a --network was given, then runs podman.
# Later podman-compose versions do not need it (it then changes nothing).
#
#   podman-compose --podman-path "$PWD/packaging/docker/podman-compose-net.sh" up -d
set -eu
net_given=false
for a do
  case $a in --network|--network=*) net_given=true ;; esac
done
if $net_given; then
  # state: look (for "--net"), value (drop --net's value), alias (drop "--network-alias"), avalue, done
  state=look
  for a do
    shift
    case $state:$a in
      look:--net) state=value; continue ;;
      value:*) state=alias; continue ;;
      alias:--network-alias) state=avalue; continue ;;
      alias:*) state=done ;;
      avalue:*) state=done; continue ;;
    esac
    set -- "$@" "$a"
  done
fi
exec "${PODMAN:-podman}" "$@"
