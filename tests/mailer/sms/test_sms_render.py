"""Every SMS template in every locale renders to a short text, translated and complete."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import pytest

from mailer.catalog import SUPPORTED_LOCALES
from mailer.errors import ConfigurationError, RenderError
from mailer.sms.events import SmsSendEvent, SmsTemplateName
from mailer.sms.render import (
    SmsRenderer,
    default_sms_dir,
    read_sms_templates,
    read_sms_translations,
)
from mailer.sms.segments import DEFAULT_MAX_SEGMENTS, SmsEncoding
from tests.conftest import load_example


@pytest.fixture(scope="module")
def renderer() -> SmsRenderer:
    return SmsRenderer(default_sms_dir())


def event_for(template: str, locale: str) -> SmsSendEvent:
    example = load_example(template)
    return SmsSendEvent(
        id=f"sms-{template}",
        tenant="acme",
        to="+4512345678",
        template=SmsTemplateName(template),
        locale=locale,
        data=copy.deepcopy(example["data"]),
    )


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
@pytest.mark.parametrize("template", [t.value for t in SmsTemplateName])
def test_every_template_renders_in_every_locale(
    renderer: SmsRenderer, template: str, locale: str
) -> None:
    event = event_for(template, locale)
    sms = renderer.render(event)
    invoice = event.data.invoice
    assert invoice is not None
    assert sms.locale == locale and sms.body.strip() == sms.body
    assert invoice.number in sms.body and "Acme Bookkeeping" in sms.body
    assert "540" in sms.body  # the amount due
    assert "https://portal.acme.example/" in sms.body
    assert 1 <= sms.count.segments <= DEFAULT_MAX_SEGMENTS
    assert "\u00a0" not in sms.body and "\u202f" not in sms.body


def test_english_gsm_texts_fit_one_segment(renderer: SmsRenderer) -> None:
    for template in SmsTemplateName:
        sms = renderer.render(event_for(template.value, "en"))
        assert sms.count.encoding is SmsEncoding.GSM_7 and sms.count.segments == 1


def test_links_and_locales_in_the_text(renderer: SmsRenderer) -> None:
    assert (
        "https://portal.acme.example/p/abc" in renderer.render(event_for("payment.link", "en")).body
    )
    assert "Rechnung" in renderer.render(event_for("invoice.new", "de")).body
    assert "facture" in renderer.render(event_for("invoice.new", "fr-CA")).body
    assert renderer.render(event_for("invoice.new", "xx")).locale == "en"


def test_without_due_date_or_links(renderer: SmsRenderer) -> None:
    event = event_for("invoice.reminder", "fr")
    data = event.data.model_dump(mode="json")
    data["invoice"]["due_date"] = None
    data["links"] = {}
    sms = renderer.render(event.model_copy(update={"data": type(event.data).model_validate(data)}))
    assert "INV-10002" in sms.body and "http" not in sms.body and "\n" not in sms.body


def test_a_template_failing_on_the_data_is_a_render_error(tmp_path: Path) -> None:
    shutil.copytree(default_sms_dir(), tmp_path, dirs_exist_ok=True)
    (tmp_path / "invoice.new.txt").write_text("{{ invoice.nothing.at_all }}")
    with pytest.raises(RenderError, match=r"cannot render SMS invoice\.new \(en\)"):
        SmsRenderer(tmp_path).render(event_for("invoice.new", "en"))
    (tmp_path / "invoice.new.txt").write_text("{% if false %}x{% endif %}")
    with pytest.raises(RenderError, match="empty"):
        SmsRenderer(tmp_path).render(event_for("invoice.new", "en"))


def test_every_locale_translates_every_message() -> None:
    sms_dir = default_sms_dir()
    sources = read_sms_templates(sms_dir)
    environment = SmsRenderer(sms_dir)._environments["en"]
    messages = {
        message if isinstance(message, str) else message[0]
        for source in sources.values()
        for _line, _function, message in environment.extract_translations(source)  # type: ignore[attr-defined]
    }
    assert messages
    for locale in SUPPORTED_LOCALES:
        if locale == "en":
            continue
        translations = read_sms_translations(sms_dir, locale)
        assert set(translations) == messages, locale
        for message, text in translations.items():
            placeholders = sorted(part.split(")")[0] for part in message.split("%(")[1:])
            assert sorted(part.split(")")[0] for part in text.split("%(")[1:]) == placeholders


def test_a_missing_template_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "invoice.new.txt").write_text("x")
    with pytest.raises(ConfigurationError, match=r"payment\.link"):
        SmsRenderer(tmp_path)
