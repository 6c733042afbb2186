"""Email addresses in bounce text: finding, cleaning, and telling recipients from bystanders."""

from __future__ import annotations

import re
from collections.abc import Iterable

# Deliberately simple: bounce text quotes addresses in <>, "", (), after "rfc822;" or bare.
ADDRESS_RE = re.compile(
    r"(?<![\w.+/=%-])([A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@"
    r"(?:\[\d{1,3}(?:\.\d{1,3}){3}\]|(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\.)+)?[A-Za-z0-9-]{2,63}))"
    r"(?![\w-])"
)
VERP_RE = re.compile(r"(?<![\w.+-])bounces\+([A-Za-z0-9_-]{4,64})@[A-Za-z0-9.-]+", re.IGNORECASE)
# Addresses of mail systems, never the recipient of a bounce.
_SYSTEM_LOCALS = re.compile(
    r"^(?:mailer-daemon|mailer_daemon|postmaster|mail-daemon|maildaemon|daemon|"
    r"bounces?|bounce\+.*|bounces\+.*|noreply|no-reply|do-not-reply|donotreply|abuse|root|"
    r"hostmaster|nobody|mdaemon|mailerdaemon|majordomo|listserv)$",
    re.IGNORECASE,
)


def clean_address(text: str) -> str:
    """`<User@Example.COM>`, `rfc822;user@example.com`, `"user@example.com"` -> user@example.com.
    Returns "" when there is no address."""
    value = text.strip()
    if value.lower().startswith("rfc822;"):
        value = value[7:]
    value = value.strip().strip("<>\"'()[] \t;:,.")
    if value.lower().startswith("mailto:"):
        value = value[7:]
    match = ADDRESS_RE.search(value)
    if not match:
        return ""
    address = normalize(match[1])
    return address if is_plausible(address) else ""


def normalize(address: str) -> str:
    address = address.strip().strip(".'\"`")
    if address.lower().startswith("mailto:"):
        address = address[7:]
    local, _, domain = address.rpartition("@")
    if "=" in local and re.match(r"^(?:smtp|rfc822|ex|x400)=", local, re.IGNORECASE):
        local = local.split("=", 1)[1]  # Exchange's "SMTP=user@host", X.400 "dda:SMTP=..."
    return f"{local}@{domain}".lower()


def is_plausible(address: str) -> bool:
    local, _, domain = address.rpartition("@")
    return (
        bool(local)
        and ".." not in local
        and not local.startswith(".")
        and (not local.endswith("."))
        and ".." not in domain
    )


def find_addresses(text: str) -> list[str]:
    """Every address in a text, in order of appearance, without duplicates."""
    seen: dict[str, None] = {}
    for match in ADDRESS_RE.finditer(text):
        seen.setdefault(normalize(match[1]), None)
    return [a for a in seen if "@" in a and is_plausible(a)]


def is_system_address(address: str) -> bool:
    local = address.split("@", 1)[0]
    return bool(_SYSTEM_LOCALS.match(local))


def verp_token(address: str) -> str | None:
    """The token of our VERP return path `bounces+<token>@<domain>`, if it is one."""
    match = VERP_RE.search(address)
    return match[1] if match else None


def exclude(addresses: Iterable[str], excluded: Iterable[str]) -> list[str]:
    skip = {a.lower() for a in excluded}
    return [a for a in addresses if a not in skip and not is_system_address(a)]
