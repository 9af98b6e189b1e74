"""The services' ports agree everywhere: deploy/ansible/group_vars (the one
place that sets them for deployments), the .socket units and the defaults in
backend/capibara6/kit/services.py."""

from __future__ import annotations

import configparser
from pathlib import Path

import yaml

from capibara6.kit.services import SERVICES

ROOT = Path(__file__).resolve().parents[2]
GROUP_VARS = ROOT / "deploy" / "ansible" / "group_vars"
UNITS = ROOT / "deploy" / "systemd"


def group_vars_ports() -> dict[str, int]:
    return yaml.safe_load((GROUP_VARS / "capibara6.yml").read_text())["capibara6_ports"]


def socket_ports() -> dict[str, list[str]]:
    ports = {}
    for path in sorted(UNITS.glob("capibara6-*.socket")):
        parser = configparser.ConfigParser(strict=False, interpolation=None)
        parser.optionxform = str
        parser.read_string(path.read_text())
        name = path.stem.removeprefix("capibara6-")
        ports[name] = [value.strip() for value in parser["Socket"]["ListenStream"].splitlines() if value.strip()]
    return ports


def test_group_vars_ports_match_the_services_defaults():
    assert group_vars_ports() == SERVICES


def test_each_socket_listens_on_its_group_vars_port():
    assert socket_ports() == {name: [str(port)] for name, port in group_vars_ports().items()}


def test_each_group_runs_only_known_services():
    known = set(group_vars_ports())
    for path in GROUP_VARS.glob("*.yml"):
        services = yaml.safe_load(path.read_text()).get("capibara6_services", [])
        assert set(services) <= known, path.name
