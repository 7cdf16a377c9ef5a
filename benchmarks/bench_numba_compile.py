"""What the first call after install pays to compile skdni's numba kernels.

Each case runs in a fresh subprocess: setup (imports, data) untimed, then the CPU
time (``time.process_time``) of the first call and of a second, identical call;
first − second is what compiling (or loading compiled code) cost. Two settings:

* ``cold``: a fresh, empty ``NUMBA_CACHE_DIR`` (a new install, nothing cached),
* ``warm``: the same directory again, filled by the cold run (on-disk cache).

The cases are small fits (2k rows, 8 units, 2 binary features, ``cv=5``) of every
probe / scoring with a numba engine, ``TreeSitterFeaturizer("c").fit_transform``,
and ``load_c_source`` (no kernel; a check). ``import`` reports whether ``import
skdni`` / ``import skdni.probing`` compile anything (compiled signatures after
import) and their CPU time. ``warm-up`` times ``skdni.warm_up()`` into an empty
cache (CPU of this process plus its worker processes) and then a cold-process
``svm`` fit from the cache it filled.

``flow`` is a fresh install as a user meets it, with the background compile that
``import skdni.probing`` starts (the other cases turn it off,
``SKDNI_NUMBA_WARM_UP=0``): import, then a fit right away or after computing
activations (50k characters, random-weight LSTM(128)); wall and CPU seconds.

``installed PYTHON`` measures an installed skdni (``PYTHON``: a virtual
environment's interpreter, run outside this checkout) as a user meets it right
after ``pip install``: per case a new process imports ``skdni.probing`` (the
background compile on, as by default), then the case's first call, wall and CPU
seconds; numba's own cache (``NUMBA_CACHE_DIR``) is a new empty directory per
case, so only what the install shipped (a cached build's ``skdni/_numba_cache``)
is cached. It also prints the size of that directory.

Threads pinned to 1. Run: ``python benchmarks/bench_numba_compile.py [case ...]``;
copied into an older checkout's ``benchmarks/`` it measures that checkout (without
the ``warm-up`` line when it has no ``skdni.warm_up``).
"""

import json
import os
import subprocess
import sys
import tempfile

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Per case: setup code (defines ``run``), untimed.
_SEARCH = """
import numpy as np
from skdni.probing import NeuronProbeSearch
rng = np.random.default_rng(0)
X = rng.normal(size=(2000, 8))
Y = np.column_stack([X[:, 0] + rng.normal(size=2000) > 1.0,
                     X[:, 3] - rng.normal(size=2000) > 0.0]).astype(float)
def run():
    NeuronProbeSearch({probe!r}, cv=5, scoring={scoring!r}).fit(X, Y)
"""
CASES = {
    "svm": _SEARCH.format(probe="svm", scoring=None),
    "svm/balanced_accuracy": _SEARCH.format(probe="svm", scoring="balanced_accuracy"),
    "svm/roc_auc": _SEARCH.format(probe="svm", scoring="roc_auc"),
    "svc": _SEARCH.format(probe="svc", scoring=None),
    "logistic": _SEARCH.format(probe="logistic", scoring=None),
    "threshold": _SEARCH.format(probe="threshold", scoring=None),
    "tree_sitter": """
from skdni import TreeSitterFeaturizer
texts = ["int main(void) { int x = 1; if (x) { return x + 2; } return 0; }\\n" * 20]
def run():
    TreeSitterFeaturizer("c").fit_transform(texts)
""",
    "load_c_source": """
from skdni.datasets import load_c_source
def run():
    load_c_source(20_000, packages=["numpy"])
""",
}

_CHILD = """
import json, time
{setup}
t0 = time.process_time()
run()
t1 = time.process_time()
run()
t2 = time.process_time()
print(json.dumps({{"first": t1 - t0, "second": t2 - t1}}))
"""

_IMPORT = """
import json, time
t0 = time.process_time()
import skdni
t1 = time.process_time()
import skdni.probing
t2 = time.process_time()
try:
    from skdni._numba import compiled_signatures
except ImportError:  # a checkout from before skdni._numba
    compiled_signatures = lambda: None  # noqa: E731
print(json.dumps({"skdni": t1 - t0, "skdni.probing": t2 - t1,
                  "compiled": compiled_signatures()}))
"""

