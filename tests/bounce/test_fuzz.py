"""Bounded atheris sessions against parse_bounce, seeded from the labelled corpus."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).with_name("fuzz_parse.py")
DATA = Path(__file__).parent / "data"


def _fuzz(tmp_path: Path, *options: str) -> None:
    seeds = tmp_path / "seeds"
    seeds.mkdir()
    for sample in sorted(DATA.glob("*.eml")):
        (seeds / sample.name).write_bytes(sample.read_bytes())
    completed = subprocess.run(
        [sys.executable, str(HARNESS), "-max_len=20000", *options, str(seeds)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]


def test_a_short_fuzz_session_finds_no_crash(tmp_path: Path) -> None:
    _fuzz(tmp_path, "-max_total_time=20")


@pytest.mark.slow
def test_a_long_fuzz_session_finds_no_crash(tmp_path: Path) -> None:
    _fuzz(tmp_path, "-max_total_time=600")
