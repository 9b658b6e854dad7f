"""A whole JSON document read a piece at a time: Hugging Face `trainer_state.json` (its `log_history`) or a
top-level array of rows, parsed record by record, so memory holds the records kept, not the file.

`json.JSONDecoder.raw_decode` parses one value at a position of a buffer that holds the text not yet
parsed plus what was last read. A value cut by the end of the buffer fails to parse and is tried
again with more text; one that still fails when the text ends (a truncated file) or after
`MAX_VALUE` more characters (damage) is reported, and every complete record before it is kept.
After a damaged record, reading resumes at the next object that parses and is followed by `,` or `]`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

MAX_VALUE = 1 << 20
"""Characters a record (or another top-level value) may span; a `log_history` entry is a few hundred."""
COMPACT_AT = 1 << 20
"""Parsed text is dropped from the buffer once this much of it has piled up."""

_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\n\r]*")
_OBJECT = re.compile(r"\{")


class NotALog(Exception):
    """The text is not a log document, or breaks before its first record: `why` says how."""


class _Cut(Exception):
    """The text ended inside a value."""


class _Bad(Exception):
    """A value that does not parse, whatever follows."""


@dataclass
class Document:
    """What was read besides the records: the kind of document, its hyperparameters, what was wrong."""

    kind: str = ""  # "trainer_state" (an object with log_history) or "rows" (a top-level array of rows)
    hparams: dict[str, Any] = field(default_factory=dict)
    records: int = 0  # entries of log_history (or of the array), the damaged ones included
    damage: list[str] = field(default_factory=list)  # what was wrong, in words, in reading order
    cut: str = ""  # how the document ends early, in words, when it does (a truncated file)
    skipped: int = 0  # entries lost to damage (not objects, or not parsed)
    other_keys: bool = False  # a top-level object without log_history
    closed: bool = False  # the record array was read to its `]`
    trailing: bool = False  # text after the document

    @property
    def entry(self) -> str:
        return "log_history entry" if self.kind == "trainer_state" else "array element"


class _Text:
    """The text as a buffer that grows by pieces at its end and drops what was parsed at its start."""

    def __init__(self, pieces: Iterator[str]):
        self.pieces = pieces
        self.buf = ""
        self.pos = 0
        self.base = 0  # characters dropped before buf[0], so that offsets stay those of the file
        self.ended = False

    def more(self) -> bool:
        if self.ended:
            return False
        for piece in self.pieces:
            if piece:
                self.buf += piece
                return True
        self.ended = True
        return False

    def compact(self) -> None:
        if self.pos >= COMPACT_AT:
            self.base += self.pos
            self.buf = self.buf[self.pos:]
            self.pos = 0

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def peek(self) -> str:
        """The next character that is not whitespace ('' at the end of the text), with `pos` on it."""
        while True:
            self.pos = _WS.match(self.buf, self.pos).end()
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            self.compact()
            if not self.more():
                return ""

    def value(self) -> Any:
        """The JSON value at `pos`, `pos` after it; `_Cut` at the end of the text, `_Bad` when it cannot parse."""
        if not self.peek():
            raise _Cut("the text ends")
        start = self.pos
        while True:
            try:
                v, end = _DECODER.raw_decode(self.buf, start)
            except json.JSONDecodeError as e:
                if len(self.buf) - start > MAX_VALUE:
                    raise _Bad(f"{e.msg} at character {self.base + e.pos}") from None
                if not self.more():
                    raise _Cut(e.msg) from None
                continue
            except RecursionError:
                raise _Bad("nested deeper than the JSON parser allows") from None
            except ValueError as e:  # an integer of thousands of digits
                raise _Bad(str(e)) from None
            if end == len(self.buf) and self.more():
                continue  # a number at the end of the buffer may go on in the next piece
            self.pos = end
            return v

    def resync(self) -> bool:
        """Skip to the next object that parses and is followed by `,`, `]` or the end of the text, and is not
        the value of a key; False when there is none."""
        self.pos += 1
        while True:
            m = _OBJECT.search(self.buf, self.pos)
            if m is None:
                self.pos = len(self.buf)
                self.compact()
                if not self.more():
                    return False
                continue
            self.pos = mark = m.start()
            k = mark - 1
            while k >= 0 and self.buf[k] in " \t\r\n":
                k -= 1
            if k >= 0 and self.buf[k] == ":":  # the value of a key: an object nested in a record, not a record
                self.pos = mark + 1
                continue
            try:
                v = self.value()
            except _Cut:
                return False
            except _Bad:
                v = None
            if isinstance(v, dict) and self.peek() in (",", "]", ""):
                self.pos = mark
                return True
            self.pos = mark + 1


def _expect(text: _Text, char: str, where: str) -> None:
    c = text.peek()
    if c != char:
        raise _Cut(f"the text ends {where}") if not c else _Bad(f"expected {char!r} {where}, found {c!r}")
    text.pos += 1


def read_document(pieces: Iterator[str], add: Callable[[dict, int], None], hparam_keys: tuple[str, ...],
                  opens: str) -> Document:
    """Read a document whose first character is `opens` (`{` or `[`), calling `add(record, index)` for each
    record as it is parsed. Raises NotALog when it is not a log or breaks before its first record (the
    caller then reads the file as JSON lines); damage after that is in `Document.damage`."""
    text = _Text(pieces)
    doc = Document()
    try:
        c = text.peek()
        if c == "[":
            doc.kind = "rows"
            _records(text, doc, add)
        elif c == "{":
            _object(text, doc, add, hparam_keys)
        else:
            raise NotALog(f"a JSON document starts with {{ or [, not {c!r}")
    except (_Cut, _Bad) as e:
        if not doc.records:
            raise NotALog(str(e)) from None
        if doc.closed:
            doc.cut = (f"the document {'is cut short' if isinstance(e, _Cut) else 'breaks'} after its "
                       f"log_history ({e}): every entry was read, hyperparameters after it may be missing")
        elif isinstance(e, _Cut):
            doc.cut = (f"the document is cut short inside {doc.entry} {doc.records} (a truncated file?): the "
                       f"{doc.records - doc.skipped} complete entries before it were read")
        else:
            doc.cut = f"the document breaks after {doc.entry} {doc.records - 1} ({e}): the entries before were read"
        return doc
    if doc.kind and text.peek():
        doc.trailing = True
        doc.damage.append(f"text after the end of the document at character {text.offset}: ignored")
    return doc


def _object(text: _Text, doc: Document, add, hparam_keys: tuple[str, ...]) -> None:
    """A top-level object: `log_history` streamed, the scalar hyperparameters kept, other values skipped."""
    text.pos += 1
    first = True
    while True:
        c = text.peek()
        if c == "}":
            text.pos += 1
            if not doc.kind:
                doc.other_keys = True
            return
        if not first:
            _expect(text, ",", "between the keys of the document")
        first = False
        if text.peek() != '"':
            raise _Bad(f"expected a key at character {text.offset}") if text.peek() else _Cut("the text ends")
        key = text.value()
        _expect(text, ":", f"after the key {key!r}")
        if key == "log_history" and text.peek() == "[":
            doc.kind = "trainer_state"
            _records(text, doc, add)
            continue
        v = text.value()
        if key in hparam_keys and v is not None and not isinstance(v, (dict, list)):
            doc.hparams[key] = v
        text.compact()


def _records(text: _Text, doc: Document, add) -> None:
    """The array at `pos`: each object given to `add`; a damaged record is reported and skipped."""
    text.pos += 1
    if text.peek() == "]":
        text.pos += 1
        doc.closed = True
        return
    while True:
        index = doc.records
        try:
            v = text.value()
        except (_Bad, _Cut) as e:
            # damage, when an entry can be read after it; else the text ends in it (a truncated file). A
            # top-level array whose first element breaks may be no log at all: the caller decides.
            if (not doc.records and doc.kind == "rows") or not text.resync():
                raise
            doc.records += 1
            doc.skipped += 1
            doc.damage.append(f"{doc.entry} {index} does not parse ({e}): skipped")
            continue
        if not isinstance(v, dict):
            if not doc.records and doc.kind == "rows":
                raise NotALog("its first element is not an object")
            doc.skipped += 1
        else:
            add(v, index)
        doc.records += 1
        text.compact()
        c = text.peek()
        if c == ",":
            text.pos += 1
        elif c == "]":
            text.pos += 1
            doc.closed = True
            return
        elif not c:
            raise _Cut("the text ends")
        else:  # another value: the next entry, read as if the comma were there (it fails alone if it is junk)
            doc.damage.append(f"',' missing after {doc.entry} {index} at character {text.offset}")
