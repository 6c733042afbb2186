"""The settings page's sending domains: what each domain needs in the DNS, and its four forms."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mailer import dns_check
from mailer import domain_service as service
from mailer.domains import ExpectedRecord, InvalidDomain, RecordPurpose
from mailer.store.domain_models import KeyState, SendingDomain

__all__ = [
    "DOMAIN_NOTICES",
    "DomainAction",
    "DomainPanel",
    "RecordRow",
    "domain_panels",
    "domain_problem",
    "run_domain_action",
]

PURPOSES = {
    RecordPurpose.DKIM: "DKIM key: proves the mail is yours",
    RecordPurpose.SPF: "SPF: lets our servers send for your domain",
    RecordPurpose.RETURN_PATH: "Return path: bounces come back to us",
    RecordPurpose.DMARC: "DMARC: advised, not needed to verify",
}


class DomainAction(enum.StrEnum):
    """What a domain form asks for (the last part of its URL)."""

    ADD = "add"
    VERIFY = "verify"
    ROTATE = "rotate"
    REMOVE = "remove"


DOMAIN_NOTICES = {
    "domain-add": "Domain added. Publish the records below at your DNS host, then press Check now.",
    "domain-verify": "The DNS was checked: each record's state is shown below.",
    "domain-rotate": "A new DKIM key was made. Publish its record; your current key keeps signing "
    "until the new record checks out.",
    "domain-remove": "Domain removed: mail from it is no longer sent.",
}


@dataclass(frozen=True)
class RecordRow:
    """One record to publish, with what the last check found for it (state None: not checked)."""

    label: str
    name: str
    type: str
    value: str
    strings: tuple[str, ...]
    alternatives: tuple[str, ...]
    state: str | None
    detail: str
    found: tuple[str, ...]


@dataclass(frozen=True)
class DomainPanel:
    """A sending domain as its panel shows it."""

    domain: str
    status: str
    created_at: datetime
    verified_at: datetime | None
    last_checked_at: datetime | None
    records: list[RecordRow]
    signing_selector: str | None
    waiting_selector: str | None

    @property
    def can_rotate(self) -> bool:
        return self.signing_selector is not None and self.waiting_selector is None


def _row(record: ExpectedRecord, checks: Mapping[tuple[str, str], Mapping[str, Any]]) -> RecordRow:
    check = checks.get((record.name.lower(), record.type))
    if check is not None and check.get("expected") != record.value:
        check = None  # checked against another value (before a rotation or a settings change)
    label = PURPOSES[record.purpose]
    if record.selector:
        label = f"{label} (selector {record.selector})"
    return RecordRow(
        label=label,
        name=record.name,
        type=record.type,
        value=record.value,
        strings=record.strings,
        alternatives=record.alternatives,
        state=str(check["state"]) if check else None,
        detail=str(check.get("detail", "")) if check else "",
        found=tuple(str(value) for value in check.get("found", ())) if check else (),
    )


def _panel(row: SendingDomain, config: service.DomainConfig) -> DomainPanel:
    checks = {(str(c["name"]).lower(), str(c["type"])): c for c in row.last_check or ()}
    active = [key.selector for key in row.keys if key.state == KeyState.ACTIVE]
    pending = [key.selector for key in row.keys if key.state == KeyState.PENDING]
    return DomainPanel(
        domain=row.domain,
        status=row.status,
        created_at=row.created_at,
        verified_at=row.verified_at,
        last_checked_at=row.last_checked_at,
        records=[_row(record, checks) for record in service.records_to_publish(row, config)],
        signing_selector=active[0] if active else None,
        waiting_selector=pending[0] if pending and active else None,
    )


def domain_panels(rows: Sequence[SendingDomain], config: service.DomainConfig) -> list[DomainPanel]:
    """The tenant's domains, ready for the template."""
    return [_panel(row, config) for row in rows]


async def run_domain_action(
    session: AsyncSession,
    box: service.KeyBox | None,
    tenant: str,
    action: DomainAction,
    domain: str,
    config: service.DomainConfig,
    now: datetime,
) -> str:
    """Carry the form out through the domain service; returns the domain's stored name.

    Raises DomainError or InvalidDomain, which `domain_problem` puts in words.
    """
    if action is DomainAction.ADD:
        return (await service.add_domain(session, box, tenant, domain, now=now)).domain
    if action is DomainAction.VERIFY:
        # dns_check.lookup is looked up at call time so that tests can stand in for the DNS
        row, _checks = await service.verify(
            session, tenant, domain, config, now=now, lookup=dns_check.lookup
        )
        return row.domain
    if action is DomainAction.ROTATE:
        await service.rotate(session, box, tenant, domain, now=now)
        return (await service.get_domain(session, tenant, domain)).domain
    name = (await service.get_domain(session, tenant, domain)).domain
    await service.remove_domain(session, tenant, name)
    return name


def domain_problem(exc: service.DomainError | InvalidDomain, domain: str) -> tuple[int, str]:
    """The status code and a sentence for the admin (another firm's domain reads as none)."""
    if isinstance(exc, service.SecretsUnavailable):
        return 503, (
            "Domains cannot be added or given new keys yet: the operator has to set "
            "MAILER_SECRET_KEY first."
        )
    if isinstance(exc, service.DomainNotFound):
        return 404, f"Your firm has no sending domain {domain.strip()[:253]}."
    return (409 if isinstance(exc, service.DomainConflict) else 422), f"{exc}."
