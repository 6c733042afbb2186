"""Tests for DKIM signing, checked by two independent verifiers: dkimpy and Perl Mail::DKIM."""

from __future__ import annotations

import base64
import re
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.dkim import DkimSigner
from mailer.errors import ConfigurationError, SigningError
from mailer.events import Address
from mailer.message import Attachment, RenderedEmail
from mailer.mime import build_message

DOMAIN = "example.com"
SELECTOR = "mail2024"
PERL_VERIFIER = Path(__file__).with_name("dkim_verify.pl")

PLAIN = (
    b"From: Billing <billing@example.com>\r\n"
    b"To: customer@example.org\r\n"
    b"Subject: Invoice INV-1\r\n"
    b"Date: Fri, 01 Mar 2024 09:30:00 +0000\r\n"
    b"Message-ID: <plain@example.com>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"Content-Transfer-Encoding: 7bit\r\n"
    b"\r\n"
    b"Hello,\r\n\r\nyour invoice is attached.\r\n"
)


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture(scope="module")
def private_key_pem() -> bytes:
    return pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


@pytest.fixture(scope="module")
def signer(private_key_pem: bytes) -> DkimSigner:
    return DkimSigner(DOMAIN, SELECTOR, private_key_pem)


def verify_with_dkimpy(message: bytes, txt_record: str) -> bool:
    def dns(name: bytes, timeout: int = 5) -> bytes:
        assert name == f"{SELECTOR}._domainkey.{DOMAIN}.".encode()
        return txt_record.encode()

    return bool(dkim.verify(message, dnsfunc=dns))


