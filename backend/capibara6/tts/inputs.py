"""Request bodies of the TTS routes, read into Speaker.request() arguments.

Field checks only (types, presence); whether a voice or language exists and
whether the text is too long is the speaker's business.
"""

from __future__ import annotations

from capibara6.kit import validation
from capibara6.kit.errors import BadRequest

MAX_TAG_CHARS = 64
RESPONSE_FORMATS = ("wav", "pcm")
# OpenAI's built-in voice names: clients such as Open WebUI send one by
# default, so each means "the default voice" unless the engine has a voice
# of that name.
OPENAI_VOICES = frozenset({"alloy", "ash", "ballad", "cedar", "coral", "echo", "fable", "marin",
                           "nova", "onyx", "sage", "shimmer", "verse"})


def tts_fields(body: dict) -> dict:
    """{text, language?, voice? | voice_id?, speed?} as used by /tts and /api/tts/speak."""
    voice = validation.text(body, "voice", default=None, max_length=MAX_TAG_CHARS)
    if voice is None:
        voice = validation.text(body, "voice_id", default=None, max_length=MAX_TAG_CHARS)
    return {
        "text": validation.text(body, "text"),
        "language": validation.text(body, "language", default=None, max_length=MAX_TAG_CHARS),
        "voice": voice,
        "speed": float(validation.number(body, "speed", default=1.0)),
    }


def openai_fields(body: dict, known_voices: set[str]) -> tuple[dict, str]:
    """OpenAI's {model, input, voice, response_format, speed} -> (fields, response_format).

    `model` is accepted and ignored: this service speaks with the one model it loaded.
    """
    response_format = validation.text(body, "response_format", default="wav", max_length=MAX_TAG_CHARS)
    if response_format not in RESPONSE_FORMATS:
        raise BadRequest(f"response_format {response_format!r} is not supported; use "
                         f"{' or '.join(RESPONSE_FORMATS)}", code="unsupported_format",
                         field="response_format", formats=list(RESPONSE_FORMATS))
    validation.text(body, "model", default=None, max_length=256)
    voice = validation.text(body, "voice", default=None, max_length=MAX_TAG_CHARS)
    if voice is not None and voice.lower() in OPENAI_VOICES and voice.lower() not in known_voices:
        voice = None
    fields = {
        "text": validation.text(body, "input"),
        "language": validation.text(body, "language", default=None, max_length=MAX_TAG_CHARS),
        "voice": voice,
        "speed": float(validation.number(body, "speed", default=1.0)),
    }
    return fields, response_format
