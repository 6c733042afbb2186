"""atheris fuzz harness for parse_bounce: `python tests/bounce/fuzz_parse.py [-runs=N] [corpus]`.

Seeded from the labelled corpus; any exception escaping parse_bounce is a finding. The pytest
entry point below runs a bounded session and is marked slow (`pytest -m slow`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


@pytest.mark.slow
def test_fuzz_session(tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for sample in sorted(DATA.glob("*.eml"))[:60]:
        (seeds / sample.name).write_bytes(sample.read_bytes())
    completed = subprocess.run(
        [sys.executable, __file__, "-runs=20000", "-max_len=20000", str(seeds)],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    run(sys.argv)