def verify_with_mail_dkim(message: bytes, txt_record: str) -> bool:
    result = subprocess.run(
        ["perl", str(PERL_VERIFIER), txt_record],
        input=message,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert result.returncode in (0, 1), result.stderr.decode()
    return result.returncode == 0


Verifier = Callable[[bytes, str], bool]
VERIFIERS = pytest.mark.parametrize(
    "verify", [verify_with_dkimpy, verify_with_mail_dkim], ids=["dkimpy", "Mail::DKIM"]
)


def invoice_email(**changes: Any) -> bytes:
    rendered = RenderedEmail(
        subject="Rechnung RE-2024-001 \u2013 fällig am 15. März",
        html="<p>Guten Tag Frau Ärger,</p>\n<p>anbei Ihre Rechnung.</p>\n",
        text="Guten Tag Frau Ärger,\n\nanbei Ihre Rechnung.\n",
        attachments=(
            Attachment(
                "Rechnung März.pdf", "application/pdf", b"%PDF-1.7\n" + bytes(range(256)) * 64
            ),
        ),
    )
    arguments: dict[str, Any] = {
        "sender": Address(email="billing@example.com", name="Müller & Söhne, Buchhaltung"),
        "reply_to": [Address(email="ar@example.com", name="Accounts «AR»")],
        "to": [Address(email="kunde@example.org", name="Ärger, Jürgen")],
        "cc": [Address(email="cc@example.org")],
        "message_id": "<f00d@example.com>",
        "date": datetime(2024, 3, 1, 9, 30, tzinfo=UTC),
    }
    return build_message(rendered, **(arguments | changes))


def signature_field(signed: bytes) -> str:
    head = signed.split(b"\r\n\r\n")[0].decode("ascii")
    match = re.match(r"DKIM-Signature:(.*?)\r\n(?![ \t])", head + "\r\n", re.DOTALL)
    assert match is not None
    return match.group(0)


def tags(signed: bytes) -> dict[str, str]:
    value = re.sub(r"\s+", "", signature_field(signed).split(":", 1)[1])
    return dict(tag.split("=", 1) for tag in value.split(";") if tag)


# --- verification ------------------------------------------------------------------------

MESSAGES = {
    "plain": PLAIN,
    "multipart with attachment and non-ASCII headers": invoice_email(),
    "no attachments": invoice_email(cc=[], reply_to=[]),
    "empty body": b"From: a@example.com\r\nSubject: empty\r\n\r\n",
    "no body at all": b"From: a@example.com\r\nSubject: nothing\r\n",
    "trailing whitespace": (
        b"From: a@example.com\r\nSubject:  spaced \t out  \r\n\r\n"
        b"line with spaces   \r\n\ttabbed\t \t line\t\r\n \r\n\r\n\r\n"
    ),
    "LF line endings": b"From: a@example.com\nSubject: unix\n\nline  \nlast line",
    "folded headers": (
        b"From: a@example.com\r\nSubject: a subject\r\n\tfolded with a tab\r\n"
        b"To: x@example.org,\r\n    y@example.org\r\n\r\nbody\r\n"
    ),
}


@VERIFIERS
@pytest.mark.parametrize("message", MESSAGES.values(), ids=MESSAGES.keys())
def test_signed_messages_verify(verify: Verifier, signer: DkimSigner, message: bytes) -> None:
    signed = signer.sign(message)

    assert verify(signed, signer.public_key_dns_record())


@VERIFIERS
def test_a_tampered_body_fails(verify: Verifier, signer: DkimSigner) -> None:
    signed = signer.sign(invoice_email())
    tampered = signed.replace(b"anbei Ihre Rechnung", b"anbei Ihre Mahnung!")

    assert tampered != signed
    assert not verify(tampered, signer.public_key_dns_record())


@VERIFIERS
def test_a_tampered_subject_fails(verify: Verifier, signer: DkimSigner) -> None:
    signed = signer.sign(PLAIN)
    tampered = signed.replace(b"Subject: Invoice INV-1", b"Subject: Invoice INV-2")

    assert tampered != signed
    assert not verify(tampered, signer.public_key_dns_record())


@VERIFIERS
def test_a_second_from_added_later_fails(verify: Verifier, signer: DkimSigner) -> None:
    signed = signer.sign(PLAIN)
    with_second_from = signed.replace(b"\r\nTo:", b"\r\nFrom: ceo@evil.test\r\nTo:", 1)

    assert not verify(with_second_from, signer.public_key_dns_record())


@VERIFIERS
def test_whitespace_changes_in_transit_still_verify(verify: Verifier, signer: DkimSigner) -> None:
    signed = signer.sign(PLAIN)
    respaced = signed.replace(b"Subject: Invoice INV-1", b"Subject:   Invoice\r\n\t INV-1  ")
    respaced = respaced.replace(b"your invoice", b"your \t invoice") + b"\r\n\r\n"

    assert verify(respaced, signer.public_key_dns_record())


@VERIFIERS
def test_a_signature_from_another_key_fails(verify: Verifier, signer: DkimSigner) -> None:
    other = DkimSigner(DOMAIN, SELECTOR, pem(rsa.generate_private_key(65537, 2048)))

    assert not verify(other.sign(PLAIN), signer.public_key_dns_record())


@settings(max_examples=60, deadline=None)
@given(
    body=st.lists(st.sampled_from(["a", "ü", " ", "\t", "\r\n", "\n", "  \r\n", "."])).map("".join),
    subject=st.text(st.sampled_from("ab \t"), max_size=20),
)
def test_any_body_and_spacing_verifies_with_dkimpy(
    signer: DkimSigner, body: str, subject: str
) -> None:
    message = f"From: a@example.com\r\nSubject: {subject}\r\n\r\n{body}".encode()

    assert verify_with_dkimpy(signer.sign(message), signer.public_key_dns_record())


# --- the signature header ----------------------------------------------------------------


def test_the_signature_header_has_the_expected_tags(signer: DkimSigner) -> None:
    signed = signer.sign(invoice_email(), timestamp=1_700_000_000)

    found = tags(signed)
    assert found["v"] == "1"
    assert found["a"] == "rsa-sha256"
    assert found["c"] == "relaxed/relaxed"
    assert (found["d"], found["s"], found["t"]) == (DOMAIN, SELECTOR, "1700000000")
    assert found["h"].split(":") == [
        "from",
        "from",
        "reply-to",
        "to",
        "cc",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "content-type",
    ]
    assert len(base64.b64decode(found["bh"])) == 32
    assert len(base64.b64decode(found["b"])) == 256


def test_only_present_headers_are_signed(signer: DkimSigner) -> None:
    found = tags(signer.sign(b"From: a@example.com\r\nSubject: s\r\nX-Other: o\r\n\r\nbody\r\n"))

    assert found["h"] == "from:from:subject"


def test_the_signature_header_is_prepended_and_folded(signer: DkimSigner) -> None:
    message = invoice_email()
    signed = signer.sign(message)

    field = signature_field(signed)
    assert signed == field.encode() + message
    assert all(len(line) <= 78 for line in field.split("\r\n"))


def test_signing_is_deterministic_for_a_given_timestamp(signer: DkimSigner) -> None:
    assert signer.sign(PLAIN, timestamp=1) == signer.sign(PLAIN, timestamp=1)
    assert signer.sign(PLAIN, timestamp=1) != signer.sign(PLAIN, timestamp=2)


def test_line_endings_are_normalized_to_crlf(signer: DkimSigner) -> None:
    signed = signer.sign(b"From: a@example.com\nSubject: s\n\nbody\rmore")

    assert signed.endswith(b"From: a@example.com\r\nSubject: s\r\n\r\nbody\r\nmore\r\n")


def test_the_dns_record_holds_the_public_key(signer: DkimSigner, private_key_pem: bytes) -> None:
    record = signer.public_key_dns_record()

    assert record.startswith("v=DKIM1; k=rsa; p=")
    public_key = serialization.load_der_public_key(base64.b64decode(record.split("p=")[1]))
    private_key = serialization.load_pem_private_key(private_key_pem, password=None)
    assert public_key == private_key.public_key()


# --- refusals ----------------------------------------------------------------------------


def test_a_message_without_from_is_refused(signer: DkimSigner) -> None:
    with pytest.raises(SigningError, match="no From"):
        signer.sign(b"Subject: s\r\n\r\nbody\r\n")


def test_a_malformed_header_is_refused(signer: DkimSigner) -> None:
    with pytest.raises(SigningError, match="malformed"):
        signer.sign(b"From: a@example.com\r\nnot a header\r\n\r\nbody\r\n")


def test_a_1024_bit_key_is_refused() -> None:
    weak = pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))

    with pytest.raises(SigningError, match="1024 bits"):
        DkimSigner(DOMAIN, SELECTOR, weak)


