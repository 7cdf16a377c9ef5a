"""Stage times and peak memory of `skdni run`: the default study and a corpus study.

Each study runs as a child process (``python -m skdni run ...``, the command a user
types, with a fresh cache so nothing is reused); this script timestamps the child's
stage lines (``[skdni i/6] ...``) as they arrive on stderr and reads the child's
peak resident memory (``VmHWM`` from ``/proc/<pid>/status``, polled, and the
``ru_maxrss`` of the reaped child).

Usage::

    python benchmarks/bench_study.py                # both studies
    python benchmarks/bench_study.py --only corpus  # the corpus study only
    python benchmarks/bench_study.py --corpus DIR --units 64

The corpus study needs a folder of Python files; by default the first 100 (sorted)
``*.py`` files directly in the running interpreter's standard library directory
are copied into a temporary folder. Thread settings are inherited from the
environment and printed; timings on a shared machine are noisy.
"""

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

STAGE = re.compile(r"^\[skdni (\d)/6\] (.*)$")


def stdlib_folder(n_files: int) -> Path:
    """The first ``n_files`` sorted stdlib ``*.py`` files, copied to a new folder."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(p for p in stdlib.glob("*.py") if p.is_file())[:n_files]
    folder = Path(tempfile.mkdtemp(prefix="skdni-bench-corpus-"))
    for path in files:
        shutil.copy(path, folder / path.name)
    return folder


def _vm_hwm_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a live process (and its waited-for children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def run(name: str, args: list[str]) -> dict:
    """Run ``skdni run <args>``; return stage times and peak memory."""
    work = Path(tempfile.mkdtemp(prefix=f"skdni-bench-{name}-"))
    argv = [sys.executable, "-m", "skdni", "run", *args]
    argv += ["--out", str(work / "report"), "--cache-dir", str(work / "cache")]
    print(f"\n== {name}: {' '.join(argv[1:])}", flush=True)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    before, cpu_before = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    start = time.perf_counter()
    child = subprocess.Popen(
        argv, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
    )
    peak = [0]

    def poll():
        while child.poll() is None:
            peak[0] = max(peak[0], _vm_hwm_kb(child.pid) or 0)
            time.sleep(0.1)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    stages, buffer = [], ""
    for chunk in iter(lambda: child.stderr.read(1), ""):
        # tqdm redraws with \r: only whole \n-terminated lines are stage lines
        if chunk == "\n":
            for piece in buffer.split("\r")[-1:]:
                match = STAGE.match(piece.strip())
                if match:
                    cpu = _cpu_seconds(child.pid) or 0.0
                    # the peak so far: the high-water mark through the stage before
                    hwm = _vm_hwm_kb(child.pid) or 0
                    stages.append(
                        (time.perf_counter() - start, cpu, match.group(2), hwm)
                    )
                    print(f"  {stages[-1][0]:7.1f} s  {piece.strip()}", flush=True)
                elif piece.strip() and not piece.startswith("[skdni"):
                    if piece.startswith(" ") or piece.startswith("skdni:"):
                        print(f"             {piece.strip()}", flush=True)
            buffer = ""
        else:
            buffer += chunk
    stdout = child.stdout.read()
    code = child.wait()
    total = time.perf_counter() - start
    poller.join()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    after, cpu = usage.ru_maxrss, usage.ru_utime + usage.ru_stime - cpu_before
    rss_mb = max(peak[0], after if after > before else 0) / 1024
    load = os.getloadavg()[0]
    print(f"  {total:7.1f} s wall, {cpu:.1f} s CPU, exit code {code}")
    print(
        "  stage times (wall, CPU of the child; before stage 1: imports) and the "
        "peak RSS at the stage's end (VmHWM so far):"
    )
    ends = [(t, c, m) for t, c, _, m in stages[1:]] + [(total, cpu, peak[0])]
    first = stages[0] if stages else (total, cpu, "", peak[0])
    print(
        f"    {first[0]:7.1f} s {first[1]:7.1f} s {first[3] / 1024:7,.0f} MB  "
        "start-up (imports)"
    )
    for (t0, c0, what, _), (t1, c1, m1) in zip(stages, ends, strict=True):
        print(
            f"    {t1 - t0:7.1f} s {c1 - c0:7.1f} s {m1 / 1024:7,.0f} MB  {what[:60]}"
        )
    print(f"  peak RSS (child VmHWM): {rss_mb:,.0f} MB")
    print(f"  load average (1 min) at the end: {load:.1f} on {os.cpu_count()} CPUs")
    report = work / "report" / "report.html"
    if report.is_file():
        print(f"  report.html: {report.stat().st_size / 1e6:.2f} MB ({report})")
    if code:
        print(stdout[-2000:])
    return {
        "name": name,
        "seconds": total,
        "cpu": cpu,
        "peak_mb": rss_mb,
        "code": code,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("default", "corpus"))
    parser.add_argument("--corpus", help="folder of .py files (default: 100 stdlib)")
    parser.add_argument("--n-files", type=int, default=100)
    parser.add_argument("--units", type=int, default=None, help="corpus study units")
    parser.add_argument(
        "extra", nargs="*", help="more `skdni run` options for the corpus study"
    )
    args = parser.parse_args(argv)
    threads = ", ".join(
        f"{n}={os.environ.get(n, '<unset>')}"
        for n in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    )
    print(f"python {sys.version.split()[0]}; {os.cpu_count()} CPUs; {threads}")
    results = []
    if args.only in (None, "default"):
        results.append(run("default", []))
    if args.only in (None, "corpus"):
        folder = Path(args.corpus) if args.corpus else stdlib_folder(args.n_files)
        n = len(list(folder.glob("*.py")))
        print(f"\ncorpus: {n} .py files in {folder}")
        options = ["--corpus", str(folder), "--grammar", "python"]
        if args.units:
            options += ["--units", str(args.units)]
        results.append(run("corpus", options + list(args.extra)))
    print("\nsummary:")
    for r in results:
        print(
            f"  {r['name']:8s} {r['seconds']:7.1f} s wall  {r['cpu']:7.1f} s CPU  "
            f"peak RSS {r['peak_mb']:,.0f} MB  exit {r['code']}"
        )
    return max(r["code"] for r in results)


if __name__ == "__main__":
    sys.exit(main())
