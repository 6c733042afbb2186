"""Email rendering: golden outputs, escaping, sandboxing, locale fallback and translations."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract
from babel.messages.pofile import read_po, write_po

from mailer.catalog import DEFAULT_LOCALE, SUPPORTED_LOCALES
from mailer.errors import ConfigurationError, RenderError
from mailer.events import SendEvent, TemplateName
from mailer.message import RenderedEmail
from mailer.render import MAX_SUBJECT_LENGTH, EmailRenderer, default_templates_dir

EVENTS_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "events"
GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
TEMPLATES_DIR = default_templates_dir()
UPDATE_GOLDEN = os.environ.get("UPDATE_GOLDEN") == "1"

VIEW = "https://portal.acme.example/i/abc"
PAY = "https://portal.acme.example/p/abc"
MANAGE = "https://portal.acme.example/s/abc"
_BUTTON = re.compile(r'<a href="(https?://[^"]*)"[^>]*>([^<]+)</a>')


@pytest.fixture(scope="module")
def renderer() -> EmailRenderer:
    return EmailRenderer(TEMPLATES_DIR)


def example(template: str) -> dict[str, Any]:
    """The example event for `template`, freshly loaded so that tests may edit it."""
    document: dict[str, Any] = json.loads((EVENTS_DIR / f"{template}.json").read_text())
    return document


def render(renderer: EmailRenderer, raw: dict[str, Any]) -> RenderedEmail:
    return renderer.render(SendEvent.model_validate(raw))


def buttons(html: str) -> dict[str, str]:
    """Button label -> href, for the web links of an HTML part."""
    return {label: href for href, label in _BUTTON.findall(html)}


def template_msgids() -> set[str]:
    """Every msgid the email templates use, as babel's extractor finds them."""
    msgids: set[str] = set()
    for path in sorted((TEMPLATES_DIR / "email").iterdir()):
        with path.open("rb") as source:
            for _lineno, message, _comments, _context in extract(
                "jinja2.ext:babel_extract", source
            ):
                assert isinstance(message, str), f"{path.name}: plural forms are not used"
                msgids.add(message)
    return msgids


def read_catalog(path: Path) -> Catalog:
    with path.open("rb") as po_file:
        return read_po(po_file)


def untranslated(catalog: Catalog, msgids: set[str]) -> set[str]:
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    return msgids - translated


def po_path(locale: str, root: Path = TEMPLATES_DIR) -> Path:
    return root / "locales" / locale / "LC_MESSAGES" / "messages.po"


# Golden files: subject and text part of every template in every locale.


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("template", [t.value for t in TemplateName])
def test_golden_subject_and_text(renderer: EmailRenderer, template: str, locale: str) -> None:
    raw = example(template)
    raw["locale"] = locale
    rendered = render(renderer, raw)
    actual = f"Subject: {rendered.subject}\n\n{rendered.text}"
    golden = GOLDEN_DIR / f"{template}.{locale}.txt"
    if UPDATE_GOLDEN:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(actual, encoding="utf-8")
    assert golden.exists(), f"{golden.name} is missing: run with UPDATE_GOLDEN=1"
    assert actual == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("template", [t.value for t in TemplateName])
def test_golden_html(renderer: EmailRenderer, template: str, locale: str) -> None:
    raw = example(template)
    raw["locale"] = locale
    actual = render(renderer, raw).html
    golden = GOLDEN_DIR / f"{template}.{locale}.html"
    if UPDATE_GOLDEN:
        golden.write_text(actual, encoding="utf-8")
    assert golden.exists(), f"{golden.name} is missing: run with UPDATE_GOLDEN=1"
    assert actual == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", sorted(EVENTS_DIR.glob("*.json")), ids=lambda p: p.stem)
def test_every_example_event_renders(renderer: EmailRenderer, path: Path) -> None:
    raw = json.loads(path.read_text())
    rendered = render(renderer, raw)
    assert rendered.subject
    assert rendered.attachments == ()
    assert rendered.html.startswith("<!DOCTYPE html>")
    assert f'<html lang="{raw["locale"]}">' in rendered.html
    assert raw["data"]["customer"]["name"] in rendered.text
    assert "\n\n\n" not in rendered.text
    assert rendered.text.endswith("\n")


# Untrusted data stays data.


