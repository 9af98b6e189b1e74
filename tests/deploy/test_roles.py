"""The roles' public interface: every default is prefixed with the role's
name, and meta/argument_specs.yml mirrors defaults/main.yml one to one."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[2] / "deploy" / "ansible" / "roles"
ROLE_NAMES = sorted(path.name for path in ROLES.iterdir() if path.is_dir())
TYPES = {"str": str, "int": int, "bool": bool, "list": list, "dict": dict, "path": str}


def load(role: str, *parts: str):
    return yaml.safe_load((ROLES / role).joinpath(*parts).read_text()) or {}


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_every_default_is_prefixed_with_the_role_name(role):
    assert [name for name in load(role, "defaults", "main.yml") if not name.startswith(role + "_")] == []


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_argument_specs_mirror_the_defaults(role):
    defaults = load(role, "defaults", "main.yml")
    options = load(role, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert sorted(options) == sorted(defaults)
    for name, spec in options.items():
        assert spec.get("default") == defaults[name], name
        assert spec.get("description"), name
        if not (isinstance(defaults[name], str) and "{{" in defaults[name]):
            assert isinstance(defaults[name], TYPES[spec["type"]]), name


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_every_role_declares_its_platforms(role):
    info = load(role, "meta", "main.yml")["galaxy_info"]
    assert info["role_name"] == role and info["platforms"]
