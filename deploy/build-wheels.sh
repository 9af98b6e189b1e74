#!/bin/bash
# Build the application wheel from backend/ and a wheelhouse of its pinned
# dependencies, so that hosts install with no index at all. A production step:
# the capibara6_app role runs it on the controller; tests/systemd too.
#
# Interface (stable; deploy/ansible and tests/systemd call it):
#   deploy/build-wheels.sh [OUTDIR [REQUIREMENTS...]]
#     OUTDIR        default .cache/dist (relative to the repository root)
#     REQUIREMENTS  pinned requirement files, default requirements.txt; tts and
#                   mcp also need requirements-models.txt and one torch build,
#                   requirements-torch-cpu.txt or requirements-torch-cuda.txt
#                   (about 480 MB of wheels with the CPU build, 3 GB more with
#                   CUDA). Keep one OUTDIR per set of files (the Ansible role
#                   and the tests use .cache/dist, .cache/dist-models for the
#                   CPU build and .cache/dist-models-cuda), or they rebuild.
#                   A file that names an index of its own (--index-url,
#                   --extra-index-url: PyTorch's CPU builds) is built first and
#                   alone, without dependencies, so that index serves only its
#                   own packages; everything else resolves from pip's usual
#                   sources, against the wheels already built.
#     PYTHON        environment: the interpreter that builds (default python3);
#                   hosts are Debian 12 / CPython 3.11, so build with a 3.11.
#   Result in OUTDIR:
#     capibara6-<version>-py3-none-any.whl   the application (one, the current)
#     *.whl                                  every pinned dependency
#     requirements.txt                       the pins, concatenated (no options)
#     capibara6.version                      <version>, one line
#   Every pin (name==version) must be met by exactly that build: a wheel of
#   torch 2.13.0+cpu does not pass for torch==2.13.0 (the CUDA build), as a
#   local wheel directory in pip's configuration could make it.
#   Install on a host (release directory = a venv, see deploy/systemd/README.md):
#     python3 -m venv /opt/capibara6/releases/<version>
#     /opt/capibara6/releases/<version>/bin/pip install --no-index \
#         --find-links OUTDIR -r OUTDIR/requirements.txt capibara6==<version>
#   Idempotent: a stamp holds a hash of backend/, the requirement files and
#   this script; when it matches, the script exits at once. Safe to run
#   concurrently (a lock file OUTDIR.lock; the new set is built aside, then
#   moved in).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-.cache/dist}
shift || true
reqs=("$@")
[ ${#reqs[@]} -gt 0 ] || reqs=("$root/requirements.txt")
python=${PYTHON:-python3}
case "$out" in /*) ;; *) out="$root/$out" ;; esac
mkdir -p "$out"
exec 9>"$out.lock"   # beside OUTDIR, so that OUTDIR holds only the wheelhouse
flock 9

# Hash everything the result depends on (paths and contents).
stamp=$(
    {
        cat "$0"
        for r in "${reqs[@]}"; do echo "=="; cat "$r"; done   # contents, not paths
        cd "$root/backend"
        find . -type f ! -path '*/__pycache__/*' ! -path '*.egg-info/*' \
            ! -path './build/*' ! -path './dist/*' -print0 | sort -z \
            | xargs -0 sha256sum
        "$python" -c 'import sys; print(sys.version_info[:2])'
    } | sha256sum | cut -c1-16
)
if [ "$(cat "$out/.stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "build-wheels.sh: $out is up to date ($(cat "$out/capibara6.version"))"
    exit 0
fi

echo "build-wheels.sh: building the wheelhouse in $out..."
rm -f "$out/.stamp"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
new="$tmp/dist"
mkdir "$new"
# Build from a copy: an in-tree build would leave build/ and *.egg-info in backend/.
mkdir "$tmp/src"
tar -C "$root/backend" --exclude=__pycache__ --exclude='*.egg-info' \
    --exclude=./build --exclude=./dist -cf - . | tar -C "$tmp/src" -xf -
# The pins for the hosts: every file's requirement lines, without pip options.
cat "${reqs[@]}" | grep -v -E '^[[:space:]]*-' >"$new/requirements.txt"
pip_wheel() {
    # (grep drops the noise a machine's pip.conf may cause about absent local indexes)
    "$python" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$new" "$@" \
        2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
}
pip_wheel --no-deps "$tmp/src"
for r in "${reqs[@]}"; do
    if grep -q -E '^[[:space:]]*--(extra-)?index-url' "$r"; then
        pip_wheel --no-deps -r "$r"
    fi
done
pip_wheel --find-links "$new" -r "$new/requirements.txt"
# A pin met by another build of that version (a local label such as +cpu) is refused.
"$python" - "$new" <<'PY'
import pathlib, re, sys
from pip._vendor.packaging.utils import canonicalize_name, parse_wheel_filename
from pip._vendor.packaging.version import Version

wheels = {}
for wheel in pathlib.Path(sys.argv[1]).glob("*.whl"):
    name, version, _, _ = parse_wheel_filename(wheel.name)
    wheels[name] = version
wrong = []
for line in (pathlib.Path(sys.argv[1]) / "requirements.txt").read_text().splitlines():
    pin = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)\s*(#.*)?$", line)  # no markers
    if pin and wheels.get(canonicalize_name(pin[1])) != Version(pin[2]):
        wrong.append(f"{pin[1]}=={pin[2]} got {wheels.get(canonicalize_name(pin[1]))}")
if wrong:
    sys.exit("build-wheels.sh: pinned builds not met (a wheel directory in pip's configuration, "
             "e.g. PIP_FIND_LINKS, may supply another build): " + "; ".join(wrong))
PY
wheel=$(ls "$new"/capibara6-*.whl)
version=$(basename "$wheel" | cut -d- -f2)
echo "$version" >"$new/capibara6.version"

# Exactly the new set in OUTDIR: move it in, then drop what it no longer holds.
for f in "$out"/*.whl; do
    [ -e "$f" ] && [ ! -e "$new/$(basename "$f")" ] && rm -f "$f"
done
mv -f "$new"/* "$out"/
echo "$stamp" >"$out/.stamp"
echo "build-wheels.sh: built $(basename "$wheel") and $(ls "$out"/*.whl | wc -l) wheels in all"
