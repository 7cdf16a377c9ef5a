"""Every intervention condition in one compiled recurrence (JAX ``lax.scan``).

The fast path of :func:`~skdni.models._conditions.scan_conditions`. The NumPy scan
runs one Python iteration per character, about 30 array operations each: on a long
text (batch of one text times the conditions) the time goes to that overhead, and
on a batch of short texts to the gate arithmetic, each operation writing a new
array. Here the whole time loop is one XLA program: the per-step work is one matrix
product per layer plus one fused pass over the gates, and the loop costs a few
microseconds per step.

Semantics are those of the NumPy path (the reference, tested to agree to float32
rounding): conditions side by side in the batch (condition-major), units overwritten
after the cell computes its state, a NaN pattern value keeps the unit's own value,
a masked id keeps the previous state. Gate sites (``"input"``, ``"reset"``...) are
not compiled: :func:`supports` says so and the caller takes the NumPy path.

Programs are built once per (model shape, structure) and cached; JAX compiles each once
per input shape, so time is cut into chunks of a few fixed lengths (the state
carries over from chunk to chunk) and the memory of the returned probabilities stays
at one chunk, of at most ``_PROBS_CELLS`` values.
"""

import numpy as np

__all__ = ["scan_probs", "supports"]

# (layer shapes, output activation, structure) -> jitted function
_PROGRAMS = {}
_CHUNK = 512  # time steps per compiled call (long texts)
_ROUND = 16  # shorter texts: time padded to a multiple of this
_MIN_TIME = 256  # the scorer compiles texts at least this long
# A chunk's probabilities (steps x conditions x texts x classes, float32) hold at most
# this many values (32 MB): many conditions of a large batch take shorter chunks.
_PROBS_CELLS = 1 << 23


def _jax():
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:  # pragma: no cover - jax is a dependency
        return None, None
    return jax, jnp


def supports(stack, items, time=None) -> bool:
    """Whether the compiled path runs these conditions and pays: a float32 stack
    with an output layer, hidden or cell overwrites, JAX importable, and (given
    ``time``) texts of at least ``_MIN_TIME`` steps. On short texts a step is a
    large batch whose matrix product and gates cost the same in NumPy and XLA
    (measured), and each new padded length would compile again."""
    jax, _ = _jax()
    return (
        jax is not None
        and (time is None or time >= _MIN_TIME)
        and stack.dtype == np.float32
        and stack.output_kernel is not None
        and all(item.state in ("hidden", "cell") for item in items)
    )


def _activations(jnp, jax):
    return {
        "tanh": jnp.tanh,
        "sigmoid": jax.nn.sigmoid,
        "hard_sigmoid": lambda x: jnp.clip(x / 6.0 + 0.5, 0.0, 1.0),
        "linear": lambda x: x,
        "relu": lambda x: jnp.maximum(x, 0),
        "softmax": lambda x: jax.nn.softmax(x, axis=-1),
    }


def _program(stack, structure):
    """The jitted ``(state, xs, masked, patterns, weights) -> (state, probs)``.

    Weights are arguments, not constants: one program serves every model of the
    same shape (and every unpickled copy of a stack in a worker process)."""
    specs = tuple(
        (lay.kind, lay.units, lay.activation, lay.recurrent_activation, lay.reset_after)
        for lay in stack.layers
    )
    key = (specs, stack.output_activation, structure)
    if key in _PROGRAMS:
        return _PROGRAMS[key]
    jax, jnp = _jax()
    acts = _activations(jnp, jax)
    n_conditions, items = structure  # items: ((layer, state, has_pattern), ...)
    output = acts[stack.output_activation]

    def cell(spec, weights, xp, h, c):
        kind, u, act_name, ract_name, reset_after = spec
        act, ract = acts[act_name], acts[ract_name]
        kernel_r = weights["recurrent_kernel"]
        if kind == "lstm":
            z = h @ kernel_r + xp
            i, f = ract(z[..., :u]), ract(z[..., u : 2 * u])
            g, o = act(z[..., 2 * u : 3 * u]), ract(z[..., 3 * u :])
            c = f * c + i * g
            return o * act(c), c
        if kind == "gru":
            if reset_after:
                inner = h @ kernel_r
                if weights["recurrent_bias"] is not None:
                    inner = inner + weights["recurrent_bias"]
                z = ract(xp[..., :u] + inner[..., :u])
                r = ract(xp[..., u : 2 * u] + inner[..., u : 2 * u])
                hh = act(xp[..., 2 * u :] + r * inner[..., 2 * u :])
            else:
                inner = h @ kernel_r[:, : 2 * u]
                z = ract(xp[..., :u] + inner[..., :u])
                r = ract(xp[..., u : 2 * u] + inner[..., u:])
                hh = act(xp[..., 2 * u :] + (r * h) @ kernel_r[:, 2 * u :])
            return z * h + (1 - z) * hh, None
        return act(xp + h @ kernel_r), None

    def run(state, xs, masked, patterns, weights):
        def step(carry, inputs):
            hs, cs = carry
            x_t, m_t, pats = inputs
            new_h, new_c = [], []
            x = None
            for index, spec in enumerate(specs):
                lw = weights["layers"][index]
                # (n_conditions, n_texts, width): the first layer's input is the
                # same for every condition (broadcast, not copied)
                xp = x_t[None] if index == 0 else x @ lw["kernel"] + lw["input_bias"]
                h, c = cell(spec, lw, xp, hs[index], cs[index])
                if m_t is not None:
                    h = jnp.where(m_t[None, :, None], hs[index], h)
                    if c is not None:
                        c = jnp.where(m_t[None, :, None], cs[index], c)
                for number, (layer, name, has_pattern) in enumerate(items):
                    if layer != index:
                        continue
                    item = weights["items"][number]
                    if has_pattern:
                        values = item["offset"] + item["scale"] * pats[number]
                        where = item["mask"][:, None, :] & ~jnp.isnan(values)[None]
                    else:
                        values = item["offset"]
                        where = item["mask"][:, None, :]
                    if name == "hidden":
                        h = jnp.where(where, values, h)
                    else:
                        c = jnp.where(where, values, c)
                new_h.append(h)
                new_c.append(c)
                x = h
            probs = output(x @ weights["output_kernel"] + weights["output_bias"])
            return (new_h, new_c), probs

        return jax.lax.scan(step, state, (xs, masked, patterns))

    program = jax.jit(run)
    _PROGRAMS[key] = program
    return program


