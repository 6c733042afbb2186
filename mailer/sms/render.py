"""Renders `sms.send` events into short localized texts from `templates/sms/`, without I/O."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import DictLoader, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mailer.catalog import DEFAULT_LOCALE, SUPPORTED_LOCALES, resolve_locale
from mailer.errors import ConfigurationError, RenderError
from mailer.events import TemplateData
from mailer.formatting import format_day, format_money
from mailer.sms.events import SmsSendEvent, SmsTemplateName
from mailer.sms.segments import SegmentCount, count_segments

__all__ = ["RenderedSms", "SmsRenderer", "read_sms_templates", "read_sms_translations"]

_SUFFIX = ".txt"
# Number formats put (narrow) no-break spaces around amounts; in an SMS they would force UCS-2.
_SPACES = re.compile(r"[ \t\u00a0\u2007\u202f]+")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_RENDER_FAILURES = (
    TemplateError,
    ArithmeticError,
    AttributeError,
    LookupError,
    TypeError,
    ValueError,
)


@dataclass(frozen=True, slots=True)
class RenderedSms:
    """The text of one SMS and how it travels (encoding, segments)."""

    body: str
    locale: str
    count: SegmentCount


class SmsRenderer:
    """Turns an `SmsSendEvent` into its localized text.

    Each template is `templates/sms/<template>.txt`; its strings are English gettext message
    ids, translated by `templates/sms/locales/<locale>.json` (id -> text; English needs none).
    Everything is read and compiled here; a broken file raises `ConfigurationError`.
    """

    def __init__(self, sms_dir: Path) -> None:
        sources = read_sms_templates(sms_dir)
        self._environments = {
            locale: _build_environment(sources, read_sms_translations(sms_dir, locale), locale)
            for locale in SUPPORTED_LOCALES
        }

    def render(self, event: SmsSendEvent) -> RenderedSms:
        """The text of `event`'s SMS in its resolved locale; RenderError if the data won't do."""
        locale = resolve_locale(event.locale)
        template = self._environments[locale].get_template(f"{event.template}{_SUFFIX}")
        try:
            text = template.render(_context(event.data, locale))
        except _RENDER_FAILURES as exc:
            raise RenderError(f"cannot render SMS {event.template} ({locale}): {exc}") from exc
        body = tidy_sms_text(text)
        if not body:
            raise RenderError(f"SMS {event.template} ({locale}) rendered to an empty text")
        return RenderedSms(body=body, locale=locale, count=count_segments(body))


def default_sms_dir() -> Path:
    """`templates/sms/` beside the `mailer` package."""
    return Path(__file__).resolve().parents[2] / "templates" / "sms"


def tidy_sms_text(text: str) -> str:
    """One line per non-blank line, plain spaces, no control characters."""
    lines = (_SPACES.sub(" ", _CONTROL.sub("", line)).strip() for line in text.splitlines())
    return "\n".join(line for line in lines if line)


def read_sms_templates(sms_dir: Path) -> dict[str, str]:
    """Every template source by file name; ConfigurationError if one is missing."""
    try:
        sources = {path.name: path.read_text("utf-8") for path in sms_dir.glob(f"*{_SUFFIX}")}
    except OSError as exc:
        raise ConfigurationError(f"cannot read SMS templates in {sms_dir}: {exc}") from exc
    missing = sorted(name for name in SmsTemplateName if f"{name}{_SUFFIX}" not in sources)
    if missing:
        raise ConfigurationError(f"no SMS template in {sms_dir} for {', '.join(missing)}")
    return sources


def read_sms_translations(sms_dir: Path, locale: str) -> dict[str, str]:
    """The locale's message id -> text map (empty for English, whose ids are the texts)."""
    if locale == DEFAULT_LOCALE:
        return {}
    path = sms_dir / "locales" / f"{locale}.json"
    try:
        document = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot load SMS translations {path}: {exc}") from exc
    if not isinstance(document, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in document.items()
    ):
        raise ConfigurationError(f"{path} must be a JSON object of strings")
    return document


def _build_environment(
    sources: dict[str, str], translations: Mapping[str, str], locale: str
) -> ImmutableSandboxedEnvironment:
    environment = ImmutableSandboxedEnvironment(
        loader=DictLoader(sources),
        autoescape=False,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        cache_size=-1,
    )

    def gettext(message: str) -> str:
        return translations.get(message) or message

    def ngettext(singular: str, plural: str, n: int) -> str:
        return gettext(singular if n == 1 else plural)

    # Added at runtime by the i18n extension, hence unknown to the type checker.
    environment.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    environment.filters.update(_filters(locale))
    try:
        for name in environment.list_templates():
            environment.get_template(name)
    except TemplateError as exc:
        raise ConfigurationError(f"SMS template does not compile: {exc}") from exc
    return environment


def _filters(locale: str) -> dict[str, Callable[..., str]]:
    def money(amount: Decimal | None, currency: str) -> str:
        return format_money(amount, currency, locale)

    def day(value: date | None) -> str:
        return format_day(value, locale)

    return {"money": money, "day": day}


def _context(data: TemplateData, locale: str) -> dict[str, Any]:
    """The declared context objects only: extra keys must not shadow template names."""
    objects = {name: getattr(data, name) for name in TemplateData.model_fields}
    return {**objects, "locale": locale}