_WARM_UP = """
import json, resource, time
import skdni
t0 = time.process_time()
status = skdni.warm_up()
t1 = time.process_time()
children = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"first": t1 - t0, "children": children.ru_utime + children.ru_stime,
                  "compiled": sum(s == "compiled" for s in status.values()),
                  "cached": sum(s == "cached" for s in status.values())}))
"""


# What a user sees on a fresh install (empty cache, the background compile of
# ``import skdni.probing`` on): import, activations of {chars} characters
# (random-weight LSTM(128), the benchmarks' model) unless {chars} is 0, then a first
# ``NeuronProbeSearch()`` fit on them (2 binary features, cv=5). Wall and CPU seconds.
_FLOW = """
import json, time
import numpy as np
w0, c0 = time.perf_counter(), time.process_time()
from skdni.probing import NeuronProbeSearch
w1, c1 = time.perf_counter(), time.process_time()
if {chars}:
    from benchmarks._models import benchmark_model, corpus
    from skdni import LSTMActivationTransformer
    lm, _ = benchmark_model()
    texts, _ = corpus({chars})
    H = LSTMActivationTransformer(lm).fit(texts).transform(texts)
    chars = np.array(list("".join(texts)))
else:
    rng = np.random.default_rng(0)
    H = rng.normal(size=(2000, 8))
    chars = np.where(H[:, 0] > 1.0, "(", np.where(H[:, 3] > 0.0, "1", "+"))
Y = np.column_stack([chars == "(", np.char.isdigit(chars)]).astype(float)
w2, c2 = time.perf_counter(), time.process_time()
NeuronProbeSearch(cv=5).fit(H, Y)
w3, c3 = time.perf_counter(), time.process_time()
from skdni import _warm_up
from skdni._numba import kernel_status
background = _warm_up._background
if background is not None:  # measured: stop it
    background[0].kill()
    background[0].wait()
print(json.dumps({{"started": background is not None, "import": [w1 - w0, c1 - c0],
                   "activations": [w2 - w1, c2 - c1], "fit": [w3 - w2, c3 - c2],
                   "kernels": sorted(set(kernel_status().values()))}}))
"""

_HAS_WARM_UP = """
import json, skdni
print(json.dumps({"yes": hasattr(skdni, "warm_up")}))
"""


