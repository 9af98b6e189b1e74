"""Cutting a Markdown or plain-text document into pieces the size of a retrieval hit.

A piece holds whole paragraphs where they fit, else whole sentences, and
never mixes two sections: each piece remembers the heading it sits under,
which goes into what is embedded (a paragraph that says "it erupted in 1909"
is found by a question about the volcano its section is named after). The
end of one piece is repeated at the start of the next (the overlap), so a
fact that straddles the cut is whole in one of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath

_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?…:;])\s+")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class Piece:
    heading: str   # the section's heading ("" before the first one)
    text: str


def title_of(text: str, path: str) -> str:
    """The first Markdown heading, else the file name made readable."""
    for line in text.splitlines():
        match = _HEADING.match(line)
        if match and match.group(2):
            return match.group(2)
        if line.strip():
            break  # a heading counts as the title only at the very top
    stem = PurePath(path).stem
    return _SPACES.sub(" ", re.sub(r"[_\-]+", " ", stem)).strip() or path


def split(text: str, max_chars: int, overlap: int) -> list[Piece]:
    pieces: list[Piece] = []
    for heading, paragraphs in _sections(text):
        units = [unit for paragraph in paragraphs for unit in _units(paragraph, max_chars)]
        pieces.extend(Piece(heading, body) for body in _pack(units, max_chars, overlap))
    return pieces


def _sections(text: str):
    """(heading, [paragraph, ...]) in order; a paragraph's lines are joined with spaces."""
    heading, paragraphs, lines = "", [], []

    def close_paragraph():
        if lines:
            paragraphs.append(_SPACES.sub(" ", " ".join(lines)).strip())
            lines.clear()

    for line in text.splitlines():
        match = _HEADING.match(line)
        if match:
            close_paragraph()
            if paragraphs:
                yield heading, paragraphs
            heading, paragraphs = match.group(2), []
        elif line.strip():
            lines.append(line.strip())
        else:
            close_paragraph()
    close_paragraph()
    if paragraphs:
        yield heading, paragraphs


def _units(paragraph: str, max_chars: int) -> list[str]:
    """The paragraph if it fits, else its sentences, else slices of a too-long sentence."""
    if len(paragraph) <= max_chars:
        return [paragraph]
    units = []
    for sentence in _SENTENCE_END.split(paragraph):
        while len(sentence) > max_chars:
            cut = sentence.rfind(" ", 0, max_chars)
            cut = cut if cut > max_chars // 2 else max_chars
            units.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            units.append(sentence)
    return units


def _pack(units: list[str], max_chars: int, overlap: int) -> list[str]:
    pieces, current = [], []
    size = 0
    for unit in units:
        if current and size + 1 + len(unit) > max_chars:
            pieces.append(" ".join(current))
            current = _tail(current, overlap, max_chars - len(unit) - 1)
            size = len(" ".join(current))
        current.append(unit)
        size += len(unit) + (1 if size else 0)
    if current:
        pieces.append(" ".join(current))
    return pieces


def _tail(units: list[str], overlap: int, room: int) -> list[str]:
    """The last units of a piece that fit in the overlap (and in the room left for the next unit)."""
    kept, size = [], 0
    for unit in reversed(units):
        if size + len(unit) > min(overlap, room):
            break
        kept.insert(0, unit)
        size += len(unit) + 1
    return kept
