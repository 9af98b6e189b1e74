"""A small corpus in a temporary folder, and the mcp service serving it under waitress.

The service loads the real packaged MiniLM, which takes seconds: the tests of
one module share one process (module scope), and say so in their names when
they change its folder.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.processes import ROOT, ServiceProcess

TEIDE = """# Teide

The Teide volcano on Tenerife is the highest peak in Spain, rising 3,715 metres above sea level.

## Eruptions

Its last eruption happened in 1909 from the Chinyero vent on the north-west rift.
Teide National Park was declared a UNESCO World Heritage Site in 2007.
"""

VACACIONES = """# Política de vacaciones

Los empleados de Capibara6 tienen 23 días laborables de vacaciones al año.

Las vacaciones se solicitan en el portal interno con dos semanas de antelación.
"""

TORTILLA = """How to make a Spanish omelette

Slice potatoes and onions thinly and fry them slowly in olive oil.
Then mix them with beaten eggs and cook the omelette on both sides until set.
"""

CAPIBARAS = """# Capibaras

Los capibaras son los roedores más grandes del mundo y pueden pesar hasta 65 kilos.
Viven en grupos cerca de ríos y lagos de Sudamérica y se alimentan de hierbas.
"""

# The retrieval test set over that corpus and the built-in facts: what the service tests
# expect of the default model, and what test_precision.py requires of every precision alike.
QUESTIONS_AND_DOCUMENTS = [
    ("When did the Teide volcano last erupt?", "teide.md"),
    ("¿Cuántos días de vacaciones tienen los empleados?", "vacaciones.md"),
    ("How do I make a Spanish omelette?", "tortilla.txt"),
    ("¿Cuánto pesa un capibara?", "sub/capibaras.md"),
]
UNRELATED_QUESTIONS = [
    "Explain quantum entanglement in simple terms",
    "Recommend me a good book",
    "¿Qué es la fotosíntesis?",
    "¿Cuál es la capital de Australia?",
]
DATE_QUESTION = "¿Qué día es hoy?"
FACT_QUESTION = "¿En qué puerto escucha el servicio de chat de Capibara6?"
TRUE_CLAIMS = [
    "Teide last erupted in 1909",
    "Los empleados tienen 23 días de vacaciones al año",
    "Capibara6 es un producto de Anachroni s.coop",
]
FALSE_CLAIMS = [
    "Teide last erupted in 1850",                          # close to the source, other figure
    "Los empleados tienen 40 días de vacaciones al año",
    "Capibara6 es un producto de Google",                  # close to the source, other name
    "The moon is made of cheese",                          # about nothing the sources say
    "Capybaras can fly",
]

PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4


def write_corpus(folder: Path) -> Path:
    """Four good documents and the files a real folder also has: binary, broken, empty, other kinds."""
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    (folder / "teide.md").write_text(TEIDE, encoding="utf-8")
    (folder / "vacaciones.md").write_text(VACACIONES, encoding="utf-8")
    (folder / "tortilla.txt").write_text(TORTILLA, encoding="utf-8")
    (folder / "sub" / "capibaras.md").write_text(CAPIBARAS, encoding="utf-8")
    (folder / "captura.md").write_bytes(PNG_BYTES)            # binary under a text name
    os.symlink(folder / "no-such-file.md", folder / "roto.md")  # unreadable: a broken link
    (folder / "vacio.txt").write_text("  \n\n", encoding="utf-8")
    (folder / "informe.pdf").write_bytes(b"%PDF-1.4 not indexed")
    (folder / ".borrador.md").write_text("# Hidden draft\n\nIgnored.", encoding="utf-8")
    return folder


def start_mcp(tmp: Path, env: dict, port: int | None = None, indexed: bool = True) -> ServiceProcess:
    """ServiceProcess.start, but patient: while torch imports, holding the GIL on 2 busy
    cores, even the 503 of /health can take over a second, and that is not a failure.
    Returns once the folder is indexed, or with indexed=False as soon as it is READY."""
    proc = ServiceProcess("mcp", env, tmp, port=port)
    proc._log = open(proc.log_path, "ab")
    proc.proc = subprocess.Popen(proc.command(), env=proc.env, stdout=proc._log,
                                 stderr=subprocess.STDOUT, cwd=ROOT)
    wait_ready(proc)
    if indexed:
        wait_indexed(proc)
    return proc


def wait_ready(proc: ServiceProcess, wait: float = 240) -> None:
    """Until /health says 200 (READY): the model load takes seconds on 2 shared cores."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.proc.returncode}:\n{proc.log()}")
        try:
            if requests.get(proc.url + "/health", timeout=5).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{proc.name} was not ready within {wait}s:\n{proc.log()}")


def index_check(proc: ServiceProcess) -> dict:
    """The index part of /health: status, pieces, progress of a build, builds done, last error."""
    return requests.get(proc.url + "/health", timeout=10).json()["checks"]["index"]


def wait_indexed(proc: ServiceProcess, builds: int = 1, wait: float = 300) -> dict:
    """Until at least `builds` background builds have ended and none runs or waits; the index check then."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise RuntimeError(f"mcp exited with {proc.proc.returncode}:\n{proc.log()}")
        index = index_check(proc)
        if index["builds"] >= builds and not index["reindexing"]:
            return index
        time.sleep(0.1)
    raise RuntimeError(f"mcp did not finish indexing within {wait}s:\n{proc.log()}")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("docs"))


@pytest.fixture(scope="module")
def mcp(tmp_path_factory, corpus):
    tmp = tmp_path_factory.mktemp("mcp")
    proc = start_mcp(tmp, {"CAPIBARA6_MCP_DOCS_DIR": str(corpus), "CAPIBARA6_MCP_TIMEZONE": "Europe/Madrid"})
    yield proc
    proc.stop()
