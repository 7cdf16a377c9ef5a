import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import skdni
from skdni import (
    EmptyCorpusError,
    InputTypeError,
    LayerNotFoundError,
    SkdniError,
    UnknownGrammarError,
    char_offsets,
    sequence_ids,
)
from skdni._texts import check_texts
from skdni.datasets import compile_grammar, grammar_text


def test_sequence_ids_and_offsets_golden():
    texts = ["ab", "c", "def"]
    np.testing.assert_array_equal(sequence_ids(texts), [0, 0, 1, 2, 2, 2])
    np.testing.assert_array_equal(char_offsets(texts), [0, 2, 3, 6])


@given(st.lists(st.text(max_size=12), min_size=1, max_size=8))
def test_rows_match_characters_for_any_corpus(texts):
    ids = sequence_ids(texts)
    offsets = char_offsets(texts)
    assert len(ids) == sum(map(len, texts)) == offsets[-1]
    for i, text in enumerate(texts):
        assert np.all(ids[offsets[i] : offsets[i + 1]] == i)
        assert offsets[i + 1] - offsets[i] == len(text)


def test_bare_string_is_rejected_with_a_hint():
    with pytest.raises(InputTypeError, match=r"wrap it in a list"):
        check_texts("abc")
    assert issubclass(InputTypeError, TypeError)


def test_empty_corpus_and_empty_text_are_named():
    with pytest.raises(EmptyCorpusError, match="corpus is empty"):
        check_texts([])
    with pytest.raises(EmptyCorpusError, match="Text 1 is empty"):
        check_texts(["a", "", "b"])
    assert check_texts(["a", ""], allow_empty_texts=True) == ["a", ""]


def test_non_string_items_are_named():
    with pytest.raises(InputTypeError, match="Text 1 is a int"):
        check_texts(["a", 3])


def test_errors_share_one_root_and_builtin_bases():
    for name in skdni.__all__:
        obj = getattr(skdni, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, SkdniError)
    assert issubclass(UnknownGrammarError, KeyError)
    # KeyError subclasses read as sentences, not quoted reprs
    assert str(LayerNotFoundError("no layer 'x'")) == "no layer 'x'"


def test_unknown_bundled_grammar_lists_the_bundled_ones():
    with pytest.raises(UnknownGrammarError, match="arithmetic"):
        grammar_text("arithmetc")


def test_grammar_that_does_not_compile_carries_larks_message():
    with pytest.raises(skdni.GrammarError, match="does not compile"):
        compile_grammar("start: undefined_rule")


def test_missing_grammar_file(tmp_path):
    with pytest.raises(skdni.GrammarError, match="does not exist"):
        grammar_text(tmp_path / "nope.lark")


def test_bundled_arithmetic_spans_match_the_paper_figure_1():
    tree = compile_grammar("arithmetic").parse("((1+2))")
    spans = sorted(
        (t.data, t.meta.start_pos, t.meta.end_pos)
        for t in tree.iter_subtrees()
        if t.data != "start"
    )
    assert spans == [
        ("add", 2, 5),
        ("digit", 2, 3),
        ("digit", 4, 5),
        ("paren", 0, 7),
        ("paren", 1, 6),
    ]
