"""Tests for the pure side of sending domains: names, keys, records to publish and their checks."""

from __future__ import annotations

from datetime import date

import pytest

from mailer.dkim import DkimSigner
from mailer.domains import (
    Answer,
    CheckState,
    ExpectedRecord,
    InvalidDomain,
    Query,
    RecordPurpose,
    check_records,
    dated_selector,
    dkim_public_txt,
    expected_records,
    generate_dkim_key,
    normalize_domain,
    queries_for,
)

DOMAIN = "billing.example.com"
SELECTOR = "mailer202611"
INCLUDE = "_spf.mailer.test"
BOUNCE_HOST = "bounces.mailer.test"


@pytest.fixture(scope="module")
def key_pem() -> bytes:
    return generate_dkim_key()


@pytest.fixture(scope="module")
def public_txt(key_pem: bytes) -> str:
    return dkim_public_txt(key_pem)


@pytest.fixture(scope="module")
def expected(public_txt: str) -> list[ExpectedRecord]:
    return expected_records(
        DOMAIN, SELECTOR, public_txt, spf_include=INCLUDE, bounce_host=BOUNCE_HOST
    )


def correct_answers(public_txt: str) -> dict[Query, Answer]:
    return {
        (f"{SELECTOR}._domainkey.{DOMAIN}", "TXT"): Answer((public_txt,)),
        (DOMAIN, "TXT"): Answer((f"v=spf1 include:{INCLUDE} -all", "google-site-verification=x")),
        (f"bounces.{DOMAIN}", "CNAME"): Answer((BOUNCE_HOST,)),
        (f"bounces.{DOMAIN}", "MX"): Answer(),
        (f"_dmarc.{DOMAIN}", "TXT"): Answer(("v=DMARC1; p=none",)),
    }


def states(expected: list[ExpectedRecord], answers: dict[Query, Answer]) -> dict[str, CheckState]:
    return {check.purpose.value: check.state for check in check_records(expected, answers)}


# --- names and keys ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("Billing.Example.COM.", "billing.example.com"),
        ("  mail.example.org ", "mail.example.org"),
        ("bücher.de", "xn--bcher-kva.de"),
    ],
)
def test_domains_are_stored_lowercase_ascii(given: str, stored: str) -> None:
    assert normalize_domain(given) == stored


@pytest.mark.parametrize(
    "bad",
    ["", "localhost", "exa mple.com", "-a.example.com", "a..com", "1.2.3.4", "a" * 64 + ".com"],
)
def test_bad_domains_are_refused(bad: str) -> None:
    with pytest.raises(InvalidDomain):
        normalize_domain(bad)


def test_selectors_are_dated_and_unique_within_a_month() -> None:
    today = date(2026, 11, 22)

    assert dated_selector(today) == "mailer202611"
    assert dated_selector(today, {"mailer202611"}) == "mailer202611-2"
    assert dated_selector(today, {"mailer202611", "mailer202611-2"}) == "mailer202611-3"
    assert dated_selector(date(2027, 1, 3), {"mailer202611"}) == "mailer202701"


def test_a_generated_key_is_rsa_2048_and_signs(key_pem: bytes, public_txt: str) -> None:
    signer = DkimSigner(DOMAIN, SELECTOR, key_pem)

    assert public_txt == signer.public_key_dns_record()
    assert b"ENCRYPTED" not in key_pem


# --- records to publish ------------------------------------------------------------------


def test_the_records_to_publish(expected: list[ExpectedRecord], public_txt: str) -> None:
    by_purpose = {record.purpose: record for record in expected}

    dkim = by_purpose[RecordPurpose.DKIM]
    assert (dkim.name, dkim.type, dkim.value) == (
        f"{SELECTOR}._domainkey.{DOMAIN}",
        "TXT",
        public_txt,
    )
    assert len(dkim.strings) == 2 and all(len(s) <= 255 for s in dkim.strings)
    assert "".join(dkim.strings) == public_txt
    spf = by_purpose[RecordPurpose.SPF]
    assert (spf.name, spf.value) == (DOMAIN, f"v=spf1 include:{INCLUDE} ~all")
    return_path = by_purpose[RecordPurpose.RETURN_PATH]
    assert (return_path.name, return_path.type, return_path.value) == (
        f"bounces.{DOMAIN}",
        "CNAME",
        BOUNCE_HOST,
    )
    assert return_path.alternatives == ("MX",)
    dmarc = by_purpose[RecordPurpose.DMARC]
    assert dmarc.name == f"_dmarc.{DOMAIN}" and "p=quarantine" in dmarc.value
    assert not dmarc.required and all(r.required for r in expected if r is not dmarc)


