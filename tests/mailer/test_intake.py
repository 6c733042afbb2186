"""Event intake: every published example is accepted, every bad event is rejected with a reason."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from mailer.events import TemplateName
from mailer.intake import MAX_EVENT_BYTES, InvalidEvent, parse_event
from mailer.threads import thread_key
from tests.conftest import example_paths, load_example


@pytest.mark.parametrize("path", example_paths(), ids=lambda p: p.stem)
def test_every_published_example_is_accepted_as_it_is(path: Path) -> None:
    event = parse_event(path.read_bytes())
    assert event.tenant == "acme"
    assert event.template in set(TemplateName)


def test_examples_cover_the_whole_catalog() -> None:
    templates = {json.loads(path.read_text())["template"] for path in example_paths()}
    assert templates == {name.value for name in TemplateName}


def _rejected(document: dict[str, Any] | bytes) -> InvalidEvent:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    with pytest.raises(InvalidEvent) as caught:
        parse_event(body)
    return caught.value


def test_bad_json_is_rejected_with_the_reason() -> None:
    invalid = _rejected(b'{"id": "x", ')
    assert "not valid JSON" in invalid.reason
    assert invalid.tenant is None


def test_non_object_is_rejected() -> None:
    assert "JSON object" in _rejected(b"[1, 2]").reason


def test_oversized_body_is_rejected_before_parsing() -> None:
    assert "larger than" in _rejected(b" " * (MAX_EVENT_BYTES + 1)).reason


def test_unknown_template_names_the_field(invoice_event: dict[str, Any]) -> None:
    invoice_event["template"] = "invoice.brand_new"
    invalid = _rejected(invoice_event)
    assert invalid.reason.startswith("template:")
    assert (invalid.tenant, invalid.request_id) == ("acme", "evt-invoice-new-0001")


@pytest.mark.parametrize("field", ["id", "tenant", "template", "to", "data"])
def test_missing_required_field(invoice_event: dict[str, Any], field: str) -> None:
    del invoice_event[field]
    assert f"{field}: Field required" in _rejected(invoice_event).reason


@pytest.mark.parametrize(
    ("where", "value"),
    [
        (("to", 0, "email"), "victim@example.org\r\nBcc: all@example.org"),
        (("to", 0, "name"), "Customer\nBcc: all@example.org"),
        (("cc",), [{"email": "a@example.org", "name": "x\x00y"}]),
        (("thread",), "INV-1\r\nX-Injected: yes"),
        (("id",), "evt\n1"),
    ],
)
def test_line_breaks_in_addresses_and_names_are_rejected(
    invoice_event: dict[str, Any], where: tuple[Any, ...], value: Any
) -> None:
    target = invoice_event
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    assert _rejected(invoice_event).reason


def test_an_invalid_address_is_explained(invoice_event: dict[str, Any]) -> None:
    invoice_event["to"] = [{"email": "not-an-address"}]
    assert "to.0.email" in _rejected(invoice_event).reason


def test_no_recipient_is_rejected(invoice_event: dict[str, Any]) -> None:
    invoice_event["to"] = []
    assert "to:" in _rejected(invoice_event).reason


def test_template_without_its_document_is_rejected(invoice_event: dict[str, Any]) -> None:
    del invoice_event["data"]["invoice"]
    assert _rejected(invoice_event).reason == "template invoice.new needs data.invoice"


def test_totals_that_do_not_add_up_are_rejected(invoice_event: dict[str, Any]) -> None:
    invoice_event["data"]["invoice"]["total"] = "541.00"
    assert "invoice total does not add up" in _rejected(invoice_event).reason


def test_statement_balances_must_add_up() -> None:
    document = load_example("statement")
    document["data"]["statement"]["closing_balance"] = "1.00"
    assert "statement does not add up" in _rejected(document).reason


def test_links_must_be_web_links(invoice_event: dict[str, Any]) -> None:
    invoice_event["data"]["links"]["pay"] = "javascript:alert(1)"
    assert "links must be http(s) URLs" in _rejected(invoice_event).reason


def test_unknown_keys_inside_data_are_accepted(invoice_event: dict[str, Any]) -> None:
    invoice_event["data"]["project"] = {"code": "P-7"}
    invoice_event["data"]["invoice"]["po_number"] = "PO-1"
    assert parse_event(json.dumps(invoice_event)).data.model_extra == {"project": {"code": "P-7"}}


def test_unknown_top_level_keys_are_rejected(invoice_event: dict[str, Any]) -> None:
    invoice_event["priority"] = "high"
    assert "priority: Extra inputs are not permitted" in _rejected(invoice_event).reason


def test_send_at_needs_a_time_zone(invoice_event: dict[str, Any]) -> None:
    invoice_event["send_at"] = "2026-12-01T09:00:00"
    assert "send_at" in _rejected(invoice_event).reason


def test_idn_and_quoted_local_parts_are_accepted(invoice_event: dict[str, Any]) -> None:
    invoice_event["to"] = [{"email": "kunde@bücher.example"}, {"email": '"john smith"@example.org'}]
    event = parse_event(json.dumps(invoice_event))
    assert len(event.to) == 2


def test_thread_defaults_follow_the_main_document() -> None:
    assert thread_key(parse_event(json.dumps(load_example("invoice.new")))) == "INV-10001"
    assert thread_key(parse_event(json.dumps(load_example("credit_note.new")))) == "INV-10006"
    assert thread_key(parse_event(json.dumps(load_example("payment.receipt")))) == "INV-10007"
    statement = parse_event(json.dumps(load_example("statement")))
    assert thread_key(statement) == "customer:customer10@example.org"
    explicit = copy.deepcopy(load_example("invoice.new"))
    explicit["thread"] = "dispute-7"
    assert thread_key(parse_event(json.dumps(explicit))) == "dispute-7"


def test_non_ascii_local_parts_are_refused_with_the_reason(invoice_event: dict[str, Any]) -> None:
    invoice_event["to"] = [{"email": "jürgen@example.org"}]
    assert "to.0.email" in _rejected(invoice_event).reason


def test_full_invoices_of_a_receipt_are_validated_at_intake() -> None:
    document = load_example("payment.receipt")
    document["data"]["invoices"] = [{"number": "INV-10007"}]
    assert "data.invoices.0.issue_date: Field required" in _rejected(document).reason
