"""Loopback aiosmtpd servers for tests: a recording sink with switchable faults, TLS and AUTH."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
import warnings
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AnyStr, Literal
from urllib.parse import quote, urlencode

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "HOST",
    "Faults",
    "HangPoint",
    "ReceivedMessage",
    "RecordingHandler",
    "SmtpTestServer",
    "TlsFiles",
    "free_port",
    "make_tls_files",
    "running_smtp_server",
]

HOST = "127.0.0.1"
HangPoint = Literal["greeting", "MAIL", "RCPT", "DATA", "after_dot"]
ServerTls = Literal["none", "starttls", "implicit"]


@dataclass
class Faults:
    """Misbehaviour to switch on; tests may change fields between sends.

    Reply strings are full SMTP replies (``"450 4.2.0 Mailbox busy"``). After any 421 reply the
    server closes the connection, as real servers do.
    """

    greeting: str | None = None  # replaces the 220 banner; the server then closes
    mail: str | None = None  # reply to MAIL FROM
    rcpt: dict[str, str] = field(default_factory=dict)  # recipient -> reply to its RCPT TO
    data_command: str | None = None  # reply to the DATA command instead of 354
    data: str | None = None  # reply after the final dot instead of 250
    drop_during_data: bool = False  # close after 354 and the first line of content
    drop_after_dot: bool = False  # close after the final dot without replying
    hang: HangPoint | None = None  # never answer at that point


@dataclass(frozen=True)
class ReceivedMessage:
    """One message the sink accepted, with how it arrived."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes
    mail_options: tuple[str, ...]
    tls: bool
    login: str | None


class RecordingHandler:
    """aiosmtpd handler that records accepted messages and applies ``Faults``."""

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.messages: list[ReceivedMessage] = []
        self.quits = 0

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        await _maybe_hang(self.faults.hang == "MAIL")
        if self.faults.mail:
            return self.faults.mail
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        await _maybe_hang(self.faults.hang == "RCPT")
        if address in self.faults.rcpt:
            return self.faults.rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.faults.drop_after_dot:
            _close(server)
        await _maybe_hang(self.faults.drop_after_dot or self.faults.hang == "after_dot")
        if self.faults.data:
            return self.faults.data
        self.messages.append(_received(server, session, envelope))
        return f"250 2.0.0 OK queued as {len(self.messages)}"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.quits += 1
        return "221 2.0.0 Bye"


