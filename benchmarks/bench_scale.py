"""NeuronProbeSearch out of core: seconds and peak memory against the corpus size.

Synthetic activations (tanh of planted features plus noise, float32) are written to a
``.npy`` file first, then every configuration runs in a fresh child process on
``np.load(path, mmap_mode="r")``, with 50 features (25 binary, 25 continuous) and
20-fold GroupKFold CV. The child prints its wall time, its peak resident set
(``VmHWM``: anonymous memory plus any file pages it mapped) and its peak
anonymous memory (``RssAnon`` sampled every 20 ms: what cannot be paged back to the
file), next to the activation file's size.

Probes: ``ols`` scores all 50 features with OLS (streams exactly over row chunks);
``svm`` scores the binary features with the sort-based squared-hinge SVM (unit blocks
read from a unit-major scratch copy). On a shared 2-core machine the full SVM grid at
2M × 512 takes too long, so the ``svm`` rows use ``--svm-features`` binary features
(printed). Last, the 200k × 128 search with ``probe="auto"`` (all 50 features) on a
2-worker ``distributed.LocalCluster`` against ``n_jobs=1``.

Run: ``python benchmarks/bench_scale.py`` (or ``--quick`` for 200k characters only).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402
from numpy.lib.format import open_memmap  # noqa: E402

N_BINARY = N_CONTINUOUS = 25
N_FOLDS = 20


def write_data(folder, n, n_units, seed=0):
    """Write H (n × n_units float32), Y (n × 50 float64) and groups as .npy files."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(40, 200, size=n // 40 + 1)
    groups = np.repeat(np.arange(lengths.size), lengths)[:n]
    n_feats = N_BINARY + N_CONTINUOUS
    Y = np.empty((n, n_feats))
    # Random walks restarting at each text: sequence-like latent features.
    walk = rng.choice([-1.0, 1.0], size=(n, n_feats)).cumsum(axis=0)
    starts = np.r_[0, np.flatnonzero(np.diff(groups)) + 1]
    walk -= np.repeat(walk[starts] - 1, np.diff(np.r_[starts, n]), axis=0)
    Y[:, :N_BINARY] = walk[:, :N_BINARY] > 0
    cont = np.abs(walk[:, N_BINARY:])
    Y[:, N_BINARY:] = cont / cont.max(axis=0)
    Y[rng.random(Y.shape) < 0.02] = np.nan
    mix = rng.normal(size=(n_feats, n_units)) * (rng.random((n_feats, n_units)) < 0.05)
    H = open_memmap(
        os.path.join(folder, "H.npy"), mode="w+", dtype=np.float32, shape=(n, n_units)
    )
    step = 1 << 16
    for lo in range(0, n, step):
        hi = min(lo + step, n)
        z = np.nan_to_num(Y[lo:hi]) @ mix
        z += rng.standard_normal((hi - lo, n_units))
        H[lo:hi] = np.tanh(z)
    H.flush()
    del H
    np.save(os.path.join(folder, "Y.npy"), Y)
    np.save(os.path.join(folder, "groups.npy"), groups)


def _vm_hwm():
    """Peak resident set of this process (VmHWM), in bytes.

    Not ``ru_maxrss``: a child created by fork + exec inherits its parent's peak there.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


class _AnonPeak(threading.Thread):
    """Samples this process's anonymous resident memory (RssAnon)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.peak = 0
        self.running = True

    def run(self):
        while self.running:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        self.peak = max(self.peak, int(line.split()[1]) * 1024)
            time.sleep(0.02)


def child(folder, probe, n_features, n_jobs, cluster, mmap_y=False):
    from sklearn.model_selection import GroupKFold

    from skdni.probing import NeuronProbeSearch

    sampler = _AnonPeak()
    sampler.start()
    H = np.load(os.path.join(folder, "H.npy"), mmap_mode="r")
    Y = np.load(os.path.join(folder, "Y.npy"), mmap_mode="r" if mmap_y else None)
    groups = np.load(os.path.join(folder, "groups.npy"))
    if probe == "svm":
        Y = np.ascontiguousarray(Y[:, :n_features])
    search = NeuronProbeSearch(
        "ols" if probe == "ols" else "auto", cv=GroupKFold(N_FOLDS), n_jobs=n_jobs
    )
    client = None
    if cluster:
        from distributed import Client, LocalCluster
        from joblib import parallel_config

        client = Client(
            LocalCluster(
                n_workers=2, threads_per_worker=1, processes=True, silence_logs=40
            )
        )
        start = time.perf_counter()
        with parallel_config(backend="dask"):
            search.fit(H, Y, groups)
            seconds = time.perf_counter() - start
            start = time.perf_counter()
            search.fit(H, Y, groups)  # workers have imported skdni and numba by now
            warm = time.perf_counter() - start
    else:
        start = time.perf_counter()
        search.fit(H, Y, groups)
        seconds = warm = time.perf_counter() - start
    sampler.running = False
    if client is not None:
        client.close()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "maxrss": _vm_hwm(),
                "warm": warm,
                "anon": sampler.peak,
                "scores": search.scores_.to_numpy().tolist(),
            }
        )
    )


