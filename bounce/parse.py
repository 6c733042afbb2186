"""`parse_bounce`: raw bytes in, a `ParsedBounce` out, whatever the bytes are."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from email.message import Message

from bounce.addresses import clean_address, find_addresses
from bounce.autoreply import auto_reply_signal
from bounce.classify import classify, is_hard, is_temporary
from bounce.dsn import DeliveryStatus, find_delivery_status
from bounce.feedback import read_feedback
from bounce.formats import (
    Finding,
    Report,
    TextReading,
    diagnose,
    looks_like_bounce,
    read_text_bounce,
)
from bounce.formats.ses import read_ses_notification
from bounce.formats.text import blocks_by_address, compact, infer_action, report_text
from bounce.message import header_text, load_message
from bounce.model import BouncedRecipient, BounceKind, ParsedBounce, Reason
from bounce.original import OriginalRefs, envelope_token, find_original, token_in_text
from bounce.status import find_reply_code, find_status
from bounce.upstream import upstream_failures

logger = logging.getLogger(__name__)

_SUCCESS_ACTIONS = frozenset({"delivered", "relayed", "expanded"})


def parse_bounce(raw: bytes) -> ParsedBounce:
    """Read a returned message: what it is, who bounced and why, and which message it was.
    Never raises: input nothing can be made of is `other`, with the error in `defects`."""
    try:
        return _parse(raw)
    except (Exception, RecursionError) as exc:  # malformed input must never stop the pipeline
        logger.warning("bounce parse failed: %s", type(exc).__name__)
        return ParsedBounce(BounceKind.OTHER, False, detector="error", defects=(repr(exc)[:200],))


def _recipient(finding: Finding) -> BouncedRecipient:
    action = (finding.action or "failed").lower()
    if action not in ("failed", "delayed"):
        action = "failed"
    status = finding.status or None
    code = finding.reply_code or find_reply_code(finding.diagnostic)
    if status is None:
        status = find_status(finding.diagnostic)
    reason = finding.reason or classify(
        status=status, reply_code=code, diagnostic=finding.diagnostic, action=action
    )
    if finding.reason and action == "failed" and is_temporary(status, code, action):
        action = "delayed" if finding.action == "delayed" else action
    return BouncedRecipient(
        address=finding.address,
        reason=reason,
        hard=is_hard(reason, status, code, action),
        action=action,
        status=status,
        reply_code=code,
        diagnostic=compact(finding.diagnostic),
        remote_mta=finding.remote_mta,
    )


def _dsn_findings(report: DeliveryStatus, text: TextReading | None, section: str) -> list[Finding]:
    """DSN recipients, with text diagnostics filling in where the DSN has none."""
    by_address = {f.address: f for f in (text.findings if text else ())}
    blocks = blocks_by_address(section, [r.final_recipient for r in report.recipients])
    findings: list[Finding] = []
    for item in report.recipients:
        if item.action in _SUCCESS_ACTIONS:
            continue
        diagnostic = item.diagnostic_code
        from_text = by_address.get(item.final_recipient)
        if not diagnostic:
            diagnostic = (from_text.diagnostic if from_text else "") or blocks.get(
                item.final_recipient, ""
            )
        elif (
            from_text
            and not find_status(diagnostic)
            and not find_reply_code(diagnostic)
            and (find_status(from_text.diagnostic) or find_reply_code(from_text.diagnostic))
        ):
            diagnostic = f"{diagnostic} {from_text.diagnostic}"
        status = item.status if find_status(item.status or "") else None
        findings.append(
            Finding(
                address=item.final_recipient,
                diagnostic=diagnostic,
                status=_better_status(status, diagnostic),
                reply_code=find_reply_code(diagnostic),
                action=item.action or _action_from_status(status),
                remote_mta=item.remote_mta,
            )
        )
    return findings


def _better_status(declared: str | None, diagnostic: str) -> str | None:
    """A generic declared status (Exim's and Courier's 5.0.0) yields to the remote server's."""
    quoted = find_status(diagnostic)
    if declared and quoted and declared.endswith(".0.0") and declared[0] == quoted[0]:
        return quoted
    return declared or quoted


def _action_from_status(status: str | None) -> str:
    return "delayed" if status and status.startswith("4") else "failed"


