"""The TTS service under waitress, with each engine this machine has:
espeak-ng, Piper with the packaged voice, and a tiny transformers model."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests

from tests.tts.conftest import SPANISH, assert_speech, b64_wav, decode_streamed_wav, decode_wav, rms
from tests.tts.tiny_vits import SAMPLE_RATE as TINY_RATE


@pytest.fixture(scope="module")
def espeak(start_tts):
    return start_tts({"CAPIBARA6_TTS_ENGINE": "espeak"})


@pytest.fixture(scope="module")
def piper(start_tts):
    return start_tts({})  # no configuration: the best installed engine needing no download


@pytest.fixture(scope="module")
def transformers_tts(start_tts, tiny_vits_dir):
    return start_tts({"CAPIBARA6_TTS_ENGINE": "transformers", "CAPIBARA6_TTS_MODEL": str(tiny_vits_dir)})


@pytest.fixture(params=["espeak", "piper", "transformers_tts"])
def any_engine(request):
    return request.getfixturevalue(request.param)


def test_each_engine_speaks_spanish_as_a_well_formed_wav(any_engine):
    reply = requests.post(f"{any_engine.url}/tts", json={"text": SPANISH}, timeout=60)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["audio"] == body["audioContent"] and body["format"] == "wav"
    assert body["language"] == "es" and body["characters"] == len(SPANISH)
    samples, rate = decode_wav(b64_wav(body))
    assert rate == body["sample_rate"]
    assert body["duration_s"] == pytest.approx(len(samples) / rate, abs=0.002)
    assert_speech(samples, rate, SPANISH)
    health = requests.get(f"{any_engine.url}/health", timeout=5).json()
    assert body["engine"] == health["engine"] and body["model"] == health["model"]
    assert health["sample_rate"] == rate and health["model_loaded"] is True


def test_speak_streams_a_wav_of_every_sentence(any_engine):
    with requests.post(f"{any_engine.url}/api/tts/speak", json={"text": SPANISH}, stream=True,
                       timeout=60) as reply:
        assert reply.status_code == 200 and reply.headers["Content-Type"] == "audio/wav"
        assert reply.headers["Transfer-Encoding"] == "chunked" and "Content-Length" not in reply.headers
        data = b"".join(reply.iter_content(8192))
    samples, rate = decode_streamed_wav(data)
    assert rate == requests.get(f"{any_engine.url}/health", timeout=5).json()["sample_rate"]
    assert_speech(samples, rate, SPANISH)
    assert rms(samples[-rate // 2:]) > 0.005, "the last sentence is missing"


def test_default_engine_is_piper_with_the_packaged_voice(piper):
    health = requests.get(f"{piper.url}/health", timeout=5).json()
    assert health["status"] == "ok" and health["service"] == "capibara6-tts"
    assert {k: health[k] for k in ("engine", "model", "device", "gpu", "model_loaded", "sample_rate")} == {
        "engine": "piper", "model": "en_US-joe-medium", "device": "cpu", "gpu": None,
        "model_loaded": True, "sample_rate": 22050}


def test_piper_voice_speaks_spanish_phonemes_and_its_own_english(piper):
    voices = requests.get(f"{piper.url}/voices", timeout=5).json()
    assert voices["default_voice"] == "joe"
    assert voices["voices"][0]["languages"] == ["en-us", "es"]
    english = requests.post(f"{piper.url}/tts", json={"text": "Good morning, how are you?",
                                                      "language": "en", "voice": "joe"}, timeout=60).json()
    spanish = requests.post(f"{piper.url}/tts", json={"text": "Buenos días, ¿cómo estás?",
                                                      "voice_id": "joe"}, timeout=60).json()
    assert (english["language"], spanish["language"]) == ("en-us", "es")
    for body, text in ((english, "Good morning, how are you?"), (spanish, "Buenos días, ¿cómo estás?")):
        assert_speech(*decode_wav(b64_wav(body)), text)


def test_speed_makes_speech_shorter(any_engine):
    def duration(speed):
        reply = requests.post(f"{any_engine.url}/tts", json={"text": SPANISH, "speed": speed}, timeout=60)
        assert reply.status_code == 200, reply.text
        return reply.json()["duration_s"]
    assert duration(2.0) < 0.8 * duration(1.0)


def test_openai_speech_streams_wav_or_pcm(piper):
    wav = requests.post(f"{piper.url}/v1/audio/speech", json={
        "model": "tts-1", "input": SPANISH, "voice": "alloy", "response_format": "wav"}, timeout=60)
    assert wav.status_code == 200 and wav.headers["Content-Type"] == "audio/wav"
    assert wav.headers["Transfer-Encoding"] == "chunked"
    assert_speech(*decode_streamed_wav(wav.content), SPANISH)
    with requests.post(f"{piper.url}/v1/audio/speech", json={
            "model": "tts-1", "input": SPANISH, "voice": "joe", "response_format": "pcm", "speed": 1.0},
            stream=True, timeout=60) as pcm:
        assert pcm.status_code == 200 and pcm.headers["Content-Type"] == "audio/pcm"
        assert pcm.headers["X-Sample-Rate"] == "24000"
        data = b"".join(pcm.iter_content(8192))
    assert len(data) % 2 == 0
    assert_speech(np.frombuffer(data, dtype="<i2") / 32768.0, 24000, SPANISH)


def test_the_openai_client_streams_wav_and_pcm(piper):
    import openai

    client = openai.OpenAI(base_url=f"{piper.url}/v1", api_key="not-needed", max_retries=0)
    for response_format in ("wav", "pcm"):
        with client.audio.speech.with_streaming_response.create(
                model="tts-1", voice="alloy", input=SPANISH, response_format=response_format) as reply:
            assert reply.headers["Transfer-Encoding"] == "chunked"
            data = b"".join(reply.iter_bytes())
        if response_format == "wav":
            assert_speech(*decode_streamed_wav(data), SPANISH)
        else:
            assert_speech(np.frombuffer(data, dtype="<i2") / 32768.0, 24000, SPANISH)


def test_voices_are_named_and_listed(espeak):
    body = requests.get(f"{espeak.url}/voices", timeout=5).json()
    ids = {voice["id"]: voice for voice in body["voices"]}
    assert {"es", "es-419", "en-us"} <= set(ids)
    assert ids["es"]["engine"] == "espeak" and ids["es"]["languages"] == ["es"]
    assert body["default_voice"] == "es" and "es" in body["languages"]
    latin = requests.post(f"{espeak.url}/tts", json={"text": "¿Qué onda?", "voice": "es-419"}, timeout=30)
    assert latin.json()["voice"] == "es-419" and latin.json()["language"] == "es-419"


def test_preload_says_the_model_is_loaded(espeak):
    body = requests.post(f"{espeak.url}/preload", timeout=30).json()
    assert body["status"] == "already_loaded" and body["engine"] == "espeak"
    assert body["device"] == "cpu" and body["load_s"] >= 0


def test_long_text_is_spoken_whole_in_pieces(espeak):
    text = " ".join(f"Esta es la frase número {n}, que habla de capibaras y de ríos." for n in range(30))
    assert len(text) > 1500
    reply = requests.post(f"{espeak.url}/tts", json={"text": text}, timeout=120)
    assert reply.status_code == 200
    samples, rate = decode_wav(b64_wav(reply.json()))
    assert_speech(samples, rate, text)  # its length fits the whole text: nothing was cut
    tail = samples[-rate * 3:]
    assert rms(tail) > 0.01, "the end of the text was not spoken"


BAD_INPUTS = [
    # route, how the body is sent, status, code
    ("/tts", {"data": "esto no es JSON"}, 400, "invalid_json"),
    ("/tts", {"data": ""}, 400, "invalid_json"),
    ("/tts", {"json": ["hola"]}, 400, "invalid_json"),
    ("/tts", {"json": {}}, 400, "missing_field"),
    ("/tts", {"json": {"text": ""}}, 400, "missing_field"),
    ("/tts", {"json": {"text": "   "}}, 400, "missing_field"),
    ("/tts", {"json": {"text": 42}}, 400, "invalid_field"),
    ("/tts", {"json": {"text": "a" * 3001}}, 413, "payload_too_large"),
    ("/tts", {"json": {"text": "hola", "language": "xx"}}, 400, "unknown_language"),
    ("/tts", {"json": {"text": "hola", "voice": "nadie"}}, 400, "unknown_voice"),
    ("/tts", {"json": {"text": "hola", "voice_id": "nadie"}}, 400, "unknown_voice"),
    ("/tts", {"json": {"text": "hola", "voice": "en-us", "language": "es"}}, 400, "unknown_language"),
    ("/tts", {"json": {"text": "hola", "speed": 0}}, 400, "invalid_field"),
    ("/tts", {"json": {"text": "hola", "speed": "rápido"}}, 400, "invalid_field"),
    ("/api/tts/speak", {"json": {"text": ""}}, 400, "missing_field"),
    ("/api/tts/speak", {"json": {"text": "a" * 3001}}, 413, "payload_too_large"),
    ("/v1/audio/speech", {"json": {"input": "hola", "response_format": "mp3"}}, 400, "unsupported_format"),
    ("/v1/audio/speech", {"json": {"input": "hola", "voice": "nadie"}}, 400, "unknown_voice"),
    ("/v1/audio/speech", {"json": {"input": ""}}, 400, "missing_field"),
    ("/v1/audio/speech", {"data": "{input: hola}"}, 400, "invalid_json"),
]


@pytest.mark.parametrize("route,send,status,code", BAD_INPUTS,
                         ids=[f"{route}-{code}-{i}" for i, (route, _, _, code) in enumerate(BAD_INPUTS)])
def test_bad_input_is_a_json_4xx(espeak, route, send, status, code):
    reply = requests.post(f"{espeak.url}{route}", timeout=30, **send)
    assert reply.status_code == status, reply.text
    assert reply.headers["Content-Type"].startswith("application/json")
    body = reply.json()
    assert body["code"] == code and body["error"]
    if code == "unknown_voice":
        assert "es" in body["voices"] and "es" in body["error"]  # it lists the known voices
    if status == 413:
        assert body["limit"] == 3000


def test_wrong_method_is_a_json_405(espeak):
    reply = requests.get(f"{espeak.url}/tts", timeout=5)
    assert reply.status_code == 405 and reply.json()["code"] == "method_not_allowed"


def test_ten_concurrent_requests_all_get_valid_audio(piper):
    texts = [f"Petición {n}, capibara." + " Sí." * n for n in range(10)]

    def speak(text):
        return text, requests.post(f"{piper.url}/tts", json={"text": text}, timeout=120)

    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(speak, texts))
    for text, reply in results:
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["characters"] == len(text)
        assert_speech(*decode_wav(b64_wav(body)), text)
    durations = [reply.json()["duration_s"] for _, reply in results]
    assert durations[-1] > durations[0]  # each got the audio of its own text


def test_transformers_model_reports_its_engine(transformers_tts, tiny_vits_dir):
    health = requests.get(f"{transformers_tts.url}/health", timeout=5).json()
    assert health["engine"] == "transformers" and health["model"] == str(tiny_vits_dir)
    assert health["device"] == "cpu" and health["sample_rate"] == TINY_RATE
    voices = requests.get(f"{transformers_tts.url}/voices", timeout=5).json()
    assert [v["id"] for v in voices["voices"]] == ["default"]
