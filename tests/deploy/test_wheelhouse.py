"""Where the hosts' torch comes from: capibara6_app_torch_variant picks the
requirement files and the wheelhouse, each torch file resolves to its build
(pip's dry run reads the metadata only: no gigabytes downloaded), and the
builder refuses a pin that another build of the same version meets."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ROLE = ROOT / "deploy" / "ansible" / "roles" / "capibara6_app"
TORCH = {"cpu": ROOT / "requirements-torch-cpu.txt", "cuda": ROOT / "requirements-torch-cuda.txt"}


def pins(path: Path) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return dict(line.split("==", 1) for line in lines if "==" in line and not line.startswith("-"))


# -- the role's choice ------------------------------------------------------------


@pytest.fixture(scope="module")
def role_choices(tmp_path_factory) -> dict[tuple, dict]:
    """The role's own expressions (vars/main.yml), evaluated by Ansible for each case."""
    cases = [([], "cpu"), ([], "cuda"), (["models"], "cpu"), (["models"], "cuda")]
    play = tmp_path_factory.mktemp("role") / "choices.yml"
    play.write_text(yaml.safe_dump([{
        "hosts": "localhost", "gather_facts": False,
        "vars_files": [str(ROLE / "vars" / "main.yml")],
        "tasks": [{
            "name": f"case {index}",
            "ansible.builtin.debug": {"msg": {"dir": "{{ __capibara6_app_wheelhouse }}", "reqs": (
                "{{ __capibara6_app_build_reqs | map('basename') | list }}")}},
            "vars": {"capibara6_app_extras": extras, "capibara6_app_torch_variant": variant,
                     "capibara6_app_source_dir": "/src", "capibara6_app_wheelhouse": "/src/.cache/dist",
                     "item": "{{ __capibara6_app_own_set }}"},
        } for index, (extras, variant) in enumerate(cases)],
    }]))
    # Run outside the repository: its ansible.cfg adds a timing callback to stdout.
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(play)],
                          capture_output=True, text=True, env=env, timeout=120, cwd=play.parent)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    tasks = json.loads(proc.stdout)["plays"][0]["tasks"]
    return {(tuple(extras), variant): task["hosts"]["localhost"]["msg"]
            for (extras, variant), task in zip(cases, tasks)}


@pytest.mark.parametrize("extras, variant, wheelhouse, files", [
    ((), "cpu", "dist", ["requirements.txt"]),
    ((), "cuda", "dist", ["requirements.txt"]),  # no extras, no torch: the variant changes nothing
    (("models",), "cpu", "dist-models", ["requirements.txt", "requirements-models.txt", "requirements-torch-cpu.txt"]),
    (("models",), "cuda", "dist-models-cuda",
     ["requirements.txt", "requirements-models.txt", "requirements-torch-cuda.txt"]),
])
def test_the_torch_variant_picks_the_requirement_files_and_the_wheelhouse(role_choices, extras, variant,
                                                                           wheelhouse, files):
    chosen = role_choices[(extras, variant)]
    assert chosen == {"dir": f"/src/.cache/{wheelhouse}", "reqs": files}


def test_both_torch_builds_pin_the_same_version_and_nothing_else_pins_torch():
    cpu, cuda = pins(TORCH["cpu"]), pins(TORCH["cuda"])
    assert list(cpu) == list(cuda) == ["torch"]
    assert cpu["torch"] == cuda["torch"] + "+cpu"
    for other in ROOT.glob("requirements*.txt"):
        if other not in TORCH.values():
            assert "torch" not in pins(other), other.name


# -- what each file resolves to ---------------------------------------------------------


def dry_run(tmp_path: Path, requirements: Path, env: dict, *extra: str) -> list[dict]:
    """What pip would install for the file, read from the index's metadata (no wheel downloaded)."""
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                           "--report", str(report), *extra, "-r", str(requirements)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(report.read_text())["install"]


def test_the_cpu_file_resolves_to_the_cpu_only_build(tmp_path):
    # The machine's own pip settings: PyTorch's index where it is reachable, else a local wheel directory.
    installed = dry_run(tmp_path, TORCH["cpu"], dict(os.environ), "--no-deps")
    assert [(i["metadata"]["name"], i["metadata"]["version"]) for i in installed] == [
        ("torch", pins(TORCH["cpu"])["torch"])]


def test_the_cuda_file_resolves_to_pypis_build_with_the_cuda_libraries(tmp_path):
    # PyPI alone: no pip configuration, no local wheel directory (this machine's holds a CPU build).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_") or k == "PIP_CERT"}
    env["PIP_CONFIG_FILE"] = os.devnull
    installed = {i["metadata"]["name"].lower(): i for i in dry_run(tmp_path, TORCH["cuda"], env)}
    torch = installed["torch"]
    assert torch["metadata"]["version"] == pins(TORCH["cuda"])["torch"]  # no local label: not +cpu
    assert torch["download_info"]["url"].startswith("https://files.pythonhosted.org/")
    cuda = sorted(name for name in installed if name.startswith(("nvidia-cuda-runtime", "nvidia-cublas")))
    assert cuda, sorted(installed)


# -- the builder's guard ------------------------------------------------------------------


def fake_wheel(directory: Path, name: str, version: str) -> Path:
    """A minimal valid wheel (metadata only): enough for pip to choose and copy it."""
    dist_info = f"{name}-{version}.dist-info"
    files = {f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{dist_info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = "".join(f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(body.encode()).digest()).rstrip(b'=').decode()},"
                     f"{len(body)}\n" for path, body in files.items()) + f"{dist_info}/RECORD,,\n"
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, body in {**files, f"{dist_info}/RECORD": record}.items():
            archive.writestr(path, body)
    return wheel


@pytest.mark.timeout(300)
def test_the_builder_refuses_a_pin_met_by_another_build(tmp_path):
    # A local wheel directory holds only the "+cpu" build of a pinned version, as this machine's
    # does for torch: pip takes it for the pin, and the builder must refuse the result.
    links = tmp_path / "links"
    links.mkdir()
    fake_wheel(links, "capibara6_pin_probe", "1.0+cpu")
    requirements = tmp_path / "requirements-probe.txt"
    requirements.write_text("capibara6-pin-probe==1.0\n")
    env = dict(os.environ, PYTHON=sys.executable, PIP_FIND_LINKS=str(links))
    proc = subprocess.run([str(ROOT / "deploy" / "build-wheels.sh"), str(tmp_path / "dist"), str(requirements)],
                          capture_output=True, text=True, env=env, timeout=280)
    assert proc.returncode != 0
    assert "pinned builds not met" in proc.stderr and "capibara6-pin-probe==1.0 got 1.0+cpu" in proc.stderr, (
        proc.stdout + proc.stderr)
    assert not (tmp_path / "dist" / "capibara6.version").exists()