@pytest.mark.parametrize(
    "key", [ec.generate_private_key(ec.SECP256R1()), ed25519.Ed25519PrivateKey.generate()]
)
def test_a_non_rsa_key_is_refused(
    key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey,
) -> None:
    with pytest.raises(SigningError, match="must be an RSA key"):
        DkimSigner(DOMAIN, SELECTOR, pem(key))


def test_a_bad_pem_is_refused_without_revealing_it(private_key_pem: bytes) -> None:
    broken = private_key_pem.replace(b"\n", b"\n!", 3)

    with pytest.raises(SigningError) as raised:
        DkimSigner(DOMAIN, SELECTOR, broken)

    body = b"".join(private_key_pem.splitlines()[1:-1]).decode()
    for text in (str(raised.value), repr(raised.value)):
        assert "PRIVATE KEY" not in text
        assert not any(chunk in text for chunk in re.findall(".{12}", body))
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


def test_an_encrypted_pem_is_refused() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )

    with pytest.raises(SigningError, match="unencrypted"):
        DkimSigner(DOMAIN, SELECTOR, encrypted)


@pytest.mark.parametrize(
    ("domain", "selector"),
    [("example.com; x=y", SELECTOR), (DOMAIN, "sel ector"), ("bücher.de", SELECTOR), ("", "s")],
)
def test_a_bad_domain_or_selector_is_refused(
    private_key_pem: bytes, domain: str, selector: str
) -> None:
    with pytest.raises(ConfigurationError, match="DNS name"):
        DkimSigner(domain, selector, private_key_pem)


def test_from_file_reads_the_key(tmp_path: Path, private_key_pem: bytes) -> None:
    path = tmp_path / "dkim.pem"
    path.write_bytes(private_key_pem)

    signer = DkimSigner.from_file(DOMAIN, SELECTOR, path)

    assert verify_with_dkimpy(signer.sign(PLAIN), signer.public_key_dns_record())


def test_from_file_reports_an_unreadable_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        DkimSigner.from_file(DOMAIN, SELECTOR, tmp_path / "missing.pem")


def test_signing_speed_sanity(signer: DkimSigner) -> None:
    """Not a benchmark: a hundred signatures of one message simply have to finish."""
    message = invoice_email()
    for _ in range(100):
        signer.sign(message)
