"""A tiny random VITS model (transformers), made and saved like a real one.

Its weights are random, so it speaks noise, but it goes through the same
loading code (save_pretrained / the text-to-speech pipeline) as a real MMS
voice. One change makes its output look like speech in length: the duration
predictor is set to give each token ceil(2.5) = 3 frames of 256 samples at
16 kHz; with a blank between characters that is about 0.1 s per character.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

# Lower-case Spanish letters and punctuation; "_" pads and stands for unknown characters.
CHARACTERS = list("_ abcdefghijklmnopqrstuvwxyzáéíóúñü,.;:?!¿¡'-")
SAMPLE_RATE = 16_000
FRAMES_PER_TOKEN = 3
SAMPLES_PER_FRAME = 8 * 8 * 4  # the product of upsample_rates below


def make_tiny_vits(directory: Path, seed: int = 0) -> Path:
    import torch
    from transformers import VitsConfig, VitsModel, VitsTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    vocab = directory / "vocab.json"
    vocab.write_text(json.dumps({char: index for index, char in enumerate(CHARACTERS)}), encoding="utf-8")
    tokenizer = VitsTokenizer(str(vocab), phonemize=False, normalize=True, add_blank=True,
                              pad_token="_", unk_token="_")
    config = VitsConfig(
        vocab_size=len(CHARACTERS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        ffn_dim=32, flow_size=16, spectrogram_bins=17, upsample_initial_channel=16,
        upsample_rates=[8, 8, 4], upsample_kernel_sizes=[16, 16, 8], resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3]], use_stochastic_duration_prediction=False,
        duration_predictor_filter_channels=16, prior_encoder_num_flows=1,
        prior_encoder_num_wavenet_layers=1, posterior_encoder_num_wavenet_layers=1,
        depth_separable_num_layers=1, sampling_rate=SAMPLE_RATE)
    torch.manual_seed(seed)
    model = VitsModel(config)
    with torch.no_grad():
        model.duration_predictor.proj.weight.zero_()
        model.duration_predictor.proj.bias.fill_(math.log(FRAMES_PER_TOKEN - 0.5))
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
