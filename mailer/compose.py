"""Turn a stored send request into the signed bytes to hand to a transport."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from mailer.catalog import CATALOG
from mailer.dkim import DkimSigner
from mailer.errors import RenderError
from mailer.events import Address, SendEvent
from mailer.message import RenderedEmail
from mailer.mime import build_message
from mailer.pdf_pool import PdfRenderer
from mailer.render import EmailRenderer

REF_HEADER = "X-Mailer-Ref"


@dataclass(frozen=True, slots=True)
class SenderIdentity:
    """The shared relay's identity: From address, VERP domain, Message-ID domain."""

    from_address: str
    bounce_domain: str
    message_id_domain: str

    def return_path(self, token: str) -> str:
        return f"bounces+{token}@{self.bounce_domain}"

    def thread_address(self, token: str) -> str:
        return f"reply+{token}@{self.bounce_domain}"


@dataclass(frozen=True, slots=True)
class Draft:
    """What to compose: the event and the identifiers that stay the same on every attempt."""

    event: SendEvent
    locale: str
    message_id: str
    ref_token: str
    thread_token: str
    created_at: datetime
    attach_pdf: bool
    sender: Address
    signer: DkimSigner | None
    payment_methods: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ComposedMessage:
    """The wire bytes, and the subject and text the A/R inbox shows for them."""

    data: bytes
    subject: str
    text: str
    sender: str


class Composer:
    """Renders, attaches, builds MIME and signs; blocking work runs off the event loop."""

    def __init__(
        self,
        renderer: EmailRenderer,
        pdfs: PdfRenderer,
        signer: DkimSigner | None,
        identity: SenderIdentity,
    ) -> None:
        self._renderer = renderer
        self._pdfs = pdfs
        self.platform_signer = signer
        self.identity = identity

    async def compose(self, draft: Draft) -> ComposedMessage:
        """The message for `draft`; RenderError when the event cannot become an email."""
        event = draft.event
        rendered = self._renderer.render(event, payment_methods=draft.payment_methods)
        document = CATALOG[event.template].document
        if draft.attach_pdf and document is not None:
            attachment = await self._pdfs.render(document, event.data, draft.locale)
            rendered = RenderedEmail(rendered.subject, rendered.html, rendered.text, (attachment,))
        data = self._build(draft, rendered)
        if draft.signer is not None:
            data = await asyncio.to_thread(draft.signer.sign, data)
        return ComposedMessage(data, rendered.subject, rendered.text, draft.sender.email)

    def _build(self, draft: Draft, rendered: RenderedEmail) -> bytes:
        company = draft.event.data.company
        name = company.name[:200] or None
        # Replies reach the firm and, through the thread address, its A/R inbox thread.
        reply_to = [Address.model_construct(email=self.identity.thread_address(draft.thread_token))]
        if company.email:
            reply_to.insert(0, Address(email=company.email, name=name))
        try:
            return build_message(
                rendered,
                sender=draft.sender,
                reply_to=reply_to,
                to=draft.event.to,
                cc=draft.event.cc,
                message_id=draft.message_id,
                date=draft.created_at,
                headers={REF_HEADER: draft.ref_token},
            )
        except ValueError as exc:
            raise RenderError(f"cannot build the message: {exc}") from exc
