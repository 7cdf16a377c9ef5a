import re

import numpy as np

from .._errors import InputError

#: Default longest text, in characters, that the loaders and the study cut files into.
MAX_TEXT_CHARS = 2000

# Lines that continue the statement above them: a cut before one would leave both
# halves unparseable (Python's else/elif/except/finally, closing brackets).
_CONTINUES = re.compile(r"(?:else|elif|except|finally)\b|[)\]}]")
# one-line string literals, whose brackets do not count
_STRING = re.compile(r"'[^'\\\n]*(?:\\.[^'\\\n]*)*'|\"[^\"\\\n]*(?:\\.[^\"\\\n]*)*\"")


def _check_max_text_chars(max_text_chars):
    if max_text_chars is not None and (
        isinstance(max_text_chars, bool)
        or not isinstance(max_text_chars, int)
        or max_text_chars < 1
    ):
        raise InputError(
            f"max_text_chars must be a positive int or None, got {max_text_chars!r}."
        )


def _line_starts(text):
    """Offsets of every line start after the first, whether a cut there is clean,
    and the line's indentation.

    A cut is clean before a line that starts a new statement: not blank, not a
    closing bracket or an ``else``-like keyword, not inside brackets or a
    triple-quoted string, not after a decorator or after a line that opens a block
    or continues (ends in ``:``, ``\\``, ``,`` or an opening bracket). Brackets and
    quotes are counted on the raw characters: a heuristic, right for ordinary code.
    """
    starts, clean, indents = [], [], []
    offset, triple, depth, previous = 0, 0, 0, ""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        line += "\n" if i + 1 < len(lines) else ""
        stripped = line.lstrip(" \t")
        if offset:
            starts.append(offset)
            indents.append(len(line) - len(stripped))
            tail = _STRING.sub("", previous).split("#", 1)[0].rstrip()
            clean.append(
                triple % 2 == 0
                and depth <= 0
                and stripped.strip() != ""
                and _CONTINUES.match(stripped) is None
                and not previous.lstrip().startswith("@")
                and not tail.endswith((":", "\\", ",", "(", "[", "{"))
            )
        quotes = line.count('"""') + line.count("'''")
        if triple % 2 == 0 and quotes == 0:
            code = _STRING.sub("", line).split("#", 1)[0]
            depth += sum(map(code.count, "([{")) - sum(map(code.count, ")]}"))
        triple += quotes
        offset += len(line)
        if stripped.strip() and not stripped.startswith("#"):
            previous = line
    return (
        np.asarray(starts, dtype=np.int64),
        np.asarray(clean, dtype=bool),
        np.asarray(indents, dtype=np.int64),
    )


def split_lines(text: str, max_text_chars: int | None, first: int | None = None):
    """Cut ``text`` into pieces of at most ``max_text_chars`` characters, at line
    ends.

    Each cut is before the last line, within the limit, that starts a new
    statement (see :func:`_line_starts`) at the least indentation in reach, so that
    cuts fall between top-level statements when they can, and blocks are cut
    between their outermost statements; else before the last line within the
    limit. Only a single line longer than the limit is cut inside the line.
    ``"".join(pieces) == text``. With ``first``, return only the longest prefix of
    at most ``first`` characters that ends at a line end (``""`` if the first line
    is longer).
    """
    if first is not None:
        if len(text) <= first:
            return text
        starts, *_ = _line_starts(text)
        fit = starts[starts <= first]
        return text[: int(fit[-1])] if fit.size else ""
    if max_text_chars is None or len(text) <= max_text_chars:
        return [text]
    starts, clean, indents = _line_starts(text)
    good, good_indents = starts[clean], indents[clean]
    pieces, lo = [], 0
    while len(text) - lo > max_text_chars:
        hi = lo + max_text_chars
        a, b = np.searchsorted(good, [lo, hi], side="right")
        if a < b:
            least = good_indents[a:b] == good_indents[a:b].min()
            cut = int(good[a:b][least][-1])
        else:
            cut = _last_in(starts, lo, hi)
            if cut is None:
                cut = hi  # one line longer than the limit
        pieces.append(text[lo:cut])
        lo = cut
    pieces.append(text[lo:])
    return pieces


def _last_in(sorted_offsets, lo, hi):
    """The largest offset in ``(lo, hi]``, or None."""
    i = np.searchsorted(sorted_offsets, hi, side="right") - 1
    if i >= 0 and sorted_offsets[i] > lo:
        return int(sorted_offsets[i])
    return None
