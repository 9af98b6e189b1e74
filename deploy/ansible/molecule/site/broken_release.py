"""Make a deliberately broken release of the same version, for the rollback test.

Test-only (the site scenario's side effect runs it on the controller): copies
the wheelhouse SRC to DEST, rewrites the capibara6 wheel in the copy so that
`capibara6 serve SERVICE` exits with status 1 at start (the service's package
raises SystemExit on import; the wheel's RECORD is updated to match), and
packs DEST into DEST.tar the way capibara6_app expects a bundle. Everything
else (version, pins, dependencies) is the good release's.

    python3 broken_release.py SRC DEST SERVICE
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import sys
import tarfile
import zipfile
from pathlib import Path

BREAK = b'\nraise SystemExit("capibara6 test: a deliberately broken release")\n'


def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def main(src: Path, dest: Path, service: str) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".stamp"))
    wheel = next(dest.glob("capibara6-*.whl"))
    target = f"capibara6/{service}/__init__.py"
    with zipfile.ZipFile(wheel) as zin:
        files = {info.filename: zin.read(info) for info in zin.infolist()}
    files[target] += BREAK
    record = next(name for name in files if name.endswith(".dist-info/RECORD"))
    files[record] = "".join(
        record_line(target, files[target]) + "\n" if line.startswith(target + ",") else line + "\n"
        for line in files[record].decode().splitlines()).encode()
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, data in files.items():
            zout.writestr(name, data)
    with tarfile.open(f"{dest}.tar", "w") as tar:
        for path in sorted(dest.iterdir()):
            tar.add(path, arcname=f"./{path.name}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
