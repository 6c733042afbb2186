"""Choosing the From address and the road: shared relay, verified custom domain, own server."""

from __future__ import annotations

import json

import pytest

from mailer.events import Address
from mailer.intake import parse_event
from mailer.senders import Road, SenderHeld, SenderRefused, TenantSender, choose_sender
from tests.conftest import load_example

PLATFORM = "noreply-invoice@mailer.test"
OWN = TenantSender(own_smtp=True, from_email="billing@acme.example", from_name=None,
                   custom_domain=None)  # fmt: skip
CUSTOM = TenantSender(own_smtp=False, from_email="billing@acme.example", from_name="Acme AR",
                      custom_domain="acme.example")  # fmt: skip


def choose(tenant: TenantSender | None, verified: set[str], requested: Address | None = None):  # type: ignore[no-untyped-def]
    return choose_sender(requested=requested, company_name="Acme Bookkeeping",
                         platform_from=PLATFORM, tenant=tenant,
                         verified_domains=frozenset(verified))  # fmt: skip


def test_no_settings_means_the_shared_noreply_sender() -> None:
    choice = choose(None, set())
    assert (choice.road, choice.sender.email, choice.sender.name) == (
        Road.SHARED,
        PLATFORM,
        "Acme Bookkeeping",
    )
    assert choice.signing_domain is None


def test_own_server_sends_from_the_firms_address() -> None:
    choice = choose(OWN, set())
    assert (choice.road, choice.sender.email, choice.sender.name) == (
        Road.OWN_SMTP,
        "billing@acme.example",
        "Acme Bookkeeping",
    )


def test_custom_domain_is_used_only_once_verified() -> None:
    assert choose(CUSTOM, set()).road is Road.SHARED
    verified = choose(CUSTOM, {"acme.example"})
    assert (verified.road, verified.sender.email, verified.signing_domain) == (
        Road.CUSTOM_DOMAIN,
        "billing@acme.example",
        "acme.example",
    )
    assert verified.sender.name == "Acme AR"


def test_a_requested_sender_needs_a_verified_domain_of_the_tenant() -> None:
    wanted = Address(email="invoices@acme.example", name="Invoices")
    with pytest.raises(SenderRefused, match=r"acme\.example is not a verified sending domain"):
        choose(CUSTOM, set(), wanted)
    with pytest.raises(SenderRefused):
        choose(CUSTOM, {"globex.example"}, wanted)  # another domain (or tenant's) does not help
    choice = choose(CUSTOM, {"acme.example"}, wanted)
    assert (choice.sender.email, choice.sender.name, choice.road) == (
        "invoices@acme.example",
        "Invoices",
        Road.CUSTOM_DOMAIN,
    )


def test_the_event_contract_takes_from() -> None:
    document = load_example("invoice.new") | {"from": {"email": "invoices@acme.example"}}
    event = parse_event(json.dumps(document))
    assert event.sender == Address(email="invoices@acme.example")
    assert event.model_dump(mode="json", by_alias=True)["from"]["email"] == "invoices@acme.example"


def test_a_broken_own_server_holds_mail_or_falls_back_by_policy() -> None:
    held = TenantSender(own_smtp=True, from_email="billing@acme.example", from_name=None,
                        custom_domain=None, broken=True)  # fmt: skip
    with pytest.raises(SenderHeld, match="refused our login"):
        choose(held, {"acme.example"})
    fallback = TenantSender(own_smtp=True, from_email="billing@acme.example", from_name=None,
                            custom_domain=None, broken=True, fallback_to_shared=True)  # fmt: skip
    choice = choose(fallback, {"acme.example"}, Address(email="ar@acme.example"))
    assert (choice.road, choice.sender.email) == (Road.SHARED, PLATFORM)
