"""Renders `sms.send` events into short localized texts from `templates/sms/`, without I/O."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from mailer.catalog import DEFAULT_LOCALE, SUPPORTED_LOCALES, resolve_locale
from mailer.errors import ConfigurationError, RenderError
from mailer.sms.events import SmsSendEvent, SmsTemplateName
from mailer.sms.segments import SegmentCount, count_segments
from mailer.templating import (
    RENDER_FAILURES,
    locale_filters,
    sandboxed_environment,
    template_context,
)

__all__ = ["RenderedSms", "SmsRenderer", "read_sms_templates", "read_sms_translations"]

_SUFFIX = ".txt"
# Number formats put (narrow) no-break spaces around amounts; in an SMS they would force UCS-2.
_SPACES = re.compile(r"[ \t\u00a0\u2007\u202f]+")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029]")
# No `quantity`: texts have no line items.
_FILTERS = ("money", "day")


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
            locale: sandboxed_environment(
                sources,
                translations=read_sms_translations(sms_dir, locale),
                filters=locale_filters(locale, _FILTERS),
                autoescape=False,
                what="SMS",
            )
            for locale in SUPPORTED_LOCALES
        }

    def render(self, event: SmsSendEvent) -> RenderedSms:
        """The text of `event`'s SMS in its resolved locale; RenderError if the data won't do."""
        locale = resolve_locale(event.locale)
        template = self._environments[locale].get_template(f"{event.template}{_SUFFIX}")
        try:
            text = template.render(template_context(event.data, locale))
        except RENDER_FAILURES as exc:
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
