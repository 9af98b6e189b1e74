"""capibara6_nvidia's package choice on each platform and source, evaluated by
Ansible from the role's own vars files (the molecule scenario proves Debian 12
with Debian's packages on a host; the other choices have no host here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ROLE = ROOT / "deploy" / "ansible" / "roles" / "capibara6_nvidia"

CASES = [
    # platform, source, kernel release -> driver packages, kernel packages held
    ("Debian", "debian", "6.1.0-28-cloud-amd64",
     ["firmware-misc-nonfree", "libcuda1", "linux-headers-cloud-amd64", "nvidia-driver", "nvidia-persistenced",
      "nvidia-smi"],
     ["linux-headers-6.1.0-28-cloud-amd64", "linux-headers-cloud-amd64", "linux-image-6.1.0-28-cloud-amd64",
      "linux-image-cloud-amd64"]),
    ("Debian", "cuda", "6.1.0-28-cloud-amd64", ["linux-headers-cloud-amd64", "nvidia-open-570"], None),
    ("Ubuntu", "debian", "6.8.0-1015-gcp",  # Ubuntu ignores the Debian source setting
     ["linux-headers-gcp", "nvidia-headless-570-server", "nvidia-utils-570-server"],
     ["linux-headers-6.8.0-1015-gcp", "linux-headers-gcp", "linux-image-6.8.0-1015-gcp", "linux-image-gcp"]),
    ("Debian", "debian", "6.1.0-custom", None,  # no ABI number: the release is its own flavour
     ["linux-headers-6.1.0-custom", "linux-image-6.1.0-custom"]),
]


@pytest.fixture(scope="module")
def selections(tmp_path_factory) -> list[dict]:
    play = tmp_path_factory.mktemp("nvidia") / "select.yml"
    play.write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False,
        "tasks": [task for platform, source, kernel, _, _ in CASES for task in (
            {"ansible.builtin.include_vars": str(ROLE / "vars" / f"{platform}.yml")},
            {"ansible.builtin.debug": {"msg": {"packages": "{{ __capibara6_nvidia_packages }}",
                                               "held": "{{ __capibara6_nvidia_kernel_packages }}"}},
             "vars": {"capibara6_nvidia_source": source, "capibara6_nvidia_kernel_release": kernel}},
        )],
        "vars_files": [str(ROLE / "defaults" / "main.yml"), str(ROLE / "vars" / "main.yml")],
    }]))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOCALHOST_WARNING="false",
               PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(play)],
                          capture_output=True, text=True, env=env, timeout=120, cwd=play.parent)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    tasks = json.loads(proc.stdout)["plays"][0]["tasks"]
    return [task["hosts"]["localhost"]["msg"] for task in tasks if "msg" in task["hosts"]["localhost"]]


@pytest.mark.parametrize("index", range(len(CASES)), ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_the_driver_packages_and_the_held_kernel_follow_platform_source_and_kernel(selections, index):
    _, _, _, packages, held = CASES[index]
    chosen = selections[index]
    if packages is not None:
        assert chosen["packages"] == packages
    if held is not None:
        assert chosen["held"] == held
