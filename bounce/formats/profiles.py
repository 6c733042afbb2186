"""Where each MTA's plain-text bounce puts its failure list: one phrase per format opens it."""

from __future__ import annotations

import re

# (format name, the phrase that opens the failure section). First match wins, so the more
# specific phrases come first. Phrases are searched in the report text, case-insensitively.
_PROFILES: tuple[tuple[str, str], ...] = (
    (
        "office365",
        r"your message to \S+ couldn't be delivered|"
        r"delivery has failed to these recipients or (?:groups|distribution lists)",
    ),
    (
        "exchange2003",
        r"your message did not reach some or all of the intended recipients|"
        r"the following recipient\(s\) (?:could not|cannot) be reached",
    ),
    (
        "gmail",
        r"delivery to the following recipients? (?:failed|has been delayed)|"
        r"\*\* (?:address not found|message not delivered|message blocked|"
        r"delivery incomplete|message rejected) \*\*|your message wasn't delivered to|"
        r"there was a problem delivering your message to",
    ),
    ("googlegroups", r"we're writing to let you know that the group you tried to contact"),
    ("yahoo", r"sorry,? we were unable to deliver your message to the following address"),
    (
        "qmail",
        r"hi\. this is the qmail-send program|this is the qmail-send program|"
        r"i'm afraid i wasn't able to deliver your message|"
        r"i'm not going to try again; this message has been in the queue too long",
    ),
    (
        "opensmtpd",
        r"an error has occurred while attempting to deliver a message for|"
        r"this is the mailer-daemon, please do not reply",
    ),
    ("courier", r"(?:undeliverable|delayed) mail\s*\n|running the courier mail server"),
    (
        "gmx",
        r"this message was created automatically by mail delivery software\.\s+a message "
        r"that you sent could not be delivered to one or more of\s+its recipients\. this is "
        r"a permanent error\. the following address\s+failed",
    ),
    ("zoho", r"error code ?:\s*\d{3}"),
    (
        "exim",
        r"the following address(?:\(es\))? (?:failed|have not yet been delivered|"
        r"has not yet been delivered)|could not be delivered to one or more of its "
        r"recipients|this message was created automatically by mail delivery software|"
        r"has not yet been delivered to one or more of its",
    ),
    ("mailru", r"ваше письмо не может быть доставлено|не может быть доставлено"),
    (
        "postfix",
        r"this is the mail system at host|^\s*the mail system\s*$|"
        r"your message could not be delivered to one or more recipients",
    ),
    (
        "sendmail",
        r"-+ ?the following addresses had (?:permanent fatal errors|"
        r"transient non-fatal errors|delivery problems)|-+ ?transcript of session "
        r"follows|-+ ?the following recipients? had permanent",
    ),
    (
        "messagingserver",
        r"your message cannot be delivered to the following recipients|"
        r"this report relates to a message you sent",
    ),
    (
        "notes",
        r"was not delivered to:|-+ ?failure reasons ?-+|delivery failure:|"
        r"could not be delivered to the following",
    ),
    ("groupwise", r"the message that you sent was undeliverable to the following"),
    ("apachejames", r"error message below:"),
    ("imailserver", r"body of message generated response:"),
    ("mailmarshal", r"could not be delivered because of|the following recipients were affected"),
    ("surfcontrol", r"failed to send to identified host|a transcript of the attempts to send"),
    ("mailfoundry", r"unable to deliver message to:|delivery failed for the following reason"),
    (
        "amavis",
        r"the message was not relayed to:|was not delivered to:|"
        r"(?:banned|infected|spammy) (?:contents?|message)",
    ),
    (
        "messagelabs",
        r"delivery to the following recipients failed|"
        r"this is an automatically generated delivery status notification",
    ),
    ("mcafee", r"-+ ?the following addresses had delivery problems ?-+"),
    ("activehunter", r"-+ ?the following addresses had permanent"),
    ("facebook", r"sorry, your message could not be delivered|postmaster\.facebook\.com"),
    ("verizon", r"error-for:|message could not be delivered to the following recipients"),
    ("sendgrid", r"this is an automatically generated message from sendgrid"),
    (
        "generic",
        r"(?:following|these) (?:e-?mail )?(?:address(?:es|\(es\))?|recipients?|"
        r"destinations?)(?: \w+){0,4}:|could not be delivered|undeliverable|"
        r"delivery (?:has )?failed|permanent(?:ly)? (?:error|fail)|"
        r"failed (?:recipient|address)|unable to deliver|non-?delivery|"
        r"delivery status notification|returned mail|mail delivery failed",
    ),
)

PROFILES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(phrase, re.IGNORECASE | re.MULTILINE)) for name, phrase in _PROFILES
)


def locate(text: str) -> tuple[str, int] | None:
    """The format a report's text is in, and where its failure section starts."""
    for name, pattern in PROFILES:
        match = pattern.search(text)
        if match:
            return name, match.start()
    return None
