"""Featurizers: texts -> one row of labels in [0, 1] per character (paper §3.1, §4).

Every featurizer is a scikit-learn transformer returning an array of shape
``(n_chars, n_features)`` in corpus order, NaN where a feature cannot label, with
``get_feature_names_out`` and ``feature_kinds_`` ("binary" or "continuous").
"""

from ._function import FunctionFeaturizer
from ._library import (
    BracketDepth,
    InsideQuotes,
    PositionInLine,
    character_features,
    is_bracket,
    is_digit,
    is_letter,
    is_operator,
    is_whitespace,
)
from ._parse_tree import ParseTreeFeaturizer
from ._parser_state import ParserStateFeaturizer
from ._regex import RegexFeaturizer
from ._tree_sitter import TreeSitterFeaturizer

__all__ = [
    "BracketDepth",
    "FunctionFeaturizer",
    "InsideQuotes",
    "ParseTreeFeaturizer",
    "ParserStateFeaturizer",
    "PositionInLine",
    "RegexFeaturizer",
    "TreeSitterFeaturizer",
    "character_features",
    "is_bracket",
    "is_digit",
    "is_letter",
    "is_operator",
    "is_whitespace",
]
