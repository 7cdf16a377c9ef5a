"""TreeSitterFeaturizer: tree-sitter syntax trees of real source code as features.

tree-sitter parses with error recovery: a file that a strict LALR grammar rejects
(macros, compiler extensions, a cut-off prefix) still gets a syntax tree, with the
parts it could not parse wrapped in ``ERROR`` nodes or marked by zero-width
``MISSING`` nodes. Those characters are labelled NaN; the rest are labelled from the
tree.
"""

import difflib
import importlib
import os
import re
import warnings
from array import array
from numbers import Integral

import numpy as np
import tree_sitter
from sklearn.base import clone

from .._compat import Interval, StrOptions
from .._docstring import fill_doc
from .._errors import InputError, InputTypeError, ParseFailure, UnknownGrammarError
from .._texts import char_offsets, check_texts, text_lengths
from ._base import _ParsingFeaturizer, progress
from ._parse_tree import REPRESENTATIONS, ParseTreeFeaturizer

#: Name of the continuous feature: syntax-tree depth of every character.
TREE_DEPTH = "tree_depth"
# tree-sitter's ERROR symbol (ts_builtin_sym_error, the largest uint16): node kinds
# are uint16, so lookup tables indexed by kind id have this many + 1 entries.
_ERROR_KIND = 65535
# tree-sitter grammar package names: tree-sitter-<name> installs tree_sitter_<name>
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class _Grammar:
    """A tree-sitter language and the lookup tables from its node kinds to types.

    A node *type* is the string ``node.type`` reports; several kind ids can share a
    type (aliases, a named and an anonymous node spelled alike), so features are per
    type. ``type_of_kind[kind_id]`` is the type's index in ``types`` (-1 for hidden
    kinds and ``ERROR``); ``named[kind_id]`` says whether the kind is named.
    """

    def __init__(self, language):
        self.language = language
        type_of_kind = np.full(_ERROR_KIND + 1, -1, dtype=np.int32)
        named = np.zeros(_ERROR_KIND + 1, dtype=bool)
        index, named_types = {}, set()
        for kind in range(language.node_kind_count):
            name = language.node_kind_for_id(kind)
            if not name or not language.node_kind_is_visible(kind) or name == "ERROR":
                continue
            type_of_kind[kind] = index.setdefault(name, len(index))
            if language.node_kind_is_named(kind):
                named[kind] = True
                named_types.add(name)
        self.types = list(index)
        self.type_index = index
        self.named_types = named_types
        self.type_of_kind = type_of_kind
        self.named = named
        # the root node's type (translation_unit, module, ...) covers every text
        self.root_type = tree_sitter.Parser(language).parse(b"").root_node.type


_GRAMMARS = {}


def _grammar(spec) -> _Grammar:
    """The grammar of ``spec`` (a language name or a ``tree_sitter.Language``),
    built once per process."""
    if spec not in _GRAMMARS:
        language = spec if isinstance(spec, tree_sitter.Language) else _load(spec)
        _GRAMMARS[spec] = _Grammar(language)
    return _GRAMMARS[spec]


def _module_name(name: str) -> str:
    return "tree_sitter_" + name.strip().lower().replace("-", "_").removeprefix(
        "tree_sitter_"
    )


