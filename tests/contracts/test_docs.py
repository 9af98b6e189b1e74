"""docs/ is what the code generates, each service serves the same document at
/openapi.json, and the READMEs name only settings the code reads and link
only to files in the repository."""

from __future__ import annotations

import json
import re

import requests

from capibara6.docs import generate, settings_of, write_or_check
from capibara6.kit.services import SERVICES
from tests.processes import ROOT

READMES = [ROOT / "README.md", ROOT / "deploy/ansible/README.md", ROOT / "deploy/systemd/README.md",
           ROOT / "deploy/ansible/roles/capibara6_nginx/README.md"]
# Names that look like our settings: the prefixes the code uses, and the few bare ones.
SETTING_NAME = re.compile(r"\b(?:CAPIBARA6_[A-Z0-9_]+|OLLAMA_(?:URL|MODEL|TIMEOUT)|JWT_SECRET|SECRET_KEY|"
                          r"(?:GITHUB|GOOGLE)_CLIENT_(?:ID|SECRET))\b")
# Knobs of the demo, bootstrap and tests: not settings the services read.
NOT_SETTINGS = {"CAPIBARA6_DEMO_HTTP_PORT", "CAPIBARA6_DEMO_SERVICES", "CAPIBARA6_EXTRA_APT",
                "CAPIBARA6_SCHEMATHESIS_EXAMPLES"}


def test_committed_docs_are_what_the_code_generates():
    differing = write_or_check(ROOT / "docs", check=True)
    assert not differing, f"run `make docs` and commit docs/: {differing}"


def test_every_generated_document_is_openapi_3_1_with_every_route_documented():
    for service in SERVICES:
        document = json.loads(generate()[f"openapi/{service}.json"])
        assert document["openapi"] == "3.1.0"
        assert "/health" in document["paths"] and "/openapi.json" in document["paths"]
        for methods in document["paths"].values():
            for op in methods.values():
                assert op["summary"] and op["responses"], op


def test_the_running_service_serves_the_committed_document(service, fake_ollama):
    chat = service("chat", {"OLLAMA_URL": fake_ollama.url})
    served = requests.get(f"{chat.url}/openapi.json", timeout=10)
    assert served.status_code == 200 and served.headers["Content-Type"].startswith("application/json")
    assert served.json() == json.loads((ROOT / "docs/openapi/chat.json").read_text())


def test_the_readmes_name_only_settings_the_code_reads(tmp_path):
    read = set()
    for service in SERVICES:
        read |= set(settings_of(service, tmp_path))
    for readme in READMES:
        named = set(SETTING_NAME.findall(readme.read_text())) - NOT_SETTINGS
        assert named <= read, f"{readme.relative_to(ROOT)} names settings the code does not read: {named - read}"
    assert "docs/settings.md" in (ROOT / "README.md").read_text()


def test_the_readmes_link_only_to_files_in_the_repository():
    for readme in READMES:
        text = readme.read_text()
        assert "../shared" not in text and "DESIGN.md" not in text, readme
        for target in re.findall(r"\]\(([^)#]+)\)", text):
            if not target.startswith(("http://", "https://")):
                assert (readme.parent / target).exists(), f"{readme}: {target} does not exist"


def test_every_setting_says_what_it_is_for(tmp_path):
    for service in SERVICES:
        undocumented = [name for name, declared in settings_of(service, tmp_path).items() if not declared.doc]
        assert not undocumented, f"{service} reads settings without a doc= line: {undocumented}"


def test_the_document_needs_no_token_when_every_route_does(tmp_path):
    from capibara6.chat import create_app
    (tmp_path / "empty.env").write_text("")
    app = create_app({"CAPIBARA6_REQUIRE_AUTH": "true", "JWT_SECRET": "s" * 32,
                      "CAPIBARA6_STATE_DIR": str(tmp_path / "state"), "CAPIBARA6_CACHE_DIR": str(tmp_path / "cache"),
                      "CAPIBARA6_ENV_FILE": str(tmp_path / "empty.env")})
    client = app.test_client()
    assert client.get("/api/models").status_code == 401
    served = client.get("/openapi.json")
    assert served.status_code == 200 and served.json["openapi"] == "3.1.0"
