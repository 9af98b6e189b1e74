"""The capibara6_ollama role's unit, rendered by Ansible from its template with
the role's defaults, on a CPU host and on a GPU host: systemd's verifier, the
exposure budget (2.5 CPU, 3.5 GPU; Ollama's own unit scores 9.2) and the
loosenings the GPU variant may have. The molecule scenario capibara6_ollama
scores the unit running on a real systemd host as well."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.systemd.conftest import ROOT
from tests.systemd.test_units import analyze, assert_exposure_within, one, parse  # noqa: F401 (analyze is a fixture)

ROLE = ROOT / "deploy" / "ansible" / "roles" / "capibara6_ollama"
BIN = Path(sys.executable).parent
EXPOSURE_BUDGET = {"cpu": 2.5, "gpu": 3.5}
EXEC = "/opt/ollama/current/bin/ollama"

RENDER = """
- name: Render the unit with the role's defaults
  hosts: localhost
  gather_facts: false
  vars_files:
    - {role}/defaults/main.yml
    - {role}/vars/main.yml
  tasks:
    - name: Render each variant
      ansible.builtin.template:
        src: {role}/templates/ollama.service.j2
        dest: "{out}/ollama-{{{{ item }}}}.service"
        mode: "0644"
      vars:
        capibara6_ollama_gpu: "{{{{ item == 'gpu' }}}}"
      loop: [cpu, gpu]
"""


@pytest.fixture(scope="module")
def units(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("ollama-unit")
    playbook = out / "render.yml"
    playbook.write_text(RENDER.format(role=ROLE, out=out))
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                           "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {variant: out / f"ollama-{variant}.service" for variant in EXPOSURE_BUDGET}


def test_both_variants_pass_systemd_analyze_verify(analyze, units, tmp_path):
    stub = tmp_path / "ollama"
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o755)
    for variant, path in units.items():
        unit = tmp_path / f"ollama-{variant}.service"
        unit.write_text(path.read_text().replace(EXEC, str(stub)))
        proc = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True)
        output = (proc.stdout + proc.stderr).strip()
        assert proc.returncode == 0 and not output, f"{variant}: {output}"


@pytest.mark.parametrize("variant", EXPOSURE_BUDGET)
def test_exposure_is_within_budget(analyze, units, variant):
    assert_exposure_within(analyze, units[variant], EXPOSURE_BUDGET[variant], f"ollama.service ({variant})")


def test_the_gpu_variant_may_open_only_nvidia_devices(units):
    cpu, gpu = parse(units["cpu"]), parse(units["gpu"])
    assert one(cpu, "Service", "PrivateDevices") == "yes" and "DeviceAllow" not in cpu["Service"]
    assert one(cpu, "Service", "MemoryDenyWriteExecute") == "yes"
    assert one(gpu, "Service", "PrivateDevices") == "no"
    assert one(gpu, "Service", "DevicePolicy") == "closed"
    allowed = gpu["Service"]["DeviceAllow"]
    assert allowed and all(re.fullmatch(r"(char-nvidia\S*|/dev/nvidia\S*) rw?m?", a) for a in allowed), allowed
    # Everything else is the same hardening.
    loosened = {"PrivateDevices", "DevicePolicy", "DeviceAllow", "MemoryDenyWriteExecute"}
    assert {k: v for k, v in cpu["Service"].items() if k not in loosened} == \
        {k: v for k, v in gpu["Service"].items() if k not in loosened}


def test_the_unit_runs_ollama_as_its_own_user_on_loopback_by_default(units):
    unit = parse(units["cpu"])
    assert one(unit, "Service", "ExecStart") == f"{EXEC} serve"
    assert one(unit, "Service", "User") == one(unit, "Service", "Group") == "ollama"
    environment = dict(value.strip('"').split("=", 1) for value in unit["Service"]["Environment"])
    assert environment["OLLAMA_HOST"] == "127.0.0.1:11434"   # never 0.0.0.0 unless asked
    assert environment["OLLAMA_MODELS"] == one(unit, "Service", "ReadWritePaths") == "/var/lib/ollama"
    assert one(unit, "Service", "CapabilityBoundingSet") == ""
    assert one(unit, "Service", "ProtectSystem") == "strict"
    assert one(unit, "Service", "NoNewPrivileges") == "yes"
