"""Bounce messages for tests, written the way MTAs write them (RFC 3464 reports, replies)."""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP

_BOUNDARY = "=_report_boundary_1"


def dsn(
    original: bytes,
    recipient: str,
    *,
    to: str,
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown",
    action: str = "failed",
    headers_only: bool = False,
) -> bytes:
    """An RFC 3464 delivery status notification returning `original` (or just its headers)."""
    returned = original.split(b"\r\n\r\n", 1)[0] + b"\r\n" if headers_only else original
    returned_type = b"text/rfc822-headers" if headers_only else b"message/rfc822"
    head = (
        "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\r\n"
        f"To: {to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn.1@mx.example.org>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{_BOUNDARY}"\r\n'
        "\r\n"
        f"--{_BOUNDARY}\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        "This is the mail system at host mx.example.org.\r\n\r\n"
        "I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n\r\n"
        f"--{_BOUNDARY}\r\n"
        "Content-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        f"Original-Recipient: rfc822;{recipient}\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        "Remote-MTA: dns; mx.example.org\r\n"
        f"Diagnostic-Code: {diagnostic.format(rcpt=recipient)}\r\n\r\n"
        f"--{_BOUNDARY}\r\n"
    ).encode()
    tail = f"\r\n--{_BOUNDARY}--\r\n".encode()
    return head + b"Content-Type: " + returned_type + b"\r\n\r\n" + returned + tail


def reply(*, sender: str, to: str, subject: str, text: str, auto: bool = False) -> bytes:
    """A customer's reply (or an out-of-office answer) to one of our emails."""
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = "<reply.1@example.org>"
    if auto:
        message["Auto-Submitted"] = "auto-replied"
    message.set_content(text)
    return message.as_bytes()
