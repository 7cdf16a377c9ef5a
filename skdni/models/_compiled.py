"""Every intervention condition in one compiled recurrence (JAX ``lax.scan``).

The fast path of :func:`~skdni.models._conditions.scan_conditions` and
:func:`~skdni.models._conditions.step_conditions`. The NumPy scan runs one Python
iteration per character, about 30 array operations each: on a long text (a batch of
one text times the conditions) the time goes to that overhead, and on a batch of
short texts to the gate arithmetic, each operation writing a new array. Here the
whole time loop is one XLA program: per step one matrix product per layer and one
fused pass over the gates (an LSTM's sigmoid and tanh gates as *one* tanh over all
gate columns, ``sigmoid(x) = (1 + tanh(x / 2)) / 2`` as in the NumPy recurrence),
and the loop costs a few microseconds per step.

Semantics are those of the NumPy path (the reference, tested to agree to float32
rounding): conditions side by side in the batch (condition-major), states and gates
overwritten right after the cell computes them, a NaN pattern value keeps the
unit's own value, a masked id keeps the previous state.

Programs are built once per (model shape, structure) and cached; XLA compiles each
once per input shape, so shapes are bucketed: texts are padded to a multiple of
``_ROUND`` steps and the time cut into chunks of ``_CHUNKS`` lengths (the state
carries over from chunk to chunk; the memory of the returned probabilities stays at
one chunk), and the number of sequences is rounded up to one of four sizes per
octave (:func:`_bucket`). A batch of 256 texts of any length up to 512 thus compiles
at most three programs.
"""

import numpy as np

__all__ = ["CompiledStepper", "scan_probs", "supports"]

# (layer shapes, output activation, masking, structure) -> jitted function
_PROGRAMS = {}
_CHUNKS = (512, 64, 8)  # time steps per compiled call, longest first
# conditions x sequences per compiled call: beyond this a step's arrays leave the
# cache (measured: 2.5 us per row-step at 34 x 256 rows, 2.0 at 4 x 256)
_GROUP_ROWS = 1024
# A chunk's probabilities (steps x conditions x texts x classes, float32) hold at most
# this many values (32 MB) where the shortest chunk allows: many conditions of a large
# batch take shorter chunks (the corpus study's ablations peaked on them).
_PROBS_CELLS = 1 << 23
_ROUND = 8  # time is padded to a multiple of this (the shortest chunk)
_STATES = ("hidden", "cell", "input", "forget", "candidate", "output")
_STATES += ("update", "reset", "new")


def _jax():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:  # pragma: no cover - jax is a dependency
        return None, None
    return jax, jnp


def supports(stack, items) -> bool:
    """Whether the compiled path runs these conditions: a float32 stack with an
    output layer, JAX importable, and sites the NumPy recurrence knows (hidden, cell
    or a gate). float64 stacks take the NumPy path (JAX computes in float32 unless
    x64 is enabled globally)."""
    jax, _ = _jax()
    return (
        jax is not None
        and stack.dtype == np.float32
        and stack.output_kernel is not None
        and all(item.state in _STATES for item in items)
    )


