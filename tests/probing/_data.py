"""Small synthetic activation tables shared by the probing tests."""

import numpy as np


def planted(n=1200, n_units=8, seed=0):
    """Noise units, except unit 2 (binary feature + noise), 5 (continuous + noise)."""
    rng = np.random.default_rng(seed)
    y_bin = (rng.random(n) < 0.4).astype(float)
    y_cont = rng.normal(size=n)
    X = rng.normal(size=(n, n_units))
    X[:, 2] = y_bin + 0.4 * rng.normal(size=n)
    X[:, 5] = y_cont + 0.5 * rng.normal(size=n)
    return X, np.c_[y_bin, y_cont]


def realistic(n_texts=40, n_units=7, seed=0, nan_rate=0.05):
    """tanh of correlated noise with planted signals, text groups and NaN labels."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(15, 60, size=n_texts)
    groups = np.repeat(np.arange(n_texts), lengths)
    n = groups.size
    # A nested-bracket-like latent state: a random walk within each text.
    steps = rng.choice([-1, 1], size=n)
    depth = np.zeros(n)
    for t in range(1, n):
        depth[t] = 0 if groups[t] != groups[t - 1] else max(0, depth[t - 1] + steps[t])
    mix = rng.normal(size=(n_units, n_units)) / np.sqrt(n_units)
    Z = rng.normal(size=(n, n_units)) @ mix
    Z[:, 1] += 0.8 * (depth > 1)
    Z[:, 4] += 0.3 * depth
    Z[:, 6] = 3.0  # a saturated unit: tanh(3) everywhere, constant
    X = np.tanh(Z)
    Y = np.c_[
        (depth > 1).astype(float),
        (depth > 3).astype(float),
        (rng.random(n) < 0.3).astype(float),
        depth / max(1.0, depth.max()),
        rng.normal(size=n),
    ]
    Y[rng.random(Y.shape) < nan_rate] = np.nan
    return X, Y, groups
