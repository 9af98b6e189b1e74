"""Routes of the TTS service (port 5002). Logic lives in speech.py and the engines."""

from __future__ import annotations

import base64

from flask import Blueprint, Response, current_app, jsonify, request

from capibara6.kit import validation
from capibara6.kit.errors import NotReady
from capibara6.kit.settings import ConfigError
from capibara6.tts import audio, inputs
from capibara6.tts.speech import Speaker

bp = Blueprint("tts", __name__)


def _speaker() -> Speaker:
    return current_app.extensions["capibara6.tts"]


def _spoken(fields: dict):
    speaker = _speaker()
    speech = speaker.request(**fields)
    return speaker, speech, speaker.speak(speech)


@bp.post("/tts")
def tts():
    speaker, speech, samples = _spoken(inputs.tts_fields(validation.json_object(request)))
    rate = speaker.engine.sample_rate
    encoded = base64.b64encode(audio.wav_bytes(samples, rate)).decode("ascii")
    return jsonify({
        "audioContent": encoded,
        "audio": encoded,
        "format": "wav",
        "sample_rate": rate,
        "engine": speaker.engine.name,
        "model": speaker.engine.model,
        "voice": speech.voice.id,
        "language": speech.language,
        "native": speech.native,
        "characters": len(speech.text),
        "duration_s": round(len(samples) / rate, 3),
    })


@bp.post("/api/tts/speak")
def speak():
    speaker, speech, samples = _spoken(inputs.tts_fields(validation.json_object(request)))
    return Response(audio.wav_bytes(samples, speaker.engine.sample_rate), mimetype="audio/wav",
                    headers=_speech_headers(speaker, speech))


@bp.post("/v1/audio/speech")
def openai_speech():
    speaker = _speaker()
    known = {voice.id.lower() for voice in speaker.engine.voices}
    fields, response_format = inputs.openai_fields(validation.json_object(request), known)
    speech = speaker.request(**fields)
    rate = speaker.engine.sample_rate
    if response_format == "wav":
        return Response(audio.wav_bytes(speaker.speak(speech), rate), mimetype="audio/wav",
                        headers=_speech_headers(speaker, speech))
    # Bare PCM has no header to write first, so it streams: each sentence leaves when it is spoken.
    stream = speaker.stream(speech, lambda samples: audio.pcm_bytes(
        audio.resample(samples, rate, audio.OPENAI_PCM_RATE)))
    headers = _speech_headers(speaker, speech)
    headers["X-Sample-Rate"] = str(audio.OPENAI_PCM_RATE)
    return Response(stream, mimetype="audio/pcm", headers=headers)


@bp.get("/voices")
def voices():
    return jsonify(_speaker().voices())


@bp.post("/preload")
def preload():
    speaker = _speaker()
    already = speaker.loaded
    try:
        load_s = speaker.load()
    except ConfigError as error:  # the model is broken: the warm-up is stopping the service too
        raise NotReady(f"the model could not be loaded: {error}") from None
    described = speaker.describe()
    return jsonify({"status": "already_loaded" if already else "loaded", "engine": described["engine"],
                    "model": described["model"], "device": described["device"], "load_s": load_s})


def _speech_headers(speaker: Speaker, speech) -> dict:
    return {"X-TTS-Engine": speaker.engine.name, "X-TTS-Voice": speech.voice.id,
            "X-TTS-Language": speech.language, "X-TTS-Native": "true" if speech.native else "false"}
