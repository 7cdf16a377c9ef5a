"""Train the default CharLanguageModel on arithmetic and on stdlib Python source.

For each corpus it prints the held-out next-character accuracy against the
majority-class rate, the held-out bits per character, the epochs run (training runs
until early stopping) and the training seconds, with the thread settings.

* arithmetic: ``--n-chars`` sampled characters (seed ``--seed``) to train, a tenth of
  that from seed ``--seed + 1`` held out.
* python: whole stdlib ``.py`` files (``skdni.datasets.load_python_source``) of at most
  ``--max-file-chars`` characters, shuffled with ``--seed``; the first files up to
  ``--python-chars`` characters train, the next ones up to ``--held-out-chars`` are held
  out (split by file: no file on both sides; held-out files with a character the
  model never saw are skipped, and counted).

``--string-units`` then looks for a unit of the Python model that tracks "inside a
string literal" (labels from Python's ``tokenize`` on each held-out file, through a
``FunctionFeaturizer``): univariate ROC AUC of every hidden and cell unit on the
held-out activations preselects the top units; each is then scored with
``cross_val_score(LogisticRegression(class_weight="balanced"), H[:, [j]], y,
cv=GroupKFold(5), groups=<held-out file>)`` on ROC AUC and balanced accuracy (chance
0.5 for both) and on plain accuracy (chance: the majority rate). The same is printed
for an untrained model of the same shape as a control. Run::

    python benchmarks/train_default_lm.py [--corpus both] [--seed 0] [--string-units]

``--set name=value`` overrides an estimator parameter (e.g. ``--set units=256``).
"""

import argparse
import ast
import os

# Pin thread pools before numpy / jax are imported (ENVIRONMENT.md).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault(
    "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
)

import io  # noqa: E402
import time  # noqa: E402
import tokenize  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

from skdni.datasets import load_python_source, make_arithmetic_corpus  # noqa: E402
from skdni.models import CharLanguageModel  # noqa: E402


def _chars(texts) -> int:
    return sum(map(len, texts))