def _child(code, cache_dir, background="0"):
    # The compile itself is measured with no background compile at import.
    env = dict(
        os.environ,
        NUMBA_CACHE_DIR=cache_dir,
        PYTHONPATH=ROOT,
        SKDNI_NUMBA_WARM_UP=background,
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(names, flow=True):
    print(f"numba compile cost, CPU seconds; load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        res = _child(_IMPORT, os.path.join(tmp, "import"))
        print(
            f"import skdni {res['skdni']:.2f} s, + skdni.probing "
            f"{res['skdni.probing']:.2f} s; compiled signatures after import: "
            f"{res['compiled']}"
        )
        print(f"{'case':24s} {'cold 1st':>9s} {'2nd':>6s} {'warm 1st':>9s} {'2nd':>6s}")
        for name in names:
            cache = os.path.join(tmp, name.replace("/", "_"))
            cold = _child(_CHILD.format(setup=CASES[name]), cache)
            warm = _child(_CHILD.format(setup=CASES[name]), cache)
            print(
                f"{name:24s} {cold['first']:9.2f} {cold['second']:6.2f} "
                f"{warm['first']:9.2f} {warm['second']:6.2f}",
                flush=True,
            )
        if names and _child(_HAS_WARM_UP, os.path.join(tmp, "import"))["yes"]:
            _bench_warm_up(os.path.join(tmp, "warm-up"))
        if flow:
            for chars in (0, FLOW_CHARS):
                _bench_flow(os.path.join(tmp, f"flow{chars}"), chars)
    print(f"load average {os.getloadavg()[0]:.2f}")


def _bench_warm_up(cache):
    res = _child(_WARM_UP, cache)
    again = _child(_WARM_UP, cache)
    svm = _child(_CHILD.format(setup=CASES["svm"]), cache)
    print(
        f"skdni.warm_up() into an empty cache: {res['first']:.2f} s here + "
        f"{res['children']:.2f} s in its workers ({res['compiled']} kernels "
        f"compiled); again: {again['first']:.2f} s + {again['children']:.2f} s "
        f"({again['cached']} loaded, {again['compiled']} compiled); then an svm "
        f"fit in a new process: 1st {svm['first']:.2f} s, 2nd {svm['second']:.2f} s"
    )


FLOW_CHARS = 50_000


def _bench_flow(cache, chars):
    res = _child(_FLOW.format(chars=chars), cache, background="1")
    step = f"activations of {chars:,} characters" if chars else "no other work"
    print(
        f"fresh install, import skdni.probing ({res['import'][0]:.2f} s wall, "
        f"{res['import'][1]:.2f} s CPU; background compile started: "
        f"{res['started']}), {step} ({res['activations'][0]:.2f} s wall), then a "
        f"first NeuronProbeSearch() fit: {res['fit'][0]:.2f} s wall, "
        f"{res['fit'][1]:.2f} s CPU (its kernels {'/'.join(res['kernels'])})",
        flush=True,
    )


# An installed skdni: import, then the case's first call (background compile on).
_INSTALLED = """
import json, time
w0, c0 = time.perf_counter(), time.process_time()
import skdni.probing
w1, c1 = time.perf_counter(), time.process_time()
{setup}
w2, c2 = time.perf_counter(), time.process_time()
run()
w3, c3 = time.perf_counter(), time.process_time()
from skdni import _warm_up
from skdni._numba import kernel_status
background = _warm_up._background
if background is not None:  # measured: stop it
    background[0].kill()
    background[0].wait()
print(json.dumps({{"started": background is not None, "import": [w1 - w0, c1 - c0],
                   "first": [w3 - w2, c3 - c2],
                   "kernels": sorted(set(kernel_status().values()))}}))
"""

_CACHE_SIZE = """
import json, os, skdni
root = os.path.join(os.path.dirname(skdni.__file__), "_numba_cache")
size = n = 0
for d, _, files in os.walk(root):
    for f in files:
        size += os.path.getsize(os.path.join(d, f))
        n += 1
print(json.dumps({"exists": os.path.isdir(root), "bytes": size, "files": n,
                  "file": skdni.__file__}))
"""


def _installed_child(python, code, cwd):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "SKDNI_NUMBA_WARM_UP")
    }
    env["NUMBA_CACHE_DIR"] = os.path.join(cwd, "numba-cache")
    out = subprocess.run(
        [python, "-P", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=cwd,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def installed(python, names):
    """First calls of the skdni installed for ``python``, right after import."""
    print(f"installed skdni ({python}); load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        size = _installed_child(python, _CACHE_SIZE, tmp)
        print(
            f"{size['file']}: _numba_cache "
            + (
                f"{size['bytes'] / 1e6:.1f} MB in {size['files']} files"
                if size["exists"]
                else "absent"
            )
        )
        print(
            f"{'case':24s} {'import wall':>11s} {'1st wall':>9s} {'1st CPU':>8s}  "
            "background compile / kernels"
        )
        for name in names:
            cwd = os.path.join(tmp, name.replace("/", "_"))
            os.makedirs(cwd)
            res = _installed_child(python, _INSTALLED.format(setup=CASES[name]), cwd)
            print(
                f"{name:24s} {res['import'][0]:11.2f} {res['first'][0]:9.2f} "
                f"{res['first'][1]:8.2f}  "
                f"{'started' if res['started'] else 'none'} / "
                f"{'/'.join(res['kernels']) or '-'}",
                flush=True,
            )
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["installed"]:
        installed(args[1], args[2:] or [c for c in CASES if c != "load_c_source"])
        sys.exit()
    main(
        [a for a in args if a != "flow"] if args else list(CASES),
        flow=not args or "flow" in args,
    )
