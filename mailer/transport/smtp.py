"""SMTP delivery to the shared relay or a tenant's server over a small pool of connections."""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import time
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import aiosmtplib
from aiosmtplib.email import parse_address

from mailer.transport.base import Envelope, Outcome, RecipientResult, SendResult
from mailer.transport.smtp_config import SmtpConfig
from mailer.transport.smtp_replies import Verdict, exception_verdict, reply_verdict

__all__ = ["SmtpConfig", "SmtpTransport"]

logger = logging.getLogger(__name__)

QUIT_TIMEOUT = 5.0

_T = TypeVar("_T")


class _StepFailed(Exception):
    """A protocol step failed; carries the verdict for every recipient not yet settled."""

    def __init__(self, stage: str, verdict: Verdict) -> None:
        super().__init__(verdict.detail)
        self.stage = stage
        self.verdict = verdict


class _StaleConnection(Exception):
    """A pooled connection turned out dead before anything was handed over."""


async def _step(stage: str, awaitable: Awaitable[_T]) -> _T:
    try:
        return await awaitable
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise _StepFailed(stage, exception_verdict(stage, exc)) from exc


def _collect(
    envelope: Envelope, settled: Mapping[str, RecipientResult], rest: Verdict
) -> SendResult:
    """Results in envelope order: individually settled recipients, the rest share ``rest``."""
    return SendResult(
        tuple(settled.get(rcpt) or rest.for_recipient(rcpt) for rcpt in envelope.recipients)
    )


def _address_problem(address: str, *, utf8_ok: bool, null_ok: bool = False) -> str | None:
    if not address and not null_ok:
        return "empty address"
    if not address.isascii() and not utf8_ok:
        return "non-ASCII address but the server does not offer SMTPUTF8"
    try:
        # aiosmtplib would quietly send only the part it can parse; the envelope must be exact.
        verbatim = parse_address(address) == address
    except ValueError:
        verbatim = False
    return None if verbatim else "not a bare address that SMTP can carry verbatim"


def _permanent(detail: str) -> Verdict:
    return Verdict(Outcome.PERMANENT_FAILURE, detail, fatal=False)


def _refuse_invalid_recipients(
    recipients: Iterable[str], *, utf8_ok: bool
) -> dict[str, RecipientResult]:
    """Settle, without asking the server, recipients that cannot be put on an RCPT line."""
    refused: dict[str, RecipientResult] = {}
    for rcpt in recipients:
        reason = _address_problem(rcpt, utf8_ok=utf8_ok)
        if reason:
            refused[rcpt] = _permanent(f"recipient: {reason}").for_recipient(rcpt)
    return refused


@dataclass(slots=True)
class _Idle:
    smtp: aiosmtplib.SMTP
    since: float


