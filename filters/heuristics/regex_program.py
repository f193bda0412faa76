"""A compiled regular expression's program, kept with a rulebook so that a process never compiles the pattern again.

Python's `re` compiles a pattern in two steps: it parses the pattern, then writes the program that its matcher
(`_sre`) runs. For spaCy's French token pattern (1.4 MB of text) the two take ~3.3 CPU-seconds, paid by every
process that meets French; building the matcher from the saved program takes ~2 ms. The program belongs to the
interpreter's `_sre` (its MAGIC and code size), which the saved form records: a program written by another
interpreter is never used, the pattern is compiled instead. `_sre` checks a program before accepting it (CPython's
`_validate`), so a damaged program fails to load and the pattern is compiled instead, never mismatched.
"""

from __future__ import annotations

import base64
import re
from array import array
from re import _compiler, _parser  # CPython's own two steps of re.compile

import _sre

_TYPECODE = {2: "H", 4: "I", 8: "Q"}[_sre.CODESIZE]


def program(pattern: re.Pattern) -> dict:
    """What `_sre.compile` needs to rebuild this pattern, as JSON-ready data (the parse and emit re.compile did)."""
    parsed = _parser.parse(pattern.pattern, pattern.flags)
    code = _compiler._code(parsed, pattern.flags)
    indexgroup: list[str | None] = [None] * parsed.state.groups
    for name, index in parsed.state.groupdict.items():
        indexgroup[index] = name
    return {
        "magic": _sre.MAGIC,
        "codesize": _sre.CODESIZE,
        "flags": pattern.flags | parsed.state.flags,
        "groups": parsed.state.groups - 1,
        "groupindex": dict(parsed.state.groupdict),
        "indexgroup": indexgroup,
        "code": base64.b64encode(array(_TYPECODE, code).tobytes()).decode("ascii"),
    }


def load(pattern: str, saved: dict | None) -> re.Pattern | None:
    """The compiled pattern from a saved program; None when there is none, or it is from another `_sre` or damaged."""
    if not saved or saved.get("magic") != _sre.MAGIC or saved.get("codesize") != _sre.CODESIZE:
        return None
    try:
        code = array(_TYPECODE)
        code.frombytes(base64.b64decode(saved["code"]))
        return _sre.compile(
            pattern, saved["flags"], code.tolist(), saved["groups"], saved["groupindex"], tuple(saved["indexgroup"])
        )
    except (KeyError, TypeError, ValueError, RuntimeError):  # _sre rejects a program it cannot run
        return None
