"""Custom sending domains, pure: names, DKIM keys, the DNS records to publish and their checks."""

from __future__ import annotations

import base64
import enum
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailer.errors import MailerError

__all__ = [
    "DEFAULT_RETURN_PATH_SUBDOMAIN",
    "DKIM_KEY_BITS",
    "DMARC_SUGGESTION",
    "SELECTOR_PREFIX",
    "Answer",
    "CheckState",
    "ExpectedRecord",
    "InvalidDomain",
    "Query",
    "RecordCheck",
    "RecordPurpose",
    "check_records",
    "dated_selector",
    "dkim_public_txt",
    "dkim_record",
    "expected_records",
    "generate_dkim_key",
    "normalize_domain",
    "queries_for",
]

DKIM_KEY_BITS = 2048
SELECTOR_PREFIX = "mailer"
DEFAULT_RETURN_PATH_SUBDOMAIN = "bounces"
DMARC_SUGGESTION = "v=DMARC1; p=quarantine; adkim=r; aspf=r"
TXT_STRING_MAX = 255

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_TAG_SPLIT = re.compile(r"\s*;\s*")
_WSP = re.compile(r"\s+")


class InvalidDomain(MailerError, ValueError):
    """A sending domain that is not a usable DNS host name."""


class RecordPurpose(enum.StrEnum):
    """What a DNS record is for."""

    DKIM = "dkim"
    SPF = "spf"
    DMARC = "dmarc"
    RETURN_PATH = "return_path"


class CheckState(enum.StrEnum):
    """What the DNS said about one expected record."""

    OK = "ok"
    MISSING = "missing"
    WRONG = "wrong"
    LOOKUP_FAILED = "lookup_failed"


Query = tuple[str, str]
"""A DNS question: (lower-case name without the final dot, record type)."""


@dataclass(frozen=True)
class Answer:
    """What one DNS question returned: TXT as the joined strings of each record, MX as
    `preference exchange`, CNAME as the target; names lower-case without the final dot."""

    values: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class ExpectedRecord:
    """A record the tenant publishes; `strings` is a TXT value cut into DNS character-strings."""

    purpose: RecordPurpose
    name: str
    type: str
    value: str
    required: bool = True
    strings: tuple[str, ...] = ()
    selector: str | None = None
    alternatives: tuple[str, ...] = field(default=())
    """Other record types that satisfy the check (the return path takes MX as well)."""


@dataclass(frozen=True)
class RecordCheck:
    """One expected record against what the DNS holds."""

    purpose: RecordPurpose
    name: str
    type: str
    expected: str
    state: CheckState
    found: tuple[str, ...]
    detail: str
    required: bool
    selector: str | None = None

    @property
    def ok(self) -> bool:
        return self.state is CheckState.OK


def normalize_domain(value: str) -> str:
    """A domain as stored: lower-case ASCII (IDNA for international names), no final dot."""
    text = value.strip().rstrip(".").lower()
    try:
        ascii_name = text.encode("idna").decode("ascii") if not text.isascii() else text
    except UnicodeError:
        raise InvalidDomain(f"{value!r} is not a valid domain name") from None
    labels = ascii_name.split(".")
    if len(ascii_name) > 253 or len(labels) < 2 or not all(map(_LABEL.fullmatch, labels)):
        raise InvalidDomain(f"{value!r} is not a valid domain name (e.g. billing.example.com)")
    if labels[-1].isdigit():
        raise InvalidDomain(f"{value!r} is an address, not a domain name")
    return ascii_name


def dated_selector(today: date, taken: Collection[str] = ()) -> str:
    """`mailer202611`, then `mailer202611-2`, `-3`... when rotated again within the month."""
    base = f"{SELECTOR_PREFIX}{today:%Y%m}"
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{base}-{number}"
    return candidate


