"""`mailer bounce parse FILE...`: one JSON object per file (JSON Lines) on standard output."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from bounce.parse import parse_bounce


def parse_files(paths: Sequence[Path]) -> Iterator[dict[str, object]]:
    """One result per file, in order; an unreadable file gives an `error` entry, not an abort."""
    for path in paths:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            yield {
                "file": str(path),
                "is_bounce": False,
                "kind": "other",
                "recipients": [],
                "error": exc.strerror or type(exc).__name__,
            }
            continue
        parsed = parse_bounce(raw)
        yield {"file": str(path), **parsed.to_dict()}


def main(argv: Sequence[str]) -> int:
    """Print JSON Lines for the files in argv (no program name); 2 on usage error, else 0,
    or 1 if a file could not be read."""
    paths = [Path(a) for a in argv if a not in ("-h", "--help")]
    if not paths:
        print("usage: mailer bounce parse FILE...", file=sys.stderr)
        return 0 if argv else 2
    status = 0
    for result in parse_files(paths):
        if "error" in result:
            status = 1
        print(json.dumps(result, ensure_ascii=False))
    return status
