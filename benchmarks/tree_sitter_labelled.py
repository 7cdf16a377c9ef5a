"""Share of characters TreeSitterFeaturizer("c") labels (outside ERROR / MISSING
nodes) in the C files that numpy, scikit-learn and numba ship: all of them, and the
2-60 KB ones (the size range the issue measured); as ``load_c_source`` reads them
(C++-only ``#ifdef __cplusplus`` regions removed: what a C compiler reads) and as
shipped (``cplusplus=True``).

Run: ``python benchmarks/tree_sitter_labelled.py``.
"""

import warnings
from pathlib import Path

import numpy as np

from skdni.datasets import load_c_source
from skdni.datasets._c_source import c_source_files
from skdni.features import TreeSitterFeaturizer

PACKAGES = ["numpy", "sklearn", "numba"]
warnings.simplefilter("ignore")
files = c_source_files(PACKAGES)
for cplusplus in (False, True):
    texts = load_c_source(packages=PACKAGES, cplusplus=cplusplus)
    assert len(texts) == len(files)  # one text per file: names below are right
    print(f"load_c_source(packages={PACKAGES}, cplusplus={cplusplus}):")
    for name, keep in [
        ("all", [True] * len(texts)),
        ("2-60 KB", [2_000 <= len(t) <= 60_000 for t in texts]),
    ]:
        subset = [t for t, k in zip(texts, keep, strict=True) if k]
        f = TreeSitterFeaturizer(
            "c", representations=("range",), node_types=["comment"]
        )
        f.fit(subset)
        lengths = np.array([len(t) for t in subset])
        frac = f.unlabelled_fraction_
        print(
            f"  {name}: {len(subset)} files, {lengths.sum():,} chars: "
            f"{1 - (frac * lengths).sum() / lengths.sum():.2%} labelled; "
            f"{len(f.failed_texts_)} files with errors; unlabelled share per file "
            f"median {np.median(frac):.2%}, mean {frac.mean():.2%}"
        )
    # the files that leave the most characters unlabelled
    f = TreeSitterFeaturizer("c", representations=("range",), node_types=["comment"])
    f.fit(texts)
    lost = f.unlabelled_fraction_ * [len(t) for t in texts]
    for i in np.argsort(-lost)[:3]:
        print(
            f"  {f.unlabelled_fraction_[i]:.1%} of {len(texts[i]):,} chars "
            f"unlabelled: {Path(*files[i].parts[-3:])}"
        )

# what the C++ rule removes: the files that lose the most characters
shipped = load_c_source(packages=PACKAGES, cplusplus=True)
read = load_c_source(packages=PACKAGES)
print("characters removed as C++-only (#ifdef __cplusplus regions):")
removed = np.array([len(a) - len(b) for a, b in zip(shipped, read, strict=True)])
print(f"  all files: {removed.sum():,} of {sum(map(len, shipped)):,}")
for i in np.argsort(-removed)[:3]:
    print(
        f"  {removed[i] / len(shipped[i]):.1%} of {len(shipped[i]):,} chars: "
        f"{Path(*files[i].parts[-3:])}"
    )
