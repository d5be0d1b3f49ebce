"""One line of a JSON Lines file decoded and read as an object, with errors that name the file and line."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator


def parse_json_object(raw: str, where: str, error: type[ValueError]) -> dict:
    """The JSON object on one line; anything else raises `error` naming `where` ("file:line")."""
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as problem:
        raise error(f"{where}: not valid JSON ({problem.msg} at column {problem.colno})") from None
    if not isinstance(obj, dict):
        raise error(f"{where}: expected a JSON object, got {type(obj).__name__}")
    return obj


def decode_line(line: bytes, where: str, error: type[ValueError], first: bool = False) -> str:
    """One line's bytes as UTF-8 text (a byte-order mark dropped from the first); `error` names the bad byte."""
    try:
        text = line.decode("utf-8")  # not utf-8-sig: its error offsets skip the byte-order mark
    except UnicodeDecodeError as problem:
        raise error(f"{where}: byte {problem.start} of the line (0x{line[problem.start]:02x}) is not valid UTF-8; "
                    f"save the file as UTF-8") from None
    return text[1:] if first and text.startswith("\ufeff") else text


def read_json_lines(path: str | Path, error: type[ValueError]) -> Iterator[tuple[str, dict]]:
    """("file:line", object) for every non-blank line of a JSON Lines file, in order; a line that
    is not UTF-8 or not a JSON object raises `error` naming the file and line."""
    path = Path(path)
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            where = f"{path}:{number}"
            line = decode_line(raw, where, error, first=number == 1)
            if line.strip():
                yield where, parse_json_object(line, where, error)