def _weights(stack, items):
    return {
        "layers": [
            {
                "kernel": lay.kernel,
                "input_bias": lay.input_bias,
                "recurrent_kernel": lay.recurrent_kernel,
                "recurrent_bias": lay.recurrent_bias,
            }
            for lay in stack.layers
        ],
        "items": [
            {
                "mask": np.asarray(item.mask, dtype=bool),
                "offset": np.asarray(item.offset, dtype=np.float32),
                "scale": None
                if item.scale is None
                else np.asarray(item.scale, dtype=np.float32),
            }
            for item in items
        ],
        "output_kernel": stack.output_kernel,
        "output_bias": stack.output_bias,
    }


def scan_probs(stack, ids, lengths, items, n_conditions: int):
    """Output probabilities of every condition at every step, chunk by chunk.

    Parameters
    ----------
    stack : RecurrentStack
    ids : int array of shape (n_texts, time)
        Right-padded.
    lengths : int array of shape (n_texts,)
    items : list of ConditionSet
        Hidden or cell overwrites only (:func:`supports`); patterns have one row per
        valid character, ``ids[valid]`` order.
    n_conditions : int

    Yields
    ------
    start : int
        First time step of the chunk.
    probs : ndarray of shape (steps, n_conditions, n_texts, n_vocab)
        ``steps`` <= the chunk length; rows past a text's length are unspecified.
    """
    _, jnp = _jax()
    ids = np.asarray(ids)
    n_texts, time = ids.shape
    if time == 0:
        return
    valid = np.arange(time)[None, :] < np.asarray(lengths)[:, None]
    chunk = min(_CHUNK, -(-time // _ROUND) * _ROUND)
    per_step = n_conditions * n_texts * stack.output_kernel.shape[1]
    chunk = min(chunk, max(_ROUND, _PROBS_CELLS // per_step // _ROUND * _ROUND))
    padded_time = -(-time // chunk) * chunk
    # steps past the end read any row (padding follows the text), or the mask id
    pad = 0 if stack.mask_id is None else stack.mask_id
    grid_ids = np.full((padded_time, n_texts), pad, dtype=np.int64)
    grid_ids[:time] = ids.T
    masked = None
    if stack.mask_id is not None:
        masked = grid_ids == stack.mask_id
    patterns = []
    for item in items:
        if item.pattern is None:
            patterns.append(None)
            continue
        pattern = np.asarray(item.pattern, dtype=np.float32)
        grid = np.full((padded_time, n_texts, pattern.shape[1]), np.nan, np.float32)
        grid[:time].transpose(1, 0, 2)[valid] = pattern
        patterns.append(grid)
    structure = (
        n_conditions,
        tuple((item.layer, item.state, item.pattern is not None) for item in items),
    )
    program = _program(stack, structure)
    weights = _weights(stack, items)
    shape = (n_conditions, n_texts)
    state = (
        [jnp.zeros(shape + (lay.units,), jnp.float32) for lay in stack.layers],
        [
            jnp.zeros(shape + (lay.units,), jnp.float32) if lay.kind == "lstm" else None
            for lay in stack.layers
        ],
    )
    for start in range(0, time, chunk):
        part = slice(start, start + chunk)
        state, probs = program(
            state,
            stack.table[grid_ids[part]],
            None if masked is None else masked[part],
            [None if grid is None else grid[part] for grid in patterns],
            weights,
        )
        yield start, np.asarray(probs)[: max(0, min(chunk, time - start))]
