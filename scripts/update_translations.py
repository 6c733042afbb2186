"""Bring every templates/locales/*/LC_MESSAGES/messages.po in line with the email templates.

New msgids are added untranslated (the test suite then names them), msgids no template uses
any more are dropped, existing translations are kept.
Run: .venv/bin/python scripts/update_translations.py
"""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract
from babel.messages.pofile import read_po, write_po

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def template_msgids() -> list[str]:
    """Msgids in first-use order, as babel's Jinja2 extractor finds them."""
    seen: dict[str, None] = {}
    for path in sorted((TEMPLATES / "email").iterdir()):
        with path.open("rb") as source:
            for _line, message, _comments, _context in extract("jinja2.ext:babel_extract", source):
                if isinstance(message, str):
                    seen.setdefault(message)
    return list(seen)


def update(po_path: Path, msgids: list[str]) -> tuple[int, int]:
    """Rewrite one catalog; returns (added, dropped)."""
    with po_path.open("rb") as source:
        catalog = read_po(source, locale=po_path.parent.parent.name)
    known = {message.id for message in catalog if message.id}
    for msgid in set(msgids) - known:
        catalog.add(msgid, "")
    for msgid in known - set(msgids):
        del catalog[msgid]
    with po_path.open("wb") as target:
        write_po(target, catalog, no_location=True, width=100)
    return len(set(msgids) - known), len(known - set(msgids))


def main() -> None:
    msgids = template_msgids()
    for po_path in sorted(TEMPLATES.glob("locales/*/LC_MESSAGES/messages.po")):
        added, dropped = update(po_path, msgids)
        print(f"{po_path.relative_to(TEMPLATES)}: {added} added, {dropped} dropped")


if __name__ == "__main__":
    main()