def arithmetic_split(n_chars: int, seed: int):
    train = make_arithmetic_corpus(n_chars=n_chars, random_state=seed)
    test = make_arithmetic_corpus(n_chars=n_chars // 10, random_state=seed + 1)
    return train, test


def python_split(train_chars: int, held_out_chars: int, max_file_chars: int, seed):
    """Whole stdlib files, shuffled; training files first, then held-out files."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the stdlib's deliberately undecodable files
        # whole files (max_text_chars=None): the split is by file
        files = [
            t
            for t in load_python_source(max_text_chars=None)
            if len(t) <= max_file_chars
        ]
    order = np.random.RandomState(seed).permutation(len(files))
    train, test = [], []
    for i in order:
        if _chars(train) < train_chars:
            train.append(files[i])
        elif _chars(test) < held_out_chars:
            test.append(files[i])
        else:
            break
    return train, test


def train_and_score(name, train, test, seed, verbose, overrides):
    print(f"\n== {name} ==")
    lm = CharLanguageModel(random_state=seed, verbose=verbose, **overrides)
    print(lm)
    start, cpu_start = time.perf_counter(), time.process_time()
    lm.fit(train)
    fit_seconds = time.perf_counter() - start
    # CPU seconds of this process: on a shared machine, what the fit would take alone.
    fit_cpu = time.process_time() - cpu_start
    vocab = set(lm.vocabulary_)
    known = [t for t in test if set(t) <= vocab]
    print(
        f"train: {len(train)} texts, {_chars(train)} chars "
        f"({lm.n_train_chars_} trained on, the rest validates early stopping); "
        f"held out: {len(known)} texts, {_chars(known)} chars"
        + (
            f" ({len(test) - len(known)} held-out texts with unseen characters skipped)"
            if len(known) < len(test)
            else ""
        )
    )
    monitored = "val_loss" if "val_loss" in lm.history_ else "loss"
    epochs = len(lm.history_["loss"])
    best = int(np.argmin(lm.history_[monitored])) + 1
    print(f"epochs run: {epochs} (lowest {monitored} at epoch {best})")
    print(
        f"{monitored} per epoch: "
        + " ".join(f"{v:.3f}" for v in lm.history_[monitored])
    )
    if "learning_rate" in lm.history_:
        rates = sorted(set(lm.history_["learning_rate"]), reverse=True)
        print("learning rates: " + ", ".join(f"{r:.3g}" for r in rates))
    print(
        f"training seconds: {fit_seconds:.1f} ({fit_seconds / epochs:.1f} per epoch, "
        "first epoch includes XLA compilation); "
        f"CPU seconds: {fit_cpu:.1f}"
    )
    accuracy = lm.score(known)
    nats = lm.cross_entropy(known)
    targets = "".join(text[1:] for text in known)
    test_majority = targets.count(lm.majority_char_) / len(targets)
    print(f"held-out next-char accuracy: {accuracy:.4f}")
    print(f"held-out bits per char: {nats / np.log(2):.4f} ({nats:.4f} nats)")
    print(
        f"majority-class rate ({lm.majority_char_!r}): train {lm.majority_rate_:.4f}, "
        f"held-out {test_majority:.4f}; uniform {np.log2(lm.n_vocab_):.4f} bits/char"
    )
    print(f"RESULT {name}: acc={accuracy:.4f} bits={nats / np.log(2):.4f} ", end="")
    print(f"epochs={epochs} seconds={fit_seconds:.1f} cpu_seconds={fit_cpu:.1f}")
    return lm, known


STRING_FEATURES = ["string", "one_line_string", "multi_line_string"]


def in_string_literal(text: str) -> np.ndarray:
    """Per char: inside any string literal, a one-line one, a multi-line one.

    Row ``t`` is the state after reading char ``t``, so a literal's chars are 1 from
    its opening quote (the reader is now inside) up to the char before its closing
    quote; prefixes such as ``f`` or ``rb`` are outside. Multi-line literals are
    mostly docstrings. NaN for a file ``tokenize`` cannot read.
    """
    labels = np.zeros((len(text), 3))
    newlines = np.flatnonzero(
        np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32) == ord("\n")
    )
    starts = np.concatenate([[0], newlines + 1])
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type != tokenize.STRING:
                continue
            begin = starts[tok.start[0] - 1] + tok.start[1]
            end = starts[tok.end[0] - 1] + tok.end[1]
            quote = min(
                i for i in (tok.string.find("'"), tok.string.find('"')) if i >= 0
            )
            column = 1 if tok.start[0] == tok.end[0] else 2
            labels[begin + quote : end - 1, [0, column]] = 1.0
    except (tokenize.TokenError, SyntaxError):
        labels[:] = np.nan
    return labels


def string_units(lm, texts, n_top=5):
    """Score the units of ``lm`` for each string-literal feature on ``texts``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold, cross_val_score

    from skdni import sequence_ids
    from skdni.activations import LSTMActivationTransformer
    from skdni.features import FunctionFeaturizer

    Y = FunctionFeaturizer(in_string_literal, names=STRING_FEATURES).fit_transform(
        texts
    )
    Y = np.asarray(Y)
    keep = ~np.isnan(Y).any(axis=1)
    H = np.asarray(LSTMActivationTransformer(lm, state="both").fit_transform(texts))
    H, Y, groups = H[keep], Y[keep].astype(int), sequence_ids(texts)[keep]
    names = [f"h{j}" for j in range(lm.units)] + [f"c{j}" for j in range(lm.units)]
    print(
        f"{len(Y)} held-out chars in {len(np.unique(groups))} files; "
        f"{H.shape[1]} units (hidden h*, cell c*); chance: ROC AUC and balanced "
        "accuracy 0.5, accuracy the majority rate"
    )
    cv = GroupKFold(5)
    best = {}
    for name, y in zip(STRING_FEATURES, Y.T, strict=True):
        majority = max(y.mean(), 1 - y.mean())
        print(f"-- {name}: {y.mean():.3f} positive (majority rate {majority:.3f})")
        auc = np.array([roc_auc_score(y, H[:, j]) for j in range(H.shape[1])])
        strength = np.maximum(auc, 1 - auc)  # a unit may fire outside strings instead
        print("unit  univariate_auc  cv_roc_auc  cv_balanced_accuracy  cv_accuracy")
        for j in np.argsort(-strength, kind="stable")[:n_top]:
            scores = {}
            for scoring in ("roc_auc", "balanced_accuracy", "accuracy"):
                probe = LogisticRegression(
                    class_weight=None if scoring == "accuracy" else "balanced"
                )
                scores[scoring] = cross_val_score(
                    probe, H[:, [j]], y, cv=cv, groups=groups, scoring=scoring
                ).mean()
            print(
                f"{names[j]:>5}  {auc[j]:14.3f}  {scores['roc_auc']:10.3f}  "
                f"{scores['balanced_accuracy']:20.3f}  {scores['accuracy']:11.3f}"
            )
            if scores["roc_auc"] > best.get(name, (None, 0))[1]:
                best[name] = (names[j], scores["roc_auc"], scores["balanced_accuracy"])
    for name, (unit, auc_cv, bacc) in best.items():
        print(f"BEST {name}: {unit} cv_roc_auc={auc_cv:.3f} cv_balanced_acc={bacc:.3f}")
    return best


def untrained_copy(lm, seed):
    """The same architecture with fresh random weights (a control for the probes)."""
    from skdni._backend import import_keras

    keras = import_keras()
    keras.utils.set_random_seed(seed)
    model = keras.models.clone_model(lm.model_)
    return CharLanguageModel.from_keras(model, lm.vocabulary_, units=lm.units)


def _overrides(pairs):
    out = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            out[key] = ast.literal_eval(value)
        except ValueError:
            out[key] = value
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus", choices=("arithmetic", "python", "both"), default="both"
    )
    parser.add_argument("--n-chars", type=int, default=200_000, help="arithmetic")
    parser.add_argument("--python-chars", type=int, default=270_000)
    parser.add_argument("--held-out-chars", type=int, default=150_000)
    parser.add_argument("--max-file-chars", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=1)
    parser.add_argument("--string-units", action="store_true")
    parser.add_argument("--save-python", help="save the Python model (.keras)")
    parser.add_argument(
        "--load-python", help="score this saved Python model instead of training"
    )
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    args = parser.parse_args()
    overrides = _overrides(args.set)

    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        print(f"{var}={os.environ.get(var)}")
    print(f"XLA_FLAGS={os.environ.get('XLA_FLAGS')}")
    print(f"cpus={os.cpu_count()} load average={os.getloadavg()}")

    if args.corpus in ("arithmetic", "both"):
        train, test = arithmetic_split(args.n_chars, args.seed)
        train_and_score("arithmetic", train, test, args.seed, args.verbose, overrides)
    if args.corpus in ("python", "both"):
        train, test = python_split(
            args.python_chars, args.held_out_chars, args.max_file_chars, args.seed
        )
        if args.load_python:
            lm = CharLanguageModel.load(args.load_python)
            test = [t for t in test if set(t) <= set(lm.vocabulary_)]
            print(f"\n== python (loaded {args.load_python}) ==")
        else:
            lm, test = train_and_score(
                "python", train, test, args.seed, args.verbose, overrides
            )
        if args.save_python:
            lm.save(args.save_python)
        if args.string_units:
            print("\n== string-literal units: trained Python model ==")
            string_units(lm, test)
            print("\n== string-literal units: untrained model of the same shape ==")
            string_units(untrained_copy(lm, args.seed), test)
    print(f"\nload average at the end={os.getloadavg()}")


if __name__ == "__main__":
    main()
