"""The bounce SMTP listener: accepts mail for the bounce domain's mailboxes and only stores it."""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mailer.errors import ConfigurationError
from mailer.store.inbox_models import InboundMessage, InboundState

__all__ = [
    "COMMAND_CALL_LIMITS",
    "DEFAULT_COMMAND_TIMEOUT",
    "DEFAULT_SESSION_TIMEOUT",
    "MAX_RECIPIENTS",
    "BounceInbox",
    "BounceListener",
    "OnStored",
    "RecipientVerdict",
    "judge_recipient",
    "start_bounce_listener",
]

logger = logging.getLogger(__name__)

DEFAULT_COMMAND_TIMEOUT = 300.0  # RFC 5321 4.5.3.2.7: a server waits 5 minutes for a command
DEFAULT_SESSION_TIMEOUT = 1800.0
MAX_RECIPIENTS = 100
MAX_SENDER_LENGTH = 320  # the size of InboundMessage.mail_from
MAX_LINE_BYTES = 64 * 1024
# Per-session budgets; over one, aiosmtpd answers 421 and hangs up. Unknown verbs have their
# own fixed budget in aiosmtpd (5, then 502 and hang-up).
COMMAND_CALL_LIMITS = {"*": 20, "MAIL": 100, "RCPT": 1000, "DATA": 100, "RSET": 100}

OnStored = Callable[[int], Awaitable[None] | None]
"""Called with the id of each stored message once it is committed (to wake the processor)."""

RELAYING_DENIED = "550 5.7.1 Relaying denied"
NO_SUCH_MAILBOX = "550 5.1.1 No such mailbox here"
SOURCE_ROUTE_REFUSED = "550 5.7.1 Source routes are not accepted"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
SENDER_TOO_LONG = "553 5.1.7 Sender address too long"
STORAGE_FAILED = "451 4.3.0 Message not stored, try again later"

_TOKEN_MAILBOX = re.compile(r"(?:bounces|forward|reply)\+[a-z0-9]{1,64}", re.IGNORECASE)
_ROLE_MAILBOXES = frozenset({"postmaster", "abuse"})
_SOURCE_ROUTE = re.compile(r"^\s*TO:\s*<\s*@", re.IGNORECASE)


@dataclass(frozen=True)
class RecipientVerdict:
    """Whether a RCPT is one of our mailboxes: its canonical form if so, and the reply."""

    mailbox: str | None
    reply: str


def judge_recipient(address: str, domain: str) -> RecipientVerdict:
    """Accept only our mailboxes; a token's shape is checked here, whether it is known later."""
    local, at, address_domain = address.rpartition("@")
    domain = domain.lower()
    if not at:  # RFC 5321 4.5.1: an unqualified "postmaster" must be accepted
        local = address
        if local.lower() != "postmaster":
            return RecipientVerdict(None, NO_SUCH_MAILBOX)
    elif address_domain.lower() != domain:
        return RecipientVerdict(None, RELAYING_DENIED)
    if local.lower() not in _ROLE_MAILBOXES and not _TOKEN_MAILBOX.fullmatch(local):
        return RecipientVerdict(None, NO_SUCH_MAILBOX)
    return RecipientVerdict(f"{local.lower()}@{domain}", "250 2.1.5 OK")


