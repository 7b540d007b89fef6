"""Reading a code file line by line: one code per line, or ``code<sep>password`` pairs.

The same checks run in both import passes (validate, then insert), so a file
that changes in between cannot slip a bad line in. Messages name line numbers
and reasons, never a line's content.
"""
from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from kameng.core.i18n import lazy_gettext as _l

MAX_LINE_CHARS = 512
MAX_REPORTED = 20
SEPARATOR_NAMES = {"tab": "\t", "\\t": "\t", "space": " ", "comma": ",", "semicolon": ";",
                   "pipe": "|"}
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029]")
_CONTROL_NO_TAB = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
_BOM = b"\xef\xbb\xbf"
# the most bytes a line that can pass may take: 4-byte characters, a BOM, CRLF
MAX_LINE_BYTES = MAX_LINE_CHARS * 4 + len(_BOM) + 2
_SKIP_CHUNK = 64 * 1024


class BadLine(ValueError):
    pass


def normalise_separator(separator: str | None) -> str | None:
    """'tab' -> '\\t'; None or '' -> one code per line. Refuses a letter or digit."""
    if separator is None or separator == "":
        return None
    sep = SEPARATOR_NAMES.get(separator.lower(), separator)
    if len(sep) > 8 or any(c.isalnum() for c in sep) or (sep.strip() != sep and sep not in
                                                         ("\t", " ")):
        from kameng.core.errors import InvalidInput

        raise InvalidInput(_l("the separator must be 1–8 characters, no letters or digits "
                              "(or 'tab', 'space')"), field="separator")
    return sep


@dataclass
class Validation:
    codes: int = 0                       # non-blank, well-formed lines
    bad_count: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)   # first MAX_REPORTED

    @property
    def ok(self) -> bool:
        return self.bad_count == 0

    def message(self) -> str:
        shown = ", ".join(f"{n} ({why})" for n, why in self.bad)
        if self.bad_count > len(self.bad):
            return _l("malformed file, nothing imported: %(count)s bad line(s): %(shown)s and "
                      "%(more)s more", count=self.bad_count, shown=shown,
                      more=self.bad_count - len(self.bad))
        return _l("malformed file, nothing imported: %(count)s bad line(s): %(shown)s",
                  count=self.bad_count, shown=shown)

    @property
    def bad_lines(self) -> list[int]:
        return [n for n, _ in self.bad]


def raw_lines(fh) -> Iterator[bytes | None]:
    """Each line of a binary file as bytes, or None for a line too long to be a code.

    Read with a bounded ``readline``: a giant line (a file with no newline at
    all) is skipped in fixed-size chunks, never held in memory whole.
    """
    while True:
        raw = fh.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = fh.readline(_SKIP_CHUNK)
            yield None
        else:
            yield raw


def clean_line(raw: bytes | None, lineno: int, separator: str | None) -> bytes | None:
    """A raw line -> the normalised code (UTF-8 bytes), None for a blank line; BadLine.

    ``raw`` None is a line ``raw_lines`` found too long to read.
    """
    if raw is None:
        raise BadLine(f"longer than {MAX_LINE_CHARS} characters")
    if lineno == 1 and raw.startswith(_BOM):
        raw = raw[3:]
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadLine("not UTF-8") from None
    line = line.rstrip("\r\n")
    if len(line) > MAX_LINE_CHARS:
        raise BadLine(f"longer than {MAX_LINE_CHARS} characters")
    # a tab is a separator only when asked for; anywhere else it is a control character
    if separator == "\t":
        line = line.strip(" ")
        bad = _CONTROL.search(line)
    else:
        line = line.strip(" \t")
        bad = _CONTROL_NO_TAB.search(line)
    if bad:
        raise BadLine("control character")
    line = line.strip()
    if not line:
        return None
    if separator is None:
        return line.encode()
    parts = line.split(separator)
    if len(parts) != 2:
        raise BadLine(f"expected 2 parts separated by {separator!r}, found {len(parts)}")
    code, password = parts[0].strip(), parts[1].strip()
    if not code or not password:
        raise BadLine("empty code or password")
    return f"{code}{separator}{password}".encode()


class Source:
    """Pasted text or a file path, readable more than once, as binary lines."""

    def __init__(self, *, path: str | os.PathLike | None = None, text: str | None = None):
        if (path is None) == (text is None):
            raise ValueError("give a path or a text")
        self.path = path
        self.text = text

    def open(self):
        if self.path is not None:
            return open(self.path, "rb", buffering=1024 * 1024)
        return io.BytesIO(self.text.encode("utf-8", "surrogatepass"))

    @property
    def name(self) -> str:
        return os.path.basename(str(self.path)) if self.path is not None else "pasted text"


def validate(source: Source, separator: str | None) -> Validation:
    """Pass one: check every line, count codes, keep no code in memory."""
    result = Validation()
    with source.open() as fh:
        for lineno, raw in enumerate(raw_lines(fh), 1):
            try:
                if clean_line(raw, lineno, separator) is not None:
                    result.codes += 1
            except BadLine as why:
                result.bad_count += 1
                if len(result.bad) < MAX_REPORTED:
                    result.bad.append((lineno, str(why)))
    return result


def iter_codes(source: Source, separator: str | None) -> Iterator[tuple[int, bytes]]:
    """Pass two: (line number, normalised code) for every non-blank line."""
    with source.open() as fh:
        for lineno, raw in enumerate(raw_lines(fh), 1):
            code = clean_line(raw, lineno, separator)
            if code is not None:
                yield lineno, code
