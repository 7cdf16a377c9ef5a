"""Corpora: grammar samplers, the paper's bundled grammars, and loaders for real text."""

from ._grammars import bundled_grammars, compile_grammar, grammar_text

__all__ = ["bundled_grammars", "compile_grammar", "grammar_text"]
