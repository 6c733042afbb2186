"""Checking a tenant's sending setup: a test send of any template, and its server's health."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from functools import cache
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mailer import tenant_settings
from mailer.compose import Composer, Draft
from mailer.errors import MailerError
from mailer.events import Address, SendEvent, TemplateData, TemplateName
from mailer.mime import make_message_id
from mailer.render import default_templates_dir
from mailer.senders import Road, SenderDirectory, SenderHeld, SenderRefused, choose_sender
from mailer.smtp_probe import ProbeOutcome, ProbeVerdict, describe
from mailer.store.inbox_repository import new_token
from mailer.store.tenant_models import TenantSending
from mailer.tenant_directory import StoredDirectory
from mailer.tenant_schemas import SendingMode
from mailer.transport.base import Envelope, SendResult, Transport
from mailer.transport.smtp import SmtpTransport

logger = logging.getLogger(__name__)
SAMPLE_DATA = Path("samples") / "template_data.json"


@cache
def sample_data(templates_dir: Path) -> TemplateData:
    """The context every template can render: a sample invoice, payment, statement..."""
    return TemplateData.model_validate(json.loads((templates_dir / SAMPLE_DATA).read_text()))


class SendingChecker:
    """Test sends through a tenant's configuration, reported in plain words."""

    def __init__(
        self,
        composer: Composer,
        shared: Transport,
        directory: SenderDirectory,
        clock: Callable[[], datetime],
    ) -> None:
        self._composer = composer
        self._shared = shared
        self._directory = directory
        self._clock = clock

    async def test_send(
        self, session: AsyncSession, tenant: str, template: TemplateName, to: str
    ) -> ProbeOutcome:
        """Send a sample of `template` to `to` as the tenant's real mail would go."""
        now = self._clock()
        event = SendEvent(
            id=f"test-send-{new_token()}",
            tenant=tenant,
            template=template,
            to=[Address(email=to)],
            data=sample_data(default_templates_dir()),
        )
        try:
            choice = choose_sender(
                requested=None,
                company_name=event.data.company.name,
                platform_from=self._composer.identity.from_address,
                tenant=await self._directory.sender_settings(session, tenant),
                verified_domains=await self._directory.verified_domains(session, tenant),
            )
        except (SenderRefused, SenderHeld) as refused:
            return ProbeOutcome(ProbeVerdict.REFUSED, str(refused), "")
        transport = self._shared
        envelope_sender = self._composer.identity.return_path(new_token())
        signer = self._composer.platform_signer
        if choice.signing_domain is not None:
            signer = await self._directory.signer_for(session, tenant, choice.signing_domain)
        if choice.road is Road.OWN_SMTP:
            own = await self._directory.own_transport(session, tenant)
            if own is None:
                return ProbeOutcome(ProbeVerdict.REFUSED, "No own SMTP server is configured.", "")
            transport, envelope_sender = own, choice.sender.email
        draft = Draft(
            event=event,
            locale="en",
            message_id=make_message_id(tenant, event.id, self._composer.identity.message_id_domain),
            ref_token=new_token(),
            thread_token=new_token(),
            created_at=now,
            attach_pdf=True,
            sender=choice.sender,
            signer=signer,
        )
        try:
            composed = await self._composer.compose(draft)
        except MailerError as exc:
            return ProbeOutcome(ProbeVerdict.REFUSED, "The sample could not be built.", str(exc))
        result = await transport.send(Envelope(envelope_sender, (to,)), composed.data)
        logger.info(
            "tenant %s: test send of %s: %s", tenant, template.value, describe(result).verdict
        )
        return describe(result)


async def check_own_servers(
    sessions: async_sessionmaker[AsyncSession],
    directory: StoredDirectory,
    clock: Callable[[], datetime],
) -> int:
    """Log in to every tenant's own SMTP server and record how it went; returns how many."""
    async with sessions() as session:
        query = select(TenantSending.tenant).where(TenantSending.mode == SendingMode.OWN_SMTP.value)
        tenants = list((await session.execute(query)).scalars())
    for tenant in tenants:
        async with sessions() as session:
            outcome = await _login_check(session, directory, tenant)
            if outcome is None:
                continue
            detail = f"{outcome.summary} {outcome.detail}".strip()
            await tenant_settings.record_health(session, tenant, outcome.ok, detail, clock())
            await session.commit()
    return len(tenants)


async def _login_check(
    session: AsyncSession, directory: StoredDirectory, tenant: str
) -> ProbeOutcome | None:
    try:
        smtp = await directory.smtp_config(session, tenant)
    except MailerError as exc:
        return ProbeOutcome(ProbeVerdict.REFUSED, "The settings cannot be used.", str(exc))
    if smtp is None:
        return None
    transport = SmtpTransport(smtp)
    try:
        return describe(SendResult((await transport.check_login(),)))
    finally:
        await transport.aclose()