def test_html_part_escapes_markup_in_names(renderer: EmailRenderer) -> None:
    raw = example("payment.receipt")
    raw["data"]["customer"]["name"] = "<script>alert(1)</script>"
    raw["data"]["company"]["name"] = "Smith & <b>Sons</b>"
    raw["data"]["payment"]["method"] = "<img src=x onerror=alert(1)>"
    rendered = render(renderer, raw)
    assert "<script>" not in rendered.html
    assert "<b>" not in rendered.html
    assert "<img" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "Smith &amp; &lt;b&gt;Sons&lt;/b&gt;" in rendered.html
    assert "&amp;amp;" not in rendered.html
    assert "Hello <script>alert(1)</script>," in rendered.text
    assert rendered.subject == "Receipt for your payment of €540.00"


def test_html_part_escapes_quotes_in_links(renderer: EmailRenderer) -> None:
    raw = example("invoice.new")
    raw["data"]["links"]["view"] = 'https://x.example/?q="><script>alert(1)</script>'
    html = render(renderer, raw).html
    assert "<script>" not in html
    assert 'href="https://x.example/?q=&#34;&gt;&lt;script&gt;' in html


@pytest.mark.parametrize(
    "payload", ["{{ ''.__class__ }}", "{{ 7 * 7 }}", "{% for x in range(3) %}x{% endfor %}"]
)
def test_template_syntax_in_tenant_text_is_shown_literally(
    renderer: EmailRenderer, payload: str
) -> None:
    raw = example("credit_note.new")
    raw["data"]["customer"]["name"] = payload
    raw["data"]["credit_note"]["reason"] = payload
    rendered = render(renderer, raw)
    assert f"Hello {payload}," in rendered.text
    assert f"Reason: {payload}" in rendered.text
    for part in (rendered.subject, rendered.text, rendered.html):
        assert "<class" not in part
        assert "49" not in part
        assert "xxx" not in part


@pytest.mark.parametrize(
    "payload", ["{{ ''.__class__ }}", "{{ 7 * 7 }}", "{% for x in range(3) %}x{% endfor %}"]
)
def test_template_syntax_in_the_subject_is_shown_literally(
    renderer: EmailRenderer, payload: str
) -> None:
    raw = example("credit_note.new")
    raw["data"]["company"]["name"] = payload
    raw["data"]["credit_note"]["number"] = payload
    rendered = render(renderer, raw)
    assert rendered.subject == f"Credit note {payload} from {payload}"
    assert f"Credit note number: {payload}\n" in rendered.text
    assert "<class" not in rendered.html
    assert "49" not in rendered.html


def test_format_placeholders_in_tenant_text_are_not_expanded(renderer: EmailRenderer) -> None:
    raw = example("invoice.new")
    raw["data"]["customer"]["name"] = "%(email)s %s %%"
    raw["data"]["invoice"]["number"] = "%(company)s"
    rendered = render(renderer, raw)
    assert "Hello %(email)s %s %%," in rendered.text
    assert rendered.subject == "Invoice %(company)s from Acme Bookkeeping"


def test_unknown_data_keys_cannot_shadow_template_names(renderer: EmailRenderer) -> None:
    raw = example("invoice.new")
    names = ("_", "gettext", "locale", "layout", "widgets", "ui", "subject", "payment_methods")
    raw["data"].update(dict.fromkeys(names, "x"))
    rendered = render(renderer, raw)
    assert rendered.subject == "Invoice INV-10001 from Acme Bookkeeping"
    assert '<html lang="en">' in rendered.html
    assert "<title>Invoice INV-10001 from Acme Bookkeeping</title>" in rendered.html
    assert "Hello Customer 1," in rendered.text


# Locales.


@pytest.mark.parametrize(
    ("requested", "expected"),
    [("xx", "en"), ("fr-CA", "fr"), ("de_AT", "de"), ("DA", "da"), ("ro-RO", "ro"), ("", "en")],
)
def test_locale_falls_back_to_the_closest_shipped_one(
    renderer: EmailRenderer, requested: str, expected: str
) -> None:
    raw = example("invoice.new")
    raw["locale"] = expected
    reference = render(renderer, raw)
    raw["locale"] = requested
    rendered = render(renderer, raw)
    assert rendered == reference
    assert f'<html lang="{expected}">' in rendered.html


