"""Request bodies of the TTS routes (contracts.py), read into Speaker.request() arguments."""

from __future__ import annotations

from capibara6.kit.errors import BadRequest
from capibara6.tts.contracts import SpeakBody, SpeechBody

RESPONSE_FORMATS = ("wav", "pcm")
# OpenAI's built-in voice names: clients such as Open WebUI send one by
# default, so each means "the default voice" unless the engine has a voice
# of that name.
OPENAI_VOICES = frozenset({"alloy", "ash", "ballad", "cedar", "coral", "echo", "fable", "marin",
                           "nova", "onyx", "sage", "shimmer", "verse"})


def _speed(value: float | None) -> float:
    return float(value) if value is not None else 1.0


def tts_fields(body: SpeakBody) -> dict:
    """{text, language?, voice? | voice_id?, speed?} as used by /tts and /api/tts/speak."""
    return {"text": body.text, "language": body.language, "voice": body.voice or body.voice_id,
            "speed": _speed(body.speed)}


def openai_fields(body: SpeechBody, known_voices: set[str]) -> tuple[dict, str]:
    """OpenAI's {model, input, voice, response_format, speed} -> (fields, response_format)."""
    response_format = body.response_format or "wav"
    if response_format not in RESPONSE_FORMATS:
        raise BadRequest(f"response_format {response_format!r} is not supported; use "
                         f"{' or '.join(RESPONSE_FORMATS)}", code="unsupported_format",
                         field="response_format", formats=list(RESPONSE_FORMATS))
    voice = body.voice
    if voice is not None and voice.lower() in OPENAI_VOICES and voice.lower() not in known_voices:
        voice = None
    fields = {"text": body.input, "language": body.language, "voice": voice, "speed": _speed(body.speed)}
    return fields, response_format
