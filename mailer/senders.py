"""Who an email is from and which road it takes: shared relay, custom domain, own server."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from mailer.dkim import DkimSigner
from mailer.events import Address
from mailer.transport.base import Transport


class Road(enum.StrEnum):
    """How a message leaves."""

    SHARED = "shared"  # the platform relay, From our noreply address
    CUSTOM_DOMAIN = "custom_domain"  # the platform relay, From the firm's verified domain
    OWN_SMTP = "own_smtp"  # the firm's own SMTP server


@dataclass(frozen=True, slots=True)
class TenantSender:
    """What the resolution needs of a tenant's sending settings."""

    own_smtp: bool
    from_email: str | None
    from_name: str | None
    custom_domain: str | None
    broken: bool = False  # its own server refused our login; staff must fix the settings
    fallback_to_shared: bool = False  # while broken: send through the shared relay, not hold


@dataclass(frozen=True, slots=True)
class SenderChoice:
    """The From mailbox and the road of one message."""

    road: Road
    sender: Address
    signing_domain: str | None  # whose DKIM key signs: None for the platform's own

    @property
    def from_domain(self) -> str:
        return self.sender.email.rpartition("@")[2].lower()


class SenderRefused(ValueError):
    """The event asks for a From address the tenant may not use; the message says why."""


class SenderHeld(Exception):
    """The tenant's own server is marked broken and its policy is to hold mail until fixed."""


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def choose_sender(
    *,
    requested: Address | None,
    company_name: str,
    platform_from: str,
    tenant: TenantSender | None,
    verified_domains: frozenset[str],
) -> SenderChoice:
    """The sender for one event; SenderRefused when `requested` is not the tenant's to use."""
    name = company_name[:200] or None
    if tenant is not None and tenant.own_smtp and tenant.broken:
        if not tenant.fallback_to_shared:
            raise SenderHeld("held: the firm's own SMTP server refused our login; fix the "
                             "sending settings to release the mail")  # fmt: skip
        tenant = None  # the shared relay, from the platform's address, until it is fixed
        requested = None
    if requested is not None:
        domain = domain_of(requested.email)
        if domain not in verified_domains:
            raise SenderRefused(
                f"sender domain {domain} is not a verified sending domain of this tenant"
            )
        road = Road.OWN_SMTP if tenant is not None and tenant.own_smtp else Road.CUSTOM_DOMAIN
        return SenderChoice(
            road, Address(email=requested.email, name=requested.name or name), domain
        )
    if tenant is not None and tenant.own_smtp and tenant.from_email:
        sender = Address(email=tenant.from_email, name=tenant.from_name or name)
        return SenderChoice(Road.OWN_SMTP, sender, None)
    if tenant is not None and tenant.custom_domain and tenant.from_email:
        domain = domain_of(tenant.from_email)
        if domain == tenant.custom_domain.lower() and domain in verified_domains:
            sender = Address(email=tenant.from_email, name=tenant.from_name or name)
            return SenderChoice(Road.CUSTOM_DOMAIN, sender, domain)
    # The platform's address is configuration, trusted as it is (it may be a test domain).
    return SenderChoice(Road.SHARED, Address.model_construct(email=platform_from, name=name), None)


class SenderDirectory(Protocol):
    """Where the dispatcher learns a tenant's sending settings, domains, keys and server."""

    async def sender_settings(self, session: AsyncSession, tenant: str) -> TenantSender | None: ...

    async def verified_domains(self, session: AsyncSession, tenant: str) -> frozenset[str]: ...

    async def signer_for(
        self, session: AsyncSession, tenant: str, domain: str
    ) -> DkimSigner | None: ...

    async def own_transport(self, session: AsyncSession, tenant: str) -> Transport | None: ...

    async def own_server_refused_login(
        self, session: AsyncSession, tenant: str, detail: str, now: datetime
    ) -> bool:
        """Mark the tenant's own server broken; True the first time (so staff are told once)."""
        ...

    async def payment_methods(self, session: AsyncSession, tenant: str) -> tuple[str, ...]:
        """What customers can pay with online (empty when payment processing is off)."""
        ...


class SharedRelayOnly:
    """A directory with no tenant settings: every tenant sends through the shared relay."""

    async def sender_settings(self, session: AsyncSession, tenant: str) -> TenantSender | None:
        return None

    async def verified_domains(self, session: AsyncSession, tenant: str) -> frozenset[str]:
        return frozenset()

    async def signer_for(
        self, session: AsyncSession, tenant: str, domain: str
    ) -> DkimSigner | None:
        return None

    async def own_transport(self, session: AsyncSession, tenant: str) -> Transport | None:
        return None

    async def own_server_refused_login(
        self, session: AsyncSession, tenant: str, detail: str, now: datetime
    ) -> bool:
        return False

    async def payment_methods(self, session: AsyncSession, tenant: str) -> tuple[str, ...]:
        return ()