def test_french_uses_french_formats_and_words(renderer: EmailRenderer) -> None:
    raw = example("payment.receipt")
    raw["locale"] = "fr-CA"
    rendered = render(renderer, raw)
    assert rendered.subject == "Reçu pour votre paiement de 540,00\u00a0€"
    assert "Moyen de paiement : Carte bancaire\n" in rendered.text
    assert "3 nov. 2026" in rendered.text


# Buttons and links.


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("invoice.new", {"View invoice": VIEW, "Pay now": PAY}),
        ("invoice.reminder", {"View invoice": VIEW, "Pay now": PAY}),
        ("invoice.late_reminder", {"View invoice": VIEW, "Pay now": PAY}),
        ("invoice.thank_you", {"View invoice": VIEW}),
        ("payment_plan.onboarding", {"Review payment plan": VIEW}),
        ("credit_note.new", {"View credit note": VIEW}),
        ("payment.receipt", {"View receipt": VIEW}),
        ("payment.refund", {"View refund": VIEW}),
        ("autopay.failed", {"Update payment information": MANAGE}),
        ("statement", {"View statement": VIEW}),
        ("subscription.confirmation", {"Manage subscription": MANAGE}),
        ("subscription.billed_soon", {"Manage subscription": MANAGE}),
        ("subscription.cancellation", {"Manage subscription": MANAGE}),
        ("estimate.new", {"View estimate": VIEW}),
        ("payment.link", {"Pay now": PAY, "View invoice": VIEW}),
    ],
)
def test_buttons_link_to_the_event_links(
    renderer: EmailRenderer, template: str, expected: dict[str, str]
) -> None:
    rendered = render(renderer, example(template))
    assert buttons(rendered.html) == expected
    for label, href in expected.items():
        assert f"{label}: {href}\n" in rendered.text


def test_a_missing_link_hides_its_button(renderer: EmailRenderer) -> None:
    raw = example("invoice.new")
    raw["data"]["links"] = {"view": VIEW}
    rendered = render(renderer, raw)
    assert buttons(rendered.html) == {"View invoice": VIEW}
    assert "Pay now" not in rendered.html
    assert "Pay now" not in rendered.text


def test_no_links_no_buttons(renderer: EmailRenderer) -> None:
    raw = example("invoice.new")
    del raw["data"]["links"]
    rendered = render(renderer, raw)
    assert buttons(rendered.html) == {}
    assert "https://" not in rendered.text


def test_autopay_failure_falls_back_to_the_pay_link(renderer: EmailRenderer) -> None:
    raw = example("autopay.failed")
    del raw["data"]["links"]["manage"]
    assert buttons(render(renderer, raw).html) == {"Update payment information": PAY}


# Optional context.


def test_optional_fields_are_left_out_gracefully(renderer: EmailRenderer) -> None:
    raw = example("payment.receipt")
    raw["data"]["company"] = {"name": "Acme Bookkeeping"}
    for field in ("method", "reference", "invoices"):
        del raw["data"]["payment"][field]
    rendered = render(renderer, raw)
    for absent in ("Payment method", "Reference", "Invoices paid", "contact us", "None"):
        assert absent not in rendered.text
        assert absent not in rendered.html


def test_reminder_without_due_date(renderer: EmailRenderer) -> None:
    raw = example("invoice.reminder")
    del raw["data"]["invoice"]["due_date"]
    rendered = render(renderer, raw)
    assert rendered.subject == "Reminder: invoice INV-10002"
    assert "is awaiting payment" in rendered.text
    assert "Due date" not in rendered.text


def test_unknown_payment_methods_are_shown_as_given(renderer: EmailRenderer) -> None:
    raw = example("payment.receipt")
    raw["locale"] = "de"
    raw["data"]["payment"]["method"] = "Visa •••• 4242"
    assert "Zahlungsart: Visa •••• 4242\n" in render(renderer, raw).text


# Subject.


def test_subject_is_one_line_whatever_the_invoice_number(renderer: EmailRenderer) -> None:
    raw = example("invoice.new")
    raw["data"]["invoice"]["number"] = " INV-\r\n\t42 \x00\x0b\u2028\u0085 x  "
    rendered = render(renderer, raw)
    assert rendered.subject == "Invoice INV- 42 x from Acme Bookkeeping"


