"""Reading the documents folder and the facts file, and cutting documents into pieces."""

from __future__ import annotations

import os

import pytest

from capibara6.kit.settings import ConfigError
from capibara6.mcp import chunking
from capibara6.mcp.lexical import TermIndex, numbers, terms
from capibara6.mcp.settings import PACKAGED_FACTS
from capibara6.mcp.sources import load_facts, scan_folder
from tests.mcp.conftest import write_corpus


# -- the folder ------------------------------------------------------------------------------------

def test_scan_reads_text_documents_and_skips_the_rest_with_a_reason(tmp_path, caplog):
    docs = write_corpus(tmp_path)
    (docs / "grande.md").write_text("x" * 5000, encoding="utf-8")
    scan = scan_folder(docs, max_bytes=4000)
    assert [d.name for d in scan.documents] == ["teide.md", "tortilla.txt", "vacaciones.md", "sub/capibaras.md"]
    assert all(d.context == "documents" and len(d.sha256) == 64 for d in scan.documents)
    reasons = {s["path"]: s["reason"] for s in scan.skipped}
    assert reasons == {"captura.md": "binary, not text", "roto.md": "unreadable: a broken link",
                       "vacio.txt": "empty", "grande.md": "larger than 4000 bytes (5000)"}
    assert "skipped document captura.md: binary, not text" in caplog.text


def test_a_windows_1252_document_is_read_not_skipped(tmp_path):
    (tmp_path / "antiguo.txt").write_bytes("Canción de invierno: año 1999.".encode("cp1252"))
    scan = scan_folder(tmp_path, max_bytes=10_000)
    assert scan.documents[0].text == "Canción de invierno: año 1999." and not scan.skipped


def test_a_directory_named_like_a_document_is_skipped(tmp_path):
    (tmp_path / "carpeta.md").mkdir()
    (tmp_path / "carpeta.md" / "dentro.md").write_text("# Dentro\n\nTexto.", encoding="utf-8")
    scan = scan_folder(tmp_path, max_bytes=10_000)
    assert [d.name for d in scan.documents] == ["carpeta.md/dentro.md"]


def test_the_content_hash_changes_with_the_content_only(tmp_path):
    path = tmp_path / "a.md"
    path.write_text("uno", encoding="utf-8")
    first = scan_folder(tmp_path, 100).documents[0].sha256
    os.utime(path, (0, 0))
    assert scan_folder(tmp_path, 100).documents[0].sha256 == first
    path.write_text("dos", encoding="utf-8")
    assert scan_folder(tmp_path, 100).documents[0].sha256 != first


def test_no_folder_means_no_documents_and_a_vanished_folder_is_an_error(tmp_path):
    assert scan_folder(None, 100).documents == []
    with pytest.raises(FileNotFoundError):
        scan_folder(tmp_path / "gone", 100)


# -- the facts file --------------------------------------------------------------------------------

def test_the_packaged_facts_load():
    facts = load_facts(PACKAGED_FACTS)
    assert [c.id for c in facts.contexts] == ["company_info", "technical_specs"]
    assert facts.date_context.id == "current_date"
    assert [d.key for d in facts.documents] == ["facts/company_info", "facts/technical_specs", "current_date"]
    assert all(d.items for d in facts.documents)


@pytest.mark.parametrize("content, message", [
    ("contexts: [", "cannot read"),
    ("just a string", "needs a 'contexts' list"),
    ("contexts:\n  - {id: a, name: A}\n", "each context needs id, name and description"),
    ("contexts:\n  - {id: a, name: A, description: D, facts: []}\n", "non-empty 'facts' list"),
    ("contexts:\n  - {id: a, name: A, description: D, facts: [x]}\n"
     "current_date: {id: d, name: D, description: D}\n", "'phrasings' list"),
    ("contexts:\n  - {id: documents, name: A, description: D, facts: [x]}\n"
     "current_date: {id: d, name: D, description: D, phrasings: [q]}\n", "must be unique"),
])
def test_a_broken_facts_file_is_a_config_error(tmp_path, content, message):
    path = tmp_path / "facts.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_facts(path)
    assert message in str(raised.value) and "CAPIBARA6_MCP_FACTS_FILE" in str(raised.value)


# -- chunking --------------------------------------------------------------------------------------

def test_pieces_keep_their_section_and_never_exceed_the_size():
    text = "# Guía\n\nIntro corta.\n\n## Volcanes\n\n" + " ".join(f"Frase número {i} sobre el Teide." for i in range(40))
    pieces = chunking.split(text, max_chars=200, overlap=60)
    assert pieces[0] == chunking.Piece("Guía", "Intro corta.")
    assert all(p.heading == "Volcanes" for p in pieces[1:]) and len(pieces) > 3
    assert all(len(p.text) <= 200 for p in pieces)
    # The overlap: a piece starts with the last sentence of the one before.
    last_sentence = pieces[1].text.rsplit(". ", 1)[-1]
    assert pieces[2].text.startswith(last_sentence)


def test_a_sentence_longer_than_a_piece_is_cut_at_spaces():
    pieces = chunking.split("palabra " * 100, max_chars=100, overlap=0)
    assert all(len(p.text) <= 100 and not p.text.endswith(" ") for p in pieces)
    assert " ".join(p.text for p in pieces).split() == ["palabra"] * 100


def test_the_title_is_the_first_heading_or_the_file_name():
    assert chunking.title_of("# Política de vacaciones\n\ntexto", "x.md") == "Política de vacaciones"
    assert chunking.title_of("texto\n# Más tarde", "notas_de-reunion.txt") == "notas de reunion"


# -- terms -----------------------------------------------------------------------------------------

def test_terms_fold_accents_stem_and_drop_stop_words():
    assert terms("¿Cuántos días de VACACIONES tengo?") == {"dias", "vacac"}
    assert terms("The vacation") == {"vacat"}
    assert numbers("3,715 metres in 1909 and 3.715 metros") == {"3715", "1909"}


def test_coverage_weighs_rare_terms_more():
    index = TermIndex([terms("teide volcano"), terms("volcano lava"), terms("volcano ash")])
    rare, common = index.coverage(terms("teide")), index.coverage(terms("volcano"))
    assert rare[0] == pytest.approx(1.0) and rare[1] == 0
    assert common == pytest.approx([1.0, 1.0, 1.0])
    both = index.coverage(terms("teide volcano"))
    assert both[0] == pytest.approx(1.0) and 0 < both[1] < 0.5
