"""Static checks of deploy/systemd: systemd's own verifier, the exposure
budget, and the conventions every unit shares. Fast; need systemd-analyze."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.systemd.conftest import EXPOSURE_BUDGET, ON_CI, PORTS, ROOT, UNIT_DIR

EXEC = "/opt/capibara6/current/bin/capibara6"
# What the capibara6_nvidia role adds to the TTS unit on hosts with an NVIDIA GPU.
GPU_DROP_IN = ROOT / "deploy" / "ansible" / "roles" / "capibara6_nvidia" / "files" / "gpu-nvidia.conf"


@pytest.fixture(scope="module")
def analyze():
    path = shutil.which("systemd-analyze")
    if path is None:
        if ON_CI:
            pytest.fail("systemd-analyze is missing (apt-get install systemd)")
        pytest.skip("systemd-analyze is not installed")
    return path


def parse(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as {section: {key: [values in order]}} (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def one(unit: dict, section: str, key: str) -> str:
    values = unit.get(section, {}).get(key, [])
    assert len(values) == 1, f"[{section}] {key}= should be set once, found {values}"
    return values[0]


def test_the_unit_directory_holds_exactly_the_five_services_sockets_and_target():
    expected = {f"capibara6-{n}.{k}" for n in PORTS for k in ("service", "socket")}
    expected |= {"capibara6.target", "README.md"}
    assert {p.name for p in UNIT_DIR.iterdir()} == expected


def test_ports_agree_with_the_kit():
    services = pytest.importorskip("capibara6.kit.services")
    assert services.SERVICES == PORTS


def test_units_pass_systemd_analyze_verify(analyze, tmp_path):
    # verify insists that ExecStart= exists; point it at a stub outside the
    # install path and keep every other line as it is (the container test
    # verifies the real files against the real installation).
    stub = tmp_path / "bin" / "capibara6"
    stub.parent.mkdir()
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o755)
    units = tmp_path / "units"
    units.mkdir()
    for path in UNIT_DIR.glob("capibara6*"):
        (units / path.name).write_text(path.read_text().replace(EXEC, str(stub)))
    names = sorted(str(p) for p in units.iterdir())
    proc = subprocess.run([analyze, "verify", "--man=no", *names],
                          capture_output=True, text=True, cwd=units)
    output = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 0 and not output, output


def assert_exposure_within(analyze: str, unit: Path, budget: float, label: str) -> None:
    """systemd-analyze security's overall exposure of `unit` is at most `budget`;
    the failure lists the checks that count against it."""
    proc = subprocess.run([analyze, "security", "--offline=true", f"--threshold={round(budget * 10)}",  # in tenths
                           "--no-pager", str(unit)], capture_output=True, text=True)
    match = re.search(r"Overall exposure level for \S+: (\d+\.\d)", proc.stdout)
    assert match, proc.stdout + proc.stderr
    score = float(match.group(1))
    print(f"{label}: exposure {score}")
    assert proc.returncode == 0 and score <= budget, (
        f"{label}: exposure {score} over the budget {budget}:\n"
        + "\n".join(line for line in proc.stdout.splitlines() if line.startswith("✗")))


@pytest.mark.parametrize("name", PORTS)
def test_exposure_is_within_budget(analyze, name):
    unit = UNIT_DIR / f"capibara6-{name}.service"
    assert_exposure_within(analyze, unit, EXPOSURE_BUDGET[name], unit.name)


@pytest.mark.parametrize("name", ["tts", "mcp"])
def test_a_gpu_unit_with_the_gpu_drop_in_is_within_its_budget(analyze, tmp_path, name):
    # The drop-in's sections appended to the unit: later assignments win, as in a drop-in.
    unit = tmp_path / f"capibara6-{name}.service"
    unit.write_text((UNIT_DIR / unit.name).read_text() + "\n" + GPU_DROP_IN.read_text())
    assert_exposure_within(analyze, unit, EXPOSURE_BUDGET[name], f"{unit.name} with the GPU drop-in")


@pytest.mark.parametrize("name", PORTS)
def test_service_unit_follows_the_house_contract(name):
    unit = parse(UNIT_DIR / f"capibara6-{name}.service")
    service = unit["Service"]
    assert one(unit, "Service", "Type") == "notify"
    assert one(unit, "Service", "NotifyAccess") == "main"
    assert one(unit, "Service", "ExecStart") == f"{EXEC} serve {name}"
    assert one(unit, "Service", "Restart") == "on-failure"
    assert int(one(unit, "Unit", "StartLimitBurst")) >= 1
    assert one(unit, "Unit", "StartLimitIntervalSec")
    assert one(unit, "Service", "WatchdogSec")
    assert one(unit, "Service", "TimeoutStartSec")
    assert service["EnvironmentFile"] == ["-/etc/capibara6/common.env", f"-/etc/capibara6/{name}.env"]
    assert one(unit, "Service", "StateDirectory") == f"capibara6/{name}"
    assert one(unit, "Service", "CacheDirectory") == f"capibara6/{name}"
    assert one(unit, "Service", "SyslogIdentifier") == f"capibara6-{name}"
    assert one(unit, "Service", "User") == one(unit, "Service", "Group") == "capibara6"
    assert f"capibara6-{name}.socket" in one(unit, "Unit", "Requires").split()
    assert f"capibara6-{name}.socket" in one(unit, "Unit", "After").split()
    assert one(unit, "Unit", "PartOf") == "capibara6.target"
    assert one(unit, "Install", "WantedBy") == "capibara6.target"
    # Socket activation: the service never binds, so it keeps no capability at all.
    assert service["CapabilityBoundingSet"] == [""]
    assert service["AmbientCapabilities"] == [""]
    assert one(unit, "Service", "NoNewPrivileges") == "yes"
    assert one(unit, "Service", "ProtectSystem") == "strict"
    assert one(unit, "Service", "RestrictAddressFamilies") == "AF_INET AF_INET6 AF_UNIX"


@pytest.mark.parametrize("name", PORTS)
def test_stop_timeout_leaves_the_drain_time_to_finish(name):
    # systemd kills what is left after TimeoutStopSec=; the kit drains for up
    # to DRAIN_SECONDS on SIGTERM, and needs a few seconds more to exit.
    serve = pytest.importorskip("capibara6.kit.serve")
    stop = one(parse(UNIT_DIR / f"capibara6-{name}.service"), "Service", "TimeoutStopSec")
    assert int(stop) == serve.DRAIN_SECONDS + 10


@pytest.mark.parametrize("name", PORTS)
def test_open_files_limit_covers_the_connections_and_threads_allowed(name):
    # Past the soft RLIMIT_NOFILE, accept() and connecting to Ollama fail (EMFILE) under load;
    # systemd's default soft limit, 1024, is below the default connection limit plus threads.
    serve = pytest.importorskip("capibara6.kit.serve")
    settings = pytest.importorskip("capibara6.kit.settings")
    default = settings.CommonSettings.from_env(name, settings.Env({}))
    most_threads = settings.CommonSettings.from_env(name, settings.Env({"CAPIBARA6_THREADS": "1024"})).threads
    with pytest.raises(settings.ConfigError):  # 1024 is the most CAPIBARA6_THREADS accepts
        settings.CommonSettings.from_env(name, settings.Env({"CAPIBARA6_THREADS": "1025"}))
    limit = int(one(parse(UNIT_DIR / f"capibara6-{name}.service"), "Service", "LimitNOFILE"))
    assert limit >= serve.fds_needed(threads=most_threads, connection_limit=default.connection_limit)


# The services whose runtime has a reload hook (re-index, re-read the YAML).
RELOADABLE = {"mcp", "consensus"}


def test_reload_is_sighup_where_the_service_supports_it():
    for name in PORTS:
        service = parse(UNIT_DIR / f"capibara6-{name}.service")["Service"]
        reload = service.get("ExecReload")
        assert reload == (["/bin/kill -HUP $MAINPID"] if name in RELOADABLE else None), name
        assert service.get("RestartPreventExitStatus") == ["2"], name


def test_tts_waits_for_a_model_load():
    unit = parse(UNIT_DIR / "capibara6-tts.service")
    timeout = one(unit, "Service", "TimeoutStartSec")
    assert timeout.endswith("min") and int(timeout[:-3]) >= 10


def test_no_unit_sees_devices_and_the_gpu_drop_in_opens_only_nvidia_ones():
    for name in PORTS:
        service = parse(UNIT_DIR / f"capibara6-{name}.service")["Service"]
        assert "DeviceAllow" not in service, name
        assert one({"Service": service}, "Service", "PrivateDevices") == "yes", name
    drop_in = parse(GPU_DROP_IN)
    assert one(drop_in, "Unit", "After") == "nvidia-persistenced.service"
    assert one(drop_in, "Service", "PrivateDevices") == "no"
    assert one(drop_in, "Service", "DevicePolicy") == "closed"
    allowed = drop_in["Service"]["DeviceAllow"]
    assert allowed and all(re.fullmatch(r"(char-nvidia\S*|/dev/nvidia\S*) rw?m?", a) for a in allowed), allowed


@pytest.mark.parametrize("name", PORTS)
def test_socket_holds_the_fixed_port_for_its_service(name):
    unit = parse(UNIT_DIR / f"capibara6-{name}.socket")
    assert one(unit, "Socket", "ListenStream") == str(PORTS[name])
    assert one(unit, "Socket", "Service") == f"capibara6-{name}.service"
    assert one(unit, "Unit", "PartOf") == "capibara6.target"
    assert one(unit, "Install", "WantedBy") == "capibara6.target"


def test_target_is_wanted_by_multi_user():
    unit = parse(UNIT_DIR / "capibara6.target")
    assert one(unit, "Install", "WantedBy") == "multi-user.target"


# Starting or stopping processes by name (the seed's stop scripts) is what the
# units replace. A command is flagged where it is run: at the start of a shell
# command, after a pipe, `$(`, `sudo` or `: ` (YAML), or as a quoted argv item;
# prose that names it is not. Built from parts so this file does not match itself.
_NAMES = "|".join(["p" + "kill", "kill" + "all", "p" + "grep", "pid" + "of", "fuser +-k"])
BY_NAME = re.compile(r"(^|[;&|(`]|\$\(|\bsudo|\bexec|:|[\"'])\s*(" + _NAMES + r")\b")
SOURCES = re.compile(r"(\.(sh|bash|py|ya?ml|j2|service|socket|target|cfg|ini|toml|conf)|Makefile|/run)$")


def test_nothing_in_the_repository_manages_processes_by_name():
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, text=True, cwd=ROOT, check=True).stdout.split()
    offenders = []
    for rel in listed:
        path = ROOT / rel
        if not path.is_file():
            continue
        head = path.read_bytes()[:64]
        if not (SOURCES.search(rel) or head.startswith(b"#!")):
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if line.lstrip().startswith(("#", ";")):
                continue
            if BY_NAME.search(line.strip()):
                offenders.append(f"{rel}:{number}: {line.strip()}")
    assert not offenders, "processes managed by name:\n" + "\n".join(offenders)