def run_child(folder, probe, n_features, n_jobs=1, cluster=False, mmap_y=False):
    cmd = [sys.executable, __file__, "--child", folder, probe, str(n_features)]
    cmd += [str(n_jobs), str(int(cluster)), str(int(mmap_y))]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200k characters only")
    parser.add_argument("--svm-features", type=int, default=5)
    parser.add_argument(
        "--sizes", type=int, nargs="+", help="characters (default 200k 1M 2M)"
    )
    parser.add_argument("--units", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--probes", nargs="+", default=["ols", "svm"])
    parser.add_argument(
        "--mmap-y",
        action="store_true",
        help="also pass the labels as np.load(Y.npy, mmap_mode='r')",
    )
    parser.add_argument("--no-cluster", action="store_true", help="skip the Dask run")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        folder, probe, n_features, n_jobs, cluster, mmap_y = args.child
        child(
            folder, probe, int(n_features), int(n_jobs), cluster == "1", mmap_y == "1"
        )
        return
    sizes = args.sizes or ([200_000] if args.quick else [200_000, 1_000_000, 2_000_000])
    print(
        f"python {platform.python_version()}, {os.cpu_count()} cores (shared), "
        f"OMP/OPENBLAS/MKL threads = {os.environ['OPENBLAS_NUM_THREADS']}, "
        f"{N_FOLDS}-fold GroupKFold, 1 process per configuration"
    )
    header = (
        f"{'chars':>9} {'units':>5} {'probe':>5} {'feats':>5} {'file MB':>8} "
        f"{'seconds':>8} {'chars/s':>9} {'peak RSS MB':>11} {'peak anon MB':>12}"
        f"{'  Y':>4}"
    )
    print(header)
    mb = 2**20
    for n in sizes:
        for n_units in args.units:
            with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as d:
                write_data(d, n, n_units)
                size = os.path.getsize(os.path.join(d, "H.npy"))
                runs = [
                    (probe, n_feat, mmap_y)
                    for probe, n_feat in (("ols", 50), ("svm", args.svm_features))
                    if probe in args.probes
                    for mmap_y in ((False, True) if args.mmap_y else (False,))
                ]
                for probe, n_feat, mmap_y in runs:
                    r = run_child(d, probe, n_feat, mmap_y=mmap_y)
                    print(
                        f"{n:>9,} {n_units:>5} {probe:>5} {n_feat:>5} "
                        f"{size / mb:>8.0f} {r['seconds']:>8.1f} "
                        f"{n / r['seconds']:>9,.0f} {r['maxrss'] / mb:>11.0f} "
                        f"{r['anon'] / mb:>12.0f} {'map' if mmap_y else 'mem':>3}",
                        flush=True,
                    )
    if args.no_cluster:
        return
    print("\nDask LocalCluster (2 workers, 1 thread each) vs n_jobs=1, probe='auto',")
    print("50 features (25 SVM, 25 OLS), 200,000 chars × 128 units, memmap by path:")
    with tempfile.TemporaryDirectory() as d:
        write_data(d, 200_000, 128)
        local = run_child(d, "auto", 50, n_jobs=1)
        dask = run_child(d, "auto", 50, n_jobs=2, cluster=True)
    same = np.array_equal(
        np.asarray(local["scores"], dtype=float),
        np.asarray(dask["scores"], dtype=float),
        equal_nan=True,
    )
    print(f"  n_jobs=1:                  {local['seconds']:7.1f} s")
    print(
        f"  dask, 2 workers, 1st fit:  {dask['seconds']:7.1f} s\n"
        f"  dask, 2 workers, 2nd fit:  {dask['warm']:7.1f} s  "
        f"(scores identical to n_jobs=1: {same})"
    )


if __name__ == "__main__":
    main()
