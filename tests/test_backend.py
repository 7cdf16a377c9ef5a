"""Backend selection runs in subprocesses: Keras freezes its backend at first import."""

import json
import os
import subprocess
import sys

import pytest


def _run(code, env_updates, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["KERAS_HOME"] = str(tmp_path)
    env.update(env_updates)
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_jax_is_selected_and_recorded_when_nobody_chose(tmp_path):
    result = _run(
        "import skdni, os; from skdni._backend import import_keras;"
        "k = import_keras(); print(k.backend.backend(), os.environ['KERAS_BACKEND'])",
        {},
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["jax", "jax"]
    # Keras would otherwise record "tensorflow" as if the user had chosen it
    assert json.loads((tmp_path / "keras.json").read_text())["backend"] == "jax"


def test_users_keras_json_choice_is_respected(tmp_path):
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "numpy"}))
    result = _run(
        "import skdni; from skdni._backend import import_keras;"
        "print(import_keras().backend.backend())",
        {},
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "numpy"


@pytest.mark.parametrize("source", ["env", "keras.json"])
def test_missing_backend_is_a_clear_error(tmp_path, source):
    env = {}
    if source == "env":
        env["KERAS_BACKEND"] = "tensorflow_not_installed"
    else:
        (tmp_path / "keras.json").write_text(
            json.dumps({"backend": "tensorflow_not_installed"})
        )
    result = _run(
        "import skdni\nfrom skdni._backend import import_keras\n"
        "try:\n    import_keras()\nexcept skdni.BackendError as e:\n    print(e)",
        env,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "'tensorflow_not_installed'" in result.stdout
    assert "not installed" in result.stdout
    assert ("KERAS_BACKEND" if source == "env" else "keras.json") in result.stdout
