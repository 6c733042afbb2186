"""The sandboxed Jinja2 environment, locale filters and context both channels' renderers use."""

from __future__ import annotations

import gettext
from collections.abc import Callable, Collection, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from jinja2 import DictLoader, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mailer.errors import ConfigurationError
from mailer.events import TemplateData
from mailer.formatting import format_day, format_money, format_quantity

__all__ = ["RENDER_FAILURES", "locale_filters", "sandboxed_environment", "template_context"]

# Bad data (an amount that is not a number, a missing currency) surfaces in the filters.
RENDER_FAILURES = (
    TemplateError,
    ArithmeticError,
    AttributeError,
    LookupError,
    TypeError,
    ValueError,
)

Autoescape = bool | Callable[[str | None], bool]
Translations = gettext.GNUTranslations | Mapping[str, str]


def sandboxed_environment(
    sources: dict[str, str],
    *,
    translations: Translations,
    filters: Mapping[str, Callable[..., str]],
    autoescape: Autoescape,
    what: str,
) -> ImmutableSandboxedEnvironment:
    """An environment over `sources`, every template compiled now; ConfigurationError if not.

    `translations` is a compiled gettext catalog, or a message id -> text map whose missing
    ids stand for themselves. `what` names the templates in the error (`email`, `SMS`).
    """
    environment = ImmutableSandboxedEnvironment(
        loader=DictLoader(sources),
        autoescape=autoescape,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        cache_size=-1,
    )
    _install_translations(environment, translations)
    environment.filters.update(filters)
    try:
        for name in environment.list_templates():
            environment.get_template(name)
    except TemplateError as exc:
        raise ConfigurationError(f"{what} template does not compile: {exc}") from exc
    return environment


def _install_translations(
    environment: ImmutableSandboxedEnvironment, translations: Translations
) -> None:
    # Both install methods are added at runtime by the i18n extension, hence unknown to mypy.
    if isinstance(translations, gettext.GNUTranslations):
        environment.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
        return

    def lookup(message: str) -> str:
        return translations.get(message) or message

    def nlookup(singular: str, plural: str, n: int) -> str:
        return lookup(singular if n == 1 else plural)

    environment.install_gettext_callables(lookup, nlookup, newstyle=True)  # type: ignore[attr-defined]


def locale_filters(
    locale: str, names: Collection[str] = ("money", "day", "quantity")
) -> dict[str, Callable[..., str]]:
    """`money`, `day` and `quantity` (or those of `names`), formatting for `locale`."""

    def money(amount: Decimal | None, currency: str) -> str:
        return format_money(amount, currency, locale)

    def day(value: date | None) -> str:
        return format_day(value, locale)

    def quantity(value: Decimal) -> str:
        return format_quantity(value, locale)

    filters: dict[str, Callable[..., str]] = {"money": money, "day": day, "quantity": quantity}
    return {name: filters[name] for name in names}


def template_context(data: TemplateData, locale: str) -> dict[str, Any]:
    """The declared context objects only: extra keys must not shadow template names."""
    objects = {name: getattr(data, name) for name in TemplateData.model_fields}
    return {**objects, "locale": locale}
