"""Gates as inspection and intervention sites (issue 12): LSTM input / forget /
candidate / output, GRU update / reset / new, against the cells' equations."""

import numpy as np
import pytest
from scipy.special import expit

from skdni import InputError
from skdni._backend import import_keras
from skdni.activations import LSTMActivationTransformer
from skdni.intervention import Intervention
from skdni.models import RecurrentStack

VOCAB = "abcd"
TEXTS = ["abcdabca", "dcb", "aabbccddab"]


def _model(cell):
    keras = import_keras()
    keras.utils.set_random_seed(3)
    layer = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[cell]
    return keras.Sequential(
        [
            keras.Input(shape=(None,), dtype="int32"),
            keras.layers.Embedding(4, 5),
            layer(6, return_sequences=True),
            keras.layers.Dense(4, activation="softmax"),
        ]
    )


def _by_hand(model, text, cell):
    """The gates of every step from the Keras weights and the cell's equations."""
    weights = [np.asarray(w, dtype=np.float64) for w in model.get_weights()]
    emb, kernel, recurrent, bias = weights[:4]
    x = emb[[VOCAB.index(c) for c in text]]
    u = recurrent.shape[0]
    h, c = np.zeros(u), np.zeros(u)
    out = {}
    for xt in x:
        if cell == "lstm":
            z = xt @ kernel + h @ recurrent + bias
            i, f = expit(z[:u]), expit(z[u : 2 * u])
            g, o = np.tanh(z[2 * u : 3 * u]), expit(z[3 * u :])
            c = f * c + i * g
            h = o * np.tanh(c)
            gates = {"input": i, "forget": f, "candidate": g, "output": o}
        else:  # Keras 3 GRU: reset_after=True, bias (2, 3u), gates ordered z, r, h
            xz = xt @ kernel + bias[0]
            hz = h @ recurrent + bias[1]
            z = expit(xz[:u] + hz[:u])
            r = expit(xz[u : 2 * u] + hz[u : 2 * u])
            n = np.tanh(xz[2 * u :] + r * hz[2 * u :])
            h = z * h + (1 - z) * n
            gates = {"update": z, "reset": r, "new": n}
        for name, value in gates.items():
            out.setdefault(name, []).append(value)
    return {name: np.array(values) for name, values in out.items()}


@pytest.mark.parametrize(
    "cell, gates",
    [
        ("lstm", ("input", "forget", "candidate", "output")),
        ("gru", ("update", "reset", "new")),
    ],
)
def test_gates_equal_the_cell_equations(cell, gates):
    model = _model(cell)
    for gate in gates:
        act = LSTMActivationTransformer(model, vocabulary=VOCAB, state=gate)
        values = act.fit_transform(TEXTS)
        letter = {"candidate": "g", "update": "z"}.get(gate, gate[0])
        assert act.get_feature_names_out()[0] == f"{letter}0"
        expected = np.concatenate([_by_hand(model, t, cell)[gate] for t in TEXTS])
        np.testing.assert_allclose(values, expected, atol=2e-6)
    with pytest.raises(InputError, match="does not exist"):
        other = "forget" if cell == "gru" else "reset"
        LSTMActivationTransformer(model, vocabulary=VOCAB, state=other).fit(TEXTS)
    with pytest.raises(InputError, match="Keras does not expose gates"):
        LSTMActivationTransformer(
            model, vocabulary=VOCAB, state=gates[0], method="keras"
        ).fit(TEXTS)


def test_gate_interventions_follow_the_equations():
    model = _model("lstm")
    stack = RecurrentStack.from_keras(model, dtype=np.float64)
    ids = np.array([[VOCAB.index(c) for c in TEXTS[2]]])
    units = np.arange(6)
    # input gate 0 and forget gate 0: c = 0, so h = 0 and the output is the Dense
    # bias's softmax at every step, as when h itself is zeroed
    shut = [
        Intervention(units=units, state="input", mode="clamp", values=0.0),
        Intervention(units=units, state="forget", mode="clamp", values=0.0),
    ]
    gated = stack.run(ids, interventions=shut, return_states=("hidden", "cell"))
    assert np.abs(gated["cell"][0]).max() == 0.0
    zeroed = stack.run(ids, interventions=Intervention(units=units, mode="zero"))
    np.testing.assert_allclose(gated["probs"], zeroed["probs"], atol=1e-12)
    # forget gate 1 and input gate 1 on unit 2: c accumulates the candidate
    keep = [
        Intervention(units=[2], state="forget", mode="clamp", values=1.0),
        Intervention(units=[2], state="input", mode="clamp", values=1.0),
    ]
    out = stack.run(ids, interventions=keep, return_states=("cell",))
    from skdni.models._gates import gate_sequences

    plain = stack.run(ids, return_states=("hidden",))
    candidate = gate_sequences(
        stack.layers[0], stack.table[ids], plain["hidden"][0], ["candidate"]
    )["candidate"]
    # step 0 reads the same state either way: c_0 = candidate_0
    assert out["cell"][0][0, 0, 2] == pytest.approx(candidate[0, 0, 2], abs=1e-12)
    with pytest.raises(InputError, match="does not exist"):
        stack.run(ids, interventions=Intervention(units=[0], state="reset"))


def test_batched_gate_conditions_equal_one_by_one(trained_lm, arithmetic_texts):
    from skdni.intervention._scorer import _score_conditions, _score_each
    from skdni.models._conditions import ConditionSet

    texts = arithmetic_texts[:20]
    stack = RecurrentStack.from_keras(trained_lm.model_, dtype=np.float64)
    runtime = trained_lm.runtime_
    ids_list = runtime.encode(texts)
    targets, has_next = runtime.next_classes(ids_list)
    batches = [(i, n, r) for _, i, n, r in runtime.batches(ids_list, 8)]
    rng = np.random.default_rng(0)
    mask = rng.random((4, 32)) < 0.3
    mask[0] = False
    scoring = {
        "targets": targets,
        "scored": has_next,
        "classes": None,
        "class_onehot": None,
        "metric": "cross_entropy",
    }
    for gate in ("forget", "output", "candidate"):
        item = ConditionSet(0, gate, mask, rng.uniform(0, 1, 32))
        np.testing.assert_allclose(
            _score_conditions(stack, batches, item, scoring),
            _score_each(stack, batches, item, scoring),
            rtol=0,
            atol=1e-9,
        )


def test_a_search_over_gate_columns_names_its_state():
    from skdni.intervention._scorer import _check_unit_columns

    names = [f"f{j}" for j in range(4)]
    _check_unit_columns(names, "lstm", "forget")
    with pytest.raises(InputError, match="forget state.*state='hidden'"):
        _check_unit_columns(names, "lstm", "hidden")
