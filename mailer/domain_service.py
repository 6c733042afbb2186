"""Tenants' sending domains: add, verify in the DNS, rotate DKIM keys, and sign with them.

DomainError
├── DomainNotFound      the tenant has no such domain (another tenant's looks the same)
├── DomainConflict      already added, verified by another tenant, or a rotation is waiting
└── SecretsUnavailable  no MAILER_SECRET_KEY: private keys cannot be stored or read
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from mailer import dns_check
from mailer.dkim import DkimSigner
from mailer.domains import (
    DEFAULT_RETURN_PATH_SUBDOMAIN,
    Answer,
    CheckState,
    ExpectedRecord,
    InvalidDomain,
    Query,
    RecordCheck,
    RecordPurpose,
    check_records,
    dated_selector,
    dkim_public_txt,
    dkim_record,
    expected_records,
    generate_dkim_key,
    normalize_domain,
)
from mailer.errors import MailerError
from mailer.secrets import SecretBox
from mailer.settings import Settings
from mailer.store.domain_models import DkimKey, DomainStatus, KeyState, SendingDomain

__all__ = [
    "DomainConfig",
    "DomainConflict",
    "DomainError",
    "DomainNotFound",
    "KeyBox",
    "SecretsUnavailable",
    "add_domain",
    "get_domain",
    "list_domains",
    "records_to_publish",
    "remove_domain",
    "rotate",
    "signer_for",
    "verified_domain",
    "verify",
]

logger = logging.getLogger(__name__)

Lookup = Callable[[Sequence[ExpectedRecord], str | None], Awaitable[Mapping[Query, Answer]]]


class DomainError(MailerError):
    """A sending-domain request that cannot be carried out."""


class DomainNotFound(DomainError):
    """The tenant has no such domain."""


class DomainConflict(DomainError):
    """The request clashes with the domain's state or with another tenant's verified domain."""


class SecretsUnavailable(DomainError):
    """No secret box is configured, so DKIM private keys cannot be stored or read."""


class KeyBox(Protocol):
    """Encrypts secrets at rest (mailer.secrets.SecretBox)."""

    def encrypt(self, plaintext: str, *, context: str) -> str: ...

    def decrypt(self, token: str, *, context: str) -> str: ...


@dataclass(frozen=True)
class DomainConfig:
    """What the platform asks tenants to publish, and the resolver that checks it."""

    spf_include: str
    bounce_host: str
    return_path_subdomain: str = DEFAULT_RETURN_PATH_SUBDOMAIN
    resolver: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> DomainConfig:
        bounce_host = settings.effective_bounce_domain
        return cls(
            spf_include=settings.spf_include or f"_spf.{bounce_host}",
            bounce_host=bounce_host,
            resolver=settings.dns_resolver,
        )


def _key_context(tenant: str, domain: str, selector: str) -> str:
    """Binds an encrypted key to its row: copied elsewhere, it does not decrypt."""
    return f"tenant:{tenant}:dkim:{domain}:{selector}"


def _require_box(box: KeyBox | None) -> KeyBox:
    if box is None:
        raise SecretsUnavailable("MAILER_SECRET_KEY is not set: DKIM keys cannot be stored")
    return box


async def _new_key(box: KeyBox, tenant: str, domain: str, selector: str, now: datetime) -> DkimKey:
    pem = await asyncio.to_thread(generate_dkim_key)  # RSA key generation takes a while
    return DkimKey(
        selector=selector,
        private_key=box.encrypt(
            pem.decode("ascii"), context=_key_context(tenant, domain, selector)
        ),
        public_txt=dkim_public_txt(pem),
        state=KeyState.PENDING,
        created_at=now,
    )


def _domain_query(tenant: str, domain: str) -> Select[SendingDomain]:
    return (
        select(SendingDomain)
        .where(SendingDomain.tenant == tenant, SendingDomain.domain == domain)
        .options(selectinload(SendingDomain.keys))
    )


async def _verified_elsewhere(session: AsyncSession, tenant: str, domain: str) -> bool:
    query = select(SendingDomain.id).where(
        SendingDomain.domain == domain,
        SendingDomain.tenant != tenant,
        SendingDomain.status == DomainStatus.VERIFIED,
    )
    return (await session.execute(query.limit(1))).first() is not None


async def add_domain(
    session: AsyncSession, box: KeyBox | None, tenant: str, domain: str, *, now: datetime
) -> SendingDomain:
    """A new pending domain with a pending DKIM key (raises InvalidDomain, DomainConflict)."""
    name = normalize_domain(domain)
    box = _require_box(box)
    if (await session.execute(_domain_query(tenant, name))).scalar_one_or_none() is not None:
        raise DomainConflict(f"{name} is already one of this tenant's domains")
    if await _verified_elsewhere(session, tenant, name):
        raise DomainConflict(f"{name} is verified by another account")
    key = await _new_key(box, tenant, name, dated_selector(now.date()), now)
    row = SendingDomain(
        tenant=tenant, domain=name, status=DomainStatus.PENDING, created_at=now, keys=[key]
    )
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise DomainConflict(f"{name} is already one of this tenant's domains") from None
    return row


async def list_domains(session: AsyncSession, tenant: str) -> list[SendingDomain]:
    query = (
        select(SendingDomain)
        .where(SendingDomain.tenant == tenant)
        .options(selectinload(SendingDomain.keys))
        .order_by(SendingDomain.domain)
    )
    return list((await session.execute(query)).scalars())


async def get_domain(session: AsyncSession, tenant: str, domain: str) -> SendingDomain:
    """The tenant's domain; another tenant's, or none, is DomainNotFound."""
    try:
        name = normalize_domain(domain)
    except InvalidDomain:
        raise DomainNotFound(f"no domain {domain!r}") from None
    found = (await session.execute(_domain_query(tenant, name))).scalar_one_or_none()
    if found is None:
        raise DomainNotFound(f"no domain {name}")
    return found


def _keys(row: SendingDomain, state: KeyState) -> list[DkimKey]:
    return [key for key in row.keys if key.state == state]


def records_to_publish(row: SendingDomain, config: DomainConfig) -> list[ExpectedRecord]:
    """The records for the signing key (else the pending one), plus a pending key's DKIM record."""
    active, pending = _keys(row, KeyState.ACTIVE), _keys(row, KeyState.PENDING)
    main = (active or pending)[0]
    records = expected_records(
        row.domain,
        main.selector,
        main.public_txt,
        spf_include=config.spf_include,
        bounce_host=config.bounce_host,
        return_path_subdomain=config.return_path_subdomain,
    )
    extra = [dkim_record(row.domain, key.selector, key.public_txt) for key in pending if active]
    return records[:1] + extra + records[1:]


