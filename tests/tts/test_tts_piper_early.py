"""Piper's first audio early: the voice cut into encoder and decoder, and a
sentence's head decoded before its rest, is the same audio as one decode."""

from __future__ import annotations

import numpy as np
import pytest

from capibara6.tts.engines import build_engine
from capibara6.tts.engines.piper_split import CONTEXT_FRAMES, EARLY_CUTS

HEAD_FRAMES = EARLY_CUTS[0]
from capibara6.tts.settings import TtsSettings
from capibara6.kit.settings import Env
from tests.tts.conftest import assert_speech

SENTENCE = "Capibara6 es un asistente de inteligencia artificial que habla español."


@pytest.fixture(scope="module")
def piper():
    engine = build_engine(TtsSettings.from_env(Env({"CAPIBARA6_TTS_ENGINE": "piper"})))
    engine.load()
    return engine


@pytest.fixture(scope="module")
def latents(piper):
    """The decoder's input for the sentence (the encoder draws its noise once, here)."""
    voice = piper.voices[0]
    file_id, _ = voice.key
    spoken = piper._by_file[file_id]["es"]
    ids = spoken.phonemes_to_ids(spoken.phonemize(SENTENCE)[0])
    config = spoken.config
    model = piper._models[file_id]
    return model, model.latents({
        "input": np.array([ids], dtype=np.int64), "input_lengths": np.array([len(ids)], dtype=np.int64),
        "scales": np.array([config.noise_scale, config.length_scale, config.noise_w_scale], dtype=np.float32)})


def test_a_sentence_decoded_in_parts_is_the_same_audio_as_decoded_whole(latents):
    model, decoder_input = latents
    frames = model.frame_count(decoder_input)
    assert frames > 3 * HEAD_FRAMES
    whole = model.decode(decoder_input)
    head = model.decode(decoder_input, 0, HEAD_FRAMES)
    rest = model.decode(decoder_input, HEAD_FRAMES)
    assert len(head) == HEAD_FRAMES * len(whole) // frames
    joined = np.concatenate([head, rest])
    assert len(joined) == len(whole)
    assert np.max(np.abs(joined - whole)) < 1e-4 * np.max(np.abs(whole))


def test_without_context_the_cut_would_be_heard(latents, monkeypatch):
    # The check above can fail: decoded with no latent around the cut, the parts differ from the whole.
    model, decoder_input = latents
    whole = model.decode(decoder_input)
    monkeypatch.setattr("capibara6.tts.engines.piper_split.CONTEXT_FRAMES", 0)
    joined = np.concatenate([model.decode(decoder_input, 0, HEAD_FRAMES), model.decode(decoder_input, HEAD_FRAMES)])
    assert np.max(np.abs(joined - whole)) > 1e-2 * np.max(np.abs(whole))
    assert CONTEXT_FRAMES > 0


def test_early_parts_start_with_the_head_and_keep_the_level(piper):
    voice = piper.voices[0]
    parts = list(piper.synthesize_parts(SENTENCE + " Hasta luego.", voice, "es", 1.0, early=True))
    # The first sentence cut at EARLY_CUTS, then the second sentence whole.
    assert len(parts) == len(EARLY_CUTS) + 2
    hop = 256
    assert [len(part) for part in parts[:2]] == [EARLY_CUTS[0] * hop, (EARLY_CUTS[1] - EARLY_CUTS[0]) * hop]
    samples = np.concatenate(parts)
    assert_speech(samples, piper.sample_rate, SENTENCE + " Hasta luego.")
    # Piper's level: each sentence peaks at 1 (the first one's parts at the gain of the peak so far).
    assert np.max(np.abs(parts[-1])) == pytest.approx(1.0, abs=1e-3)
    assert np.max(np.abs(np.concatenate(parts[:-1]))) <= 1.0
    assert len(list(piper.synthesize_parts(SENTENCE, voice, "es", 1.0))) == 1  # not early: one part


def test_parts_keep_the_level_of_the_peak_so_far_without_a_step(latents):
    model, decoder_input = latents
    whole = next(model.decode_in_parts(decoder_input))
    assert np.max(np.abs(whole)) == pytest.approx(1.0)
    parts = list(model.decode_in_parts(decoder_input, EARLY_CUTS))
    joined = np.concatenate(parts)
    assert len(joined) == len(whole) and np.max(np.abs(joined)) <= 1.0
    # Where the gain held, the parts are the whole sentence's audio; after a louder part, lower and close.
    ratio = np.sum(joined * whole) / np.sum(whole * whole)
    assert 0.5 < ratio <= 1.0 + 1e-4
    assert np.max(np.abs(np.diff(joined))) <= np.max(np.abs(np.diff(whole))) + 1e-3  # no click at a cut
