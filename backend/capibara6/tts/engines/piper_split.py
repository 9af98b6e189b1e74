"""A Piper voice cut in two, so that a sentence's first audio is ready early.

A Piper voice is one ONNX graph (VITS): the text encoder, the duration
predictor and the flow (cheap: about a fifth of the time) make a latent of
one frame per hop (256 samples); the HiFi-GAN decoder (the rest) turns the
latent into audio. The graph is cut at the decoder's input, so the decoder
can run on part of a sentence: a request's first sentence is decoded in
parts cut at EARLY_CUTS frames, its first 0.35 s leaving before the rest is
decoded, the next 0.7 s soon after so that the rest is decoded while those
play (even on a CPU slowed fourfold by other work). The decoder is
convolutional, each sample depends only on latent frames nearby: a part
decoded with CONTEXT_FRAMES of latent either side and trimmed is the same
audio as a whole decode (measured on the packaged voice: equal to 4e-7; with
8 frames 7.8e-4). Each cut costs two contexts, about 20 ms of decoding.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from capibara6.kit.settings import ConfigError

EARLY_CUTS = (30, 90)  # latent frames (hop 256 samples: 30 frames are 0.35 s at 22 kHz)
CONTEXT_FRAMES = 16
# Piper scales each sentence to a peak of 1 (its SynthesisConfig.normalize_audio). A part
# leaves before the sentence's peak is known: each part gets the gain of the peak so far,
# reached within GAIN_RAMP samples when it drops so that no step is heard. A sentence
# whose peak is in its first part is unchanged; none ever clips.
GAIN_RAMP = 1024
_DECODER = "/dec/"  # piper's exporter names the decoder's nodes after VITS's `dec` module


class SplitVoice:
    """The encoder and the decoder of one Piper .onnx voice, as two ONNX sessions."""

    def __init__(self, path: Path, make_session):
        import onnx
        import onnx.utils

        model = onnx.load(str(path))
        graph = model.graph
        decoder = [node for node in graph.node if node.name.startswith(_DECODER)]
        if not decoder:
            raise ConfigError(f"CAPIBARA6_TTS_MODEL: {path} is not a VITS voice as Piper exports them "
                              "(no decoder nodes)")
        made_by = {output: node for node in graph.node for output in node.output}
        inside = {output for node in decoder for output in node.output}
        # What the decoder takes from the rest of the graph: the latent, and a speaker's embedding.
        self.boundary = sorted({name for node in decoder for name in node.input
                                if name in made_by and name not in inside
                                and made_by[name].op_type != "Constant"})
        self.latent = decoder[0].input[0]
        extractor = onnx.utils.Extractor(model)
        self.encoder = make_session(extractor.extract_model(
            [tensor.name for tensor in graph.input], self.boundary).SerializeToString())
        self.decoder = make_session(extractor.extract_model(
            self.boundary, [tensor.name for tensor in graph.output]).SerializeToString())

    def latents(self, inputs: dict) -> dict:
        """The decoder's inputs for one sentence (the model's own inputs: ids, lengths, scales, sid)."""
        return dict(zip(self.boundary, self.encoder.run(None, inputs)))

    def frame_count(self, latents: dict) -> int:
        return latents[self.latent].shape[2]

    def decode(self, latents: dict, start: int = 0, end: int | None = None) -> np.ndarray:
        """The audio of latent frames [start, end), decoded with their context around them."""
        frames = self.frame_count(latents)
        end = frames if end is None else end
        low, high = max(0, start - CONTEXT_FRAMES), min(frames, end + CONTEXT_FRAMES)
        window = {**latents, self.latent: latents[self.latent][:, :, low:high]}
        audio = self.decoder.run(None, window)[0].reshape(-1)
        hop = len(audio) // (high - low)
        return audio[(start - low) * hop:(end - low) * hop]

    def decode_in_parts(self, latents: dict, cuts: tuple[int, ...] = ()) -> Iterator[np.ndarray]:
        """The sentence's audio at Piper's level, in parts cut at these frames (those inside it)."""
        frames = self.frame_count(latents)
        bounds = [0, *(cut for cut in cuts if cut + CONTEXT_FRAMES < frames), frames]
        peak, gain = 0.0, None
        for start, end in zip(bounds, bounds[1:]):
            audio = self.decode(latents, start, end)
            peak = max(peak, float(np.max(np.abs(audio))) if len(audio) else 0.0)
            new_gain = 1.0 / peak if peak >= 1e-8 else 0.0
            yield _leveled(audio, new_gain if gain is None else gain, new_gain)
            gain = new_gain


def _leveled(audio: np.ndarray, gain_from: float, gain_to: float) -> np.ndarray:
    gains = np.full(len(audio), gain_to, dtype=np.float32)
    if gain_from != gain_to:
        ramp = min(len(audio), GAIN_RAMP)
        gains[:ramp] = np.linspace(gain_from, gain_to, ramp, dtype=np.float32)
    return np.clip(audio * gains, -1.0, 1.0).astype(np.float32)