def _load(name: str) -> tree_sitter.Language:
    """The ``tree_sitter.Language`` of the installed ``tree-sitter-<name>`` package."""
    module_name = _module_name(name)
    short = module_name.removeprefix("tree_sitter_")
    package = "tree-sitter-" + short.replace("_", "-")
    if not _NAME.match(short):
        raise UnknownGrammarError(
            f"{name!r} is not a tree-sitter language name: expected a name such as "
            "'c' or 'python' (the grammar package tree-sitter-<name>)."
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise UnknownGrammarError(
            f"No tree-sitter grammar for language {name!r}: the module "
            f"{module_name!r} is not installed. Install its grammar package "
            f"(`pip install {package}`) or pass a tree_sitter.Language."
        ) from None
    # most packages export language(); a few with several grammars language_<name>()
    function = getattr(module, "language", None) or getattr(
        module, f"language_{short}", None
    )
    if function is None:
        raise UnknownGrammarError(
            f"The module {module_name!r} has no language() function; pass "
            "tree_sitter.Language(<its language function>()) instead."
        )
    try:
        return tree_sitter.Language(function())
    except ValueError as exc:
        raise InputError(
            f"The installed {package} does not work with the installed py-tree-sitter "
            f"({exc}); upgrade one of them."
        ) from None


def _spec(language):
    """What workers rebuild the grammar from: the language's name when the name
    loads the same grammar (a name pickles), else the ``Language`` itself."""
    if not isinstance(language, tree_sitter.Language):
        if not isinstance(language, str):
            raise InputTypeError(
                "language must be a language name (str) or a tree_sitter.Language, "
                f"got {type(language).__name__}."
            )
        return _module_name(language).removeprefix("tree_sitter_")
    name = _picklable_name(language)
    return language if name is None else name


def _picklable_name(language) -> str | None:
    name = language.name
    if not name or not _NAME.match(name):
        return None
    try:
        same = _grammar(name).language == language
    except (UnknownGrammarError, InputError):
        return None
    return name if same else None


class _PickledLanguage:
    """Stands for a ``tree_sitter.Language`` (which does not pickle) in a pickle."""

    def __init__(self, name):
        self.name = name


# ------------------------------------------------------------------ parsing


def _walk(tree, keep):
    """Kind id, start byte and end byte of every node whose kind is set in the
    table ``keep`` (indexed by kind id), in preorder.

    A cursor walk touches each node once without building child lists; reading a
    node's kind id first skips the other two reads for the nodes not kept
    (anonymous ones with ``named_only``). Python calls per node are the cost.
    """
    kinds, starts, ends = array("i"), array("q"), array("q")
    add_kind, add_start, add_end = kinds.append, starts.append, ends.append
    cursor = tree.walk()
    first_child, next_sibling, parent = (
        cursor.goto_first_child,
        cursor.goto_next_sibling,
        cursor.goto_parent,
    )
    while True:
        node = cursor.node
        kind = node.kind_id
        if keep[kind]:
            add_kind(kind)
            add_start(node.start_byte)
            add_end(node.end_byte)
        if first_child():
            continue
        while not next_sibling():
            if not parent():
                return (
                    np.frombuffer(kinds, dtype=np.int32),
                    np.frombuffer(starts, dtype=np.int64),
                    np.frombuffer(ends, dtype=np.int64),
                )


def _keep_table(kinds) -> bytes:
    """The lookup table of :func:`_walk` (one byte per kind id) of ``kinds``."""
    table = np.zeros(_ERROR_KIND + 1, dtype=np.uint8)
    table[np.asarray(kinds, dtype=np.int64)] = 1
    return table.tobytes()


def _errors(tree):
    """``(start_byte, end_byte, description)`` of each ERROR and MISSING node,
    visiting only subtrees that contain one."""
    found = []
    cursor = tree.walk()
    while True:
        node = cursor.node
        descend = node.has_error and not node.is_missing
        if node.is_error or node.is_missing:
            what = f"missing {node.type!r}" if node.is_missing else "unexpected text"
            found.append((node.start_byte, node.end_byte, what))
        elif descend and not any(
            child.has_error or child.is_missing for child in node.children
        ):
            # The error is a hidden token that tree-sitter does not list among the
            # children (e.g. the newline ending a C preprocessor line at the very
            # end of a text): it was expected where the node ends.
            found.append((node.end_byte, node.end_byte, f"{node.type!r} not ended"))
            descend = False
        if descend and cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return found


def _byte_to_char(data: bytes) -> np.ndarray:
    """Character index of every byte of UTF-8 ``data``, plus the character count.

    A byte starts a character unless it is a continuation byte (0b10xxxxxx).
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    starts = (raw & 0xC0) != 0x80
    index = np.empty(raw.size + 1, dtype=np.int64)
    np.cumsum(starts, out=index[:-1])
    index[:-1] -= 1
    index[-1] = np.count_nonzero(starts)
    return index


def _to_chars(index, start, end):
    """Character spans ``[start, end)`` of byte spans: the characters holding the
    span's first and last bytes (exact whether or not a byte offset falls inside a
    character's encoding)."""
    char_start = index[start]
    char_end = np.where(end > start, index[np.maximum(end - 1, 0)] + 1, char_start)
    return char_start, char_end


def _error_spans(errors, text, index):
    """Character spans of error nodes; a zero-width node (a MISSING token) covers
    the character where the token was expected (the last one at the end)."""
    start = np.array([s for s, _, _ in errors], dtype=np.int64)
    end = np.array([e for _, e, _ in errors], dtype=np.int64)
    if index is not None:
        start, end = _to_chars(index, start, end)
    last = len(text) - 1
    start = np.minimum(start, last)
    end = np.maximum(end, start + 1)
    return start, end


def _describe(index, text, errors, start):
    """``"character p (line l, column c): what"`` of the first error."""
    first = int(np.argmin(start))
    pos = int(start[first])
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    snippet = text[pos : pos + 20]
    return (
        f"Text {index}: syntax error at character {pos} (line {line}, column "
        f"{column}): {errors[first][2]} at {snippet!r}"
    )


def _parse_chunk(texts, first, spec, on_error, kinds=None, *, verbose=0):
    """Parse ``texts`` (corpus indices from ``first``) into the spans of the nodes
    of ``kinds`` (kind ids; None: every visible kind but ``ERROR``) in character
    positions local to the chunk; runs in workers."""
    grammar = _grammar(spec)
    parser = tree_sitter.Parser(grammar.language)
    keep = _keep_table(
        np.flatnonzero(grammar.type_of_kind >= 0) if kinds is None else kinds
    )
    parts = {key: [] for key in ("kind", "start", "end", "err_start", "err_end")}
    unlabelled = np.zeros(len(texts), dtype=np.int64)
    failed, offset = [], 0
    for i, text in enumerate(progress(texts, verbose, "tree-sitter")):
        # lone surrogates (possible in a Python str) pass through as 3 bytes each
        data = text.encode("utf-8", "surrogatepass")
        tree = parser.parse(data)
        kind, start, end = _walk(tree, keep)
        index = None if len(data) == len(text) else _byte_to_char(data)
        if index is not None:
            start, end = _to_chars(index, start, end)
        if tree.root_node.has_error:
            errors = _errors(tree)
            err_start, err_end = _error_spans(errors, text, index)
            message = _describe(first + i, text, errors, err_start)
            if on_error == "raise":
                raise ParseFailure(
                    f"{message}. With on_error='nan' the characters of ERROR and "
                    "MISSING nodes are labelled NaN instead."
                )
            covered = np.zeros(len(text) + 1, dtype=np.int64)
            np.add.at(covered, err_start, 1)
            np.add.at(covered, err_end, -1)
            unlabelled[i] = np.count_nonzero(np.cumsum(covered[:-1]))
            failed.append((first + i, message))
            parts["err_start"].append(err_start + offset)
            parts["err_end"].append(err_end + offset)
        parts["kind"].append(kind)
        parts["start"].append(start + offset)
        parts["end"].append(end + offset)
        offset += len(text)
    empty = [np.empty(0, dtype=np.int64)]
    out = {key: np.concatenate(value or empty) for key, value in parts.items()}
    out.update(
        unlabelled=unlabelled, names=grammar.types, failed=failed, n_texts=len(texts)
    )
    return out


def _max_nesting(rid, start, end, ids):
    """Deepest nesting of spans ``[start, end)`` of each type in ``ids``.

    Events (+1 at starts, -1 at ends) sorted by type then position, an end before
    a start at the same position (``[a, b)`` and ``[b, c)`` do not overlap); every
    type's events sum to 0, so one running sum serves all types.
    """
    maxima = np.zeros(len(ids), dtype=np.int64)
    if rid.size == 0:
        return maxima
    column = np.full(int(max(rid.max(), ids.max())) + 1, -1, dtype=np.int64)
    column[ids] = np.arange(len(ids))
    col = np.concatenate([column[rid], column[rid]])
    pos = np.concatenate([start, end])
    delta = np.concatenate([np.ones_like(start), -np.ones_like(end)])
    order = np.lexsort((delta, pos, col))
    running = np.cumsum(delta[order])
    col = col[order]
    firsts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
    maxima[col[firsts]] = np.maximum.reduceat(running, firsts)
    return maxima


# --------------------------------------------------------------- the featurizer


@fill_doc
class TreeSitterFeaturizer(_ParsingFeaturizer):
    """Label every character of source code with its tree-sitter syntax tree.

    tree-sitter is the error-tolerant parser of code editors, with maintained
    grammars for about a hundred languages, each a small ``tree-sitter-<name>``
    package. Every node of the tree labels the characters of its span, as
    :class:`ParseTreeFeaturizer` does for a lark parse tree (the paper's §4):

    * ``range:<type>`` is 1 on every character inside a node of that type, else 0;
    * ``impulse:<type>`` is 1 on the first and last character of each such node;
    * ``depth:<type>`` is the number of nested nodes of that type covering the
      character, divided by the maximum seen in ``fit`` (clipped to [0, 1]);
    * ``tree_depth`` (with the ``depth`` representation) is the number of named
      nodes covering the character — its depth in the syntax tree — divided by the
      maximum seen in ``fit`` (clipped to [0, 1]).

    Node types are the strings tree-sitter reports as ``node.type``
    (``function_definition``, ``call_expression``, ``;`` ...). tree-sitter's byte
    offsets (UTF-8) are converted to character positions, so rows are characters
    whatever the text holds.

    **Errors are not zeros.** Characters inside ``ERROR`` nodes, and the character
    where a ``MISSING`` token was expected, are NaN in every column (excluded from
    probe fits), and ``unlabelled_fraction_`` holds each text's share of them.

    Parameters
    ----------
    language : str or tree_sitter.Language
        ``"c"``, ``"python"`` or the name of any installed ``tree-sitter-<name>``
        package (imported as ``tree_sitter_<name>``), or a ``tree_sitter.Language``.
        A ``Language`` pickles by its name, so it must be an installed grammar's to
        be pickled or sent to parallel workers.
    node_types : list of str or None, default=None
        Node types to featurize, checked against the grammar. None: every type of
        the nodes seen in ``fit`` (named nodes only with ``named_only``), except the
        root's type (``translation_unit``, ``module``: it covers everything).
    representations : tuple of {"range", "impulse", "depth"}, default=all three
        Which representations to output, in this order; ``depth`` adds
        ``tree_depth`` after the per-type columns.
    named_only : bool, default=True
        Only named nodes label. False: anonymous nodes — punctuation and keywords
        such as ``;``, ``(`` or ``return`` — label too (``range:;``). Naming an
        anonymous type in ``node_types`` requires False.
    shift : int, default=0
        Row t gets the labels of character t + shift of the same text; rows whose
        character t + shift is outside the text are NaN.
    on_error : {"nan", "raise"}, default="nan"
        ``"nan"``: characters of ERROR / MISSING nodes are NaN, their texts are
        listed in ``failed_texts_`` and a warning names the first error.
        ``"raise"``: a :class:`~skdni.ParseFailure` names the first text with an
        error and the character position (line, column) of its first error.
    dtype : {np.float64, np.float32}, default=np.float64
        Type of the output. float32 halves its memory and most of the time to
        write it (the output is most of the cost: ~2.3 KB per character with 280
        columns); range and impulse labels (0, 1) and NaN are the same in both,
        depth values are the same ratios rounded to float32.
    %(n_jobs)s
    %(verbose)s
    %(out)s

    Attributes
    ----------
    representations_ : tuple of str
        The representations output, in order.
    node_types_ : list of str
        Featurized node types, in grammar order.
    max_depth_ : dict of str to int
        Deepest nesting of each node type seen in ``fit`` (divides ``depth``).
    max_tree_depth_ : int
        Deepest syntax-tree depth (named nodes) seen in ``fit`` (divides
        ``tree_depth``).
    feature_names_ : list of str
        ``"<representation>:<type>"`` for each representation, then each type;
        ``"tree_depth"`` last with the depth representation.
    feature_kinds_ : list of {"binary", "continuous"}
        ``depth`` features and ``tree_depth`` are continuous, the others binary.
    unlabelled_fraction_ : ndarray of shape (n_texts,)
        Per text of the last ``fit`` or ``transform``, the share of its characters
        inside ERROR / MISSING nodes (NaN rows).
    failed_texts_ : list of int
        Texts of the last ``fit`` or ``transform`` with some unlabelled characters.

    See Also
    --------
    ParseTreeFeaturizer : the same features from a lark grammar (the paper's
        languages, any context-free grammar, and with
        :class:`ParserStateFeaturizer` the parser's own states).

    Examples
    --------
    >>> from skdni.features import TreeSitterFeaturizer
    >>> f = TreeSitterFeaturizer("c", node_types=["call_expression"],
    ...                          representations=("range", "impulse"))
    >>> Y = f.fit_transform(["f(g(1));"])
    >>> [str(n) for n in f.get_feature_names_out()]
    ['range:call_expression', 'impulse:call_expression']
    >>> Y[:, 0]
    array([1., 1., 1., 1., 1., 1., 1., 0.])
    >>> Y[:, 1]
    array([1., 0., 1., 0., 0., 1., 1., 0.])
    """

    _parameter_constraints = {
        "language": [str, tree_sitter.Language],
        "node_types": [list, tuple, None],
        "representations": [tuple, list],
        "named_only": ["boolean"],
        "shift": [Interval(Integral, None, None, closed="neither")],
        "on_error": [StrOptions({"raise", "nan"})],
        "dtype": [type, StrOptions({"float32", "float64"})],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
        "out": [None, str, os.PathLike],
    }

    _position_keys = ("start", "end", "err_start", "err_end")
    _parse_chunk = staticmethod(_parse_chunk)

    def __init__(
        self,
        language,
        *,
        node_types=None,
        representations=REPRESENTATIONS,
        named_only=True,
        shift=0,
        on_error="nan",
        dtype=np.float64,
        n_jobs=None,
        verbose=0,
        out=None,
    ):
        self.language = language
        self.node_types = node_types
        self.representations = representations
        self.named_only = named_only
        self.shift = shift
        self.on_error = on_error
        self.dtype = dtype
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.out = out

    # ---------------------------------------------- a Language is not copyable

    def __sklearn_clone__(self):
        # clone deep-copies parameters, and a tree_sitter.Language cannot be copied;
        # it is an immutable handle on the grammar, so the clone shares it
        if not isinstance(self.language, tree_sitter.Language):
            return super().__sklearn_clone__()
        params = {
            key: clone(value, safe=False)
            for key, value in self.get_params(deep=False).items()
            if key != "language"
        }
        return type(self)(self.language, **params)

    def __getstate__(self):
        state = super().__getstate__().copy()
        language = state.get("language")
        if isinstance(language, tree_sitter.Language):
            name = _picklable_name(language)
            if name is None:
                raise InputError(
                    f"Cannot pickle a tree_sitter.Language named {language.name!r} "
                    "that no installed tree-sitter-<name> package provides; pass the "
                    "language name instead."
                )
            state["language"] = _PickledLanguage(name)
        return state

    def __setstate__(self, state):
        if isinstance(state.get("language"), _PickledLanguage):
            state = dict(state, language=_grammar(state["language"].name).language)
        super().__setstate__(state)

    # ------------------------------------------------------------- plumbing

    def _spec(self):
        return _spec(self.language)

    def _grammar(self) -> _Grammar:
        return _grammar(self._spec())

    def _check_texts(self, texts):
        if isinstance(texts, list | tuple):
            for i, text in enumerate(texts):
                if isinstance(text, bytes | bytearray | memoryview):
                    raise InputTypeError(
                        f"Text {i} is bytes, not str: decode it first (e.g. "
                        "data.decode('utf-8')). Rows are characters; tree-sitter's "
                        "UTF-8 byte offsets are converted to characters for you."
                    )
        return check_texts(texts)

    def _validate(self):
        reps = tuple(self.representations)
        bad = [r for r in reps if r not in REPRESENTATIONS]
        if bad or not reps or len(set(reps)) != len(reps):
            raise InputError(
                f"representations must be distinct values among {REPRESENTATIONS}, "
                f"got {self.representations!r}."
            )
        if np.dtype(self.dtype) not in (np.float32, np.float64):
            raise InputError(f"dtype must be float32 or float64, got {self.dtype!r}.")
        grammar = self._grammar()
        if self.node_types is not None:
            self._check_node_types(grammar)
        self.representations_ = reps

    def _used_kinds(self, grammar):
        """Kind ids of the nodes the labels read: ``node_types``
        (every type when None), named ones only with ``named_only``, and every
        named node when ``tree_depth`` is output."""
        wanted = grammar.type_of_kind >= 0
        if self.node_types is not None:
            ids = [grammar.type_index[t] for t in self.node_types]
            wanted &= np.isin(grammar.type_of_kind, ids)
        if self.named_only:
            wanted &= grammar.named
        if "depth" in self.representations_:
            wanted |= grammar.named
        return np.flatnonzero(wanted)

    def _check_node_types(self, grammar):
        types = list(self.node_types)
        for node_type in types:
            if not isinstance(node_type, str):
                raise InputTypeError(
                    f"node_types must be strings, got {node_type!r} "
                    f"({type(node_type).__name__})."
                )
            if node_type not in grammar.type_index:
                close = difflib.get_close_matches(node_type, grammar.types, n=3)
                hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
                raise InputError(
                    f"Node type {node_type!r} does not exist in the "
                    f"{grammar.language.name or 'given'} tree-sitter grammar.{hint} "
                    f"Named types: {', '.join(sorted(grammar.named_types))}."
                )
            if self.named_only and node_type not in grammar.named_types:
                raise InputError(
                    f"Node type {node_type!r} is anonymous (punctuation or a "
                    "keyword): set named_only=False to featurize it."
                )
        if len(set(types)) != len(types):
            raise InputError(f"node_types has duplicates: {types}.")

    def _parse_args(self):
        # from the grammar installed now, not pickled: kind ids differ between
        # versions of a grammar package, type names do not
        return (*super()._parse_args(), self._used_kinds(self._grammar()))

    def _note_failed(self, failed):
        self.failed_texts_ = [i for i, _ in failed]
        if failed:
            warnings.warn(
                f"{len(failed)} text(s) have syntax errors: the characters of their "
                "ERROR / MISSING nodes are labelled NaN (unlabelled_fraction_, "
                f"failed_texts_); first: {failed[0][1]}",
                UserWarning,
                stacklevel=4,
            )

    def _merge(self, texts, results):
        parsed = super()._merge(texts, results)
        self.unlabelled_fraction_ = parsed["unlabelled"] / parsed["lengths"]
        return parsed

    def _stream(self, texts, chunks):
        """Write the labels of the parsed ``chunks`` to ``out`` through one small
        reused block of rows (sequential writes, no page of ``out`` mapped)."""
        lengths = text_lengths(texts)
        starts = char_offsets(texts)
        failed, counts = [], []
        width = len(self.feature_names_)
        rows = max(1, self._out_block_cells // width)
        buffer = np.empty((max(1, min(rows, int(lengths.sum()))), width), self.dtype)

        def blocks():
            for lo, hi, res in chunks:
                failed.extend(res["failed"])
                counts.append(res["unlabelled"])
                parsed = self._chunk_parsed(res, lo, hi, lengths)
                for a, b, block in self._label_blocks(parsed, buffer):
                    yield slice(starts[lo] + a, starts[lo] + b), block

        out = self._write_rows(texts, blocks())
        self._note_failed(failed)
        self.unlabelled_fraction_ = np.concatenate(counts) / lengths
        return out

    # --------------------------------------------------------------- labels

    def _spans(self, parsed, type_ids):
        """The nodes of ``type_ids`` that cover a character, as the span arrays
        :meth:`ParseTreeFeaturizer._count_blocks` reads."""
        grammar = self._grammar()
        kind = parsed["kind"]
        tid = grammar.type_of_kind[kind]
        keep = np.isin(tid, type_ids) & (parsed["end"] > parsed["start"])
        if self.named_only:
            keep &= grammar.named[kind]
        return {
            "rid": tid[keep],
            "start": parsed["start"][keep],
            "end": parsed["end"][keep],
            "names": grammar.types,
            "offsets": parsed["offsets"],
        }

    def _tree_depth(self, parsed):
        """Number of named nodes covering each character (difference array)."""
        grammar = self._grammar()
        n = int(parsed["offsets"][-1])
        keep = grammar.named[parsed["kind"]] & (parsed["end"] > parsed["start"])
        diff = np.bincount(parsed["start"][keep], minlength=n + 1)
        diff -= np.bincount(parsed["end"][keep], minlength=n + 1)
        return np.cumsum(diff[:n], dtype=np.int32)

    def _type_ids(self):
        index = self._grammar().type_index
        return np.array([index[t] for t in self.node_types_], dtype=np.int64)

    def _fit_parsed(self, parsed):
        grammar = self._grammar()
        if self.node_types is not None:
            types = [t for t in grammar.types if t in set(self.node_types)]
        else:
            kind = parsed["kind"]
            seen = grammar.type_of_kind[kind]
            if self.named_only:
                seen = seen[grammar.named[kind]]
            seen = set(np.unique(seen).tolist()) - {-1}
            types = [
                t
                for i, t in enumerate(grammar.types)
                if i in seen and t != grammar.root_type
            ]
        self.node_types_ = types
        ids = self._type_ids()
        maxima = np.zeros(len(types), dtype=np.int64)
        self.max_tree_depth_ = 0
        if "depth" in self.representations_:
            spans = self._spans(parsed, ids)
            maxima = _max_nesting(spans["rid"], spans["start"], spans["end"], ids)
            self.max_tree_depth_ = int(self._tree_depth(parsed).max(initial=0))
        self.max_depth_ = {t: int(m) for t, m in zip(types, maxima, strict=True)}
        reps = self.representations_
        self.feature_names_ = [f"{rep}:{t}" for rep in reps for t in types]
        self.feature_kinds_ = [
            "continuous" if rep == "depth" else "binary" for rep in reps for _ in types
        ]
        if "depth" in reps:
            self.feature_names_.append(TREE_DEPTH)
            self.feature_kinds_.append("continuous")

    #: tests set True to label through the reference path
    _exact = False
    #: cells of the reused block of rows that the ``out=`` path fills and writes
    _out_block_cells = 1 << 18

    def _span_fill(self, parsed):
        """The compiled fill of ``parsed``'s labels."""
        ids = self._type_ids()
        k = len(ids)
        reps = self.representations_
        spans = self._spans(parsed, ids)
        tree = self._tree_depth(parsed) if "depth" in reps else np.empty(0, np.int32)
        column = np.full(len(spans["names"]), -1, dtype=np.int64)
        column[ids] = np.arange(k)
        at = {rep: r * k for r, rep in enumerate(reps)}
        # imported here: importing skdni does not import numba
        from ._span_kernel import SpanFill

        fill = SpanFill(
            spans["start"],
            spans["end"],
            column[spans["rid"]],
            k,
            at.get("range", -1),
            at.get("impulse", -1),
            at.get("depth", -1),
            self._depth_scale(),
            tree,
            max(self.max_tree_depth_, 1),
        )
        return fill

    def _depth_scale(self):
        return np.array(
            [max(self.max_depth_.get(t, 0), 1) for t in self.node_types_],
            dtype=np.float64,
        )

    def _fill(self, parsed):
        """``fill(rows, lo)``: writes the labels of characters ``lo .. lo +
        len(rows)`` of ``parsed`` (before errors and ``shift``) into the zeros
        ``rows``, ``lo`` increasing from call to call."""
        if not self._exact:
            return self._span_fill(parsed).fill
        labels = self._labels_exact(parsed, int(parsed["offsets"][-1]))

        def fill(rows, lo):
            rows[:] = labels[lo : lo + len(rows)]

        return fill

    def _labels(self, parsed):
        """The labels of ``parsed`` before errors and ``shift`` are applied."""
        n = int(parsed["offsets"][-1])
        # fresh zeroed pages: only the nonzero cells are written, row by row
        out = np.zeros((n, len(self.feature_names_)), dtype=self.dtype)
        self._fill(parsed)(out, 0)
        return out

    def _labels_exact(self, parsed, n):
        ids = self._type_ids()
        reps = self.representations_
        out = np.zeros((n, len(ids) * len(reps) + ("depth" in reps)), self.dtype)
        spans = self._spans(parsed, ids)
        self._labels_reference(out, spans, ids, self._depth_scale())
        if "depth" in reps:
            tree = self._tree_depth(parsed)
            np.divide(
                tree, max(self.max_tree_depth_, 1), out=out[:, -1], casting="unsafe"
            )
            np.minimum(out[:, -1], 1, out=out[:, -1])
        return out

    def _label_blocks(self, parsed, buffer):
        """``(a, b, block)``: the final labels of rows ``a:b`` of ``parsed``,
        ``len(buffer)`` rows at a time, each block a view of ``buffer``
        (overwritten by the next)."""
        fill = self._fill(parsed)
        n = int(parsed["offsets"][-1])
        for a in range(0, n, len(buffer)):
            b = min(a + len(buffer), n)
            block = buffer[: b - a]
            block[:] = 0
            self._final_rows(parsed, fill, block, a)
            yield a, b, block

    def _final_rows(self, parsed, fill, block, a):
        """Write rows ``a .. a + len(block)`` of the final labels into the zeros
        ``block``: row r holds the labels of character r + ``shift`` (``fill``'s
        labels, NaN inside an error span), NaN when that character is outside
        row r's text. The in-memory output is one such block, ``out=``'s many."""
        offsets, shift = parsed["offsets"], self.shift
        n = int(offsets[-1])
        b = a + len(block)
        # row r holds character r + shift: characters lo:hi land in this block
        lo, hi = max(a + shift, 0), min(b + shift, n)
        if lo < hi:
            fill(block[lo - shift - a : hi - shift - a], lo)
            err_start, err_end = parsed["err_start"], parsed["err_end"]
            for e in np.flatnonzero((err_start < hi) & (err_end > lo)):
                s = max(err_start[e], lo) - shift - a
                block[s : min(err_end[e], hi) - shift - a] = np.nan
        if shift:
            rows = np.arange(a, b)
            text = np.searchsorted(offsets, rows, side="right") - 1
            source = rows + shift
            outside = (source < offsets[text]) | (source >= offsets[text + 1])
            block[outside] = np.nan

    def _labels_reference(self, out, spans, ids, scale):
        """Labels from difference arrays over every cell (what
        :class:`ParseTreeFeaturizer` does); the compiled fill must agree."""
        k = len(ids)
        for lo, hi, counts, firsts, lasts in ParseTreeFeaturizer._count_blocks(
            spans, ids
        ):
            for r, rep in enumerate(self.representations_):
                block = out[lo:hi, r * k : (r + 1) * k]
                if rep == "range":
                    np.minimum(counts, 1, out=block, casting="unsafe")
                elif rep == "depth":
                    np.divide(counts, scale, out=block, casting="unsafe")
                    np.minimum(block, 1, out=block)
                else:
                    block[firsts] = 1
                    block[lasts] = 1

    def _finish(self, parsed):
        n = int(parsed["offsets"][-1])
        # fresh zeroed pages: only the nonzero cells are written, row by row
        out = np.zeros((n, len(self.feature_names_)), dtype=self.dtype)
        self._final_rows(parsed, self._fill(parsed), out, 0)
        return out
