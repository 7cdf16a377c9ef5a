"""Share of characters TreeSitterFeaturizer("c") labels (outside ERROR / MISSING
nodes) in the C files that numpy, scikit-learn and numba ship: all of them, and the
2-60 KB ones (the size range the issue measured).

Run: ``python benchmarks/tree_sitter_labelled.py``.
"""

import warnings
from pathlib import Path

import numpy as np

from skdni.datasets import load_c_source
from skdni.datasets._c_source import c_source_files
from skdni.features import TreeSitterFeaturizer

warnings.simplefilter("ignore")
texts = load_c_source(packages=["numpy", "sklearn", "numba"])
for name, subset in [
    ("all", texts),
    ("2-60 KB", [t for t in texts if 2_000 <= len(t) <= 60_000]),
]:
    f = TreeSitterFeaturizer("c", representations=("range",), node_types=["comment"])
    f.fit(subset)
    lengths = np.array([len(t) for t in subset])
    frac = f.unlabelled_fraction_
    print(
        f"{name}: {len(subset)} files, {lengths.sum():,} chars: "
        f"{1 - (frac * lengths).sum() / lengths.sum():.2%} labelled; "
        f"{len(f.failed_texts_)} files with errors; unlabelled share per file "
        f"median {np.median(frac):.2%}, mean {frac.mean():.2%}"
    )

# the files that leave the most characters unlabelled
files = c_source_files(["numpy", "sklearn", "numba"])
f = TreeSitterFeaturizer("c", representations=("range",), node_types=["comment"])
f.fit(texts)
lost = f.unlabelled_fraction_ * [len(t) for t in texts]
for i in np.argsort(-lost)[:3]:
    print(
        f"{f.unlabelled_fraction_[i]:.1%} of {len(texts[i]):,} chars unlabelled: "
        f"{Path(*files[i].parts[-3:])}"
    )
