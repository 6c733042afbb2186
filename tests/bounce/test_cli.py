"""`mailer bounce parse FILE...` prints JSON Lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bounce.cli import main, parse_files

DATA = Path(__file__).parent / "data"


def test_parse_files_yields_one_object_per_file(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.eml"
    garbage.write_bytes(b"\xff\xfe\x00 not mail at all")
    results = list(parse_files([DATA / "postfix-multi.eml", garbage]))
    assert [r["file"] for r in results] == [str(DATA / "postfix-multi.eml"), str(garbage)]
    bounce, other = results
    assert bounce["is_bounce"] is True and bounce["kind"] == "dsn"
    recipients = bounce["recipients"]
    assert isinstance(recipients, list) and len(recipients) == 3
    assert set(recipients[0]) >= {
        "address",
        "status",
        "reply_code",
        "action",
        "reason",
        "hard",
        "diagnostic",
    }
    assert other["is_bounce"] is False and other["kind"] == "other"


def test_main_prints_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    files = [DATA / "gmail-address-not-found.eml", DATA / "autoreply-en-ooo.eml"]
    assert main([str(f) for f in files]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["recipients"][0] == {
        "address": "jdoe@example-shop.com",
        "status": "5.1.1",
        "reply_code": "550",
        "action": "failed",
        "reason": "userunknown",
        "hard": True,
        "diagnostic": first["recipients"][0]["diagnostic"],
    }
    assert (second["kind"], second["is_bounce"]) == ("autoreply", False)
    assert second["recipients"][0]["reason"] == "vacation"


def test_missing_file_is_reported_not_raised(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main([str(tmp_path / "nope.eml")]) == 1
    line = json.loads(capsys.readouterr().out)
    assert line["is_bounce"] is False and "error" in line


def test_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage" in capsys.readouterr().err
