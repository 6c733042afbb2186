"""Where a stored request goes: from which address, through which transport, signed by whom."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar, cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mailer.catalog import CATALOG
from mailer.compose import Composer, Draft
from mailer.dkim import DkimSigner
from mailer.errors import ConfigurationError
from mailer.events import SendEvent
from mailer.intake import InvalidEvent
from mailer.senders import (
    Road,
    SenderChoice,
    SenderDirectory,
    SenderHeld,
    SenderRefused,
    TenantSender,
    choose_sender,
)
from mailer.store import inbox_repository as inbox
from mailer.store import repository
from mailer.store.inbox_models import EntryDirection, Thread, ThreadEntry
from mailer.store.models import SendRequest, TemplateSetting
from mailer.transport.base import Outcome, RecipientResult, Transport

logger = logging.getLogger(__name__)
_T = TypeVar("_T")
OWN_SERVER_MISSING = "the tenant's own SMTP server is not configured"
LOGIN_REFUSED_CODES = frozenset({535})
LOGIN_REFUSED_NOTE = (
    "The firm's own SMTP server refused our login ({detail}). No more mail goes out through it "
    "until the password is fixed in Settings > Sending; depending on the settings, mail waits "
    "or goes through the shared relay meanwhile."
)


@dataclass(frozen=True, slots=True)
class Planned:
    """A message ready to compose, with its transport and envelope sender."""

    draft: Draft
    transport: Transport
    envelope_sender: str
    own_server: bool


@dataclass(frozen=True, slots=True)
class NotSent:
    """Why a request is not sent this time, as a per-recipient outcome."""

    outcome: Outcome
    detail: str


class Router:
    """Decides for each request the sender, the road and the signer, from the tenant's settings."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        composer: Composer,
        transport: Transport,
        directory: SenderDirectory,
        clock: Callable[[], datetime],
    ) -> None:
        self._sessions = sessions
        self._composer = composer
        self._transport = transport
        self._directory = directory
        self._clock = clock

    async def refuse_sender(self, event: SendEvent) -> InvalidEvent | None:
        """An event asking for a From address its tenant may not use is rejected, not queued."""
        if event.sender is None:
            return None
        try:
            async with self._sessions() as session:
                await self._choose_sender(_Reads(session, self._directory), event)
        except SenderRefused as refused:
            return InvalidEvent(str(refused), event.tenant, event.id)
        return None

    async def _choose_sender(self, reads: _Reads, event: SendEvent) -> SenderChoice:
        return choose_sender(
            requested=event.sender,
            company_name=event.data.company.name,
            platform_from=self._composer.identity.from_address,
            tenant=await reads.sender_settings(event.tenant),
            verified_domains=await reads.verified_domains(event.tenant),
        )

    async def plan(
        self,
        session: AsyncSession,
        requests: Sequence[SendRequest],
        events: Mapping[int, SendEvent] | None = None,
    ) -> list[Planned | NotSent]:
        """For each request, what to compose and where to send it (or why not this time).

        `events` are requests' events already at hand (by key), saving a re-validation of the
        stored copy. Each tenant's settings are read once for the whole batch; the caller
        commits (a request's thread may be created here)."""
        reads = _Reads(session, self._directory)
        found = await inbox.threads_by_key(session, {(r.tenant, r.thread) for r in requests})
        events = events or {}
        return [
            await self._route(
                reads, request, events.get(request.id) or SendEvent.model_validate(request.event),
                found,
            )
            for request in requests
        ]  # fmt: skip

    async def _route(
        self,
        reads: _Reads,
        request: SendRequest,
        event: SendEvent,
        threads: dict[tuple[str, str], Thread],
    ) -> Planned | NotSent:
        try:
            choice = await self._choose_sender(reads, event)
        except SenderRefused as refused:  # the domain lost its verification since acceptance
            return NotSent(Outcome.PERMANENT_FAILURE, str(refused))
        except SenderHeld as held:
            return NotSent(Outcome.TEMPORARY_FAILURE, str(held))
        except ConfigurationError as exc:  # e.g. the tenant's secrets cannot be decrypted
            logger.error("tenant %s: cannot use its sending settings: %s", request.tenant, exc)
            return NotSent(Outcome.TEMPORARY_FAILURE, f"sending settings unusable: {exc}")
        signer = self._composer.platform_signer
        if choice.signing_domain is not None:
            signer = await reads.signer_for(request.tenant, choice.signing_domain)
        transport: Transport = self._transport
        envelope_sender = self._composer.identity.return_path(request.verp_token)
        own_server = choice.road is Road.OWN_SMTP
        if own_server:
            own = await reads.own_transport(request.tenant)
            if own is None:
                return NotSent(Outcome.PERMANENT_FAILURE, OWN_SERVER_MISSING)
            # With the firm's own server, bounces go to the firm's own address.
            transport, envelope_sender = own, choice.sender.email
        thread = threads.get((request.tenant, request.thread))
        if thread is None:  # requests accepted before threads were made at acceptance
            thread = await inbox.ensure_thread(
                reads.session, request.tenant, request.thread, "", request.created_at
            )
        draft = Draft(
            event=event,
            locale=request.locale,
            message_id=request.message_id,
            ref_token=request.verp_token,
            thread_token=thread.reply_token,
            created_at=request.created_at,
            attach_pdf=await self._attach_pdf(reads, request, event),
            sender=choice.sender,
            signer=signer,
            payment_methods=await reads.payment_methods(request.tenant),
        )
        return Planned(draft, transport, envelope_sender, own_server)

    async def check_own_login(
        self, tenant: str, thread_key: str, results: list[RecipientResult]
    ) -> list[RecipientResult]:
        """A refused login stops the tenant's own server: staff are told, the mail waits."""
        refused = [r for r in results if r.smtp_code in LOGIN_REFUSED_CODES]
        if not refused:
            return results
        now = self._clock()
        detail = refused[0].detail
        async with self._sessions() as session:
            if await self._directory.own_server_refused_login(session, tenant, detail, now):
                thread = await inbox.ensure_thread(session, tenant, thread_key, "", now)
                note = ThreadEntry(
                    at=now,
                    direction=EntryDirection.NOTE.value,
                    author="mailer",
                    subject="Sending stopped",
                    body_text=LOGIN_REFUSED_NOTE.format(detail=detail),
                )
                inbox.add_entry(session, thread, note)
            await session.commit()
        logger.warning("tenant %s: its own SMTP server refused the login", tenant)
        return [
            replace(r, outcome=Outcome.TEMPORARY_FAILURE, detail=f"held: {r.detail}")
            if r.smtp_code in LOGIN_REFUSED_CODES
            else r
            for r in results
        ]

    async def _attach_pdf(self, reads: _Reads, request: SendRequest, event: SendEvent) -> bool:
        spec = CATALOG[event.template]
        if not spec.can_attach_pdf:
            return False
        if event.attach_pdf is not None:
            return event.attach_pdf
        override = (await reads.template_overrides(request.tenant)).get(request.template)
        if override is not None and override.attach_pdf is not None:
            return override.attach_pdf
        return spec.attach_pdf_by_default


