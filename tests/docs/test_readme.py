"""The README stays true: its settings table is the one the code generates, its commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from mailer.cli import _parser
from mailer.settings import settings_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_settings_table_is_generated_from_the_code() -> None:
    assert settings_table() in README.read_text(), "run `mailer settings` and paste it in README"


def test_readme_starts_with_the_two_setup_commands() -> None:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks[0].strip() == "scripts/setup && .venv/bin/mailer run"
    assert blocks[1].strip() == "scripts/setup test && .venv/bin/python -m pytest"
    assert (
        "scripts/setup test && .venv/bin/python -m pytest"
        in (README.parent / ".ci" / "run").read_text()
    )


def test_every_documented_command_exists() -> None:
    documented = set(re.findall(r"^\| `mailer (\w[\w-]*)", README.read_text(), flags=re.M))
    commands = _parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert documented and documented <= set(commands)
