"""The bounce reasons in plain words, one sentence per `Reason`, for accounting staff."""

from __future__ import annotations

from bounce.model import Reason

REASONS: dict[Reason, str] = {
    Reason.USER_UNKNOWN: "The mailbox does not exist. Check the address with the customer.",
    Reason.HOST_UNKNOWN: "The email domain (the part after @) does not exist. Check its spelling.",
    Reason.HAS_MOVED: "The recipient has moved to a new address; the old one no longer works.",
    Reason.NOT_ACCEPT: "The recipient's domain does not accept any email.",
    Reason.MAILBOX_FULL: "The recipient's mailbox is full.",
    Reason.EXCEED_LIMIT: "The email is larger than the recipient's mailbox allows.",
    Reason.MESG_TOO_BIG: "The email is too large for the recipient's mail server.",
    Reason.FILTERED: (
        "The recipient's mail server refused it (a filter, or the mailbox is disabled)."
    ),
    Reason.REJECTED: "The recipient's mail server refused our sender address.",
    Reason.BLOCKED: "The recipient's mail server blocks mail from our sending server.",
    Reason.SPAM_DETECTED: "The recipient's mail server took the email for spam.",
    Reason.VIRUS_DETECTED: "The recipient's mail server thought the email carried a virus.",
    Reason.POLICY_VIOLATION: "The email broke a rule of the recipient's organisation.",
    Reason.SECURITY_ERROR: "The recipient's mail server refused it for a security reason.",
    Reason.AUTH_FAILURE: "The email failed the recipient's sender checks (SPF, DKIM or DMARC).",
    Reason.NO_RELAYING: "The recipient's mail server refused to pass the email on.",
    Reason.REQUIRE_PTR: "The recipient's mail server wants our server to have a reverse DNS name.",
    Reason.NOT_COMPLIANT_RFC: (
        "The recipient's mail server says the email breaks the email standards."
    ),
    Reason.CONTENT_ERROR: "The recipient's mail server could not accept the email's content.",
    Reason.EXPIRED: (
        "Delivery kept failing until we gave up; the server could not be reached in time."
    ),
    Reason.NETWORK_ERROR: "A network problem stopped the delivery.",
    Reason.SYSTEM_ERROR: "The recipient's mail server had an internal error.",
    Reason.SYSTEM_FULL: "The recipient's mail server has run out of space.",
    Reason.TOO_MANY_CONN: "The recipient's mail server was too busy (too many connections).",
    Reason.SPEEDING: "The recipient's mail server asked us to send more slowly.",
    Reason.SUSPEND: "The recipient's mailbox is suspended or no longer in use.",
    Reason.SYNTAX_ERROR: "The recipient's mail server did not understand our server.",
    Reason.MAILER_ERROR: "The recipient's mail program failed to deliver the email.",
    Reason.ON_HOLD: "The bounce could not be classified yet; delivery is on hold.",
    Reason.FAILED_STARTTLS: "No encrypted connection to the recipient's mail server was possible.",
    Reason.BAD_REPUTATION: "The recipient's mail server distrusts our sending server's reputation.",
    Reason.UNDEFINED: "The bounce does not say why the email could not be delivered.",
    Reason.FEEDBACK: "The recipient marked the email as spam.",
    Reason.VACATION: "An automatic reply (for example, out of office); the email did arrive.",
}


def explain_reason(code: str | None) -> str:
    """A bounce reason code (a `Reason` value, any case) in plain words for accounting staff;
    codes stored before the vocabulary knew them get a generic sentence naming the code."""
    key = (code or Reason.UNDEFINED.value).strip().lower()
    try:
        sentence = REASONS.get(Reason(key))
    except ValueError:
        sentence = None
    return sentence or f"The email could not be delivered (reason code: {key})."
