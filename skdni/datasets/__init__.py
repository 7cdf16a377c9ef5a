"""Corpora: a grammar sampler, the paper's bundled grammars, loaders for real text."""

from ._c_source import load_c_source
from ._corpora import (
    make_arithmetic_corpus,
    make_corpus,
    make_dyck2_corpus,
    make_parentheses_corpus,
)
from ._grammars import bundled_grammars, compile_grammar, grammar_text
from ._interchange import make_interchange_pairs
from ._loaders import load_python_source, load_text_files
from ._sampler import sample_grammar

__all__ = [
    "bundled_grammars",
    "compile_grammar",
    "grammar_text",
    "load_c_source",
    "load_python_source",
    "load_text_files",
    "make_arithmetic_corpus",
    "make_corpus",
    "make_dyck2_corpus",
    "make_interchange_pairs",
    "make_parentheses_corpus",
    "sample_grammar",
]
