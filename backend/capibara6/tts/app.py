"""Routes of the TTS service (port 5002). Logic lives in speech.py and the engines."""

from __future__ import annotations

import base64

from flask import Blueprint, Response, current_app, jsonify

from capibara6.kit.contract import Answer, operation
from capibara6.kit.errors import NotReady
from capibara6.kit.settings import ConfigError
from capibara6.tts import audio, contracts, inputs
from capibara6.tts.speech import Speaker

bp = Blueprint("tts", __name__)
SPEECH_HEADERS = {"X-TTS-Engine": "The engine that spoke", "X-TTS-Voice": "The voice",
                  "X-TTS-Language": "The language", "X-TTS-Native": "true when the voice is the language's own"}
STREAMED_WAV = ("A WAV streamed sentence by sentence (chunked): its header's RIFF and data sizes are "
                "0xFFFFFFFF (length unknown), read the data to the end. Errors before the first audio are "
                "JSON; one after it breaks the transfer off (no last chunk) and is logged")
WAV = Answer(STREAMED_WAV, media_type="audio/wav", headers=SPEECH_HEADERS)
# 413: text over CAPIBARA6_TTS_MAX_CHARS; 503: still loading, or the synthesizer's queue is full.
SPEECH_ERRORS = (413, 503)


def _speaker() -> Speaker:
    return current_app.extensions["capibara6.tts"]


@bp.post("/tts")
@operation("Speak a text: the WAV file in base64 inside JSON", body=contracts.SpeakBody,
           ok=contracts.SpeakReply, errors=SPEECH_ERRORS)
def tts(body: contracts.SpeakBody):
    speaker = _speaker()
    speech = speaker.request(**inputs.tts_fields(body))
    samples = speaker.speak(speech)
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
@operation("Speak a text: a WAV streamed sentence by sentence, the first sentence first",
           body=contracts.SpeakBody, ok=WAV, errors=SPEECH_ERRORS)
def speak(body: contracts.SpeakBody):
    speaker = _speaker()
    speech = speaker.request(**inputs.tts_fields(body))
    return _streamed_wav(speaker, speech)


@bp.post("/v1/audio/speech")
@operation("OpenAI-compatible speech, streamed sentence by sentence: WAV, or 16-bit PCM at 24 kHz",
           body=contracts.SpeechBody, errors=SPEECH_ERRORS,
           ok=Answer(f"The audio. WAV: {STREAMED_WAV}", media_type="audio/wav", alternatives=("audio/pcm",),
                     headers={**SPEECH_HEADERS, "X-Sample-Rate": "PCM only: the sample rate"}))
def openai_speech(body: contracts.SpeechBody):
    speaker = _speaker()
    known = {voice.id.lower() for voice in speaker.engine.voices}
    fields, response_format = inputs.openai_fields(body, known)
    speech = speaker.request(**fields)
    if response_format == "wav":
        return _streamed_wav(speaker, speech)
    rate = speaker.engine.sample_rate
    stream = speaker.stream(speech, lambda samples: audio.pcm_bytes(
        audio.resample(samples, rate, audio.OPENAI_PCM_RATE)))
    headers = _speech_headers(speaker, speech)
    headers["X-Sample-Rate"] = str(audio.OPENAI_PCM_RATE)
    return Response(stream, mimetype="audio/pcm", headers=headers)


def _streamed_wav(speaker: Speaker, speech) -> Response:
    """Each sentence leaves as soon as it is spoken; the first one is spoken before the status is sent."""
    stream = speaker.stream(speech, audio.streamed_wav(speaker.engine.sample_rate))
    return Response(stream, mimetype="audio/wav", headers=_speech_headers(speaker, speech))


@bp.get("/voices")
@operation("The voices, and per language the one chosen and the native ones", ok=contracts.VoicesReply)
def voices():
    return jsonify(_speaker().voices())


@bp.post("/preload")
@operation("Load the model now (the warm-up does it too)", ok=contracts.PreloadReply, errors=(503,))
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
