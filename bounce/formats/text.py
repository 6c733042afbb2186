"""Text helpers shared by the format readers: the report text, its error section, blocks."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from email.message import Message

from bounce.addresses import ADDRESS_RE, find_addresses, is_system_address, normalize
from bounce.message import content_type, header_text, part_text, walk
from bounce.model import Reason

# Where the returned original message starts in a report's text.
_ORIGINAL_MARKERS = re.compile(
    r"^(?:[ \t>]*-{2,}[ \t]*(?:original message|below this line is a copy|this is a copy of"
    r"|the header of the original|unsent message|returned message|message text follows|"
    r"original message header|headers? of (?:the )?(?:original|your) message|"
    r"message headers follow|forwarded message|undelivered message|"
    r"copy of (?:the|your) (?:original )?message|続きの)"
    r"|[ \t]*original message headers:|[ \t]*-+ ?original message ?-+"
    r"|[ \t]*message headers? follows?:?|[ \t]*\*{3,} ?original message"
    r"|[ \t]*the original message (?:headers? )?(?:is|are|was) (?:included|attached) below"
    r"|[ \t]*possibly truncated original message follows"
    r"|[ \t]*(?:-{3,}|={3,})\s*(?:元のメッセージ|original))",
    re.IGNORECASE | re.MULTILINE,
)
_HEADER_LINE = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,40}:[ \t]")
_ANCHOR_HEADERS = re.compile(
    r"^(?:received|return-path|message-id|date|from|subject|to):", re.IGNORECASE
)
_NOT_RECIPIENT_LINE = re.compile(
    r"^[\s*>]*(?:message-id|in-reply-to|references|received|from|return-path|sender|reply-to|to|cc|"
    r"x-[\w-]+|dkim-signature|arc-[\w-]+|authentication-results|list-[\w-]+|"
    r"mail from|original sender|sender address|sent by|envelope-from|smtp\.mailfrom|by)\s*[:=]",
    re.IGNORECASE,
)
_SYSTEM_EXTRA = re.compile(
    r"^(?:microsoftexchange[0-9a-f]{20,}|mailer.?daemon.*|postmaster.*)@", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One recipient as a format reader saw it."""

    address: str
    diagnostic: str = ""
    status: str | None = None
    reply_code: str | None = None
    action: str | None = None
    reason: Reason | None = None  # when the format says it outright (SES bounce types)
    remote_mta: str | None = None


@dataclass
class Report:
    """A bounce's human-readable text and who is certainly not the recipient."""

    message: Message
    subject: str
    sender: str
    text: str  # text parts of the report (embedded messages excluded), original not yet cut
    bystanders: set[str] = field(default_factory=set)

    def header(self, name: str) -> str:
        return header_text(self.message, name)


def html_to_text(markup: str) -> str:
    markup = re.sub(r"(?is)<(script|style|head)\b.*?</\1>", " ", markup)
    markup = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</tr>|</li>|</h\d>|</table>", "\n", markup)
    markup = re.sub(r"(?s)<[^>]{0,2000}>", " ", markup)
    text = html.unescape(markup)
    return re.sub(r"[ \t\xa0]+", " ", text)


def report_text(message: Message) -> str:
    """Text parts of the report, in order; HTML only when there is no plain text."""
    plain: list[str] = []
    markup: list[str] = []
    for part in walk(message):
        ctype = content_type(part)
        if part.is_multipart() or ctype in ("message/rfc822", "message/global"):
            continue
        if ctype.startswith("multipart/"):
            continue
        disposition = str(part.get("Content-Disposition", "")).lower()
        if ctype == "text/html":
            markup.append(html_to_text(part_text(part)))
        elif ctype in ("text/plain", "text/enriched", "text") or (
            ctype.startswith("text/")
            and "rfc822-headers" not in ctype
            and "attachment" not in disposition
        ):
            plain.append(part_text(part))
    text = "\n\n".join(t for t in plain if t.strip())
    if not text.strip():
        text = "\n\n".join(markup)
    return text