class SmtpTransport:
    """A ``Transport`` speaking SMTP to one server, reusing up to ``max_connections`` sessions.

    * ``send()`` never raises for anything the network or the server does; every failure becomes a
      per-recipient ``RecipientResult``. Only 5xx replies are permanent; anything without a server
      reply (timeouts, refused or dropped connections, TLS failures, missing STARTTLS) is temporary,
      because it may be a passing fault or an attacker stripping STARTTLS, and retrying is safe.
    * TLS modes: ``implicit`` (SMTPS), ``starttls_required`` (fail closed without STARTTLS),
      ``starttls`` (opportunistic: upgrade when offered, else plaintext) and ``none``. Certificates
      are always verified when TLS is used: an invalid certificate is a temporary failure, never a
      silent downgrade.
    * Credentials are never sent over plaintext: ``tls="none"`` with a username is a
      ``ConfigurationError``, and with opportunistic STARTTLS a server that does not offer it makes
      the send fail closed (temporary failure), exactly like ``starttls_required``.
    * Pooling: at most ``max_connections`` connections exist at once (checked out plus idle). A
      connection goes back to the pool only after a clean reply; after a refused transaction it is
      RSET first. 421 replies, timeouts, drops and malformed replies close it. A pooled connection
      idle for longer than ``max_idle`` is quit; one found dead at MAIL FROM is replaced once,
      transparently, because nothing was handed over yet. No NOOP probe: it would cost a round
      trip per message to detect what the MAIL FROM retry already handles.
    """

    def __init__(self, config: SmtpConfig) -> None:
        self._config = config
        self._slots = asyncio.Semaphore(config.max_connections)
        self._idle: list[_Idle] = []
        self._tls_context: ssl.SSLContext | None = None
        self._local_hostname = config.local_hostname
        self._closed = False

    @property
    def config(self) -> SmtpConfig:
        """The configuration this transport was built with."""
        return self._config

    def __repr__(self) -> str:
        return f"SmtpTransport({self._config.host}:{self._config.port}, tls={self._config.tls})"

    async def send(self, envelope: Envelope, message: bytes) -> SendResult:
        """Try once to deliver ``message``; every failure becomes a per-recipient result."""
        if not envelope.recipients:
            return SendResult(())
        async with self._slots:
            result = await self._send_in_slot(envelope, message)
        self._log(result)
        return result

    async def check_login(self) -> RecipientResult:
        """Connect, secure and log in as a send would, then quit: a health check, sending nothing.

        The result's `recipient` is empty; ACCEPTED means the server let us in."""
        try:
            smtp = await self._open()
        except _StepFailed as failed:
            return failed.verdict.for_recipient("")
        await _quit(smtp)
        return RecipientResult("", Outcome.ACCEPTED, detail="logged in")

    async def aclose(self) -> None:
        """Quit every pooled connection; connections in use are closed when they come back."""
        self._closed = True
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(entry.smtp) for entry in idle))

    async def _send_in_slot(self, envelope: Envelope, message: bytes) -> SendResult:
        if self._closed:  # closed while this send waited for a slot
            return _collect(envelope, {}, Verdict(Outcome.TEMPORARY_FAILURE, "transport closed"))
        smtp = await self._checkout_idle()
        if smtp is not None:
            try:
                return await self._send_on(smtp, envelope, message, reused=True)
            except _StaleConnection:
                logger.debug("pooled connection to %s went stale; reconnecting", self._config.host)
        try:
            smtp = await self._open()
        except _StepFailed as failed:
            return _collect(envelope, {}, failed.verdict)
        return await self._send_on(smtp, envelope, message, reused=False)

    async def _send_on(
        self, smtp: aiosmtplib.SMTP, envelope: Envelope, message: bytes, *, reused: bool
    ) -> SendResult:
        try:
            result, reusable = await self._transact(smtp, envelope, message, reused=reused)
            clean = all(r.outcome is Outcome.ACCEPTED for r in result.recipients)
            await self._checkin(smtp, reusable=reusable, needs_reset=not clean)
        except BaseException:
            smtp.close()
            raise
        return result

    async def _checkout_idle(self) -> aiosmtplib.SMTP | None:
        now = time.monotonic()
        while self._idle:
            entry = self._idle.pop()
            if entry.smtp.is_connected and now - entry.since < self._config.max_idle:
                return entry.smtp
            await _quit(entry.smtp)
        return None

    async def _checkin(self, smtp: aiosmtplib.SMTP, *, reusable: bool, needs_reset: bool) -> None:
        if reusable and needs_reset:
            try:
                await smtp.rset()
            except (aiosmtplib.SMTPException, OSError):
                reusable = False
        if not (reusable and smtp.is_connected):
            smtp.close()
        elif self._closed:
            await _quit(smtp)
        else:
            self._idle.append(_Idle(smtp, time.monotonic()))

    async def _open(self) -> aiosmtplib.SMTP:
        """Connect, greet, secure and authenticate a new session."""
        cfg = self._config
        tls_context = await _step("TLS setup", self._tls()) if cfg.tls != "none" else None
        smtp = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            local_hostname=await self._hostname(),
            timeout=cfg.timeout,
            use_tls=cfg.tls == "implicit",
            start_tls=False,
            tls_context=tls_context,
        )
        try:
            await _step("connect", smtp.connect())
            await _step("EHLO", _greet(smtp))
            await _step("STARTTLS", self._secure(smtp))
            await _step("AUTH", self._authenticate(smtp))
        except BaseException:
            smtp.close()
            raise
        return smtp

    async def _secure(self, smtp: aiosmtplib.SMTP) -> None:
        if self._config.tls not in ("starttls", "starttls_required") or _encrypted(smtp):
            return
        if smtp.supports_extension("starttls"):
            await smtp.starttls()
            await smtp.ehlo()
        elif self._config.requires_tls:
            raise aiosmtplib.SMTPException(
                "server does not offer STARTTLS; refusing to continue without TLS"
            )

    async def _authenticate(self, smtp: aiosmtplib.SMTP) -> None:
        cfg = self._config
        if cfg.username is None:
            return
        if not _encrypted(smtp):  # unreachable by configuration; kept as the last guard
            raise aiosmtplib.SMTPException("refusing to send credentials without TLS")
        password = cfg.password.get_secret_value() if cfg.password else ""
        await smtp.login(cfg.username, password)

    async def _transact(
        self, smtp: aiosmtplib.SMTP, envelope: Envelope, message: bytes, *, reused: bool
    ) -> tuple[SendResult, bool]:
        """One MAIL/RCPT/DATA transaction; returns the result and whether to keep the session."""
        utf8_ok = smtp.supports_extension("smtputf8")
        problem = _address_problem(envelope.sender, utf8_ok=utf8_ok, null_ok=True)
        if problem:
            return _collect(envelope, {}, _permanent(f"sender: {problem}")), True
        settled = _refuse_invalid_recipients(envelope.recipients, utf8_ok=utf8_ok)
        if len(settled) == len(set(envelope.recipients)):
            return SendResult(tuple(settled[r] for r in envelope.recipients)), True
        to_ask = [r for r in envelope.recipients if r not in settled]
        utf8 = not all(a.isascii() for a in (envelope.sender, *to_ask))
        encoding = "utf-8" if utf8 else "ascii"
        try:
            options = _mail_options(smtp, message, utf8=utf8)
            await _step("MAIL", smtp.mail(envelope.sender, options=options, encoding=encoding))
            accepted = await _add_recipients(smtp, envelope.recipients, settled, encoding)
            if not accepted:
                return SendResult(tuple(settled[r] for r in envelope.recipients)), True
            reply = await _step("DATA", smtp.data(message))
        except _StepFailed as failed:
            cause = failed.__cause__
            if reused and failed.stage == "MAIL" and _is_disconnect(cause):
                raise _StaleConnection from failed
            return _collect(envelope, settled, failed.verdict), not failed.verdict.fatal
        return _collect(envelope, settled, reply_verdict("DATA", reply.code, reply.message)), True

    async def _hostname(self) -> str:
        if self._local_hostname is None:
            self._local_hostname = await asyncio.to_thread(socket.getfqdn)
        return self._local_hostname

    async def _tls(self) -> ssl.SSLContext:
        if self._tls_context is None:
            cafile = str(self._config.ca_file) if self._config.ca_file else None
            self._tls_context = await asyncio.to_thread(ssl.create_default_context, cafile=cafile)
        return self._tls_context

    def _log(self, result: SendResult) -> None:
        counts = {outcome: 0 for outcome in Outcome}
        for recipient in result.recipients:
            counts[recipient.outcome] += 1
        logger.info(
            "smtp %s:%d: %d accepted, %d temporary, %d permanent",
            self._config.host,
            self._config.port,
            counts[Outcome.ACCEPTED],
            counts[Outcome.TEMPORARY_FAILURE],
            counts[Outcome.PERMANENT_FAILURE],
        )


