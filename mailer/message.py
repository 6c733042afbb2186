"""Values passed between rendering, MIME building and transports."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to an email."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """The localized content of one email, before addressing and MIME."""

    subject: str
    html: str
    text: str
    attachments: tuple[Attachment, ...] = field(default=())
