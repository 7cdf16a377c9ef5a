"""The lexer hack for the bundled C grammar: type identifiers become TYPE_NAME.

C's grammar is context-free only once the lexer knows which identifiers are typedef
names (``T * x;`` declares x when T is a type). See the header of ``grammars/c.lark``.
"""

from lark import Token

# Types from headers, which the grammar cannot see (preprocessor lines are ignored).
KNOWN_TYPEDEFS = frozenset(
    """FILE fpos_t va_list jmp_buf sig_atomic_t div_t ldiv_t lldiv_t wchar_t wint_t
    bool mbstate_t DIR
    z_stream z_streamp gzFile Byte Bytef uInt uLong uIntf uLongf voidp voidpf voidpc
    charf intf z_off_t z_size_t gz_header gz_headerp""".split()
)


class CTypedefPostLex:
    """Postlexer retyping IDENTIFIER tokens that name types to TYPE_NAME.

    An identifier is a type name if it was declared by an earlier ``typedef`` in the
    same text, is in ``typedefs`` (default :data:`KNOWN_TYPEDEFS`), ends in ``_t``,
    or is directly followed by another identifier (only a declaration ``T x`` puts two
    identifiers side by side).
    """

    always_accept = ("IDENTIFIER",)

    def __init__(self, typedefs=KNOWN_TYPEDEFS):
        self.typedefs = frozenset(typedefs)

    def process(self, stream):
        known = set(self.typedefs)
        pending = None  # the IDENTIFIER waiting for its successor to be seen
        typedef = None  # tokens of the typedef declaration being read, or None
        depth = 0  # brace depth inside that typedef (struct bodies)
        after_tag_keyword = False  # `struct point p`: point is a tag, not a type
        for tok in stream:
            if pending is not None:
                if tok.type == "IDENTIFIER" and not after_tag_keyword:
                    known.add(pending.value)
                yield self._retype(pending, known, typedef)
                pending = None
            after_tag_keyword = tok.type in ("STRUCT", "UNION", "ENUM")
            if tok.type == "IDENTIFIER":
                if tok.value in known or tok.value.endswith("_t"):
                    tok = Token.new_borrow_pos("TYPE_NAME", tok.value, tok)
                else:
                    pending = tok
                    continue
            if typedef is not None:
                typedef.append(tok)
                depth += tok.type == "LBRACE"
                depth -= tok.type == "RBRACE"
                if tok.type == "SEMICOLON" and depth == 0:
                    known.update(_typedef_names(typedef))
                    typedef = None
            elif tok.type == "TYPEDEF":
                typedef, depth = [tok], 0
            yield tok
        if pending is not None:
            yield self._retype(pending, known, typedef)

    @staticmethod
    def _retype(tok, known, typedef):
        if typedef is not None:
            typedef.append(tok)
        if tok.value in known:
            return Token.new_borrow_pos("TYPE_NAME", tok.value, tok)
        return tok


def _typedef_names(tokens):
    """Names declared by ``typedef ... ;``: per top-level declarator, the last
    identifier outside parentheses and brackets, else (function pointer) the first
    identifier inside parentheses."""
    names, segment, depth = [], [], 0
    for tok in tokens[1:-1]:
        depth += tok.type in ("LBRACE",)
        depth -= tok.type in ("RBRACE",)
        if depth == 0 and tok.type == "COMMA" and _paren_depth(segment) == 0:
            names += _declarator_name(segment)
            segment = []
        elif depth == 0:
            segment.append(tok)
    return names + _declarator_name(segment)


def _paren_depth(tokens):
    return sum(
        (t.type in ("LPAR", "LSQB")) - (t.type in ("RPAR", "RSQB")) for t in tokens
    )


def _declarator_name(tokens):
    outside, inside, level = [], [], 0
    for tok in tokens:
        if tok.type in ("LPAR", "LSQB"):
            level += 1
        elif tok.type in ("RPAR", "RSQB"):
            level -= 1
        elif tok.type == "IDENTIFIER":
            (outside if level == 0 else inside).append(tok.value)
    if outside:
        return outside[-1:]
    return inside[:1]