async def verify(
    session: AsyncSession,
    tenant: str,
    domain: str,
    config: DomainConfig,
    *,
    now: datetime,
    lookup: Lookup = dns_check.lookup,
) -> tuple[SendingDomain, list[RecordCheck]]:
    """Look the records up and move the domain and its keys on; never leaves no signing key.

    Verified once DKIM, SPF and the return path check out (DMARC is advisory). A pending key
    becomes active only when its own DKIM record is ok, and only then is the old key retired.
    A lookup that failed changes nothing; missing or wrong required records mark it failed.
    """
    row = await get_domain(session, tenant, domain)
    if await _verified_elsewhere(session, tenant, row.domain):
        raise DomainConflict(f"{row.domain} is verified by another account")
    records = records_to_publish(row, config)
    checks = check_records(records, await lookup(records, config.resolver))
    _apply(row, checks, now)
    row.last_checked_at = now
    row.last_check = [_check_json(check) for check in checks]
    try:
        await session.commit()
    except IntegrityError:  # another tenant verified it in the meantime
        await session.rollback()
        raise DomainConflict(f"{row.domain} is verified by another account") from None
    logger.info("domain %s of tenant %s checked: %s", row.domain, tenant, row.status)
    return row, checks


def _apply(row: SendingDomain, checks: list[RecordCheck], now: datetime) -> None:
    dkim = [c for c in checks if c.purpose is RecordPurpose.DKIM]
    dkim_ok = {c.selector for c in dkim if c.ok}
    active, pending = _keys(row, KeyState.ACTIVE), _keys(row, KeyState.PENDING)
    signing = next((k for k in pending + active if k.selector in dkim_ok), None)
    others = [c for c in checks if c.required and c.purpose is not RecordPurpose.DKIM]
    if signing is not None and all(c.ok for c in others):
        if signing.state == KeyState.PENDING:
            signing.state, signing.activated_at = KeyState.ACTIVE, now
            for old in active:  # in the same transaction: never a moment without a signing key
                old.state, old.retired_at, old.private_key = KeyState.RETIRED, now, None
        if row.status != DomainStatus.VERIFIED:
            row.status, row.verified_at = DomainStatus.VERIFIED, now
        return
    bad = (CheckState.MISSING, CheckState.WRONG)
    dkim_bad = signing is None and all(c.state in bad for c in dkim)
    if dkim_bad or any(c.state in bad for c in others):
        row.status = DomainStatus.FAILED


