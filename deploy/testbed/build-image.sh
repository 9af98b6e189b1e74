#!/bin/bash
# Build the local podman image of a Debian 12 host with systemd as PID 1: the
# systemd boot test (tests/systemd) and the molecule scenarios (deploy/ansible)
# run their "hosts" from it. No image registry is used or needed.
#
# Interface (stable; deploy/ansible and tests/systemd call it):
#   deploy/testbed/build-image.sh [--force] [IMAGE]
#     IMAGE    default localhost/capibara6-debian12
#     --force  rebuild even if the image is up to date
#   Runs deploy/testbed/setup-host.sh first (root; installs podman/mmdebstrap).
#   The recipe (this file's code and the Debian mirror) is hashed into the image label
#   org.capibara6.recipe; when IMAGE already carries the same hash the script
#   exits at once (about a second). A cold build takes one to two minutes.
#   Concurrent runs wait for each other (flock), so only one builds.
#   Run the image with: podman run -d --systemd=always --cap-add SYS_ADMIN
#   --cap-add SYS_PTRACE IMAGE
#   (see testbed.py beside this file), then `systemctl is-system-running --wait`.
#
# The image: `mmdebstrap --variant=minbase bookworm` from the host's configured
# Debian mirror with the packages below, an empty /etc/machine-id (systemd makes
# one per boot), the gettys and apt timers masked, imported with CMD
# /sbin/init and STOPSIGNAL SIGRTMIN+3 (systemd's clean shutdown signal).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
image=localhost/capibara6-debian12
force=0
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        -*) echo "build-image.sh: unknown option $arg" >&2; exit 2 ;;
        *) image=$arg ;;
    esac
done

"$here/setup-host.sh"

# What a host has: systemd and D-Bus to boot; python3 (+venv, +apt for
# Ansible's apt module) to run the application and Ansible; espeak-ng for the
# TTS fallback engine; the tools the tests and roles use.
PACKAGES=systemd,systemd-sysv,dbus,python3,python3-venv,python3-apt,iproute2,curl,ca-certificates,procps,sudo,espeak-ng

# Units that only make sense on a real machine, masked so that the container
# reaches "running" rather than "degraded".
MASK="getty@.service console-getty.service serial-getty@.service getty.target
apt-daily.timer apt-daily-upgrade.timer
systemd-firstboot.service systemd-remount-fs.service
sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount
dev-hugepages.mount"

# The host's Debian archive and security mirrors (one-line or deb822 sources).
uris=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) { print $i; break } }';
       cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }')
mirror=$(printf '%s\n' "$uris" | grep -E '/debian/?$' | head -n1 || true)
security=$(printf '%s\n' "$uris" | grep -E '/debian-security/?$' | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
security=${security:-http://deb.debian.org/debian-security}
sources="deb ${mirror%/} bookworm main
deb ${mirror%/} bookworm-updates main
deb ${security%/} bookworm-security main"

# (comment lines are left out of the hash: editing them needs no rebuild)
# One build at a time (the tests and molecule may start together); the second
# one then finds the image up to date.
exec 9>/var/tmp/capibara6-build-image.lock
flock 9

recipe=$( { grep -v '^[[:space:]]*#' "$0"; printf '%s\n' "$sources"; } | sha256sum | cut -c1-16)
have=$(podman image inspect --format '{{ index .Labels "org.capibara6.recipe" }}' "$image" 2>/dev/null || true)
if [ "$force" = 0 ] && [ "$have" = "$recipe" ]; then
    echo "build-image.sh: $image is up to date (recipe $recipe)"
    exit 0
fi

mask_hook='for u in '$(echo $MASK)'; do ln -sf /dev/null "$1/etc/systemd/system/$u"; done'

echo "build-image.sh: building $image from ${mirror%/} with mmdebstrap (one to two minutes)..."
start=$(date +%s)
old_id=$(podman image inspect --format '{{ .Id }}' "$image" 2>/dev/null || true)
printf '%s\n' "$sources" \
| mmdebstrap --quiet --variant=minbase --include="$PACKAGES" \
    --customize-hook='truncate -s 0 "$1/etc/machine-id"' \
    --customize-hook='rm -f "$1/var/lib/dbus/machine-id"' \
    --customize-hook="$mask_hook" \
    bookworm - - \
| podman import --quiet \
    --change 'CMD ["/sbin/init"]' \
    --change 'STOPSIGNAL SIGRTMIN+3' \
    --change "LABEL org.capibara6.recipe=$recipe" \
    - "$image" >/dev/null
if [ -n "$old_id" ] && [ "$old_id" != "$(podman image inspect --format '{{ .Id }}' "$image")" ]; then
    podman image rm "$old_id" >/dev/null 2>&1 || true   # untagged leftover; may be in use
fi
echo "build-image.sh: built $image (recipe $recipe) in $(( $(date +%s) - start )) s"