def _bucket(n: int) -> int:
    """``n`` rounded up to one of four sizes per octave (fewer than ``n / 4``
    more): 1..8 stay, 9 -> 10, 209 -> 224, 256 -> 256, 257 -> 320."""
    if n <= 8:
        return n
    step = (1 << (n - 1).bit_length()) // 8
    return -(-n // step) * step


def _chunk_sizes(time: int, per_step: int = 0) -> list[int]:
    """Chunk lengths covering ``time`` (a multiple of ``_ROUND``), longest first,
    none longer than ``_PROBS_CELLS / per_step`` steps but the shortest."""
    longest = _PROBS_CELLS // max(per_step, 1)
    sizes = []
    for size in _CHUNKS:
        if size > longest and size != _CHUNKS[-1]:
            continue
        count, time = divmod(time, size)
        sizes += [size] * count
    return sizes


def _activations(jnp, jax):
    return {
        "tanh": jnp.tanh,
        # the NumPy recurrence's formula (skdni.models._recurrence._sigmoid)
        "sigmoid": lambda x: jnp.tanh(x * 0.5) * 0.5 + 0.5,
        "hard_sigmoid": lambda x: jnp.clip(x / 6.0 + 0.5, 0.0, 1.0),
        "linear": lambda x: x,
        "relu": lambda x: jnp.maximum(x, 0),
        "softmax": lambda x: jax.nn.softmax(x, axis=-1),
    }


def _program(stack, structure):
    """The jitted ``(state, ids, patterns, weights) -> (state, probs)``.

    ``ids`` is ``(time, n)`` (every condition reads the same text) or
    ``(time, n_conditions, n)`` (each its own, as in generation). Weights are
    arguments, not constants: one program serves every model of the same shape (and
    every unpickled copy of a stack in a worker process)."""
    specs = tuple(
        (lay.kind, lay.units, lay.activation, lay.recurrent_activation, lay.reset_after)
        for lay in stack.layers
    )
    key = (specs, stack.output_activation, stack.mask_id, structure)
    if key in _PROGRAMS:
        return _PROGRAMS[key]
    jax, jnp = _jax()
    acts = _activations(jnp, jax)
    _, items = structure  # items: ((layer, state, has_pattern), ...)
    output = acts[stack.output_activation]
    mask_id = stack.mask_id

    def overwrite(index, name, values, weights, pats):
        """``values`` with the units of every item at (layer ``index``, ``name``)
        overwritten in the conditions that choose them."""
        for number, (layer, state, has_pattern) in enumerate(items):
            if layer != index or state != name:
                continue
            item = weights["items"][number]
            if has_pattern:
                new = item["offset"] + item["scale"] * pats[number]
                where = item["mask"][:, None, :] & ~jnp.isnan(new)[None]
            else:
                new = item["offset"]
                where = item["mask"][:, None, :]
            values = jnp.where(where, new, values)
        return values

    def cell(spec, index, lw, xp, h, c, write):
        kind, u, act_name, ract_name, reset_after = spec
        act, ract = acts[act_name], acts[ract_name]
        kernel_r = lw["recurrent_kernel"]
        if kind == "lstm":
            z = h @ kernel_r + xp
            if ract_name == "sigmoid" and act_name == "tanh":
                # one tanh over the four gates: 0.5 * z for the sigmoid gates
                a = jnp.tanh(z * lw["gate_scale"])
                i = write("input", a[..., :u] * 0.5 + 0.5)
                f = write("forget", a[..., u : 2 * u] * 0.5 + 0.5)
                g = write("candidate", a[..., 2 * u : 3 * u])
                o = write("output", a[..., 3 * u :] * 0.5 + 0.5)
            else:
                i = write("input", ract(z[..., :u]))
                f = write("forget", ract(z[..., u : 2 * u]))
                g = write("candidate", act(z[..., 2 * u : 3 * u]))
                o = write("output", ract(z[..., 3 * u :]))
            c = f * c + i * g
            return o * act(c), c
        if kind == "gru":
            if reset_after:
                inner = h @ kernel_r
                if lw["recurrent_bias"] is not None:
                    inner = inner + lw["recurrent_bias"]
                zr = ract(xp[..., : 2 * u] + inner[..., : 2 * u])
                z, r = write("update", zr[..., :u]), write("reset", zr[..., u:])
                hh = write("new", act(xp[..., 2 * u :] + r * inner[..., 2 * u :]))
            else:
                inner = h @ kernel_r[:, : 2 * u]
                zr = ract(xp[..., : 2 * u] + inner)
                z, r = write("update", zr[..., :u]), write("reset", zr[..., u:])
                hh = write(
                    "new", act(xp[..., 2 * u :] + (r * h) @ kernel_r[:, 2 * u :])
                )
            return z * h + (1 - z) * hh, None
        return act(xp + h @ kernel_r), None

    def run(state, ids, patterns, weights):
        def step(carry, inputs):
            hs, cs = carry
            ids_t, pats = inputs
            # the first layer's input, broadcast over the conditions (not copied)
            xp0 = weights["table"][ids_t]
            xp0 = xp0[None] if ids_t.ndim == 1 else xp0
            masked = None
            if mask_id is not None:
                masked = ids_t == mask_id
                masked = masked[None, :, None] if ids_t.ndim == 1 else masked[..., None]
            new_h, new_c = [], []
            x = None
            for index, spec in enumerate(specs):
                lw = weights["layers"][index]
                xp = xp0 if index == 0 else x @ lw["kernel"] + lw["input_bias"]

                def write(name, values, index=index):
                    return overwrite(index, name, values, weights, pats)

                h, c = cell(spec, index, lw, xp, hs[index], cs[index], write)
                if masked is not None:
                    h = jnp.where(masked, hs[index], h)
                    if c is not None:
                        c = jnp.where(masked, cs[index], c)
                h = write("hidden", h)
                if c is not None:
                    c = write("cell", c)
                new_h.append(h)
                new_c.append(c)
                x = h
            probs = output(x @ weights["output_kernel"] + weights["output_bias"])
            return (new_h, new_c), probs

        return jax.lax.scan(step, state, (ids, patterns))

    program = jax.jit(run)
    _PROGRAMS[key] = program
    return program


def _weights(stack, items, groups=((slice(None), None),)):
    """The program's weights as device arrays, one dict per group of conditions
    (moved once per call of the caller, not once per chunk; the model's weights
    shared by the groups): ``groups`` are ``(rows, n_slots)``, the conditions
    ``rows`` of every item's mask padded with conditions that overwrite nothing to
    ``n_slots`` rows."""
    _, jnp = _jax()

    def gate_scale(lay):
        if lay.kind != "lstm":
            return None
        u = lay.units
        return jnp.asarray(
            np.r_[np.full(2 * u, 0.5), np.ones(u), np.full(u, 0.5)], jnp.float32
        )

    def dev(array):
        return None if array is None else jnp.asarray(array)

    model = {
        "table": dev(stack.table),
        "layers": [
            {
                "kernel": dev(lay.kernel),
                "input_bias": dev(lay.input_bias),
                "recurrent_kernel": dev(lay.recurrent_kernel),
                "recurrent_bias": dev(lay.recurrent_bias),
                "gate_scale": gate_scale(lay),
            }
            for lay in stack.layers
        ],
        "output_kernel": dev(stack.output_kernel),
        "output_bias": dev(stack.output_bias),
    }
    values = [
        (
            dev(np.asarray(item.offset, dtype=np.float32)),
            None if item.scale is None else dev(np.asarray(item.scale, np.float32)),
        )
        for item in items
    ]
    return [
        {
            **model,
            "items": [
                {
                    "mask": dev(_mask_rows(item.mask, rows, n_slots)),
                    "offset": offset,
                    "scale": scale,
                }
                for item, (offset, scale) in zip(items, values, strict=True)
            ],
        }
        for rows, n_slots in groups
    ]


def _mask_rows(mask, rows, n_slots):
    mask = np.asarray(mask, dtype=bool)[rows]
    if n_slots is None or n_slots == len(mask):
        return mask
    padded = np.zeros((n_slots, mask.shape[1]), dtype=bool)
    padded[: len(mask)] = mask
    return padded


def _groups(n_conditions: int, n_rows: int) -> tuple[int, int]:
    """``(size, n_groups)``: conditions per compiled call and calls per chunk, so
    that a call holds at most ``_GROUP_ROWS`` sequences (or one condition)."""
    per_call = max(1, _GROUP_ROWS // n_rows)
    n_groups = -(-n_conditions // per_call)
    return -(-n_conditions // n_groups), n_groups


def _structure(items, n_conditions):
    return (
        n_conditions,
        tuple((item.layer, item.state, item.pattern is not None) for item in items),
    )


def _zero_state(stack, shape):
    _, jnp = _jax()
    return (
        [jnp.zeros(shape + (lay.units,), jnp.float32) for lay in stack.layers],
        [
            jnp.zeros(shape + (lay.units,), jnp.float32) if lay.kind == "lstm" else None
            for lay in stack.layers
        ],
    )


def scan_probs(stack, ids, lengths, items, n_conditions: int):
    """Output probabilities of every condition at every step, chunk by chunk.

    Parameters
    ----------
    stack : RecurrentStack
    ids : int array of shape (n_texts, time)
        Right-padded.
    lengths : int array of shape (n_texts,)
    items : list of ConditionSet
        Sites :func:`supports` accepts; patterns have one row per valid character,
        ``ids[valid]`` order.
    n_conditions : int

    Yields
    ------
    start : int
        First time step of the chunk.
    probs : ndarray of shape (steps, n_conditions, n_texts, n_vocab)
        ``steps`` <= the chunk length; rows past a text's length are unspecified.
    """
    ids = np.asarray(ids)
    n_texts, time = ids.shape
    if time == 0 or n_texts == 0:
        return
    n_rows = _bucket(n_texts)
    padded_time = -(-time // _ROUND) * _ROUND
    valid = np.arange(time)[None, :] < np.asarray(lengths)[:, None]
    # steps past the end and padded rows read any id (padding follows the text),
    # or the mask id
    pad = 0 if stack.mask_id is None else stack.mask_id
    grid_ids = np.full((padded_time, n_rows), pad, dtype=np.int32)
    grid_ids[:time, :n_texts] = ids.T
    patterns = []
    for item in items:
        if item.pattern is None:
            patterns.append(None)
            continue
        pattern = np.asarray(item.pattern, dtype=np.float32)
        grid = np.full((padded_time, n_rows, pattern.shape[1]), np.nan, np.float32)
        grid[:time, :n_texts].transpose(1, 0, 2)[valid] = pattern
        patterns.append(grid)
    # conditions in groups of ``size`` (the last padded with conditions that
    # overwrite nothing): one compiled call per group and chunk
    size, n_groups = _groups(n_conditions, n_rows)
    program = _program(stack, _structure(items, size))
    weights = _weights(
        stack,
        items,
        [(slice(g * size, (g + 1) * size), size) for g in range(n_groups)],
    )
    states = [_zero_state(stack, (size, n_rows)) for _ in range(n_groups)]
    start = 0
    per_step = n_conditions * n_texts * stack.output_kernel.shape[1]
    for length in _chunk_sizes(padded_time, per_step):
        part = slice(start, start + length)
        chunk_patterns = [None if grid is None else grid[part] for grid in patterns]
        outputs = []
        for g in range(n_groups):
            states[g], probs = program(
                states[g], grid_ids[part], chunk_patterns, weights[g]
            )
            outputs.append(probs)
        if start < time:
            steps = min(length, time - start)
            probs = np.concatenate([np.asarray(p)[:steps] for p in outputs], axis=1)
            yield start, probs[:, :n_conditions, :n_texts]
        start += length


class CompiledStepper:
    """One compiled step of a batch of ``n_conditions`` blocks of sequences: the
    fast path of :func:`~skdni.models._conditions.step_conditions` (free-running
    generation reads one character at a time). The state stays on the device
    between steps.

    Parameters
    ----------
    stack : RecurrentStack
    items : list of ConditionSet
        Constant overwrites (no pattern), sites :func:`supports` accepts.
    n_conditions : int
    n_sequences : int
        Sequences per condition.
    """

    def __init__(self, stack, items, n_conditions: int, n_sequences: int):
        if any(item.pattern is not None for item in items):
            raise ValueError("CompiledStepper takes constant overwrites only.")
        self.n_conditions, self.n_sequences = n_conditions, n_sequences
        self.n_rows = _bucket(n_sequences)
        self._program = _program(stack, _structure(items, n_conditions))
        (self._weights,) = _weights(stack, items)
        self._patterns = [None] * len(items)
        self._pad = 0 if stack.mask_id is None else stack.mask_id
        self.state = _zero_state(stack, (n_conditions, self.n_rows))

    def step(self, ids) -> np.ndarray:
        """Read one id per sequence (condition-major, ``n_conditions *
        n_sequences``); return the probabilities, shape (n_conditions *
        n_sequences, n_vocab)."""
        grid = np.full((1, self.n_conditions, self.n_rows), self._pad, np.int32)
        grid[0, :, : self.n_sequences] = np.asarray(ids).reshape(
            self.n_conditions, self.n_sequences
        )
        self.state, probs = self._program(
            self.state, grid, self._patterns, self._weights
        )
        probs = np.asarray(probs)[0, :, : self.n_sequences]
        return probs.reshape(self.n_conditions * self.n_sequences, -1)
