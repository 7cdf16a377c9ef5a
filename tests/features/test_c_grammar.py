from pathlib import Path

import numpy as np
import pytest

from skdni import ParseFailure
from skdni.datasets import compile_grammar
from skdni.features import ParserStateFeaturizer, ParseTreeFeaturizer

DATA = Path(__file__).parent / "data"
PROGRAMS = sorted(DATA.glob("*.c"))


def test_there_are_example_programs():
    assert len(PROGRAMS) >= 4
    assert all(50 <= len(p.read_text().splitlines()) <= 150 for p in PROGRAMS)


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.name)
def test_example_program_parses(path):
    source = path.read_text()
    tree = compile_grammar("c").parse(source)
    kinds = {t.data for t in tree.iter_subtrees()}
    assert {"function_definition", "call", "compound_statement"} <= kinds


def test_featurize_example_programs():
    texts = [p.read_text() for p in PROGRAMS]
    f = ParseTreeFeaturizer("c", representations=("range", "impulse"))
    Y = f.fit_transform(texts)
    names = list(f.get_feature_names_out())
    assert Y.shape == (sum(map(len, texts)), len(names))
    text = texts[0]
    funcs = Y[: len(text), names.index("range:function_definition")]
    # a function definition covers "int main" but not the comment or #include
    assert funcs[text.index("int main")] == 1
    assert funcs[0] == 0 and funcs[text.index("#include")] == 0
    strings = Y[: len(text), names.index("impulse:string")]
    assert strings[text.index('"out of memory')] == 1
    state = ParserStateFeaturizer("c").fit(texts)
    assert state.transform(texts).shape[0] == Y.shape[0]


def statement_kind(source):
    tree = compile_grammar("c").parse(source)
    body = next(tree.find_data("compound_statement"))
    return body.children[0].data


def test_typedef_names():
    # the classic ambiguity: `T * x;` declares x once T is a typedef name
    assert statement_kind("typedef int T; void f() { T * x; }") == "declaration"
    assert statement_kind("int T, x; void f() { T * x; }") == "expression_statement"
    # library types and identifier-identifier pairs are type names too
    assert statement_kind("void f() { size_t * n; }") == "declaration"
    assert statement_kind("void f() { z_stream s; }") == "declaration"
    assert statement_kind("void f() { mytype v; }") == "declaration"
    # a function-pointer typedef, a struct tag equal to the typedef name
    src = "typedef int (*cmp)(int a); typedef struct n n; void f(cmp c, struct n *p) {}"
    compile_grammar("c").parse(src)


def test_comments_preprocessor_and_operators():
    src = (
        "#define MAX(a, b) \\\n  ((a) > (b) ? (a) : (b))\n/* c */ int x = 1 << 2;"
        " // d\nint f(int a) { a <<= 1; return a >= 2 && a != 3 ? -a : ~a; }\n"
    )
    f = ParseTreeFeaturizer("c", representations=("range",)).fit([src])
    Y = f.transform([src])
    shift = Y[:, list(f.get_feature_names_out()).index("range:shift")]
    assert shift[src.index("1 << 2")] == 1 and shift[: src.index("int x")].sum() == 0


def test_unsupported_construct_reports_position():
    with pytest.raises(ParseFailure, match="Text 0 .*line 1"):
        ParseTreeFeaturizer("c").fit(["int f() __attribute__((pure));"])


def test_labels_in_unit_interval():
    texts = [PROGRAMS[0].read_text()]
    Y = ParseTreeFeaturizer("c").fit_transform(texts)
    assert np.nanmin(Y) >= 0 and np.nanmax(Y) <= 1


@pytest.mark.parametrize("as_path", [str, Path])
def test_bundled_c_file_path_gets_the_typedef_postlexer(as_path):
    from skdni.datasets._grammars import _GRAMMAR_DIR

    path = as_path(str(_GRAMMAR_DIR / "c.lark"))
    text = "typedef int T;\nT *x;\n"
    f = ParseTreeFeaturizer(path, representations=("range",), rules=["typedef_name"])
    np.testing.assert_array_equal(np.flatnonzero(f.fit_transform([text])[:, 0]), [15])
