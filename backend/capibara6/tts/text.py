"""Splitting text into pieces a model can speak with flat memory.

Models cost memory (attention: quadratic) in the length of what they are
given, so long text is spoken piece by piece. Pieces end at sentence ends;
a sentence longer than the limit is cut at a clause (, ; :) and, failing
that, between words, so no piece is ever much longer than the limit.
"""

from __future__ import annotations

import re

# A sentence ends at . ! ? … (possibly closed by a quote or bracket) followed
# by white space. "Sr. Pérez" splits too: harmless for speech.
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[.!?…][\"'”’»)\]])\s+")
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+")


def split_for_speech(text: str, max_chars: int) -> list[str]:
    """Pieces of text, each at most about max_chars long, cut at sentence ends first."""
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(text.strip()):
        sentence = " ".join(sentence.split())
        if not sentence:
            continue
        if len(sentence) <= max_chars:
            pieces.append(sentence)
            continue
        for clause in _CLAUSE_END.split(sentence):
            pieces.extend(_pack_words(clause, max_chars))
    return _merge_short(pieces, max_chars)


def _pack_words(text: str, max_chars: int) -> list[str]:
    """Words packed into lines of at most max_chars (a longer single word stands alone)."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > max_chars:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines


def _merge_short(pieces: list[str], max_chars: int) -> list[str]:
    """Join neighbours while they fit: fewer, longer pieces are faster to speak.

    The first piece stays alone so that the first audio is ready sooner.
    """
    merged: list[str] = []
    for piece in pieces:
        if len(merged) > 1 and len(merged[-1]) + 1 + len(piece) <= max_chars:
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    return merged