async def _greet(smtp: aiosmtplib.SMTP) -> None:
    try:
        await smtp.ehlo()
    except aiosmtplib.SMTPHeloError:
        if not smtp.is_connected:
            raise
        await smtp.helo()


async def _add_recipients(
    smtp: aiosmtplib.SMTP,
    recipients: Iterable[str],
    settled: dict[str, RecipientResult],
    encoding: str,
) -> list[str]:
    """RCPT each recipient once; refusals are settled, a fatal reply ends the transaction."""
    accepted: list[str] = []
    for rcpt in dict.fromkeys(recipients):
        if rcpt in settled:
            continue
        try:
            await _step("RCPT", smtp.rcpt(rcpt, encoding=encoding))
        except _StepFailed as failed:
            if failed.verdict.fatal:
                raise
            settled[rcpt] = failed.verdict.for_recipient(rcpt)
        else:
            accepted.append(rcpt)
    return accepted


def _mail_options(smtp: aiosmtplib.SMTP, message: bytes, *, utf8: bool) -> list[str]:
    options: list[str] = []
    if smtp.supports_extension("size"):
        options.append(f"SIZE={len(message)}")
    if not message.isascii() and smtp.supports_extension("8bitmime"):
        options.append("BODY=8BITMIME")
    if utf8:
        options.append("SMTPUTF8")
    return options


def _encrypted(smtp: aiosmtplib.SMTP) -> bool:
    return smtp.is_connected and smtp.get_transport_info("sslcontext") is not None


def _is_disconnect(exc: BaseException | None) -> bool:
    return isinstance(exc, aiosmtplib.SMTPServerDisconnected)


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    """Say goodbye politely if the session is alive; close it in any case."""
    try:
        if smtp.is_connected:
            await smtp.quit(timeout=QUIT_TIMEOUT)
    except (aiosmtplib.SMTPException, OSError):
        pass
    finally:
        smtp.close()