def generate_dkim_key() -> bytes:
    """A new RSA-2048 private key as unencrypted PKCS#8 PEM (slow: run it off the event loop)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=DKIM_KEY_BITS)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def dkim_public_txt(private_key_pem: bytes) -> str:
    """The DKIM TXT value (`v=DKIM1; k=rsa; p=...`) of a PEM private key."""
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode('ascii')}"


def _split_txt(value: str) -> tuple[str, ...]:
    return tuple(value[i : i + TXT_STRING_MAX] for i in range(0, len(value), TXT_STRING_MAX))


def dkim_record(domain: str, selector: str, public_txt: str) -> ExpectedRecord:
    """The DKIM key record of one selector."""
    return ExpectedRecord(
        purpose=RecordPurpose.DKIM,
        name=f"{selector}._domainkey.{domain}",
        type="TXT",
        value=public_txt,
        strings=_split_txt(public_txt),
        selector=selector,
    )


def expected_records(
    domain: str,
    selector: str,
    public_txt: str,
    *,
    spf_include: str,
    bounce_host: str,
    return_path_subdomain: str = DEFAULT_RETURN_PATH_SUBDOMAIN,
) -> list[ExpectedRecord]:
    """DKIM, SPF, return path (required) and DMARC (advisory) records for one key."""
    spf = f"v=spf1 include:{spf_include} ~all"
    return [
        dkim_record(domain, selector, public_txt),
        ExpectedRecord(RecordPurpose.SPF, domain, "TXT", spf, strings=_split_txt(spf)),
        ExpectedRecord(
            RecordPurpose.RETURN_PATH,
            f"{return_path_subdomain}.{domain}",
            "CNAME",
            bounce_host,
            alternatives=("MX",),
        ),
        ExpectedRecord(
            RecordPurpose.DMARC,
            f"_dmarc.{domain}",
            "TXT",
            DMARC_SUGGESTION,
            required=False,
            strings=(DMARC_SUGGESTION,),
        ),
    ]


def queries_for(expected: Iterable[ExpectedRecord]) -> list[Query]:
    """The DNS questions whose answers `check_records` needs, without repeats."""
    found: dict[Query, None] = {}
    for record in expected:
        for record_type in (record.type, *record.alternatives):
            found[(record.name.lower(), record_type)] = None
    return list(found)


def check_records(
    expected: Sequence[ExpectedRecord], answers: Mapping[Query, Answer]
) -> list[RecordCheck]:
    """Each expected record as ok, missing, wrong (with what was found) or lookup_failed."""
    return [_check(record, answers) for record in expected]


def _check(record: ExpectedRecord, answers: Mapping[Query, Answer]) -> RecordCheck:
    relevant = [
        (
            record_type,
            answers.get((record.name.lower(), record_type), Answer(error="not looked up")),
        )
        for record_type in (record.type, *record.alternatives)
    ]
    found = tuple(
        value if record_type == record.type else f"{record_type} {value}"
        for record_type, answer in relevant
        for value in answer.values
    )
    errors = [f"{record_type}: {answer.error}" for record_type, answer in relevant if answer.error]
    if errors and not found:
        state, detail = CheckState.LOOKUP_FAILED, "lookup failed: " + "; ".join(errors)
    else:
        state, detail = _JUDGES[record.purpose](record, relevant)
    return RecordCheck(
        purpose=record.purpose,
        name=record.name,
        type=record.type,
        expected=record.value,
        state=state,
        found=found,
        detail=detail,
        required=record.required,
        selector=record.selector,
    )


_Relevant = list[tuple[str, Answer]]
_Verdict = tuple[CheckState, str]


def _tags(value: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for item in _TAG_SPLIT.split(value.strip()):
        name, sep, tag_value = item.partition("=")
        if sep:
            tags.setdefault(name.strip().lower(), _WSP.sub("", tag_value))
    return tags


def _judge_dkim(record: ExpectedRecord, relevant: _Relevant) -> _Verdict:
    values = relevant[0][1].values
    if not values:
        return CheckState.MISSING, "no TXT record at this name"
    if len(values) > 1:
        return CheckState.WRONG, "several TXT records: publish only the DKIM key record here"
    tags, wanted = _tags(values[0]), _tags(record.value)["p"]
    if tags.get("v", "DKIM1") != "DKIM1" or tags.get("k", "rsa").lower() != "rsa":
        return CheckState.WRONG, "not an RSA DKIM key record (v=DKIM1; k=rsa)"
    if not tags.get("p"):
        return CheckState.WRONG, "the record has no public key (p=)"
    if tags["p"] != wanted:
        return CheckState.WRONG, "the public key (p=) is another key than this selector's"
    return CheckState.OK, "the DKIM key matches"


def _is_spf(value: str) -> bool:
    return value.lower() == "v=spf1" or value.lower().startswith("v=spf1 ")


def _judge_spf(record: ExpectedRecord, relevant: _Relevant) -> _Verdict:
    spf = [value for value in relevant[0][1].values if _is_spf(value)]
    include = record.value.split()[1].lower()  # include:<domain>
    if not spf:
        return CheckState.MISSING, "no SPF (v=spf1) record"
    if len(spf) > 1:
        return CheckState.WRONG, "several SPF records: receivers reject them all; merge them"
    terms = {term.lower().lstrip("+") for term in spf[0].split()[1:]}
    if include in terms or "redirect=" + include.removeprefix("include:") in terms:
        return CheckState.OK, f"the SPF record has {include}"
    return CheckState.WRONG, f"the SPF record lacks {include}: add it before the all term"


def _judge_dmarc(record: ExpectedRecord, relevant: _Relevant) -> _Verdict:
    values = relevant[0][1].values
    dmarc = [v for v in values if _tags(v).get("v", "").upper() == "DMARC1"]
    if not values:
        return CheckState.MISSING, f"no DMARC record (suggested: {DMARC_SUGGESTION})"
    if len(dmarc) != 1:
        why = "no v=DMARC1 record" if not dmarc else "several DMARC records: receivers ignore them"
        return CheckState.WRONG, why
    return CheckState.OK, "a DMARC policy is published"


def _judge_return_path(record: ExpectedRecord, relevant: _Relevant) -> _Verdict:
    wanted = record.value.lower().rstrip(".")
    cnames = relevant[0][1].values
    exchanges = [value.split()[-1] for _type, answer in relevant[1:] for value in answer.values]
    if cnames:
        if len(cnames) == 1 and cnames[0] == wanted:
            return CheckState.OK, f"CNAME to {wanted}"
        return CheckState.WRONG, f"the CNAME points elsewhere than {wanted}"
    if not exchanges:
        return CheckState.MISSING, f"no CNAME (or MX) to {wanted}"
    if exchanges == [wanted]:
        return CheckState.OK, f"MX to {wanted}"
    return CheckState.WRONG, f"the MX should be {wanted} only"


_JUDGES = {
    RecordPurpose.DKIM: _judge_dkim,
    RecordPurpose.SPF: _judge_spf,
    RecordPurpose.DMARC: _judge_dmarc,
    RecordPurpose.RETURN_PATH: _judge_return_path,
}
