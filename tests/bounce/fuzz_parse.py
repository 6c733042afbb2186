"""atheris fuzz harness for parse_bounce: `python tests/bounce/fuzz_parse.py [-runs=N] [corpus]`.

Seeded from the labelled corpus; any exception escaping parse_bounce is a finding.
tests/bounce/test_fuzz.py runs bounded sessions of it."""

from __future__ import annotations

import sys
from pathlib import Path

DATA = Path(__file__).parent / "data"


def _target(data: bytes) -> None:
    from bounce import ParsedBounce, parse_bounce

    result = parse_bounce(data)
    if not isinstance(result, ParsedBounce):
        raise TypeError("parse_bounce returned something else")


def run(argv: list[str]) -> None:
    import atheris

    with atheris.instrument_imports():
        import bounce  # noqa: F401  (instrumented for coverage-guided fuzzing)
    atheris.Setup(argv, _target)
    atheris.Fuzz()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    run(sys.argv)
