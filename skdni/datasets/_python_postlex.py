"""lark's Python indenter, made total on texts that are pieces of files."""

from lark.indenter import DedentError, PythonIndenter
from lark.lexer import Token


class PythonPostLex(PythonIndenter):
    """:class:`lark.indenter.PythonIndenter` for texts that are pieces of files.

    A whole file is indented exactly as by lark's indenter. A piece of a file, cut
    at line ends (:func:`skdni.datasets.load_text_files`), differs at its ends:

    * it may start indented (a piece of a class body): the indentation of its first
      line is its floor, and a later line indented less than the floor lowers the
      floor instead of failing, so the piece parses as a sequence of statements;
    * it may end in a comment with no newline after it, which lark's grammar folds
      into a ``_NEWLINE`` token: without any ``"\\n"`` lark raises ``IndexError``,
      and after one it counts the comment's spaces as indentation; here such a
      comment ends the line and leaves the indentation unchanged;
    * its last line may have no newline after it, which leaves its statement open
      (the grammar ends every simple statement with ``_NEWLINE``); here a
      zero-width ``_NEWLINE`` at the end of the text closes it, as Python's own
      tokenizer does. No character is added to the text.
    """

    def process(self, stream):
        self._started = False
        return super().process(stream)

    def handle_NL(self, token):
        if self.paren_level > 0:
            return
        yield token
        _, newline, indent_str = token.rpartition("\n")
        if not newline or indent_str.strip(" \t\f\r"):
            return  # a comment at the end of the text: nothing follows
        indent = indent_str.count(" ") + indent_str.count("\t") * self.tab_len
        if not self._started:  # only comments and blank lines so far
            self.indent_level = [indent]
        elif indent > self.indent_level[-1]:
            self.indent_level.append(indent)
            yield Token.new_borrow_pos(self.INDENT_type, indent_str, token)
        else:
            while len(self.indent_level) > 1 and indent < self.indent_level[-1]:
                self.indent_level.pop()
                yield Token.new_borrow_pos(self.DEDENT_type, indent_str, token)
            if len(self.indent_level) == 1 and indent < self.indent_level[0]:
                self.indent_level[0] = indent  # below the piece's first line
            elif indent != self.indent_level[-1]:
                raise DedentError(
                    f"Unexpected dedent to column {indent}. Expected dedent to "
                    f"{self.indent_level[-1]}"
                )

    def _process(self, stream):
        # lark's Indenter._process, with the floor and the closing _NEWLINE
        token = None
        for token in stream:
            if not self._started and token.type != self.NL_type:
                self._started = True
                if token.line == 1:  # the text starts with this line
                    self.indent_level = [token.column - 1]
            if token.type == self.NL_type:
                yield from self.handle_NL(token)
            else:
                yield token
            if token.type in self.OPEN_PAREN_types:
                self.paren_level += 1
            elif token.type in self.CLOSE_PAREN_types:
                if self.paren_level == 0:
                    raise DedentError(f"Unmatched {str(token)!r}")
                self.paren_level -= 1
        if token is None:
            return
        if token.type != self.NL_type and self.paren_level == 0:
            # zero-width, at the end of the last token: no character is added
            token = Token(
                self.NL_type,
                "",
                start_pos=token.end_pos,
                line=token.end_line,
                column=token.end_column,
                end_line=token.end_line,
                end_column=token.end_column,
                end_pos=token.end_pos,
            )
            yield token
        while len(self.indent_level) > 1:
            self.indent_level.pop()
            yield Token.new_borrow_pos(self.DEDENT_type, "", token)
