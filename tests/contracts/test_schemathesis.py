"""Property-based tests of every documented operation, with schemathesis, against
each service as a real process under waitress: chat and consensus in front of the
fake Ollama, auth with the fake OIDC provider, tts with espeak-ng, mcp with a
small docs folder. The documents are the committed docs/openapi/<service>.json
(test_docs.py proves they are what the code serves).

Generated valid and invalid bodies, query strings and path parameters; checks:
no 5xx, the status codes, content types, headers and bodies the document
promises, invalid data refused, every error JSON with `error` and `code`; and
each service still answers /health afterwards. Bounded by EXAMPLES per
operation (CAPIBARA6_SCHEMATHESIS_EXAMPLES), without shrinking.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, negative_data_rejection,
                                               response_headers_conformance,
                                               response_schema_conformance, status_code_conformance)

from tests.auth.conftest import FrontEnd, auth_env
from tests.processes import ROOT, ServiceProcess, free_port
from tests.fakes.oauth_provider import FakeOAuthProvider
from tests.fakes.ollama_server import FakeModel, FakeOllama
from tests.mcp.conftest import start_mcp, write_corpus

EXAMPLES = int(os.environ.get("CAPIBARA6_SCHEMATHESIS_EXAMPLES", "100"))
GENERATED: Counter = Counter()


class ErrorIsNotJson(AssertionError):
    pass


def errors_are_json(ctx, response, case) -> bool:
    """Every 4xx/5xx is a JSON object with a string error and code."""
    if response.status_code < 400:
        return True
    try:
        body = json.loads(response.content)
    except ValueError:
        raise ErrorIsNotJson(f"{response.status_code} is not JSON: {response.content[:200]!r}") from None
    if not (isinstance(body, dict) and isinstance(body.get("error"), str) and isinstance(body.get("code"), str)):
        raise ErrorIsNotJson(f"{response.status_code} lacks error and code: {body!r}"[:300])
    return True


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection, errors_are_json]


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    """services(name) -> that service, started once for the module (with what it needs)."""
    started: dict[str, ServiceProcess] = {}
    doubles: list = []

    def start(name: str) -> ServiceProcess:
        if name in started:
            return started[name]
        tmp = tmp_path_factory.mktemp(name)
        if name in ("chat", "consensus"):
            fake = FakeOllama([FakeModel("llama3.2:latest"), FakeModel("qwen2.5:7b")]).__enter__()
            doubles.append(fake)
            proc = ServiceProcess(name, {"OLLAMA_URL": fake.url}, tmp).start()
        elif name == "auth":
            provider, front = FakeOAuthProvider().__enter__(), FrontEnd()
            doubles.extend([provider, front])
            port = free_port()
            proc = ServiceProcess("auth", auth_env(provider, front, port), tmp, port=port).start()
        elif name == "tts":
            proc = ServiceProcess("tts", {"CAPIBARA6_TTS_ENGINE": "espeak"}, tmp).start()
        else:
            proc = start_mcp(tmp, {"CAPIBARA6_MCP_DOCS_DIR": str(write_corpus(tmp / "docs"))})
        deadline = time.monotonic() + 120  # tts and mcp answer 503 until their model is loaded
        while requests.get(f"{proc.url}/health", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, f"{name} never became ready:\n{proc.log()}"
            time.sleep(0.2)
        started[name] = proc
        return proc

    yield start
    for proc in started.values():
        proc.stop()
    for double in doubles:
        double.stop() if hasattr(double, "stop") else double.__exit__(None, None, None)


def load(service: str):
    schema = schemathesis.openapi.from_path(ROOT / "docs" / "openapi" / f"{service}.json")
    schema.config.generation.update(modes=[schemathesis.GenerationMode.POSITIVE,
                                           schemathesis.GenerationMode.NEGATIVE],
                                    max_examples=EXAMPLES, no_shrink=True)
    return schema


def contract_test(service: str):
    @load(service).parametrize()
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def test(case, services):
        proc = services(service)
        checks = CHECKS
        if case.media_type == "multipart/form-data":
            # A form field is text whatever it says: "false" sent for the message is the
            # message "false", not a boolean the schema forbids.
            checks = [check for check in CHECKS if check is not negative_data_rejection]
        case.call_and_validate(base_url=proc.url, checks=checks, timeout=60)
        GENERATED[service] += 1
    return test


test_chat = contract_test("chat")
test_consensus = contract_test("consensus")
test_auth = contract_test("auth")
test_tts = contract_test("tts")
test_mcp = contract_test("mcp")


def test_every_service_still_answers_health_afterwards(services, record_property):
    for name in ("chat", "consensus", "auth", "tts", "mcp"):
        assert requests.get(f"{services(name).url}/health", timeout=10).status_code == 200, name
        assert GENERATED[name] > 0, f"no case was generated for {name}"
        record_property(f"{name}_generated_cases", GENERATED[name])
    print("schemathesis generated cases:", dict(GENERATED))
