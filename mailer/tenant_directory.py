"""The dispatcher's view of tenants' sending settings: stored settings, domains, keys, servers."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from mailer import domain_service, tenant_settings
from mailer.dkim import DkimSigner
from mailer.secrets import SecretBox
from mailer.senders import TenantSender
from mailer.store.domain_models import DomainStatus, SendingDomain
from mailer.tenant_schemas import AuthFailurePolicy, SendingMode
from mailer.transport.base import Transport
from mailer.transport.smtp import SmtpConfig, SmtpTransport


class StoredDirectory:
    """Reads the tenant tables; keeps one pooled transport per tenant server configuration."""

    def __init__(
        self, box: SecretBox | None, *, smtp_timeout: float = 30.0, ca_file: Path | None = None
    ) -> None:
        self.box = box
        self._options: dict[str, Any] = {"timeout": smtp_timeout, "ca_file": ca_file}
        self._transports: dict[str, tuple[str, SmtpTransport]] = {}

    async def sender_settings(self, session: AsyncSession, tenant: str) -> TenantSender | None:
        config = await tenant_settings.sending_config(session, self.box, tenant)
        if config is None:
            return None
        return TenantSender(
            own_smtp=config.mode is SendingMode.OWN_SMTP,
            from_email=config.from_email,
            from_name=config.from_name,
            custom_domain=config.custom_domain,
            broken=config.broken,
            fallback_to_shared=config.on_auth_failure is AuthFailurePolicy.FALLBACK_SHARED,
        )

    async def verified_domains(self, session: AsyncSession, tenant: str) -> frozenset[str]:
        query = select(SendingDomain.domain).where(
            SendingDomain.tenant == tenant, SendingDomain.status == DomainStatus.VERIFIED
        )
        return frozenset((await session.execute(query)).scalars())

    async def signer_for(
        self, session: AsyncSession, tenant: str, domain: str
    ) -> DkimSigner | None:
        return await domain_service.signer_for(session, self.box, tenant, domain)

    async def smtp_config(self, session: AsyncSession, tenant: str) -> SmtpConfig | None:
        """The tenant's own server as configured (own_smtp mode), with this service's options."""
        config = await tenant_settings.sending_config(session, self.box, tenant)
        return config.smtp_config(**self._options) if config else None

    async def own_transport(self, session: AsyncSession, tenant: str) -> Transport | None:
        smtp = await self.smtp_config(session, tenant)
        if smtp is None:
            return None
        fingerprint = _fingerprint(smtp)
        cached = self._transports.get(tenant)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        if cached is not None:  # the settings changed: retire the old pool
            await cached[1].aclose()
        transport = SmtpTransport(smtp)
        self._transports[tenant] = (fingerprint, transport)
        return transport

    async def own_server_refused_login(
        self, session: AsyncSession, tenant: str, detail: str, now: datetime
    ) -> bool:
        config = await tenant_settings.sending_config(session, self.box, tenant)
        if config is None or config.broken:
            return False
        return await tenant_settings.mark_broken(session, tenant, detail, now)

    async def payment_methods(self, session: AsyncSession, tenant: str) -> tuple[str, ...]:
        config = await tenant_settings.payment_config(session, self.box, tenant)
        if config is None or not config.enabled:
            return ()
        return tuple(method.value for method in config.portal_methods)

    async def aclose(self) -> None:
        """Close every tenant's pooled connections."""
        transports, self._transports = self._transports, {}
        for _fingerprint, transport in transports.values():
            await transport.aclose()


def _fingerprint(config: SmtpConfig) -> str:
    """Identifies a configuration, the password included, without keeping the password."""
    password = config.password.get_secret_value() if config.password else ""
    material = f"{config.host}|{config.port}|{config.tls}|{config.username}|{password}"
    return hashlib.sha256(material.encode()).hexdigest()
