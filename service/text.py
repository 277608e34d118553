"""Making user-supplied strings safe to show on a terminal: one line, no control characters.

Dataset references, class names and file names come from users (or from the file system, which allows
almost any byte in a name). Shown raw, an ``ESC [`` sequence in a folder name recolours or rewrites the
user's terminal, and a newline splits the one-line ``error: <message> [<code>]`` contract of the CLI.
Rich markup is a separate concern: the CLI shows these strings as :class:`rich.text.Text`, never markup.
"""

from __future__ import annotations

__all__ = ["format_score", "one_line", "printable"]


def printable(text: str) -> str:
    """``text`` with every non-printable character (C0/C1 controls, newlines, ``ESC``, ``DEL``, lone
    surrogates, ...) replaced by its Python escape (``\\x1b``, ``\\n``, ``\\udcff``); spaces stay.

    >>> printable("cat\\x1b[31m\\n")
    'cat\\\\x1b[31m\\\\n'
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def one_line(message: str) -> str:
    """A message on one line: runs of whitespace (newlines included) become one space, and any other
    non-printable character is escaped (:func:`printable`). Library messages (pydantic, torch, the
    operating system) often span several lines.

    >>> one_line("bad value\\n  for x\\tnow\\x07")
    'bad value for x now\\\\x07'
    """
    return printable(" ".join(message.split()))


def format_score(value: float) -> str:
    """A score for tables and notes: four significant digits, scientific notation from 10,000 up."""
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.3e}"
