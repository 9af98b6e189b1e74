"""Which voice speaks a language: one whose own language it is (native) before
one that reads that language's phonemes with its own accent; /voices, /tts and
the status line say which it is."""

from __future__ import annotations

import pytest
import requests

from tests.tts.conftest import SPANISH, assert_speech, decode_streamed_wav
from tests.tts.spanish_piper import DATASET, make_spanish_piper_voice


@pytest.fixture(scope="module")
def english_only(start_tts, tmp_path_factory):
    # As a host without internet ends up: the packaged English voice and nothing fetched.
    return start_tts({"CAPIBARA6_TTS_VOICES_DIR": str(tmp_path_factory.mktemp("empty-voices"))})


@pytest.fixture(scope="module")
def with_spanish(start_tts, tmp_path_factory):
    # As a host where the deploy fetched a Spanish voice into the voices directory.
    voices = tmp_path_factory.mktemp("voices")
    make_spanish_piper_voice(voices)
    return start_tts({"CAPIBARA6_TTS_VOICES_DIR": str(voices)})


def speak(service, **fields) -> dict:
    reply = requests.post(f"{service.url}/tts", json={"text": SPANISH, **fields}, timeout=60)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_with_only_the_english_voice_spanish_is_not_native(english_only):
    body = speak(english_only, language="es")
    assert (body["voice"], body["language"], body["native"]) == ("joe", "es", False)
    voices = requests.get(f"{english_only.url}/voices", timeout=10).json()
    assert voices["by_language"]["es"] == {"voice": "joe", "native": False, "native_voices": [], "voices": ["joe"]}
    assert voices["by_language"]["en-us"]["native"] is True
    assert [v["native_language"] for v in voices["voices"]] == ["en-us"]
    assert voices["default_voice"] == "joe" and voices["default_voice_native"] is False
    health = requests.get(f"{english_only.url}/health", timeout=10).json()
    assert health["default_voice"] == "joe" and health["default_voice_native"] is False


def test_a_native_spanish_voice_wins_over_the_english_one_reading_spanish(with_spanish):
    body = speak(with_spanish)  # the default language, es
    assert (body["voice"], body["language"], body["native"]) == (DATASET, "es-es", True)
    assert_speech(*decode_streamed_wav(requests.post(f"{with_spanish.url}/api/tts/speak",
                                                     json={"text": SPANISH}, timeout=60).content), SPANISH)
    voices = requests.get(f"{with_spanish.url}/voices", timeout=10).json()
    assert voices["by_language"]["es"] == {"voice": DATASET, "native": True, "native_voices": [DATASET],
                                           "voices": [DATASET, "joe"]}
    assert voices["default_voice"] == DATASET and voices["default_voice_native"] is True
    assert {v["id"]: v["native_language"] for v in voices["voices"]} == {DATASET: "es-es", "joe": "en-us"}


def test_each_language_gets_its_own_native_voice(with_spanish):
    english = speak(with_spanish, text="Hello there.", language="en-us")
    assert (english["voice"], english["native"]) == ("joe", True)
    # Naming a voice still wins: the English voice reads Spanish when asked to, and says so.
    named = requests.post(f"{with_spanish.url}/api/tts/speak", json={"text": SPANISH, "voice": "joe",
                                                                     "language": "es"}, timeout=60)
    assert named.status_code == 200
    assert (named.headers["X-TTS-Voice"], named.headers["X-TTS-Native"]) == ("joe", "false")
