"""A generated documents folder for the mcp tests, one piece per paragraph.

Paragraphs of 320-470 characters about nothing the tests ask: two never fit
in one 600-character piece (the default), so a folder of D documents of P
paragraphs is D * P pieces to embed. Only the standard library: the systemd
tests copy this file into their container and run it there:

    python3 corpus.py FOLDER DOCUMENTS PARAGRAPHS
"""

from __future__ import annotations

import os
import random
import sys

WORDS = ("el equipo revisa los informes del laboratorio cada lunes en la sede central con el codigo "
         "the support team stores incident reports every quarter in the north wing").split()


def write_folder(folder, documents: int, paragraphs: int = 10, seed: int = 15) -> int:
    """Write nota-NNNN.md files into folder (made if missing); the number of pieces."""
    rng = random.Random(seed)
    os.makedirs(folder, mode=0o755, exist_ok=True)
    for number in range(documents):
        texts = []
        for _ in range(paragraphs):
            text = ""
            while len(text) < 320:
                text += " ".join(rng.choice(WORDS) for _ in range(12)) + f" {rng.randint(100, 99999)}. "
            texts.append(text.strip())
        with open(os.path.join(folder, f"nota-{number:04d}.md"), "w", encoding="utf-8") as handle:
            handle.write(f"# Nota {number}\n\n" + "\n\n".join(texts) + "\n")
    return documents * paragraphs


if __name__ == "__main__":
    write_folder(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
