"""The TTS service's request and response bodies (kit/contract.py).

Whether a voice or a language exists, whether the text fits
CAPIBARA6_TTS_MAX_CHARS (413) and whether the engine can change speed is the
speaker's business (speech.py): it depends on the engine loaded.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from capibara6.kit.contract import Model, Reply, Text

MAX_TAG_CHARS = 64
Tag = Annotated[Text, StringConstraints(max_length=MAX_TAG_CHARS)]
_SPEED = "Speaking rate, 0.25 to 4 (1.0); engines without speed control take only 1.0"
_TEXT = "What to say; longer than CAPIBARA6_TTS_MAX_CHARS (3000) is a 413, never cut"


class SpeakBody(Model):
    text: Text = Field(description=_TEXT)
    language: Tag | None = Field(None, description="A language tag such as es; default CAPIBARA6_TTS_LANGUAGE")
    voice: Tag | None = Field(None, description="A voice id of GET /voices; default the language's best")
    voice_id: Tag | None = Field(None, description="The same as voice (older clients)")
    speed: float | None = Field(None, description=_SPEED)


class SpeechBody(Model):
    """OpenAI's audio/speech request; `model` is accepted and ignored (one model is loaded)."""

    input: Text = Field(description=_TEXT)
    model: Annotated[str, StringConstraints(max_length=256)] | None = None
    voice: Tag | None = Field(None, description="A voice id; OpenAI's names (alloy...) mean the default voice")
    language: Tag | None = None
    response_format: Tag | None = Field(None, description="wav (default) or pcm (16-bit 24 kHz mono); "
                                                          "both streamed sentence by sentence")
    speed: float | None = Field(None, description=_SPEED)


class SpeakReply(Reply):
    audioContent: str = Field(description="The WAV file, base64")
    audio: str = Field(description="The same (older clients)")
    format: str
    sample_rate: int
    engine: str
    voice: str
    language: str
    native: bool = Field(description="Whether the voice is native to the language (not an accent)")
    characters: int
    duration_s: float


class VoicesReply(Reply):
    voices: list[dict]
    default_language: str
    languages: list[str]
    by_language: dict[str, dict]


class PreloadReply(Reply):
    status: str
    engine: str
    load_s: float | None
