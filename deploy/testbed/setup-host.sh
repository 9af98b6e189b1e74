#!/bin/sh
# Prepare this Debian 12 host to run Debian 12 containers with systemd as PID 1
# under rootful podman (the systemd boot test and the molecule scenarios).
#
# Interface (stable; deploy/ansible and tests/systemd call it):
#   deploy/testbed/setup-host.sh        no arguments, run as root
#   exit 0 when the host is ready; idempotent, about a second when nothing
#   is left to do (no apt-get call then).
#
# What it does, and why (measured on these machines, see DESIGN.md):
#   - installs podman, runc, netavark + aardvark-dns (container networks whose
#     members reach each other by name), iptables (netavark's NAT needs it:
#     without it every run fails "netavark: No such file or directory") and
#     mmdebstrap (builds the image), with
#     no recommends: rootful podman needs neither uidmap nor slirp4netns, and
#     the host's ext4 takes native overlay, so no fuse-overlayfs;
#   - writes /etc/containers/containers.conf:
#       runtime = "runc"           crun refuses the hybrid cgroup layout
#       cgroup_manager = cgroupfs  the host's PID 1 is not systemd
#       events_logger = file, log_driver = k8s-file   no journald on the host
#       default_ulimits            podman's defaults exceed what this VM may
#                                  set, so nofile = the hard `ulimit -Hn` and
#                                  nproc = /proc/sys/kernel/pid_max, computed
#                                  here at run time.
set -eu

if [ "$(id -u)" != 0 ]; then
    echo "setup-host.sh: must run as root" >&2
    exit 1
fi

PACKAGES="podman runc conmon netavark aardvark-dns iptables mmdebstrap"

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    [ "$status" = installed ] || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    echo "setup-host.sh: installing$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] && nofile=1048576
nproc=$(cat /proc/sys/kernel/pid_max)

conf=/etc/containers/containers.conf
want=$(cat <<EOF
# Written by deploy/testbed/setup-host.sh: runs Debian containers with systemd
# as PID 1 on a host whose PID 1 is not systemd, with a hybrid cgroup layout.
[containers]
default_ulimits = ["nofile=${nofile}:${nofile}", "nproc=${nproc}:${nproc}"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
)
if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$want" ]; then
    mkdir -p /etc/containers
    printf '%s\n' "$want" >"$conf.tmp"
    mv "$conf.tmp" "$conf"
    echo "setup-host.sh: wrote $conf"
fi