def _bystanders(message: Message, original: OriginalRefs) -> set[str]:
    names = (
        "From",
        "To",
        "Cc",
        "Reply-To",
        "Sender",
        "Return-Path",
        "Delivered-To",
        "X-Original-To",
        "Envelope-To",
        "Errors-To",
    )
    found = {a for n in names for v in (message.get_all(n) or []) for a in find_addresses(str(v))}
    return found | set(original.senders)


def _build(
    kind: BounceKind,
    recipients: Iterable[BouncedRecipient],
    original: OriginalRefs,
    message: Message,
    detector: str,
    text: str,
    **extra: object,
) -> ParsedBounce:
    people = tuple(recipients)
    is_bounce = bool(extra.pop("is_bounce", kind is BounceKind.DSN))
    token = envelope_token(message) or original.verp_token or token_in_text(text)
    return ParsedBounce(
        kind=kind,
        is_bounce=is_bounce,
        recipients=people,
        original_message_id=original.message_id,
        original_ref=original.ref,
        verp_token=token,
        detector=detector,
        **extra,  # type: ignore[arg-type]
    )


def _non_bounce(reason: Reason, address: str) -> BouncedRecipient:
    return BouncedRecipient(address=address, reason=reason, hard=False, action="")


def _parse(raw: bytes) -> ParsedBounce:
    message = load_message(raw)
    text = report_text(message)
    original = find_original(message, text)
    report = Report(
        message=message,
        subject=header_text(message, "Subject"),
        sender=header_text(message, "From"),
        text=text,
        bystanders=_bystanders(message, original),
    )

    feedback = read_feedback(message)
    ses = read_ses_notification(text)
    if feedback is not None or (ses is not None and ses[0] == "complaint"):
        addresses = feedback.recipients if feedback else tuple(f.address for f in ses[1])  # type: ignore[index]
        people = [_non_bounce(Reason.FEEDBACK, a) for a in addresses]
        return _build(
            BounceKind.FEEDBACK,
            people,
            original,
            message,
            "arf",
            text,
            feedback_type=feedback.feedback_type if feedback else "abuse",
        )

    bounce_signals = looks_like_bounce(report)
    status = find_delivery_status(message)
    reading = read_text_bounce(report, required=bounce_signals or status is not None)
    section = reading.section if reading else text
    if status is not None and status.recipients:
        findings: list[Finding] | tuple[Finding, ...] = _dsn_findings(status, reading, section)
        detector = "dsn"
        if not findings:  # a success report (delivered, relayed, expanded): not a bounce
            return _build(
                BounceKind.DSN,
                (),
                original,
                message,
                detector,
                text,
                is_bounce=False,
                reporting_mta=status.reporting_mta,
            )
        people = [_recipient(f) for f in findings]
        return _build(
            BounceKind.DSN,
            people,
            original,
            message,
            detector,
            text,
            reporting_mta=status.reporting_mta,
        )

    if not bounce_signals and auto_reply_signal(message, text):
        sender = clean_address(header_text(message, "Reply-To") or report.sender)
        sender = clean_address(report.sender) or sender
        people = [_non_bounce(Reason.VACATION, sender)] if sender else []
        return _build(BounceKind.AUTOREPLY, people, original, message, "autoreply", text)

    fallback = upstream_failures(message)
    if reading is not None and reading.findings and (reading.detector != "generic" or not fallback):
        people = [_recipient(f) for f in reading.findings]
        return _build(BounceKind.DSN, people, original, message, reading.detector, text)

    if fallback and (bounce_signals or reading is not None):
        action = infer_action(report.subject, section)
        temporary = {a for a, is_temporary in fallback if is_temporary}
        findings = diagnose(report, section, [a for a, _ in fallback], action)
        people = [
            _recipient(replace(f, action="delayed" if f.address in temporary else f.action))
            for f in findings
        ]
        return _build(BounceKind.DSN, people, original, message, "flufl", text)

    if bounce_signals and (status is not None or reading is not None):
        guessed = [a for a in original.recipients if a not in report.bystanders][:1]
        action = infer_action(report.subject, section)
        people = [_recipient(f) for f in diagnose(report, section, guessed, action)]
        return _build(BounceKind.DSN, people, original, message, "original-to", text)
    return _build(BounceKind.OTHER, (), original, message, "", text)