class BounceInbox:
    """aiosmtpd handler: refuses everything but our mailboxes and stores each message raw."""

    def __init__(
        self,
        *,
        domain: str,
        sessions: async_sessionmaker[AsyncSession],
        on_stored: OnStored | None = None,
        max_recipients: int = MAX_RECIPIENTS,
    ) -> None:
        self.domain = domain.lower()
        self._sessions = sessions
        self._on_stored = on_stored
        self._max_recipients = max_recipients
        self._in_flight: set[asyncio.Task[int]] = set()

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if len(address) > MAX_SENDER_LENGTH:
            return SENDER_TOO_LONG
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if len(envelope.rcpt_tos) >= self._max_recipients:
            return TOO_MANY_RECIPIENTS
        verdict = judge_recipient(address, self.domain)
        if verdict.mailbox is None:
            logger.info(
                "refused a recipient from %s: %s", _describe_peer(session.peer), verdict.reply
            )
            return verdict.reply
        envelope.rcpt_tos.append(verdict.mailbox)
        envelope.rcpt_options.extend(rcpt_options)
        return verdict.reply

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        # The log reads the envelope: the row's attributes may be expired once committed.
        peer, raw = _describe_peer(session.peer), bytes(envelope.original_content or b"")
        try:
            message_id = await self._store(_inbound_message(peer, envelope, raw))
        except Exception as exc:  # whatever the cause, the sender must keep the message
            logger.error("could not store a message from %s: %s", peer, _describe_error(exc))
            return STORAGE_FAILED
        logger.info(
            "stored inbound message %d from %s: %d bytes, %d recipients, null sender: %s",
            message_id,
            peer,
            len(raw),
            len(envelope.rcpt_tos),
            _sender(envelope) == "",
        )
        await self._notify(message_id)
        return f"250 2.0.0 OK queued as {message_id}"

    async def wait_stored(self) -> None:
        """Wait for commits still running for sessions that were cut off meanwhile."""
        if self._in_flight:
            await asyncio.wait(set(self._in_flight))

    async def _store(self, message: InboundMessage) -> int:
        # Shielded: a hang-up or timeout mid-commit must not leave the commit half done.
        task = asyncio.create_task(self._insert(message))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(_log_abandoned_store)
            raise

    async def _insert(self, message: InboundMessage) -> int:
        async with self._sessions() as session:
            session.add(message)
            await session.flush()
            message_id = message.id
            await session.commit()
        return message_id

    async def _notify(self, message_id: int) -> None:
        if self._on_stored is None:
            return
        try:
            result = self._on_stored(message_id)
            if inspect.isawaitable(result):
                await result
        except Exception:  # the message is stored: the processor's own scan will find it
            logger.exception("on_stored hook failed for inbound message %d", message_id)


