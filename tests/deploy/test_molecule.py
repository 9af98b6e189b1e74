"""Each molecule scenario under deploy/ansible/molecule, for real: Debian 12
hosts with systemd as PID 1 in podman containers (create, converge,
idempotence, verify, destroy; the site scenario adds a --check run).

Also checks that no secret of the scenarios' test vault shows in their output
(converge runs with --diff). Each scenario's log is kept in
.cache/molecule/<scenario>.log and its duration printed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = ROOT / "deploy" / "ansible"
SHARED = ANSIBLE_DIR / "molecule" / "shared"
BIN = Path(sys.executable).parent
LOGS = ROOT / ".cache" / "molecule"
SCENARIOS = sorted(path.parent.name for path in (ANSIBLE_DIR / "molecule").glob("*/molecule.yml"))

pytestmark = pytest.mark.molecule


def environment() -> dict[str, str]:
    return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                NO_COLOR="1", ANSIBLE_FORCE_COLOR="0", PY_COLORS="0")


@pytest.fixture(scope="session")
def testbed():
    """The host's podman settings and the Debian 12 systemd image (fast when there)."""
    if os.geteuid() != 0:
        pytest.skip("molecule scenarios need root (rootful podman)")
    subprocess.run([str(ROOT / "deploy" / "testbed" / "build-image.sh")], check=True, timeout=900)
    assert shutil.which("podman")


@pytest.fixture(scope="session")
def secrets() -> list[str]:
    proc = subprocess.run(
        [str(BIN / "ansible-vault"), "view", "--vault-password-file", str(SHARED / "vault-password"),
         str(SHARED / "vault.yml")], capture_output=True, text=True, check=True, env=environment())
    values = [str(value) for value in yaml.safe_load(proc.stdout).values() if value]
    assert values
    return values


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario_passes(scenario, testbed, secrets):
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{scenario}.log"
    started = time.monotonic()
    proc = subprocess.run(
        [str(BIN / "molecule"), "-c", "molecule/base.yml", "test", "-s", scenario],
        cwd=ANSIBLE_DIR, env=environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=1750)
    log.write_text(proc.stdout)
    print(f"\nmolecule {scenario}: {time.monotonic() - started:.0f} s (log: {log.relative_to(ROOT)})")
    assert proc.returncode == 0, f"molecule test -s {scenario} failed; the end of {log}:\n{proc.stdout[-8000:]}"
    leaked = [secret for secret in secrets if secret in proc.stdout]
    assert not leaked, f"{len(leaked)} test secret(s) appear in the molecule output of {scenario} ({log})"
