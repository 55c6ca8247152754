"""Error types shared by the parser, verifier and runtime."""
from __future__ import annotations


class HloParseError(ValueError):
    """Malformed HLO or StableHLO text.

    ``line`` and ``column`` are 1-based; the message ends with the offending source line and a
    caret under the column, so the error is readable on its own in a traceback.
    """

    def __init__(self, message: str, line: int = 0, column: int = 0, source_line: str | None = None):
        self.message = message
        self.line = line
        self.column = column
        self.source_line = source_line
        text = f"{line}:{column}: {message}" if line else message
        if source_line is not None:
            shown = source_line.rstrip("\n")
            # keep very long lines readable: a window around the column
            start = 0
            if len(shown) > 160:
                start = max(0, column - 80)
                shown = ("..." if start else "") + shown[start:start + 160] + "..."
                caret_col = column - start + (3 if start else 0)
            else:
                caret_col = column
            text += f"\n  {shown}\n  {' ' * max(caret_col - 1, 0)}^"
        super().__init__(text)


class HloVerifierError(ValueError):
    """A module that parses but breaks an HLO rule; the message names the instruction."""


class UnsupportedError(NotImplementedError):
    """A valid HLO construct this runtime does not execute (named in the message)."""


class BufferDeletedError(RuntimeError):
    """A Buffer was read (or passed to execute) after delete() or after being donated."""
