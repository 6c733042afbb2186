"""The Jinja2 environments, locale filters and context both channels' renderers use."""

from __future__ import annotations

import gettext
from collections.abc import Callable, Collection, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from jinja2 import DictLoader, Environment, TemplateError, pass_eval_context
from jinja2.nodes import EvalContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup

from mailer.errors import ConfigurationError
from mailer.events import TemplateData
from mailer.formatting import format_day, format_money, format_quantity

__all__ = [
    "RENDER_FAILURES",
    "locale_filters",
    "sandboxed_environment",
    "template_context",
    "trusted_environment",
]

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
) -> Environment:
    """An immutable sandbox over `sources`, every template compiled now; ConfigurationError if not.

    `translations` is a compiled gettext catalog, or a message id -> text map whose missing
    ids stand for themselves. `what` names the templates in the error (`email`, `SMS`).
    """
    return _compiled(
        ImmutableSandboxedEnvironment, sources, translations, filters, autoescape, what
    )


def trusted_environment(
    sources: dict[str, str],
    *,
    translations: Translations,
    filters: Mapping[str, Callable[..., str]],
    autoescape: Autoescape,
    what: str,
) -> Environment:
    """Like `sandboxed_environment`, without the sandbox's checks on every attribute and call.

    Only for sources that ship with the service: a sandbox guards against hostile template
    code, while data, which is what tenants send, is never parsed as template code anyway.
    """
    return _compiled(Environment, sources, translations, filters, autoescape, what)


def _compiled(
    environment_class: type[Environment],
    sources: dict[str, str],
    translations: Translations,
    filters: Mapping[str, Callable[..., str]],
    autoescape: Autoescape,
    what: str,
) -> Environment:
    environment = environment_class(
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


def _install_translations(environment: Environment, translations: Translations) -> None:
    # Both install methods are added at runtime by the i18n extension, hence unknown to mypy.
    if isinstance(translations, gettext.GNUTranslations):
        environment.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
        environment.globals["_"] = _new_style_gettext(translations.gettext)
        return

    def lookup(message: str) -> str:
        return translations.get(message) or message

    def nlookup(singular: str, plural: str, n: int) -> str:
        return lookup(singular if n == 1 else plural)

    environment.install_gettext_callables(lookup, nlookup, newstyle=True)  # type: ignore[attr-defined]
    environment.globals["_"] = _new_style_gettext(lookup)


def _new_style_gettext(lookup: Callable[[str], str]) -> Callable[..., str]:
    """`_` as the i18n extension makes it, but taking the eval context instead of the context.

    Jinja copies the context for each call of a context function made after a `{% set %}` in a
    block, and the extension's `_` is one that calls another; autoescaping is all `_` needs.
    """

    @pass_eval_context
    def translate(eval_context: EvalContext, message: str, **variables: Any) -> str:
        text = lookup(message)
        if eval_context.autoescape:
            # The catalog's own text is trusted; the `%` of Markup escapes the variables.
            text = Markup(text)  # noqa: S704
        # Always a format string, as in the extension, so `%%` reads the same everywhere.
        return text % variables

    return translate


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
