"""Choose the Keras backend before Keras is first imported, and import Keras lazily.

Keras 3 freezes its backend at first import and defaults to TensorFlow, which skdni
does not depend on. If neither ``KERAS_BACKEND`` nor the user's ``keras.json`` names a
backend, skdni selects ``jax``. Keras writes ``keras.json`` (with ``"tensorflow"``) on
its first import, so skdni writes ``"jax"`` there first; otherwise the next session
would read Keras's own default as the user's choice.
"""

import importlib.util
import json
import os
import sys
from pathlib import Path

from ._errors import BackendError

DEFAULT_BACKEND = "jax"
# Keras backend name -> the module that must be importable for it.
_BACKEND_MODULES = {"tensorflow": "tensorflow", "torch": "torch", "jax": "jax"}


def _keras_dir() -> Path:
    if "KERAS_HOME" in os.environ:
        return Path(os.environ["KERAS_HOME"])
    home = Path("~").expanduser()
    return (home if os.access(home, os.W_OK) else Path("/tmp")) / ".keras"


def _configured_backend() -> tuple[str | None, str]:
    """The backend the user chose and where it was chosen, or ``(None, "")``."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"], "the KERAS_BACKEND environment variable"
    path = _keras_dir() / "keras.json"
    try:
        backend = json.loads(path.read_text()).get("backend")
    except (OSError, ValueError, AttributeError):
        return None, ""
    return (backend, f"{path}") if backend else (None, "")


def _record_default_backend() -> None:
    config_dir = _keras_dir()
    path = config_dir / "keras.json"
    if path.exists():
        return
    config = {
        "floatx": "float32",
        "epsilon": 1e-07,
        "backend": DEFAULT_BACKEND,
        "image_data_format": "channels_last",
    }
    try:
        config_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=4))
    except OSError:
        pass  # read-only home: the environment variable alone still selects jax


def select_backend() -> str:
    """Return the Keras backend in force, selecting ``jax`` if nobody chose one."""
    if "keras" in sys.modules:
        return (
            os.environ.get("KERAS_BACKEND") or _configured_backend()[0] or "tensorflow"
        )
    backend, _ = _configured_backend()
    if backend is None:
        os.environ["KERAS_BACKEND"] = DEFAULT_BACKEND
        _record_default_backend()
        backend = DEFAULT_BACKEND
    return backend


def import_keras():
    """Import and return ``keras``, with a clear error if its backend is missing."""
    if "keras" in sys.modules:
        return sys.modules["keras"]
    backend = select_backend()
    module = _BACKEND_MODULES.get(backend, backend)
    if importlib.util.find_spec(module) is None:
        _, source = _configured_backend()
        raise BackendError(
            f"Keras backend {backend!r} (chosen by {source or 'default'}) is not "
            f"installed. Install it (`pip install {module}`) or choose an installed "
            f"backend, e.g. `export KERAS_BACKEND={DEFAULT_BACKEND}` (skdni installs "
            f"{DEFAULT_BACKEND})."
        )
    import keras

    return keras
