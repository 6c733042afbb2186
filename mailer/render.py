"""Renders the catalog's emails (subject, HTML and text parts) from send events."""

from __future__ import annotations

import gettext
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po
from jinja2 import Environment, Template, select_autoescape

from mailer.catalog import CATALOG, SUPPORTED_LOCALES, resolve_locale
from mailer.errors import ConfigurationError, RenderError
from mailer.events import SendEvent, TemplateName
from mailer.message import RenderedEmail
from mailer.templating import (
    RENDER_FAILURES,
    locale_filters,
    template_context,
    trusted_environment,
)

__all__ = ["MAX_SUBJECT_LENGTH", "EmailRenderer", "default_templates_dir"]

MAX_SUBJECT_LENGTH = 200

_EMAIL_SUFFIX = ".jinja"
# Line breaks, control characters and plain spaces; no-break spaces from number formats stay.
_SUBJECT_BREAKS = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029]+")
_BLANK_LINE_RUNS = re.compile(r"\n{3,}")


def default_templates_dir() -> Path:
    """The `templates/` folder shipped beside the `mailer` package."""
    return Path(__file__).resolve().parent.parent / "templates"


@dataclass(frozen=True, slots=True)
class _Part:
    """How one part of an email is produced from the email's single template."""

    suffix: str
    layout: str
    widgets: str


_HTML = _Part(suffix=".html", layout="_layout.html", widgets="_ui.html")
_TEXT = _Part(suffix=".txt", layout="_layout.txt", widgets="_ui.txt")
_REQUIRED_BLOCKS = ("subject", "body")


@dataclass(frozen=True, slots=True)
class _CompiledPart:
    """One part's compiled template, and the names it renders with: its `layout` and `ui`."""

    template: Template
    names: Mapping[str, Any]

    def render(self, context: dict[str, Any]) -> str:
        return self.template.render(context, **self.names)

    def render_block(self, block: str, context: dict[str, Any]) -> str:
        # The block alone: the same text it gives inside a layout, without the layout's work.
        render = self.template.blocks[block]
        return "".join(render(self.template.new_context({**context, **self.names})))


class EmailRenderer:
    """Turns a send event into a localized `RenderedEmail`, without I/O.

    Every email is written once, as `templates/email/<template>.jinja` with a `subject` and a
    `body` block, and compiled twice: as `<template>.html` (autoescaped) and `<template>.txt`.
    Each part extends the `layout` and calls the widget macros `ui` it is given: `_layout.html`
    and `_ui.html`, or `_layout.txt` and `_ui.txt`; the subject is the text's `subject` block.
    Templates and `templates/locales/<locale>/LC_MESSAGES/messages.po` are read and compiled
    here, once per supported locale; a broken one raises `ConfigurationError` at startup.
    """

    def __init__(self, templates_dir: Path) -> None:
        sources = _read_sources(templates_dir / "email")
        # No sandbox: the sources are these files, which no tenant can edit (tenants only turn
        # emails and PDFs on or off), and event data reaches them only as context values.
        self._parts = {
            locale: _compile_parts(
                trusted_environment(
                    sources,
                    translations=_read_translations(templates_dir / "locales", locale),
                    filters=locale_filters(locale),
                    autoescape=select_autoescape(enabled_extensions=("html",), default=False),
                    what="email",
                )
            )
            for locale in SUPPORTED_LOCALES
        }

    def render(self, event: SendEvent, *, payment_methods: Sequence[str] = ()) -> RenderedEmail:
        """The subject, HTML and text of `event`'s email in its (resolved) locale.

        `payment_methods` are those the firm accepts online (`card`, `echeck`); the payment
        emails list them when given."""
        _check_required_objects(event)
        locale = resolve_locale(event.locale)
        html_part, text_part = self._parts[locale][event.template]
        context = template_context(event.data, locale)
        context["payment_methods"] = list(payment_methods)
        try:
            subject = _one_line(text_part.render_block("subject", context))
            context["subject"] = subject
            html = html_part.render(context)
            text = _tidy_text(text_part.render(context))
        except RENDER_FAILURES as exc:
            raise RenderError(f"cannot render {event.template} ({locale}): {exc}") from exc
        return RenderedEmail(subject=subject, html=html, text=text)


def _compile_parts(
    environment: Environment,
) -> dict[TemplateName, tuple[_CompiledPart, _CompiledPart]]:
    """The HTML and text part of every email; ConfigurationError if one lacks a block."""
    parts: dict[TemplateName, tuple[_CompiledPart, _CompiledPart]] = {}
    for name in TemplateName:
        html, text = (_compile_part(environment, name, part) for part in (_HTML, _TEXT))
        missing = [block for block in _REQUIRED_BLOCKS if block not in text.template.blocks]
        if missing:
            raise ConfigurationError(f"email template {name} has no {' or '.join(missing)} block")
        parts[name] = (html, text)
    return parts


def _compile_part(environment: Environment, name: TemplateName, part: _Part) -> _CompiledPart:
    # The layout as a template and the macros as a module: Jinja resolves neither per render.
    names = {
        "layout": environment.get_template(part.layout),
        "ui": environment.get_template(part.widgets).module,
    }
    return _CompiledPart(environment.get_template(f"{name}{part.suffix}"), names)


def _read_sources(email_dir: Path) -> dict[str, str]:
    """Shared files under their own names, each email under `<name>.html` and `<name>.txt`."""
    try:
        files = {path: path.read_text("utf-8") for path in email_dir.iterdir() if path.is_file()}
    except OSError as exc:
        raise ConfigurationError(f"cannot read email templates in {email_dir}: {exc}") from exc
    sources: dict[str, str] = {}
    for path, source in files.items():
        if path.suffix == _EMAIL_SUFFIX:
            sources[f"{path.stem}{_HTML.suffix}"] = source
            sources[f"{path.stem}{_TEXT.suffix}"] = source
        else:
            sources[path.name] = source
    missing = sorted(name for name in TemplateName if f"{name}{_HTML.suffix}" not in sources)
    if missing:
        raise ConfigurationError(f"no template in {email_dir} for {', '.join(missing)}")
    return sources


def _read_translations(locales_dir: Path, locale: str) -> gettext.GNUTranslations:
    """The locale's `messages.po`, compiled in memory."""
    path = locales_dir / locale / "LC_MESSAGES" / "messages.po"
    try:
        with path.open("rb") as po_file:
            catalog = read_po(po_file, locale=locale, abort_invalid=True)
    except (OSError, PoFileError) as exc:
        raise ConfigurationError(f"cannot load translations {path}: {exc}") from exc
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def _check_required_objects(event: SendEvent) -> None:
    """Fail clearly rather than render an email with blanks where its document should be."""
    required = CATALOG[event.template].requires
    missing = [name for name in required if getattr(event.data, name) is None]
    if missing:
        raise RenderError(f"{event.template} needs data.{', data.'.join(missing)}")


def _one_line(text: str) -> str:
    """A header-safe subject: whitespace and control characters collapsed, length capped."""
    line = _SUBJECT_BREAKS.sub(" ", text).strip()
    if len(line) <= MAX_SUBJECT_LENGTH:
        return line
    return line[: MAX_SUBJECT_LENGTH - 1].rstrip() + "…"


def _tidy_text(text: str) -> str:
    """No trailing spaces, at most one blank line in a row, one final newline."""
    lines = "\n".join(map(str.rstrip, text.splitlines()))
    return _BLANK_LINE_RUNS.sub("\n\n", lines).strip() + "\n"
