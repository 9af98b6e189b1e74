"""The one interface every TTS engine implements, and the voices it offers."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np


def normalize_language(tag: str) -> str:
    """"es_ES" and "es-es" are the same language tag."""
    return tag.strip().lower().replace("_", "-")


def primary_language(tag: str) -> str:
    return normalize_language(tag).split("-")[0]


def first_line(exc: Exception) -> str:
    """An exception as one line for a person (library messages can run to pages)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


@dataclass(frozen=True)
class Voice:
    id: str                          # what a request names in "voice"
    name: str                        # for people
    languages: tuple[str, ...]       # the language tags it speaks, its own (native) one first
    gender: str | None = None
    # Engine-private: how the engine selects this voice (speaker index, espeak voice...).
    key: str | int | None = field(default=None, compare=False)

    def speaks(self, language: str) -> str | None:
        """The tag of ours that matches the requested language: exact first, then same primary."""
        language = normalize_language(language)
        if language in self.languages:
            return language
        for ours in self.languages:
            if primary_language(ours) == primary_language(language):
                return ours
        return None

    @property
    def native_language(self) -> str:
        """Its own language: the one it was trained on; the others are phonemes it reads with its accent."""
        return self.languages[0]

    def is_native_for(self, language: str) -> bool:
        return primary_language(self.native_language) == primary_language(language)

    def describe(self, engine: str) -> dict:
        return {"id": self.id, "name": self.name, "language": self.languages[0],
                "languages": list(self.languages), "native_language": self.native_language,
                "gender": self.gender, "engine": engine}


class Engine(ABC):
    """A speech synthesizer. Not assumed thread-safe: speech.Speaker serializes calls.

    import_libraries() runs at start, before the server listens; load() runs
    once, before the service is ready. Both raise ConfigError when what they
    need is missing or broken. The rest is only called after load().
    """

    name: str = "engine"
    supports_speed: bool = True

    def __init__(self, model: str, device: str = "cpu"):
        self.model = model           # a name or path people recognise in /health and STATUS=
        self.device = device         # "cpu", "cuda:0"...
        self.gpu: str | None = None  # the GPU's name when the model runs on one
        self.sample_rate: int = 0
        self.voices: list[Voice] = []

    def import_libraries(self) -> None:
        """Import what the engine needs; called before the server listens.

        Importing torch holds the interpreter for seconds: done once the
        server listens, it would leave /health (and systemd's watchdog)
        unanswered that long. Raises ConfigError when a library is missing.
        """

    @abstractmethod
    def load(self) -> None:
        """Load the model (or check the program) and fill sample_rate and voices."""

    @abstractmethod
    def synthesize(self, text: str, voice: Voice, language: str, speed: float) -> np.ndarray:
        """Float32 mono samples in [-1, 1] at self.sample_rate for one piece of text."""

    def synthesize_parts(self, text: str, voice: Voice, language: str, speed: float, *,
                         early: bool = False) -> Iterator[np.ndarray]:
        """The same audio in consecutive parts; early: the first part as soon as the engine can.

        The speaker makes each part holding its lock, and asks for early audio
        for a request's first piece. By default one part: the whole.
        """
        yield self.synthesize(text, voice, language, speed)
