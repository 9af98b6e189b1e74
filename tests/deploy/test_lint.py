"""yamllint and ansible-lint (production profile) pass on the deploy code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def run(*cmd: str, timeout: float) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", NO_COLOR="1",
               ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def test_yamllint_passes():
    proc = run(str(BIN / "yamllint"), "--strict", ".", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.timeout(900)
def test_ansible_lint_production_profile_passes():
    proc = run(str(BIN / "ansible-lint"), "--nocolor", "--profile", "production", timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]