class _BounceSMTP(SMTP):
    """aiosmtpd's protocol, plus a deadline on the whole session and source routes refused."""

    line_length_limit = MAX_LINE_BYTES  # a sink, not a relay: refusing long lines loses bounces

    def __init__(
        self,
        handler: BounceInbox,
        *,
        session_timeout: float,
        live: set[_BounceSMTP],
        **options: Any,
    ) -> None:
        super().__init__(handler, **options)
        self._session_timeout = session_timeout
        self._live = live
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        if self._deadline is None:
            self._deadline = self.loop.call_later(self._session_timeout, self._session_expired)
            self._live.add(self)

    def connection_lost(self, error: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._live.discard(self)
        super().connection_lost(error)

    def hang_up(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _session_expired(self) -> None:
        assert self.session is not None
        logger.info("session of %s reached its deadline", _describe_peer(self.session.peer))
        self.hang_up()

    async def smtp_RCPT(self, arg: str | None) -> None:
        # aiosmtpd drops a source route silently; we refuse it instead.
        if arg is not None and _SOURCE_ROUTE.match(arg):
            await self.push(SOURCE_ROUTE_REFUSED)
            return
        await super().smtp_RCPT(arg)


class BounceListener:
    """A running bounce listener in the caller's event loop."""

    def __init__(self, server: asyncio.Server, inbox: BounceInbox, live: set[_BounceSMTP]) -> None:
        self._server = server
        self._inbox = inbox
        self._live = live
        self.port: int = server.sockets[0].getsockname()[1]
        """The port listened on (the one picked by the system when asked for port 0)."""

    @property
    def open_sessions(self) -> int:
        """SMTP sessions connected right now."""
        return len(self._live)

    async def close(self) -> None:
        """Stop accepting, hang up on open sessions and let commits under way finish."""
        self._server.close()
        for protocol in list(self._live):
            protocol.hang_up()
        await self._server.wait_closed()
        await self._inbox.wait_stored()


async def start_bounce_listener(
    *,
    host: str,
    port: int,
    domain: str,
    sessions: async_sessionmaker[AsyncSession],
    max_message_bytes: int,
    on_stored: OnStored | None = None,
    timeout: float = DEFAULT_COMMAND_TIMEOUT,  # noqa: ASYNC109 (per session, not this call)
    session_timeout: float = DEFAULT_SESSION_TIMEOUT,
    max_recipients: int = MAX_RECIPIENTS,
) -> BounceListener:
    """Listen on host:port in the running loop.

    `timeout` is aiosmtpd's: the session ends when no valid command arrives within it, and as
    aiosmtpd does not restart that clock while it reads DATA, the whole message (354 to the
    final dot, and our commit) must arrive within it too. `session_timeout` caps a session.
    """
    _quiet_aiosmtpd_log()
    loop = asyncio.get_running_loop()
    inbox = BounceInbox(
        domain=domain, sessions=sessions, on_stored=on_stored, max_recipients=max_recipients
    )
    live: set[_BounceSMTP] = set()

    def new_session() -> _BounceSMTP:
        return _BounceSMTP(
            inbox,
            session_timeout=session_timeout,
            live=live,
            loop=loop,
            hostname=domain,  # otherwise aiosmtpd calls the blocking socket.getfqdn() per session
            ident="ESMTP",
            data_size_limit=max_message_bytes,
            timeout=timeout,
            command_call_limit=dict(COMMAND_CALL_LIMITS),
            enable_SMTPUTF8=False,
            decode_data=False,
        )

    try:
        server = await loop.create_server(new_session, host, port)
    except OSError as exc:
        raise ConfigurationError(
            f"the bounce listener cannot listen on {host}:{port}: {exc.strerror}"
        ) from exc
    listener = BounceListener(server, inbox, live)
    logger.info("bounce listener on %s:%d for @%s", host, listener.port, domain)
    return listener


def _describe_peer(peer: Any) -> str | None:
    """`host:port` (`[v6]:port`) of a session's peer, for the log and the stored row."""
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = str(peer[0]), peer[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return None if peer is None else ascii(peer)[:100]


def _inbound_message(peer: str | None, envelope: Envelope, raw: bytes) -> InboundMessage:
    return InboundMessage(
        received_at=datetime.now(UTC),
        peer=peer,
        mail_from=_sender(envelope),
        rcpt_tos=list(envelope.rcpt_tos),
        raw=raw,
        state=InboundState.PENDING.value,
        attempts=0,
    )


def _sender(envelope: Envelope) -> str:
    sender = envelope.mail_from or ""
    return "" if sender == "<>" else sender  # aiosmtpd renders the null path as "<>"


def _log_abandoned_store(task: asyncio.Task[int]) -> None:
    if task.cancelled():
        return
    if (exc := task.exception()) is not None:
        logger.warning("a message whose session ended was not stored: %s", _describe_error(exc))
    else:
        logger.warning(
            "stored inbound message %d after its session ended: expect the sender to resend it",
            task.result(),
        )


def _describe_error(exc: BaseException) -> str:
    # Never str(exc) of a SQLAlchemy error: it quotes the statement's parameters (the message).
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"{type(exc.orig).__name__}: {ascii(str(exc.orig))[:200]}"
    return type(exc).__name__


def _quiet_aiosmtpd_log() -> None:
    # aiosmtpd logs every command (recipients included) at INFO, message lines at DEBUG, and
    # unknown verbs as received at WARNING.
    library_log = logging.getLogger("mail.log")
    if library_log.level < logging.WARNING:
        library_log.setLevel(logging.WARNING)
    if not any(isinstance(known, _EscapeArguments) for known in library_log.filters):
        library_log.addFilter(_EscapeArguments())


class _EscapeArguments(logging.Filter):
    """Shows string arguments of log records escaped, so clients cannot forge log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(ascii(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True
