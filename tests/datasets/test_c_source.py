"""load_c_source's C++ rule: the regions only a C++ compiler reads are removed."""

import pytest

from skdni import InputTypeError
from skdni.datasets import load_c_source
from skdni.datasets._c_source import _cxx_condition, c_source_files, drop_cplusplus

HEADER = """\
#ifndef G
#define G
#ifdef __cplusplus
extern "C" {
#endif
int a;
#if defined(__cplusplus)
namespace x {
#if Y
int b;
#else
int c;
#endif
#else
int d;
#endif
#if X
int e;
#elif defined(__cplusplus)
int f;
#else
int g;
#endif
#if defined(__cplusplus) && (A >= 3 || B)
int h;
#elif Z
int i;
#elif W
int j;
#endif
#ifndef __cplusplus
int k;
#else
int l;
#endif
#  if defined(X) || \\
      defined(__cplusplus)
int m;
#  endif
#ifdef __cplusplus /* C++ */
}
#endif
#endif
"""

# what a C compiler reads: the __cplusplus conditionals evaluated, nothing else
C_VIEW = """\
#ifndef G
#define G
int a;
int d;
#if X
int e;
#else
int g;
#endif
#if Z
int i;
#elif W
int j;
#endif
int k;
#  if defined(X) || \\
      defined(__cplusplus)
int m;
#  endif
#endif
"""


def test_drop_cplusplus_is_what_a_c_compiler_reads():
    assert drop_cplusplus(HEADER) == C_VIEW
    # C without __cplusplus conditionals is left exactly as it is
    assert drop_cplusplus(C_VIEW.replace("__cplusplus", "Y")) == C_VIEW.replace(
        "__cplusplus", "Y"
    )


@pytest.mark.parametrize(
    ("directive", "condition", "value"),
    [
        ("ifdef", " __cplusplus\n", False),
        ("ifndef", "__cplusplus // c\n", True),
        ("ifdef", "__cplusplus_cli", None),
        ("if", "defined(__cplusplus)", False),
        ("if", "( defined __cplusplus )", False),
        ("if", "__cplusplus >= 201103L", False),
        ("if", "defined(__cplusplus) && (A || B)", False),
        ("if", "!defined(__cplusplus) /* C */", True),
        ("if", "defined(__cplusplus) || defined(X)", None),
        ("if", "(defined(__cplusplus) && X) || Y", None),
        ("if", "!defined(__cplusplus) && X", None),
    ],
)
def test_only_conditions_cplusplus_alone_decides(directive, condition, value):
    assert _cxx_condition(directive, condition) is value


def test_load_c_source_drops_cplusplus_unless_asked():
    files = c_source_files(["numpy"])
    shipped = load_c_source(packages=["numpy"], cplusplus=True)
    assert shipped == [p.read_text(encoding="utf-8") for p in files]
    texts = load_c_source(packages=["numpy"])
    assert texts == [drop_cplusplus(t) for t in shipped]
    # numpy's headers wrap extern "C" { ... } in #ifdef __cplusplus
    assert any('extern "C"' in t for t in shipped)
    assert not any("__cplusplus" in t and 'extern "C" {' in t for t in texts)
    with pytest.raises(InputTypeError, match="cplusplus"):
        load_c_source(packages=["numpy"], cplusplus="yes")