class _Reads:
    """What one routing pass has read of each tenant, so that a batch reads it only once."""

    def __init__(self, session: AsyncSession, directory: SenderDirectory) -> None:
        self.session = session
        self._directory = directory
        self._memo: dict[tuple[str, ...], Any] = {}

    async def _once(self, key: tuple[str, ...], read: Callable[[], Awaitable[_T]]) -> _T:
        if key not in self._memo:
            self._memo[key] = await read()
        return cast(_T, self._memo[key])

    async def sender_settings(self, tenant: str) -> TenantSender | None:
        return await self._once(
            ("sender", tenant), lambda: self._directory.sender_settings(self.session, tenant)
        )

    async def verified_domains(self, tenant: str) -> frozenset[str]:
        return await self._once(
            ("domains", tenant), lambda: self._directory.verified_domains(self.session, tenant)
        )

    async def signer_for(self, tenant: str, domain: str) -> DkimSigner | None:
        return await self._once(
            ("signer", tenant, domain),
            lambda: self._directory.signer_for(self.session, tenant, domain),
        )

    async def own_transport(self, tenant: str) -> Transport | None:
        return await self._once(
            ("own", tenant), lambda: self._directory.own_transport(self.session, tenant)
        )

    async def payment_methods(self, tenant: str) -> tuple[str, ...]:
        return await self._once(
            ("payments", tenant), lambda: self._directory.payment_methods(self.session, tenant)
        )

    async def template_overrides(self, tenant: str) -> dict[str, TemplateSetting]:
        async def read() -> dict[str, TemplateSetting]:
            overrides = await repository.template_overrides(self.session, [tenant])
            return {template: row for (_tenant, template), row in overrides.items()}

        return await self._once(("templates", tenant), read)
