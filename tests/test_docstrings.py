"""Docstrings: numpydoc-valid over the public API; no citation of documents that
are not in the repository; examples import the public API only."""

import ast
import importlib
import inspect
import pkgutil
import pydoc
import re
from pathlib import Path

import pytest

import skdni

numpydoc_validate = pytest.importorskip("numpydoc.validate")

ROOT = Path(skdni.__file__).parent
EXAMPLES = ROOT.parent / "examples"

# numpydoc error codes that must not occur: no docstring, no summary, undocumented,
# unknown or undescribed parameters, no Returns section
CODES = {"GL08", "SS01", "PR01", "PR02", "PR07", "RT01"}


def _public_modules():
    yield skdni
    for info in pkgutil.iter_modules(skdni.__path__):
        if info.ispkg and not info.name.startswith("_"):
            yield importlib.import_module(f"skdni.{info.name}")
    yield importlib.import_module("skdni.utils.estimator_checks")


def public_objects() -> list[str]:
    """Import paths of every object in a public ``__all__`` and, for classes, of
    their public methods and properties written in skdni (not inherited from
    scikit-learn), each under the first public path that names it."""
    paths, seen = [], set()
    for module in _public_modules():
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            key = (getattr(obj, "__module__", None), getattr(obj, "__qualname__", name))
            if key in seen or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            seen.add(key)
            path = f"{module.__name__}.{name}"
            paths.append(path)
            if not inspect.isclass(obj):
                continue
            for attr in sorted(dir(obj)):
                if attr.startswith("_"):
                    continue
                member = inspect.getattr_static(obj, attr)
                func = member.fget if isinstance(member, property) else member
                func = getattr(func, "__func__", func)
                if callable(func) and getattr(func, "__module__", "").startswith(
                    "skdni"
                ):
                    paths.append(f"{path}.{attr}")
    return paths


def _errors(path):
    result = numpydoc_validate.validate(path)
    return [f"{code}: {msg}" for code, msg in result["errors"] if code in CODES]


@pytest.mark.parametrize("path", public_objects())
def test_numpydoc(path):
    errors = _errors(path)
    assert not errors, "\n".join([path, *errors])


def test_no_unfilled_placeholders():
    # a ``%(key)s`` line fill_doc did not replace (a missing decorator)
    left = [
        path for path in public_objects() if "%(" in (pydoc.locate(path).__doc__ or "")
    ]
    assert not left, left


# a citation of a project document the repository does not hold ("DESIGN §1",
# "CONVENTIONS 13"): the reader cannot follow it
_CITATION = re.compile(r"\b(DESIGN|CONVENTIONS|ENVIRONMENT)(\.md)?\s*(§|\d)")


def test_no_citations_of_missing_documents():
    found = []
    for path in sorted([*ROOT.rglob("*.py"), *EXAMPLES.glob("*.py")]):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if _CITATION.search(line):
                found.append(f"{path.relative_to(ROOT.parent)}:{lineno + 1}: {line}")
    assert not found, "\n".join(found)


def _private_imports(path):
    """``skdni._x`` / ``skdni.x._y`` imports of a script, with their lines."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module or ""]
            modules += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            if parts[0] == "skdni" and any(p.startswith("_") for p in parts[1:]):
                yield node.lineno, module


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.py")), ids=lambda p: p.name)
def test_examples_use_public_imports(path):
    private = list(_private_imports(path))
    assert not private, f"{path.name} imports private modules: {private}"
