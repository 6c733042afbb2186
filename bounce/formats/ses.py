"""Amazon SES notifications (bounce, complaint) delivered as JSON in a mail body."""

from __future__ import annotations

import json
from typing import Any

from bounce.addresses import clean_address
from bounce.formats.text import Finding
from bounce.model import Reason

# SES bounceSubType -> reason (Permanent/Transient decides hard and soft on top).
_SUBTYPES = {
    "noemail": Reason.USER_UNKNOWN,
    "suppressed": Reason.USER_UNKNOWN,
    "onaccountsuppressionlist": Reason.USER_UNKNOWN,
    "mailboxfull": Reason.MAILBOX_FULL,
    "messagetoolarge": Reason.MESG_TOO_BIG,
    "contentrejected": Reason.SPAM_DETECTED,
    "attachmentrejected": Reason.POLICY_VIOLATION,
}


def _document(text: str) -> dict[str, Any] | None:
    start = text.find("{")
    end = text.rfind("}")
    if start < 0 or end <= start or ("notificationType" not in text and "eventType" not in text):
        return None
    try:
        document = json.loads(text[start : end + 1])
    except ValueError:
        return None
    if isinstance(document, dict) and isinstance(document.get("Message"), str):
        try:  # an SNS envelope around the notification
            document = json.loads(document["Message"])
        except ValueError:
            return None
    return document if isinstance(document, dict) else None


def read_ses_notification(text: str) -> tuple[str, list[Finding]] | None:
    """("bounce" | "complaint", recipients) for an SES notification, else None."""
    document = _document(text)
    if document is None:
        return None
    kind = str(document.get("notificationType") or document.get("eventType") or "").lower()
    if kind == "bounce" and isinstance(document.get("bounce"), dict):
        bounce = document["bounce"]
        permanent = str(bounce.get("bounceType", "")).lower() == "permanent"
        subtype = str(bounce.get("bounceSubType", "")).lower()
        findings = []
        for item in bounce.get("bouncedRecipients") or []:
            if not isinstance(item, dict):
                continue
            address = clean_address(str(item.get("emailAddress", "")))
            if not address:
                continue
            status = item.get("status")
            findings.append(
                Finding(
                    address=address,
                    diagnostic=str(item.get("diagnosticCode") or ""),
                    status=str(status) if status else None,
                    action=str(item.get("action") or ("failed" if permanent else "delayed")),
                    reason=_SUBTYPES.get(subtype),
                    remote_mta=str(bounce.get("remoteMtaIp") or "") or None,
                )
            )
        return "bounce", findings
    if kind == "complaint" and isinstance(document.get("complaint"), dict):
        complaint = document["complaint"]
        recipients = complaint.get("complainedRecipients") or []
        findings = [
            Finding(address=clean_address(str(r.get("emailAddress", ""))), action="")
            for r in recipients
            if isinstance(r, dict) and clean_address(str(r.get("emailAddress", "")))
        ]
        return "complaint", findings
    return None