def test_subject_is_capped(renderer: EmailRenderer) -> None:
    raw = example("invoice.new")
    raw["data"]["company"]["name"] = "Acme " * 100
    subject = render(renderer, raw).subject
    assert len(subject) <= MAX_SUBJECT_LENGTH
    assert subject.startswith("Invoice INV-10001 from Acme Acme")
    assert subject.endswith("…")


# Errors.


def test_a_missing_required_object_is_a_render_error(renderer: EmailRenderer) -> None:
    raw = example("statement")
    raw["template"] = "invoice.new"
    with pytest.raises(RenderError, match=r"invoice\.new needs data\.invoice"):
        render(renderer, raw)


def test_bad_data_past_validation_is_a_render_error(renderer: EmailRenderer) -> None:
    event = SendEvent.model_validate(example("invoice.new"))
    assert event.data.invoice is not None
    broken_invoice = event.data.invoice.model_copy(update={"currency": None})
    broken = event.model_copy(
        update={"data": event.data.model_copy(update={"invoice": broken_invoice})}
    )
    with pytest.raises(RenderError, match=r"invoice\.new \(en\)"):
        renderer.render(broken)


def test_rendering_reads_no_files(tmp_path: Path) -> None:
    copied = shutil.copytree(TEMPLATES_DIR, tmp_path / "templates")
    renderer = EmailRenderer(copied)
    shutil.rmtree(copied)
    for template in TemplateName:
        raw = example(template.value)
        raw["locale"] = "ro"
        assert render(renderer, raw).text


def test_missing_templates_are_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        EmailRenderer(tmp_path)
    copied = shutil.copytree(TEMPLATES_DIR, tmp_path / "templates")
    (copied / "email" / "statement.jinja").unlink()
    with pytest.raises(ConfigurationError, match="statement"):
        EmailRenderer(copied)


def test_a_broken_template_is_a_configuration_error(tmp_path: Path) -> None:
    copied = shutil.copytree(TEMPLATES_DIR, tmp_path / "templates")
    (copied / "email" / "statement.jinja").write_text("{% block subject %}{% if %}")
    with pytest.raises(ConfigurationError, match="does not compile"):
        EmailRenderer(copied)


@pytest.mark.parametrize("block", ["subject", "body"])
def test_a_template_without_its_subject_or_body_is_a_configuration_error(
    tmp_path: Path, block: str
) -> None:
    copied = shutil.copytree(TEMPLATES_DIR, tmp_path / "templates")
    source = copied / "email" / "statement.jinja"
    source.write_text(source.read_text().replace(f"{{% block {block} %}}", "{% block other %}"))
    with pytest.raises(ConfigurationError, match=f"statement has no {block} block"):
        EmailRenderer(copied)


def test_a_missing_translation_file_is_a_configuration_error(tmp_path: Path) -> None:
    copied = shutil.copytree(TEMPLATES_DIR, tmp_path / "templates")
    po_path("da", copied).unlink()
    with pytest.raises(ConfigurationError, match="da"):
        EmailRenderer(copied)


# Translations.


def test_templates_use_translatable_text() -> None:
    msgids = template_msgids()
    assert "Hello %(name)s," in msgids
    assert len(msgids) > 50


@pytest.mark.parametrize("locale", [loc for loc in SUPPORTED_LOCALES if loc != DEFAULT_LOCALE])
def test_every_template_msgid_is_translated(locale: str) -> None:
    assert untranslated(read_catalog(po_path(locale)), template_msgids()) == set()


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_catalogs_hold_exactly_the_template_msgids(locale: str) -> None:
    catalog = read_catalog(po_path(locale))
    assert {m.id for m in catalog if m.id} == template_msgids()


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_translations_keep_their_placeholders(locale: str) -> None:
    problems = [(m.id, errors) for m, errors in read_catalog(po_path(locale)).check()]
    assert problems == []


def test_the_translation_check_notices_a_missing_translation(tmp_path: Path) -> None:
    catalog = read_catalog(po_path("fr"))
    catalog["View invoice"].string = ""
    rewritten = tmp_path / "messages.po"
    with rewritten.open("wb") as po_file:
        write_po(po_file, catalog)
    assert untranslated(read_catalog(rewritten), template_msgids()) == {"View invoice"}
