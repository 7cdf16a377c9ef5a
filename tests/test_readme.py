"""The README's "Inspect your own Keras model" example runs and prints what it says."""

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_block_after(heading: str) -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split(heading, 1)[1]
    match = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert match, f"no python block after {heading!r}"
    return match.group(1)


def test_inspect_your_own_keras_model_example_runs():
    code = _python_block_after("## Inspect your own Keras model")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(README), "exec"), {"__name__": "readme"})
    lines = out.getvalue().splitlines()
    assert lines[0] == "(17, 32) 0"
    assert lines[1] == "equal to Keras: True"
    accuracy = float(lines[2].rsplit(":", 1)[1])
    assert 0.0 <= accuracy <= 1.0
    assert lines[3].startswith("(1") and len(lines[3]) == 10
