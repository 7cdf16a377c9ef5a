"""Import layering: which skdni subpackages may import which (an AST scan).

``models`` is the base every consumer builds on; ``probing`` and ``report`` work on
arrays and tables only. A cycle (``models`` <-> ``intervention``) or an upward
import would make every later change touch more than one layer.
"""

import ast
from pathlib import Path

import pytest

import skdni

ROOT = Path(skdni.__file__).parent
SUBPACKAGES = sorted(
    path.name
    for path in ROOT.iterdir()
    if path.is_dir() and (path / "__init__.py").exists()
)
# subpackage -> the other subpackages it may import (private top-level modules such
# as skdni._errors are shared by all)
ALLOWED = {"models": set(), "probing": set(), "report": set()}


def _imported_subpackages(path: Path, package: str) -> dict[str, int]:
    """Other skdni subpackages that a module imports (any depth), with a line."""
    found = {}
    module_parts = ["skdni", package, *path.relative_to(ROOT / package).parts]
    module_parts[-1] = module_parts[-1].removesuffix(".py")
    if module_parts[-1] == "__init__":
        module_parts.pop()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = module_parts[: len(module_parts) - node.level]
                if path.name == "__init__.py":
                    base = module_parts[: len(module_parts) - node.level + 1]
                target = base + (node.module.split(".") if node.module else [])
                names = [target] + [target + [alias.name] for alias in node.names]
            else:
                names = [(node.module or "").split(".")]
        elif isinstance(node, ast.Import):
            names = [alias.name.split(".") for alias in node.names]
        for parts in names:
            if len(parts) > 1 and parts[0] == "skdni" and parts[1] in SUBPACKAGES:
                if parts[1] != package:
                    found.setdefault(parts[1], node.lineno)
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_base_subpackages_import_no_other_subpackage(package):
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for other, line in _imported_subpackages(path, package).items():
            if other not in ALLOWED[package]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports skdni.{other}")
    assert not bad, "\n".join(bad)


def test_the_scan_sees_relative_and_absolute_imports():
    # the scan must be able to fail: intervention imports models
    found = {}
    for path in (ROOT / "intervention").rglob("*.py"):
        found.update(_imported_subpackages(path, "intervention"))
    assert "models" in found
