"""One line of a JSON Lines file read as an object, with errors that name the file and line."""
from __future__ import annotations

import json


def parse_json_object(raw: str, where: str, error: type[ValueError]) -> dict:
    """The JSON object on one line; anything else raises `error` naming `where` ("file:line")."""
    try:
        obj = json.loads(raw)
    except json.JSONDecodeError as problem:
        raise error(f"{where}: not valid JSON ({problem.msg} at column {problem.colno})") from None
    if not isinstance(obj, dict):
        raise error(f"{where}: expected a JSON object, got {type(obj).__name__}")
    return obj
