"""Raw inputs before parsing, and streaming readers for CSV and NDJSON feed files."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

MAX_LINE_BYTES = 64 * 1024


@dataclass(slots=True)
class RawRecord:
    """One input as received: parsed fields, or the reason it could not even be read."""

    fields: dict[str, object] | None
    raw_text: str
    line: int = 0
    error: tuple[str, str, str] | None = None  # field, reason, detail


def nul_character_path(value: object) -> str | None:
    """Path of the first string (key or value) holding a NUL, which PostgreSQL text refuses."""
    stack: list[tuple[object, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return path or "body"
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{path}.{key}" if path else str(key)
                if "\x00" in str(key):
                    return path or "body"
                stack.append((child, child_path))
        elif isinstance(item, list):
            stack.extend((child, f"{path}.{i}" if path else str(i)) for i, child in enumerate(item))
    return None


def record_from_json_value(value: object, raw_text: str, line: int = 0) -> RawRecord:
    if not isinstance(value, dict):
        return RawRecord(
            None, raw_text, line, ("body", "not_an_object", "an event is a JSON object")
        )
    nul_path = nul_character_path(value)
    if nul_path is not None:
        detail = "text must not contain NUL (U+0000) characters"
        return RawRecord(None, raw_text, line, (nul_path[:64], "nul_character", detail))
    return RawRecord(value, raw_text, line)


def read_ndjson(stream: IO[bytes]) -> Iterator[RawRecord]:
    for line_no, line in enumerate(stream, start=1):
        if len(line) > MAX_LINE_BYTES:
            yield RawRecord(
                None,
                line[:200].decode("utf-8", "replace"),
                line_no,
                ("line", "line_too_long", f"lines are at most {MAX_LINE_BYTES} bytes"),
            )
            continue
        text = line.decode("utf-8", "replace").strip()
        if not text:
            continue
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:  # deep nesting overflows the decoder
            yield RawRecord(None, text, line_no, ("line", "invalid_json", str(exc)[:200]))
            continue
        yield record_from_json_value(value, text, line_no)


# The csv module stops the whole file at a NUL character; NULs are swapped for this
# noncharacter on the way in so that only the line holding one is rejected.
_NUL_STAND_IN = "\ufffe"


class _LinesWithoutNul:
    """Physical lines for the csv reader, NULs swapped, the last one kept for error reports."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self.last = ""

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.last = line
        return line.replace("\x00", _NUL_STAND_IN) if "\x00" in line else line

    def evidence(self) -> str:
        """The line being read, short: its start, its length and a digest of the whole."""
        line = self.last.rstrip("\r\n")
        if len(line) <= 200:
            return line
        digest = hashlib.sha256(line.encode("utf-8", "replace")).hexdigest()
        return f"{line[:200]}... [{len(line)} characters, sha256 {digest}]"


def read_csv(stream: IO[bytes]) -> Iterator[RawRecord]:
    text_stream = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
    lines = _LinesWithoutNul(text_stream)
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        return
    names = [h.strip() for h in header]
    width = len(names)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # The reader starts afresh on the next line: one bad line never ends the file.
            error = ("line", _csv_reason(exc), str(exc)[:200])
            yield RawRecord(None, lines.evidence(), reader.line_num, error)
            continue
        line_no = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        raw = ",".join(row)
        if any(_NUL_STAND_IN in value for value in row):
            detail = "text must not contain NUL (U+0000) characters"
            yield RawRecord(
                None, raw.replace(_NUL_STAND_IN, "\x00"), line_no, ("line", "nul_character", detail)
            )
            continue
        if len(row) != width:
            yield RawRecord(
                None,
                raw,
                line_no,
                ("line", "wrong_column_count", f"expected {width} columns, found {len(row)}"),
            )
            continue
        yield RawRecord(dict(zip(names, row, strict=True)), raw, line_no)


def _csv_reason(exc: csv.Error) -> str:
    return "field_too_large" if "field larger than field limit" in str(exc) else "invalid_csv"


def open_feed(path: Path) -> tuple[IO[bytes], str]:
    """The file and its format, by extension: .csv, or .ndjson / .jsonl / .json lines."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return path.open("rb"), "csv"
    if suffix in (".ndjson", ".jsonl", ".json"):
        return path.open("rb"), "ndjson"
    raise ValueError(f"{path.name}: unknown feed format (use .csv or .ndjson)")


def read_feed(stream: IO[bytes], fmt: str) -> Iterator[RawRecord]:
    return read_csv(stream) if fmt == "csv" else read_ndjson(stream)
