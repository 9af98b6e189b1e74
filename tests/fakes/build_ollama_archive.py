"""Builds the STAND-IN for Ollama's release archive: an ollama-linux-<arch>.tar.zst
laid out like the real one (./bin/ollama, ./lib/ollama/), whose bin/ollama runs
the fake Ollama API of tests/fakes/ollama_server.py (`ollama serve` reads
OLLAMA_HOST and OLLAMA_MODELS like Ollama). The capibara6_ollama role installs
it through its normal input for hosts without internet (source "local"), so the
demo and the molecule scenarios deploy the Ollama host exactly as a real one,
with a fake inside. Needs the zstd program; the hosts need python3.

    python3 tests/fakes/build_ollama_archive.py --version 0.32.7 OUT_DIR

writes OUT_DIR/ollama-linux-<arch>.tar.zst and OUT_DIR/sha256sum.txt (Ollama's
format) and prints the archive's path and sha256. The same inputs give the same
bytes (fixed times and owners), so a rebuild keeps the digest.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import platform
import subprocess
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ARCHES = {"x86_64": "amd64", "aarch64": "arm64", "amd64": "amd64", "arm64": "arm64"}

LAUNCHER = """#!/bin/sh
# STAND-IN for Ollama {version}, built by Capibara6's tests/fakes/build_ollama_archive.py:
# the fake Ollama API of its tests (lib/ollama/ollama_server.py), NOT Ollama.
lib=$(dirname "$(readlink -f "$0")")/../lib/ollama
exec /usr/bin/python3 "$lib/ollama_server.py" --stand-in-version {version} "$@"
"""

README = """This is NOT Ollama: a stand-in release archive built by Capibara6's test tooling
(tests/fakes/build_ollama_archive.py). bin/ollama runs the fake Ollama API of
tests/fakes/ollama_server.py: canned answers, no model is ever run.
"""


def build(version: str, out_dir: Path, arch: str) -> tuple[Path, str]:
    files = {
        "./bin/ollama": (LAUNCHER.format(version=version).encode(), 0o755),
        "./lib/ollama/ollama_server.py": ((HERE / "ollama_server.py").read_bytes(), 0o644),
        "./lib/ollama/STAND-IN.txt": (README.encode(), 0o644),
    }
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for directory in ("./", "./bin/", "./lib/", "./lib/ollama/"):
            tar.addfile(_info(directory, tarfile.DIRTYPE, 0o755))
        for name, (data, mode) in files.items():
            tar.addfile(_info(name, tarfile.REGTYPE, mode, len(data)), io.BytesIO(data))
    archive = out_dir / f"ollama-linux-{arch}.tar.zst"
    out_dir.mkdir(parents=True, exist_ok=True)
    compressed = subprocess.run(["zstd", "-q", "-19", "-c"], input=tar_bytes.getvalue(),
                                capture_output=True, check=True).stdout
    archive.write_bytes(compressed)
    digest = hashlib.sha256(compressed).hexdigest()
    (out_dir / "sha256sum.txt").write_text(f"{digest}  {archive.name}\n")
    return archive, digest


def _info(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size = kind, mode, size
    info.mtime, info.uid, info.gid, info.uname, info.gname = 1_700_000_000, 0, 0, "root", "root"
    return info


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--version", required=True, help="what the stand-in's /api/version answers")
    parser.add_argument("--arch", default=ARCHES.get(platform.machine(), platform.machine()),
                        help="amd64 or arm64 (default: this machine's)")
    args = parser.parse_args(argv)
    archive, digest = build(args.version, args.out_dir, ARCHES.get(args.arch, args.arch))
    print(f"{archive} {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
