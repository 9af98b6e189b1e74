"""A Piper voice cut in two, so that a sentence's first audio is ready early.

A Piper voice is one ONNX graph (VITS): the text encoder, the duration
predictor and the flow (cheap: about a fifth of the time) make a latent of
one frame per hop (256 samples); the HiFi-GAN decoder (the rest) turns the
latent into audio. The graph is cut at the decoder's input, so the decoder
can run on part of a sentence: its first HEAD_FRAMES (about 0.35 s of
speech) leave before the rest is decoded. The decoder is convolutional, each
sample depends only on latent frames nearby: a part decoded with
CONTEXT_FRAMES of latent either side and trimmed is the same audio as a
whole decode (measured on the packaged voice: equal to 4e-7; with 8 frames
7.8e-4). The cut costs two contexts (about 20 ms) per sentence cut.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from capibara6.kit.settings import ConfigError

HEAD_FRAMES = 30
CONTEXT_FRAMES = 16
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
