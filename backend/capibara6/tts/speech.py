"""The speaker: owns the engine, loads it once, picks voices, speaks text.

Concurrency: engines are not assumed thread-safe (a torch or ONNX model
also uses every core by itself), so one lock lets a single piece of text be
synthesized at a time. Requests take the lock part by part (a sentence
or so; the engine may give a request's first piece in two parts, its first
audio early), so a long text does not hold back a short one until it ends (the
lock is not first-come first-served: turns are fair only roughly). In front of the lock is
a bounded queue: at most max_queue requests are admitted at once, and one
that waits longer than queue_timeout for its turn gets a 503 "busy" instead
of hanging. A streamed request keeps its place until its last piece is
spoken (or the client leaves).

Streaming: the first piece is synthesized before the stream is handed to
the server, so anything that fails before the first audio (busy, a broken
model) is still a JSON error with its status. A failure after that cannot
change the status already sent: it is logged, and the stream is broken off
(the server closes the connection without the chunked body's last chunk), so
a client sees a cut transfer rather than a short file that looks whole.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from capibara6.kit.errors import ApiError, BadRequest, NotReady, PayloadTooLarge
from capibara6.kit.settings import ConfigError
from capibara6.tts.engines import Engine, Voice
from capibara6.tts.engines.base import first_line, normalize_language
from capibara6.tts.text import split_for_speech

log = logging.getLogger("capibara6.tts")
MIN_SPEED, MAX_SPEED = 0.25, 4.0
WARMUP_TEXT = "Hola."


class Busy(ApiError):
    status = 503
    code = "busy"


@dataclass(frozen=True)
class SpeechRequest:
    text: str
    voice: Voice
    language: str
    speed: float

    @property
    def native(self) -> bool:
        """Whether the voice speaks its own language here (not another one's phonemes)."""
        return self.voice.is_native_for(self.language)


class Speaker:
    def __init__(self, engine: Engine, *, default_language: str, max_chars: int, chunk_chars: int,
                 max_queue: int, queue_timeout: float):
        self.engine = engine
        self.default_language = normalize_language(default_language)
        self.max_chars = max_chars
        self.chunk_chars = chunk_chars
        self.queue_timeout = queue_timeout
        self.load_s: float | None = None
        self._loaded = threading.Event()
        self._load_lock = threading.Lock()
        self._synthesis_lock = threading.Lock()
        self._admission = threading.BoundedSemaphore(max_queue)

    # -- loading -------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._loaded.is_set()

    def load(self) -> float:
        """Load the engine once (later calls wait for it and return at once); seconds it took.

        Raises ConfigError when the model cannot be loaded or cannot speak.
        """
        with self._load_lock:
            if self._loaded.is_set():
                return self.load_s
            started = time.perf_counter()
            self.engine.load()
            if self.default_voice() is None:
                raise ConfigError(f"CAPIBARA6_TTS_LANGUAGE: no {self.engine.name} voice speaks "
                                  f"{self.default_language!r}; they speak {', '.join(self.languages())}")
            voice, language = self._choose_voice(None, self.default_language)
            try:  # one short sentence: the model really speaks, and the first request is not slow
                self.engine.synthesize(WARMUP_TEXT, voice, language, 1.0)
            except Exception as exc:
                raise ConfigError(f"CAPIBARA6_TTS_MODEL: {self.engine.model} loaded but cannot speak: "
                                  f"{first_line(exc)}") from None
            self.load_s = round(time.perf_counter() - started, 3)
            self._loaded.set()
            return self.load_s

    def status_line(self) -> str:
        engine = self.engine
        device = f"{engine.device} ({engine.gpu})" if engine.gpu else engine.device
        if not self.loaded:
            return f"loading {engine.name} model {engine.model} (device {device})"
        voice = self.default_voice()
        native = "native" if voice.is_native_for(self.default_language) else \
            f"not native: its own language is {voice.native_language}"
        return (f"serving; engine {engine.name}, model {engine.model}, device {device}, "
                f"voice {voice.id} for {self.default_language} ({native})")

    def describe(self) -> dict:
        """What /health and /preload say about the engine."""
        engine = self.engine
        voice = self.default_voice() if self.loaded else None
        return {"engine": engine.name, "model": engine.model, "device": engine.device,
                "gpu": engine.gpu, "model_loaded": self.loaded,
                "sample_rate": engine.sample_rate or None, "load_s": self.load_s,
                "language": self.default_language, "default_voice": voice.id if voice else None,
                "default_voice_native": voice.is_native_for(self.default_language) if voice else None}

    # -- voices --------------------------------------------------------------

    def languages(self) -> list[str]:
        return sorted({tag for voice in self.engine.voices for tag in voice.languages})

    def default_voice(self) -> Voice | None:
        ranked = self._ranked(self.default_language)
        return ranked[0][0] if ranked else None

    def voices(self) -> dict:
        default = self.default_voice() if self.loaded else None
        by_language = {}
        for language in self.languages():
            ranked = self._ranked(language)
            by_language[language] = {
                "voice": ranked[0][0].id, "native": ranked[0][0].is_native_for(language),
                "native_voices": [voice.id for voice, _ in ranked if voice.is_native_for(language)],
                "voices": [voice.id for voice, _ in ranked]}
        return {"voices": [voice.describe(self.engine.name) for voice in self.engine.voices],
                "default_voice": default.id if default else None,
                "default_voice_native": default.is_native_for(self.default_language) if default else None,
                "default_language": self.default_language, "languages": self.languages(),
                "by_language": by_language, "engine": self.engine.name, "model": self.engine.model}

    def _ranked(self, language: str) -> list[tuple[Voice, str]]:
        """The voices that speak the language, with the tag each uses, best first.

        A voice whose own language it is comes before one that reads its phonemes
        with another language's accent; then an exact tag before a regional cousin;
        then the engine's order.
        """
        wanted = normalize_language(language)
        speaking = [(voice, tag) for voice in self.engine.voices if (tag := voice.speaks(wanted)) is not None]
        return sorted(speaking, key=lambda pair: (not pair[0].is_native_for(wanted), pair[1] != wanted))

    def _choose_voice(self, voice_id: str | None, language: str | None) -> tuple[Voice, str]:
        voices = self.engine.voices
        if voice_id is not None:
            voice = next((v for v in voices if v.id.lower() == voice_id.strip().lower()), None)
            if voice is None:
                raise BadRequest(f"unknown voice {voice_id!r}; known voices: "
                                 f"{', '.join(v.id for v in voices)}",
                                 code="unknown_voice", voices=[v.id for v in voices])
            if language is None:
                return voice, voice.speaks(self.default_language) or voice.languages[0]
            tag = voice.speaks(language)
            if tag is None:
                raise BadRequest(f"the voice {voice.id!r} does not speak {language!r}; it speaks "
                                 f"{', '.join(voice.languages)}", code="unknown_language",
                                 languages=list(voice.languages))
            return voice, tag
        language = language or self.default_language
        ranked = self._ranked(language)
        if ranked:
            return ranked[0]
        raise BadRequest(f"unknown language {language!r}; known languages: {', '.join(self.languages())}",
                         code="unknown_language", languages=self.languages())

    # -- speaking ------------------------------------------------------------

    def request(self, text: str, *, language: str | None = None, voice: str | None = None,
                speed: float = 1.0) -> SpeechRequest:
        """A checked request: 413 for text over the limit, 400 for the rest, 503 before load."""
        if not self.loaded:
            raise NotReady("the TTS model is still loading; try again shortly")
        if len(text) > self.max_chars:
            raise PayloadTooLarge(f"the text has {len(text)} characters; the limit is {self.max_chars} "
                                  "(split it into several requests)", limit=self.max_chars,
                                  characters=len(text))
        if not MIN_SPEED <= speed <= MAX_SPEED:
            raise BadRequest(f"'speed' must be between {MIN_SPEED} and {MAX_SPEED}",
                             code="invalid_field", field="speed")
        if speed != 1.0 and not self.engine.supports_speed:
            raise BadRequest(f"the model {self.engine.model} has no speed control; send speed 1.0",
                             code="invalid_field", field="speed")
        chosen, tag = self._choose_voice(voice, language)
        return SpeechRequest(text=text, voice=chosen, language=tag, speed=speed)

    def speak(self, request: SpeechRequest) -> np.ndarray:
        """All the audio of the request, as float32 samples at engine.sample_rate."""
        stream = self.stream(request)
        try:
            pieces = list(stream)
        finally:
            stream.close()
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)

    def stream(self, request: SpeechRequest, encode: Callable[[np.ndarray], object] | None = None
               ) -> "SpeechStream":
        """The audio piece by piece (each passed through encode), the first piece already spoken.

        Raises Busy when the queue is full or the synthesizer stays taken, and
        whatever the engine raises for the first piece.
        """
        if not self._admission.acquire(blocking=False):
            raise Busy("the speech synthesizer is busy; try again shortly")
        pieces = self._pieces(request)
        try:
            first = next(pieces, None)
        except BaseException:
            pieces.close()
            self._admission.release()
            raise
        return SpeechStream(first, pieces, encode or (lambda samples: samples), self._admission.release)

    def _pieces(self, request: SpeechRequest) -> Iterator[np.ndarray]:
        for index, piece in enumerate(split_for_speech(request.text, self.chunk_chars)):
            # The first piece's first audio leaves before the engine ends the piece.
            parts = self.engine.synthesize_parts(piece, request.voice, request.language, request.speed,
                                                 early=index == 0)
            while (samples := self._synthesized(parts)) is not None:
                yield samples

    def _synthesized(self, parts: Iterator[np.ndarray]) -> np.ndarray | None:
        """The engine's next part, made holding the lock; None after the last."""
        if not self._synthesis_lock.acquire(timeout=self.queue_timeout):
            raise Busy(f"waited {self.queue_timeout:g}s for the speech synthesizer; try again later")
        try:
            return next(parts, None)
        finally:
            self._synthesis_lock.release()


class SpeechStream:
    """An iterable of encoded audio pieces that gives its queue place back when closed.

    A class rather than a generator: the WSGI server calls close() even when
    the client left before the first piece, and a generator never started
    would not run its clean-up.
    """

    def __init__(self, first: np.ndarray | None, rest: Iterator[np.ndarray],
                 encode: Callable[[np.ndarray], object], release: Callable[[], None]):
        self._first = first
        self._pieces = rest
        self._encode = encode
        self._release = release
        self._closed = False
        self._sent = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self._first is not None:
            samples, self._first = self._first, None
        else:
            try:
                samples = next(self._pieces)
            except StopIteration:
                raise
            except Exception as exc:
                log.warning("speech stream broken off after %d parts: %s", self._sent, first_line(exc))
                raise
        self._sent += 1
        return self._encode(samples)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._pieces.close()
            self._release()
