"""Grammars shipped as package data, and turning a user's grammar argument into text."""

from importlib import resources
from pathlib import Path

import lark

from .._errors import GrammarError, UnknownGrammarError

_GRAMMAR_DIR = resources.files("skdni.datasets") / "grammars"
# Grammars that ship with lark itself: name -> (file in lark/grammars, start rule).
# "python" needs lark's PythonIndenter postlexer (added by compile_grammar).
_LARK_GRAMMARS = {"python": ("python.lark", "file_input")}


def bundled_grammars() -> list[str]:
    """Names of the grammars shipped with skdni, e.g. ``"arithmetic"``.

    Returns
    -------
    names : list of str
        Sorted names, each usable wherever a grammar is expected.
    """
    return sorted(
        p.name.removesuffix(".lark")
        for p in _GRAMMAR_DIR.iterdir()
        if p.name.endswith(".lark")
    )


def _is_path(grammar) -> bool:
    return isinstance(grammar, Path) or (
        isinstance(grammar, str) and grammar.endswith(".lark")
    )


def grammar_text(grammar: str | Path) -> str:
    """The lark source of ``grammar``: a bundled name, a ``.lark`` path, or lark source.

    Parameters
    ----------
    grammar : str or Path
        A bundled grammar name (:func:`bundled_grammars`), ``"python"`` (lark's
        own Python grammar), the path of a ``.lark`` file, or lark source itself
        (a string holding ``:`` or a newline).

    Returns
    -------
    source : str
        The grammar's lark source.

    Examples
    --------
    >>> "add" in grammar_text("arithmetic")
    True
    """
    if _is_path(grammar):
        path = Path(grammar)
        if not path.is_file():
            raise GrammarError(f"Grammar file {str(path)!r} does not exist.")
        try:
            return path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise GrammarError(
                f"Grammar file {str(path)!r} is not UTF-8 text: byte "
                f"{exc.object[exc.start]:#04x} at byte offset {exc.start} cannot be "
                "decoded; save the file as UTF-8."
            ) from exc
    if not isinstance(grammar, str):
        raise GrammarError(
            f"A grammar is a bundled name, a .lark path or lark source; got "
            f"{type(grammar).__name__}."
        )
    if ":" in grammar or "\n" in grammar:
        return grammar
    if grammar in _LARK_GRAMMARS:
        filename = _LARK_GRAMMARS[grammar][0]
        return (resources.files("lark") / "grammars" / filename).read_text(
            encoding="utf-8"
        )
    if grammar not in bundled_grammars():
        raise UnknownGrammarError(
            f"No bundled grammar named {grammar!r}; bundled grammars: "
            f"{', '.join(bundled_grammars())}. Pass lark source or a .lark path "
            "instead."
        )
    return (_GRAMMAR_DIR / f"{grammar}.lark").read_text(encoding="utf-8")


def _is_bundled_c(grammar) -> bool:
    """The bundled C grammar, by name or by the path of its file."""
    if grammar == "c":
        return True
    if _is_path(grammar):
        bundled = Path(str(_GRAMMAR_DIR / "c.lark"))
        return Path(grammar).is_file() and Path(grammar).samefile(bundled)
    return False


def compile_grammar(grammar, *, start="start", parser="lalr", **options) -> lark.Lark:
    """Compile ``grammar`` with lark (``propagate_positions`` on), or GrammarError.

    ``"python"`` is lark's own Python grammar, with its indenter; its ``start`` defaults
    to ``"file_input"``. The bundled ``"c"`` grammar (by name or by the path of its
    file) gets its typedef-name postlexer.

    Parameters
    ----------
    grammar : str or Path
        As in :func:`grammar_text`.
    start : str, default="start"
        The start rule.
    parser : {"lalr", "earley"}, default="lalr"
        Lark's parser.
    **options
        Further ``lark.Lark`` options (e.g. ``lexer``, ``postlex``).

    Returns
    -------
    parser : lark.Lark
        The compiled grammar; an invalid one raises :class:`~skdni.GrammarError`.
    """
    if _is_bundled_c(grammar):
        from ._c_postlex import CTypedefPostLex

        options.setdefault("postlex", CTypedefPostLex())
        # the postlexer looks one token ahead, which a contextual lexer cannot allow
        options.setdefault("lexer", "basic")
    if isinstance(grammar, str) and grammar in _LARK_GRAMMARS:
        from ._python_postlex import PythonPostLex

        options.setdefault("postlex", PythonPostLex())
        if start == "start":
            start = _LARK_GRAMMARS[grammar][1]
    try:
        return lark.Lark(
            grammar_text(grammar),
            start=start,
            parser=parser,
            propagate_positions=True,
            **options,
        )
    except lark.exceptions.LarkError as exc:
        raise GrammarError(f"The grammar does not compile: {exc}") from exc


def grammar_reads_newlines(grammar) -> bool:
    """Whether a newline can be in a sentence of ``grammar``: some terminal (kept or
    ``%ignore``-d) matches ``"\\n"`` whole or, as a literal, contains one.

    A grammar without (the bundled ``parentheses``, ``arithmetic``, ...) has one
    sentence per line in a corpus file: the study reads each line as a text.
    """
    import re

    for terminal in compile_grammar(grammar).terminals:
        pattern = terminal.pattern
        if isinstance(pattern, lark.lexer.PatternStr):
            if "\n" in pattern.value:
                return True
            continue
        # to_regexp() carries the terminal's flags inline
        if re.fullmatch(pattern.to_regexp(), "\n"):
            return True
    return False