def _check_json(check: RecordCheck) -> dict[str, Any]:
    return dataclasses.asdict(check) | {"found": list(check.found)}


async def rotate(
    session: AsyncSession, box: KeyBox | None, tenant: str, domain: str, *, now: datetime
) -> DkimKey:
    """A new pending key under a new selector; the active key signs until the new one verifies."""
    box = _require_box(box)
    row = await get_domain(session, tenant, domain)
    if not _keys(row, KeyState.ACTIVE):
        raise DomainConflict(f"{row.domain} has no verified key yet: verify it first")
    if _keys(row, KeyState.PENDING):
        raise DomainConflict(f"{row.domain} already has a new key waiting for its DNS record")
    selector = dated_selector(now.date(), {key.selector for key in row.keys})
    key = await _new_key(box, tenant, row.domain, selector, now)
    row.keys.append(key)
    await session.commit()
    logger.info("domain %s of tenant %s: new DKIM selector %s", row.domain, tenant, selector)
    return key


async def remove_domain(session: AsyncSession, tenant: str, domain: str) -> None:
    """Forget the domain and its keys; mail from it is refused from now on."""
    await session.delete(await get_domain(session, tenant, domain))
    await session.commit()


async def verified_domain(session: AsyncSession, tenant: str, domain: str) -> bool:
    """True when `domain` is one of the tenant's verified sending domains."""
    try:
        name = normalize_domain(domain)
    except InvalidDomain:
        return False
    query = select(SendingDomain.id).where(
        SendingDomain.tenant == tenant,
        SendingDomain.domain == name,
        SendingDomain.status == DomainStatus.VERIFIED,
    )
    return (await session.execute(query)).first() is not None


async def signer_for(
    session: AsyncSession, box: KeyBox | None, tenant: str, from_domain: str
) -> DkimSigner | None:
    """The signer of the active key of the tenant's verified `from_domain`; None otherwise."""
    try:
        name = normalize_domain(from_domain)
    except InvalidDomain:
        return None
    query = (
        select(DkimKey)
        .join(SendingDomain, DkimKey.domain_id == SendingDomain.id)
        .where(
            SendingDomain.tenant == tenant,
            SendingDomain.domain == name,
            SendingDomain.status == DomainStatus.VERIFIED,
            DkimKey.state == KeyState.ACTIVE,
        )
    )
    key = (await session.execute(query)).scalars().first()
    if key is None or key.private_key is None:
        return None
    pem = _require_box(box).decrypt(
        key.private_key, context=_key_context(tenant, name, key.selector)
    )
    return DkimSigner(name, key.selector, pem.encode("ascii"))


async def rotate_key_secrets(session: AsyncSession, box: SecretBox) -> int:
    """Re-encrypt every stored DKIM private key under the current secret key (commits)."""
    query = select(DkimKey, SendingDomain).join(
        SendingDomain, DkimKey.domain_id == SendingDomain.id
    )
    rotated = 0
    for key, domain in (await session.execute(query)).all():
        if key.private_key and box.needs_rotation(key.private_key):
            context = _key_context(domain.tenant, domain.domain, key.selector)
            key.private_key = box.reencrypt(key.private_key, context)
            rotated += 1
    await session.commit()
    return rotated