def test_the_questions_to_ask(expected: list[ExpectedRecord]) -> None:
    assert queries_for(expected) == [
        (f"{SELECTOR}._domainkey.{DOMAIN}", "TXT"),
        (DOMAIN, "TXT"),
        (f"bounces.{DOMAIN}", "CNAME"),
        (f"bounces.{DOMAIN}", "MX"),
        (f"_dmarc.{DOMAIN}", "TXT"),
    ]


# --- checks ------------------------------------------------------------------------------


def test_everything_published_is_ok(expected: list[ExpectedRecord], public_txt: str) -> None:
    checks = check_records(expected, correct_answers(public_txt))

    assert all(check.ok for check in checks), [check.detail for check in checks]


def test_nothing_published_is_missing(expected: list[ExpectedRecord]) -> None:
    nothing = dict.fromkeys(queries_for(expected), Answer())

    assert set(states(expected, nothing).values()) == {CheckState.MISSING}


def test_a_dkim_key_of_another_key_is_wrong_and_shown(
    expected: list[ExpectedRecord], public_txt: str
) -> None:
    other = dkim_public_txt(generate_dkim_key())
    answers = correct_answers(public_txt) | {
        (f"{SELECTOR}._domainkey.{DOMAIN}", "TXT"): Answer((other,))
    }

    dkim = check_records(expected, answers)[0]
    assert dkim.state is CheckState.WRONG
    assert dkim.found == (other,)
    assert "another key" in dkim.detail


def test_dkim_whitespace_inside_the_key_is_tolerated(
    expected: list[ExpectedRecord], public_txt: str
) -> None:
    head, key = public_txt.split("p=")
    spaced = f"{head.replace('; ', ';')} p={key[:100]} {key[100:]}"
    answers = correct_answers(public_txt) | {
        (f"{SELECTOR}._domainkey.{DOMAIN}", "TXT"): Answer((spaced,))
    }

    assert states(expected, answers)["dkim"] is CheckState.OK


@pytest.mark.parametrize(
    ("records", "state"),
    [
        (("v=spf1 include:_spf.mailer.test ~all",), CheckState.OK),
        (("v=spf1 mx include:_SPF.Mailer.Test -all",), CheckState.OK),
        (("v=spf1 redirect=_spf.mailer.test",), CheckState.OK),
        (("v=spf1 mx -all",), CheckState.WRONG),
        (("v=spf1 include:_spf.mailer.test ~all", "v=spf1 mx -all"), CheckState.WRONG),
        (("some-verification=abc",), CheckState.MISSING),
        ((), CheckState.MISSING),
    ],
    ids=["include", "case", "redirect", "without include", "two SPF", "other TXT", "none"],
)
def test_spf(
    expected: list[ExpectedRecord], public_txt: str, records: tuple[str, ...], state: CheckState
) -> None:
    answers = correct_answers(public_txt) | {(DOMAIN, "TXT"): Answer(records)}

    assert states(expected, answers)["spf"] is state


@pytest.mark.parametrize(
    ("cname", "mx", "state"),
    [
        ((BOUNCE_HOST,), (), CheckState.OK),
        ((), (f"10 {BOUNCE_HOST}",), CheckState.OK),
        (("elsewhere.example.net",), (), CheckState.WRONG),
        ((), ("10 mx.example.com",), CheckState.WRONG),
        ((), (), CheckState.MISSING),
    ],
)
def test_return_path(
    expected: list[ExpectedRecord],
    public_txt: str,
    cname: tuple[str, ...],
    mx: tuple[str, ...],
    state: CheckState,
) -> None:
    answers = correct_answers(public_txt) | {
        (f"bounces.{DOMAIN}", "CNAME"): Answer(cname),
        (f"bounces.{DOMAIN}", "MX"): Answer(mx),
    }

    assert states(expected, answers)["return_path"] is state


@pytest.mark.parametrize(
    ("records", "state"),
    [
        (("v=DMARC1; p=reject",), CheckState.OK),
        (("something else",), CheckState.WRONG),
        (("v=DMARC1; p=none", "v=DMARC1; p=reject"), CheckState.WRONG),
        ((), CheckState.MISSING),
    ],
)
def test_dmarc(
    expected: list[ExpectedRecord], public_txt: str, records: tuple[str, ...], state: CheckState
) -> None:
    answers = correct_answers(public_txt) | {(f"_dmarc.{DOMAIN}", "TXT"): Answer(records)}

    assert states(expected, answers)["dmarc"] is state


def test_a_failed_lookup_is_reported_as_such(
    expected: list[ExpectedRecord], public_txt: str
) -> None:
    answers = correct_answers(public_txt) | {
        (DOMAIN, "TXT"): Answer(error="the DNS query timed out")
    }

    spf = check_records(expected, answers)[1]
    assert spf.state is CheckState.LOOKUP_FAILED
    assert "timed out" in spf.detail
