"""Share of characters TreeSitterFeaturizer("c") labels (outside ERROR / MISSING
nodes) in the C files that numpy, scikit-learn and numba ship: all of them, and the
2-60 KB ones (the size range the issue measured); as ``load_c_source`` reads them
(C++-only ``#ifdef __cplusplus`` regions removed and C++ headers skipped: what a C
compiler reads) and as shipped (``cplusplus=True``). Last, every installed package's
C parsed file by file against the same files cut into texts of at most 2,000
characters at line ends (as ``skdni run --corpus`` cuts them for the model) and each
piece parsed alone.

Run: ``python benchmarks/tree_sitter_labelled.py``.
"""

import warnings
from pathlib import Path

import numpy as np

from skdni.datasets import load_c_source
from skdni.datasets._c_source import c_source_files, drop_cplusplus, is_cplusplus
from skdni.datasets._split import split_lines
from skdni.features import TreeSitterFeaturizer

PACKAGES = ["numpy", "sklearn", "numba"]
warnings.simplefilter("ignore")
every_file = c_source_files(PACKAGES)
for cplusplus in (False, True):
    texts = load_c_source(packages=PACKAGES, cplusplus=cplusplus)
    files = [
        p
        for p in every_file
        if cplusplus or not is_cplusplus(drop_cplusplus(p.read_text()))
    ]
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
shipped = [p.read_text() for p in files]
read = [drop_cplusplus(text) for text in shipped]
print("characters removed as C++-only (#ifdef __cplusplus regions):")
removed = np.array([len(a) - len(b) for a, b in zip(shipped, read, strict=True)])
print(f"  all files: {removed.sum():,} of {sum(map(len, shipped)):,}")
for i in np.argsort(-removed)[:3]:
    print(
        f"  {removed[i] / len(shipped[i]):.1%} of {len(shipped[i]):,} chars: "
        f"{Path(*files[i].parts[-3:])}"
    )


def unlabelled(texts) -> float:
    f = TreeSitterFeaturizer("c", representations=("range",), node_types=["comment"])
    f.fit(texts)
    lengths = np.array([len(t) for t in texts])
    return (f.unlabelled_fraction_ * lengths).sum() / lengths.sum(), f.failed_texts_


whole = load_c_source()
print(
    f"every installed package's C ({len(whole)} files, {sum(map(len, whole)):,} chars):"
)
for name, texts in [
    ("files whole", whole),
    ("cut at 2,000 chars", [t for text in whole for t in split_lines(text, 2_000)]),
]:
    share, failed = unlabelled(texts)
    print(
        f"  {name}: {len(texts)} texts, {len(failed)} with errors, "
        f"{share:.1%} unlabelled"
    )