def cut_original(text: str) -> str:
    """The text before the quoted original message (marker line or a run of its headers)."""
    end = len(text)
    marker = _ORIGINAL_MARKERS.search(text)
    if marker:
        end = marker.start()
    lines = text[:end].split("\n")
    offset = 0
    for index, line in enumerate(lines):
        run = lines[index : index + 3]
        if (
            _ANCHOR_HEADERS.match(line)
            and len(run) == 3
            and all(_HEADER_LINE.match(item) or item[:1] in " \t" for item in run)
            and index > 0
        ):
            return text[:offset]
        offset += len(line) + 1
    return text[:end]


def candidate_addresses(section: str, bystanders: set[str]) -> list[str]:
    """Addresses in a report section that may be recipients, in order of appearance."""
    found: dict[str, None] = {}
    for line in section.split("\n"):
        if _NOT_RECIPIENT_LINE.match(line):
            continue
        for address in find_addresses(line):
            if address in bystanders or is_system_address(address) or _SYSTEM_EXTRA.match(address):
                continue
            local = address.split("@", 1)[0]
            if re.fullmatch(r"[0-9a-f.$-]{16,}|[0-9]{8,}\.[\w.]+", local):
                continue  # message ids, queue ids
            found.setdefault(address, None)
    return list(found)


def blocks_by_address(section: str, addresses: list[str], limit: int = 1500) -> dict[str, str]:
    """Each address's diagnostic: every stretch of lines that starts at a line naming it and
    runs to the next line naming a wanted address (or the end of the section), joined."""
    if not addresses:
        return {}
    wanted = set(addresses)
    lines = section.split("\n")
    starts: list[tuple[int, str]] = []
    for index, line in enumerate(lines):
        hits = [a for a in (normalize(m[1]) for m in ADDRESS_RE.finditer(line)) if a in wanted]
        if hits:
            starts.append((index, hits[0]))
    blocks: dict[str, list[str]] = {}
    for position, (index, address) in enumerate(starts):
        stop = starts[position + 1][0] if position + 1 < len(starts) else len(lines)
        segment = "\n".join(lines[index:stop]).strip()
        blocks.setdefault(address, []).append(segment[:600])
    return {a: "\n".join(parts)[:limit] for a, parts in blocks.items()}


def compact(text: str, limit: int = 500) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text[:limit]


_DELAYED = re.compile(
    r"has not yet been delivered|not been delivered yet|will (?:continue|keep) trying|"
    r"will be retried|still (?:being )?retr|this is a warning|warning message only|"
    r"do not need to resend|delayed mail|delivery (?:is )?delayed|temporary failure|"
    r"has been delayed|delivery status notification \(delay\)|is delayed|"
    r"could not be delivered yet|still trying|no action is required on your part|"
    r"delivery attempts will continue|will retry|retrying|"
    r"technical details of temporary failure",
    re.IGNORECASE,
)
_STILL_TRYING = re.compile(
    r"will (?:continue|keep) trying|will be retried|delivery attempts will continue|"
    r"warning message only|do not need to resend|no need to resend|no action is required|"
    r"this is (?:just )?a warning|will continue to attempt|has not yet been delivered|"
    r"has been delayed|postponed|still being retried",
    re.IGNORECASE,
)
_PERMANENT = re.compile(
    r"permanent(?:ly)? (?:error|fatal|failure|failed)|failed permanently|i've given up|"
    r"could not be delivered|couldn't be delivered|undeliverable|delivery has failed|"
    r"was not delivered|wasn't delivered|returned mail|delivery failure|failed to deliver|"
    r"giving up|gave up|non-?delivery|have given up|not be delivered",
    re.IGNORECASE,
)


def infer_action(subject: str, section: str) -> str:
    """`delayed` for warnings (the MTA still retries), else `failed`."""
    head = f"{subject}\n{section[:3000]}"
    delayed = re.search(r"\b(?:delay(?:ed)?|still being retried|verzögert|retard)", subject, re.I)
    if delayed and not re.search(r"fail|undeliver|returned", subject, re.I):
        return "delayed"
    if _STILL_TRYING.search(head):
        return "delayed"
    if _DELAYED.search(head) and not _PERMANENT.search(head):
        return "delayed"
    return "failed"