class FaultySMTP(SMTP):
    """aiosmtpd's SMTP with faults the handler hooks cannot express."""

    def __init__(self, handler: RecordingHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._greeted = False

    @property
    def faults(self) -> Faults:
        """The handler's current faults, so tests can swap them mid-session."""
        faults: Faults = self.event_handler.faults
        return faults

    async def push(self, status: AnyStr) -> None:
        text = status.decode() if isinstance(status, bytes) else str(status)
        closing = text.startswith("421")
        if not self._greeted:
            self._greeted = True
            await _maybe_hang(self.faults.hang == "greeting")
            if self.faults.greeting:
                text, closing = self.faults.greeting, True
        await super().push(text)
        if closing:
            _close(self)

    async def smtp_DATA(self, arg: str) -> None:
        if not (self.envelope and self.envelope.rcpt_tos):
            await super().smtp_DATA(arg)
            return
        await _maybe_hang(self.faults.hang == "DATA")
        if self.faults.data_command:
            await self.push(self.faults.data_command)
        elif self.faults.drop_during_data:
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            await self._reader.readline()
            _close(self)
            await _maybe_hang(True)
        else:
            await super().smtp_DATA(arg)


@dataclass(frozen=True)
class TlsFiles:
    """A throwaway CA and a server certificate it signed, as PEM files."""

    ca_cert: Path
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        """A server-side context presenting the certificate."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


class SmtpTestServer:
    """A running server: where it listens and what it saw."""

    def __init__(self, handler: RecordingHandler, tls: ServerTls) -> None:
        self.handler = handler
        self.tls = tls
        self.host = HOST
        self.port = 0
        self.connections = 0
        self._sessions: list[FaultySMTP] = []

    @property
    def faults(self) -> Faults:
        """The live fault switches; assign a fresh ``Faults()`` to heal the server."""
        return self.handler.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self.handler.faults = faults

    @property
    def messages(self) -> list[ReceivedMessage]:
        """Messages accepted so far, in order."""
        return self.handler.messages

    @property
    def quits(self) -> int:
        """How many sessions ended with QUIT."""
        return self.handler.quits

    @property
    def open_connections(self) -> int:
        """Sessions whose connection is still open."""
        return sum(1 for session in self._sessions if session.transport is not None)

    def drop_connections(self) -> None:
        """Close every open session from the server side, like an idle timeout would."""
        for session in self._sessions:
            _close(session)

    def url(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        **params: str | float,
    ) -> str:
        """An ``smtp://`` or ``smtps://`` URL for this server, credentials percent-encoded."""
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        userinfo = ""
        if username is not None:
            userinfo = quote(username, safe="")
            if password is not None:
                userinfo += ":" + quote(password, safe="")
            userinfo += "@"
        query = f"?{urlencode(params)}" if params else ""
        return f"{scheme}://{userinfo}{self.host}:{self.port}{query}"

    def _new_session(self, **kwargs: Any) -> FaultySMTP:
        self.connections += 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # AUTH over implicit TLS looks plaintext to aiosmtpd
            session = FaultySMTP(self.handler, **kwargs)
        self._sessions.append(session)
        return session


@asynccontextmanager
async def running_smtp_server(
    *,
    faults: Faults | None = None,
    tls: ServerTls = "none",
    tls_files: TlsFiles | None = None,
    require_starttls: bool = False,
    credentials: Mapping[str, str] | None = None,
    smtputf8: bool = False,
) -> AsyncIterator[SmtpTestServer]:
    """Serve on 127.0.0.1 at a free port in the running loop until the block exits.

    ``tls="starttls"`` offers STARTTLS (``require_starttls`` refuses mail before it);
    ``tls="implicit"`` is SMTPS. Both need ``tls_files``. ``credentials`` (login -> password)
    makes AUTH mandatory, and over STARTTLS only after the upgrade.
    """
    if tls != "none" and tls_files is None:
        raise ValueError("a TLS server needs tls_files (see make_tls_files)")
    loop = asyncio.get_running_loop()
    server = SmtpTestServer(RecordingHandler(faults or Faults()), tls)
    context = tls_files.server_context() if tls_files else None
    session_options: dict[str, Any] = {
        "hostname": "localhost",
        "loop": loop,
        "enable_SMTPUTF8": smtputf8,
        "tls_context": context if tls == "starttls" else None,
        "require_starttls": require_starttls,
        "auth_required": credentials is not None,
        "auth_require_tls": tls != "implicit",  # aiosmtpd only recognises STARTTLS
        "authenticator": _authenticator(credentials) if credentials is not None else None,
    }
    listener = await loop.create_server(
        lambda: server._new_session(**session_options),
        HOST,
        0,
        ssl=context if tls == "implicit" else None,
    )
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()
        server.drop_connections()
        await listener.wait_closed()
        await asyncio.sleep(0)


def free_port() -> int:
    """A loopback port nobody listens on (for "connection refused")."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


def make_tls_files(directory: Path, hostname: str = "localhost") -> TlsFiles:
    """Generate a CA and a server certificate for ``hostname`` and 127.0.0.1 into ``directory``."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mailer test CA")])
    ca_cert = (
        _certificate_builder(ca_name, ca_name, ca_key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    san = [x509.DNSName(hostname), x509.IPAddress(ipaddress.ip_address(HOST))]
    cert = (
        _certificate_builder(name, ca_name, key.public_key(), now)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    files = TlsFiles(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


def _certificate_builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, now: dt.datetime
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _authenticator(credentials: Mapping[str, str]) -> Any:
    def authenticate(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            if credentials.get(login) == password:
                return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)

    return authenticate


def _received(server: SMTP, session: Session, envelope: Envelope) -> ReceivedMessage:
    transport = server.transport
    tls = session.ssl is not None or (
        transport is not None and transport.get_extra_info("sslcontext") is not None
    )
    auth = session.auth_data
    login = auth.login.decode() if isinstance(auth, LoginPassword) else None
    return ReceivedMessage(
        sender=envelope.mail_from or "",
        recipients=tuple(envelope.rcpt_tos),
        data=bytes(envelope.original_content or b""),
        mail_options=tuple(envelope.mail_options),
        tls=tls,
        login=login,
    )


async def _maybe_hang(condition: bool) -> None:
    """Wait until the connection is lost (aiosmtpd then cancels the session task)."""
    if condition:
        await asyncio.get_running_loop().create_future()


def _close(server: SMTP) -> None:
    if server.transport is not None:
        server.transport.close()
