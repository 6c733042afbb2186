"""The table of diagnostic-text patterns behind bounce reasons, most specific first.

Each row is (reason, strong, patterns). Patterns are matched, in table order, against the
diagnostic text lowercased with runs of whitespace collapsed to one space. A *strong* row names
a cause precisely enough to outrank the enhanced status code (a `550 5.1.1 ... mailbox full`
is a full mailbox, Microsoft's `5.1.10 RecipientNotFound` an unknown user, not a null MX); a
weak row only decides when the status code says nothing specific (`5.0.0`, `5.7.1`, none).
"""

from __future__ import annotations

import re

from bounce.model import Reason

Row = tuple[Reason, bool, tuple[str, ...]]

# fmt: off
_TABLE: tuple[Row, ...] = (
    (Reason.VIRUS_DETECTED, True, (
        r"\bvirus", r"\binfected\b", r"malware", r"\beicar\b", r"trojan", r"worm detected",
        r"contains? (?:a )?(?:dangerous|malicious) (?:content|attachment|file)",
    )),
    (Reason.AUTH_FAILURE, True, (
        r"\bdmarc\b", r"\bspf\b", r"\bdkim\b", r"sender policy framework",
        r"5\.7\.2[0-4]\b", r"5\.7\.26\b", r"not authorized to send (?:on behalf|from|mail from)",
        r"unauthenticated (?:email|mail|message)",
        r"authentication checks? (?:did not pass|failed)",
        r"sender (?:domain )?(?:is )?not authenticated", r"sender identity (?:check|verification)",
    )),
    (Reason.REQUIRE_PTR, True, (
        r"\bptr\b", r"reverse (?:dns|lookup|name|mapping)", r"\brdns\b", r"5\.7\.25\b",
        r"cannot find your (?:reverse )?hostname", r"ip name lookup failed",
        r"no (?:reverse|ptr)", r"(?:hostname|host name) (?:does not|doesn't) match",
        r"client host rejected: cannot find your", r"unresolvable (?:ip|address)",
    )),
    (Reason.FAILED_STARTTLS, True, (
        r"starttls", r"\btls (?:is )?required", r"requires? (?:a )?(?:secure|encrypted|tls) "
        r"(?:connection|transport|channel)", r"encryption (?:is )?required", r"5\.7\.10\b",
        r"must use tls", r"requiretls", r"tls (?:handshake|negotiation) failed",
    )),
    (Reason.NO_RELAYING, True, (
        r"relay(?:ing)? (?:access )?(?:is )?(?:denied|not permitted|prohibited|not allowed|"
        r"refused|disallowed)", r"unable to relay", r"(?:not|isn't) (?:permitted|allowed) to relay",
        r"we do not relay", r"no relaying", r"relaying (?:mail )?(?:to .* )?(?:is )?(?:not|denied)",
        r"relay not (?:permitted|allowed)", r"not a gateway", r"cannot relay", r"can't relay",
        r"relay rejected", r"not local host .* not a gateway", r"open relay",
        r"5\.7\.64\b", r"tenantattribution; relay access denied",
    )),
    (Reason.FILTERED, True, (
        r"recipient(?:'s)? preferences", r"\brcp-p[23]\b", r"privacy settings",
        r"not accepting (?:any )?(?:mail|messages|e-?mail) from (?:you|your|this sender|[\w.+-]+@)",
        r"user refuses", r"refuses? to (?:receive|accept)", r"blocked by (?:the )?recipient",
        r"recipient (?:has )?(?:blocked|refused|rejected) (?:you|your|the sender|this sender)",
        r"only accepting mail from", r"has restricted", r"does not accept mail from you",
    )),
    (Reason.BLOCKED, True, (
        r"blocked using", r"listed (?:in|on|at|by) (?:the )?(?:[\w.-]+\.)?(?:[\w-]+ )?"
        r"(?:rbl|dnsbl|bl|blacklist|blocklist|block list|spamhaus|spamcop|sorbs|barracuda|"
        r"uceprotect|spamrats|psbl|abuseat|cbl|dnswl|[\w-]+\.(?:org|net|com))",
        r"black ?list(?:ed)?", r"block ?list(?:ed)?", r"spamhaus", r"spamcop", r"\bsorbs\b",
        r"barracudacentral", r"\bdnsbl\b", r"\brbl\b", r"uceprotect", r"abuseat\.org",
        r"client host (?:\[[^\]]*\] )?(?:rejected|blocked|refused)", r"banned sending ip",
        r"(?:your|sender(?:'s)?|the sending|sending|connecting) (?:ip|ip address|host|server|"
        r"network|mail server|domain|mta)(?: \[?[\w.:-]+\]?)? (?:has been |is |was |are )?"
        r"(?:temporarily |currently |permanently )?(?:blocked|banned|blacklisted|listed|"
        r"rejected|refused|denied|not allowed)",
        r"(?:ip|host|connection|ip address) (?:[\w.:\[\]-]+ )?(?:is )?(?:temporarily )?"
        r"(?:blocked|banned|blacklisted)", r"access denied[.,;:]? (?:banned|ip|blocked)",
        r"not accepting (?:mail|messages|connections|email) from", r"refused to talk to me",
        r"\(r?bl\)", r"\[ts[s0-9]{2,3}\]", r"temporarily deferred due to",
        r"refused (?:your|the|this) connection", r"connection (?:refused|rejected|denied) "
        r"(?:by|from|for) (?:policy|\[?\d)", r"\bdyn:t1\b", r"\brtr:bl\b", r"\brbl reject",
        r"\bs3150\b", r"\bs3140\b", r"\bgreylist(?:ed|ing)?\b",
        r"grey-?listed", r"gray ?listed", r"try again later.{0,40}(?:greylist|graylist)",
        r"ip (?:address )?(?:has been |is )?(?:temporarily )?(?:deferred|rate limited) "
        r"due to", r"too many (?:bad|invalid) (?:recipients|commands)",
    )),
    (Reason.BAD_REPUTATION, True, (
        r"reputation", r"very low reputation", r"poor (?:sender|ip) (?:score|rating)",
        r"sender score", r"\bsenderscore\b",
    )),
    (Reason.SPAM_DETECTED, True, (
        r"\bspam", r"unsolicited", r"\bjunk mail", r"\bbulk mail", r"\buce\b",
        r"content (?:filter|was rejected)", r"classified as (?:junk|bulk)",
        r"(?:looks|appears|seems) (?:like|to be) (?:junk|spam|bulk)", r"suspicious",
        r"message (?:is )?(?:likely|considered) (?:to be )?(?:junk|spam|unsolicited)",
        r"high probability of being", r"phish", r"scam", r"score too high", r"x-spam",
    )),
    (Reason.MAILBOX_FULL, True, (
        r"mail ?box (?:is )?(?:full|over ?quota|exceed)", r"mail ?box full", r"full mail ?box",
        r"over ?quota", r"quota (?:exceeded|exceed|full|limit)", r"exceed(?:s|ed|ing)? "
        r"(?:the |his |her |their |its |your |user'?s? )?(?:storage |disk |mail ?box |mail )?quota",
        r"insufficient (?:mailbox )?(?:space|quota|storage) (?:for|in|on) (?:the )?"
        r"(?:user|recipient|mailbox)", r"mail ?box (?:size )?limit", r"(?:user|account|recipient)"
        r"(?:'s)? (?:mail ?box |mail ?folder |account |storage )?(?:is |has )?(?:full|exceeded)",
        r"mail ?folder is (?:full|over)", r"disk quota", r"(?:mail)?box is full",
        r"exceeded (?:storage|the storage) allocation", r"too much mail data", r"maildir over",
        r"bo[iî]te (?:aux lettres |de r[ée]ception )?(?:est )?(?:pleine|satur)",
        r"postfach (?:ist )?voll",
        r"speicherplatz", r"casella (?:di posta )?(?:piena|pieno)", r"buz[oó]n (?:est[aá] )?lleno",
        r"user is over", r"quota violation", r"mail ?box space", r"space not enough",
        r"not enough (?:storage|space)",
        r"would exceed (?:the )?(?:mailbox|quota)", r"mailbox has exceeded",
        r"space (?:quota )?exceeded",
        r"storage (?:space )?(?:is )?full", r"dd this user's mailbox is full", r"5\.2\.2\b",
        r"message would exceed", r"mailbox size exceeded", r"out of storage",
    )),
    (Reason.MESG_TOO_BIG, True, (
        r"message (?:is )?too (?:big|large|long)", r"(?:message|mail|email) (?:size|length) "
        r"(?:exceeds|exceeded|too|over|larger|limit)",
        r"size (?:exceeds|exceeded) (?:the )?(?:fixed )?"
        r"(?:maximum|limit|max|allowed|message)",
        r"exceeds? (?:the )?(?:fixed )?maximum (?:allowed )?"
        r"(?:message )?size", r"(?:mail|message) size limit",
        r"maximum (?:incoming )?(?:message|mail) size",
        r"message file too big", r"too big for (?:this|the) system",
        r"message (?:exceeds|exceeded) "
        r"(?:the )?(?:size|maximum)", r"size limit (?:exceeded|reached)", r"5\.3\.4\b",
        r"larger than (?:the )?(?:allowed|maximum|current system limit)", r"entity too large",
    )),
    (Reason.EXCEED_LIMIT, True, (
        r"exceeds? (?:the )?administrative limit", r"header (?:size )?exceeds", r"5\.2\.3\b",
        r"message length exceeds", r"headers? too (?:long|large)",
    )),
    (Reason.HAS_MOVED, True, (
        r"has moved", r"user has moved", r"no longer (?:with|at|employed|works)",
        r"address has changed", r"changed (?:his|her|their) (?:e-?mail )?address",
        r"user not local; please try", r"mailbox owner has changed", r"5\.1\.6\b",
        r"forwarding address", r"new address is",
    )),
    (Reason.SUSPEND, True, (
        r"(?:account|mail ?box|user|address|recipient)(?: \S+)? (?:has been |is |was )?"
        r"(?:temporarily |currently |permanently )?(?:disabled|suspended|deactivated|inactive|"
        r"locked|frozen|blocked for inactivity|expired|terminated|closed|not active)",
        r"(?:disabled|suspended|deactivated|inactive|locked|frozen|closed|expired) "
        r"(?:account|mail ?box|user)", r"account (?:is )?(?:on hold|unavailable)",
        r"recipient suspend", r"user suspended", r"temporarily inactive", r"5\.2\.1\b",
        r"is unavailable: user is terminated", r"archived recipient", r"dormant",
        r"extended inactivity", r"5\.7\.13\b",
    )),
    (Reason.REJECTED, True, (
        r"sender (?:address )?(?:rejected|refused|denied|blocked)",
        r"sender (?:verify|verification|"
        r"address verification) (?:failed|error)",
        r"(?:unverified|invalid|bad|unknown|illegal) sender",
        r"domain of sender (?:address )?\S* ?does not (?:exist|resolve)",
        r"sender (?:domain|address)"
        r"(?: \S+)? (?:is )?(?:invalid|not valid|unknown|does not exist|must exist|not found)",
        r"from address (?:is )?(?:blocked|rejected|invalid|not allowed)", r"mail from \S* ?"
        r"(?:rejected|refused)", r"sender is (?:on|in) (?:the )?(?:block|black)", r"5\.1\.[78]\b",
        r"sender address (?:has )?null mx", r"rejected by sender",
        r"your (?:e-?mail )?address (?:has been |is )?"
        r"(?:blocked|blacklisted|rejected|banned)", r"you are not allowed to send",
        r"not (?:permitted|authorized|allowed) to (?:send|post)(?: messages)? to",
        r"resolver\.rst\.(?:authrequired|notauthorized|restrictedtorecipientspermission)",
        r"only accepts messages from", r"google ?groups", r"group you tried to contact",
        r"resolver\.rst\.", r"non-?member", r"members-only",
    )),
    (Reason.TOO_MANY_CONN, True, (
        r"too many (?:concurrent |simultaneous |open )?(?:connections|sessions|smtp sessions)",
        r"connection limit", r"max(?:imum)? (?:number of )?connections", r"too many hosts",
        r"concurrency limit",
    )),
    (Reason.SPEEDING, True, (
        r"rate limit", r"rate-limit", r"too many (?:messages|emails|mails|recipients this)",
        r"sending rate", r"slow down", r"please try again slower", r"throttl", r"too fast",
        r"at a rate that prevents", r"receiving mail (?:at|too)", r"exceeded (?:the )?"
        r"(?:message|sending|hourly|daily) (?:rate|limit|quota)", r"4\.7\.28\b", r"mail flood",
        r"too much mail from", r"message rate",
    )),
    (Reason.NOT_COMPLIANT_RFC, True, (
        r"(?<![/\w])rfc ?(?:2822|5322|822|1035|5321|2821|2045|6532)",
        r"not (?:rfc|standards?)[ -]compliant",
        r"duplicate (?:header|message-id)", r"multiple (?:from|to|subject|date|sender|"
        r"message-id) headers?", r"missing (?:a |the )?(?:date|from|message-id) header",
        r"bare (?:lf|line ?feed|cr)", r"header (?:is )?(?:malformed|invalid|missing)",
        r"malformed (?:header|address|message)", r"8-?bit (?:data|content) (?:not|in header)",
    )),
    (Reason.HOST_UNKNOWN, True, (
        r"host (?:or domain name )?not found", r"name service error", r"domain (?:name )?not found",
        r"unknown (?:host|domain)", r"no such (?:domain|host)", r"domain (?:does not|doesn't) "
        r"exist", r"unrout(?:e)?able (?:mail )?(?:domain|address)", r"host unknown",
        r"\bnxdomain\b", r"no mx (?:record|host)", r"couldn't find any host", r"mx records? point "
        r"to non-existent", r"domain (?:is )?(?:invalid|not valid|unknown)",
        r"could not be resolved", r"unable to resolve", r"no (?:valid )?(?:mx|a) records?",
        r"domain (?:is )?not (?:registered|hosted|served)", r"bad destination system",
        r"destination domain (?:is )?(?:unknown|unreachable|not found)", r"domain name lookup",
        r"cannot (?:be )?route", r"unable to route",
    )),
    (Reason.NOT_ACCEPT, True, (
        r"null mx", r"does not accept (?:mail|e-?mail|messages)", r"not accepting (?:any )?mail",
        r"accepts no mail", r"mail is not accepted", r"domain does not receive",
        r"recipient domain (?:does not|doesn't) accept", r"no mail (?:service|server)",
    )),
    (Reason.POLICY_VIOLATION, True, (
        r"content polic", r"security polic", r"quarantin", r"banned (?:attachment|content|file|"
        r"extension)", r"attachments? (?:type )?(?:is )?(?:not allowed|blocked|rejected|"
        r"forbidden|banned)", r"violat", r"executable", r"\bpolicy (?:reasons|rejection)",
        r"rejected (?:due to|by|for) (?:local |organi[sz]ation(?:al)? |our )?(?:policy|policies)",
    )),
    (Reason.USER_UNKNOWN, True, (
        r"user unknown", r"unknown user", r"no such (?:user|mailbox|recipient|person|address|"
        r"account|email address|local user|user here)", r"user (?:does not|doesn't|not) exists?",
        r"(?:address|mailbox|account|recipient|e-?mail account|user|e-?mail address|destination)"
        r"(?: \S+)? (?:does not|doesn't|did not) exist", r"does not exist", r"(?:user|recipient|"
        r"mailbox|address|account) (?:\S+ )?not (?:found|known|listed|present|valid)",
        r"recipient ?not ?found", r"recipientnotfound", r"resolver\.adr\.", r"nosuchuser",
        r"invalid (?:recipient|mailbox|address|user|e-?mail|destination)", r"unknown "
        r"(?:recipient|mailbox|address|local[- ]part|account|e-?mail)", r"not a (?:valid|known) "
        r"(?:user|mailbox|recipient|address)", r"(?:is )?not listed in", r"no mailbox",
        r"mailbox (?:is )?(?:unavailable|not available|invalid|not found)", r"bad destination "
        r"mailbox", r"address (?:is )?(?:invalid|rejected|unknown|not valid)", r"couldn't be found",
        r"could not be found", r"badrcptto", r"no account by that name", r"5\.1\.1\b",
        r"utilisateur inconnu", r"destinataire inconnu", r"unbekannt", r"nicht vorhanden",
        r"existiert nicht", r"inconnu", r"sconosciuto", r"inexistente", r"no existe",
        r"bad[- ]mailbox", r"undeliverable address", r"recipient (?:address )?rejected",
        r"no longer (?:valid|active|available)", r"isn't a valid", r"addressee unknown",
        r"mailbox unavailable", r"unrouteable address", r"wasn't found at",
        r"recipient (?:is )?(?:not|no longer) (?:valid|active)", r"account (?:\S+ )?"
        r"(?:unknown|invalid)", r"5\.4\.1 recipient address rejected: access denied",
        r"5\.1\.0\b", r"check (?:the )?(?:recipient|e-?mail) address", r"not our customer",
        r"(?:does not|doesn't) have an? [\w.-]+ account", r"invalid final delivery",
        r"n['\u2019]existe pas", r"not recognized", r"did not (?:exactly )?match", r"rcp-p1\b",
        r"final (?:e-?mail )?delivery point", r"no user by that name",
        r"no matches to nameserver query",
    )),
    (Reason.EXPIRED, True, (
        r"message expired", r"(?:in|on) the queue too long", r"too long (?:in|on) (?:the )?queue",
        r"retry time not reached", r"retry timeout exceeded", r"could not be delivered for \d+",
        r"failed \d+ attempts", r"after \d+ attempts?", r"aborted after", r"queue period",
        r"maximum delivery attempts", r"not been collected", r"delivery time expired",
        r"not delivered within", r"maximum-time-expired", r"message timed out",
        r"failing for a long time", r"gave up", r"giving up on",
    )),
    (Reason.POLICY_VIOLATION, False, (
        r"polic(?:y|ies)", r"prohibited", r"not allowed", r"content restrictions?", r"forbidden",
        r"compliance",
    )),
    (Reason.CONTENT_ERROR, False, (
        r"content error", r"invalid (?:mime|message|content|character|encoding)",
        r"mime (?:structure|error|format)",
        r"message (?:content|body) (?:is )?(?:invalid|rejected)",
        r"5\.6\.\d+\b", r"conversion (?:required|failed)", r"media (?:error|not supported)",
        r"non-?ascii", r"bad (?:message|header|content)",
    )),
    (Reason.SYSTEM_FULL, False, (
        r"insufficient (?:system )?(?:storage|disk|space)", r"disk (?:is )?full",
        r"no space left", r"(?:system|server|disk|spool) (?:storage )?(?:is )?full",
        r"out of (?:disk )?space", r"mail system full", r"too many messages in (?:the )?queue",
    )),
    (Reason.SECURITY_ERROR, False, (
        r"authentication (?:is )?required", r"must (?:authenticate|be authenticated)",
        r"not authenticated", r"\bauth(?:entication)? (?:failed|failure|credentials)",
        r"certificate", r"security", r"access denied", r"not authorized", r"unauthorized",
        r"permission denied", r"denied",
    )),
    (Reason.MAILER_ERROR, False, (
        r"mailer (?:error|failed)", r"command (?:died|failed|output|not found) ",
        r"command died with status", r"x-unix;", r"pipe to .* failed", r"procmail",
        r"unknown mailer error", r"exit (?:status|code) \d+", r"command output",
        r"delivery to (?:a )?"
        r"(?:program|command|pipe) failed", r"local delivery failed", r"\bmaildrop\b",
    )),
    (Reason.NETWORK_ERROR, False, (
        r"connection (?:timed out|time out|refused|reset|closed|dropped|lost|failure)",
        r"network (?:is )?(?:unreachable|error)", r"no route to host", r"lost connection",
        r"timed? ?out", r"could not connect", r"unable to connect", r"(?:can't|cannot) connect",
        r"connect to .* (?:refused|timed out)", r"host (?:is )?(?:down|unreachable)",
        r"temporary failure in name resolution", r"broken pipe", r"servfail",
        r"did not respond", r"not responding", r"no response from", r"mail exchanger failed",
        r"tls (?:session|connection) (?:failed|error)", r"conversation with .* (?:failed|"
        r"timed out)", r"remote (?:server|host) (?:closed|dropped)",
    )),
    (Reason.BLOCKED, False, (r"\bblocked\b", r"\bbanned\b", r"refused")),
    (Reason.EXPIRED, False, (
        r"expired", r"too long (?:in|on) (?:the )?queue", r"been in the queue too long",
        r"retry time(?:out)? (?:not reached|exceeded)", r"could not be delivered (?:for|within) "
        r"\d+", r"(?:message|delivery) timed out", r"giving up", r"gave up", r"delivery time",
        r"undeliverable for", r"maximum (?:retry|queue|delivery) time", r"queue lifetime",
        r"has not yet been delivered", r"failing for a long time", r"will keep trying",
        r"still undelivered", r"could not be delivered within", r"deferred", r"delayed",
    )),
    (Reason.SYSTEM_ERROR, False, (
        r"system error", r"internal (?:server )?error", r"local error", r"temporary (?:local )?"
        r"(?:problem|failure|error)", r"server (?:configuration|misconfigur)", r"mail loop",
        r"loops? back to myself", r"routing loop", r"too many hops", r"hop count",
        r"forwarding loop", r"looping", r"service (?:is )?(?:not )?(?:available|unavailable)",
        r"unable to (?:process|deliver|accept)", r"error in processing", r"try again",
        r"temporarily (?:unavailable|rejected|deferred)", r"server error", r"system (?:is )?"
        r"(?:busy|overloaded)", r"resources? (?:temporarily )?unavailable", r"i/o error",
    )),
    (Reason.SYNTAX_ERROR, False, (
        r"syntax error", r"command (?:not )?unrecognized", r"unrecognized command",
        r"bad (?:command|sequence)", r"invalid command", r"command not implemented",
        r"line too long", r"5\.5\.[1-6]\b", r"parameter(?:s)? (?:not recognized|error)",
        r"protocol error",
    )),
)
# fmt: on

PATTERNS: tuple[tuple[Reason, bool, re.Pattern[str]], ...] = tuple(
    (reason, strong, re.compile("|".join(f"(?:{p})" for p in patterns)))
    for reason, strong, patterns in _TABLE
)


def normalize_text(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lower()


def strong_reason(text: str) -> Reason | None:
    """The reason of the first *strong* row that matches, if any."""
    for reason, strong, pattern in PATTERNS:
        if strong and pattern.search(text):
            return reason
    return None


def match_reason(text: str) -> tuple[Reason, bool] | None:
    """The first row whose patterns match the (normalized) text, with its strength."""
    if not text:
        return None
    for reason, strong, pattern in PATTERNS:
        if pattern.search(text):
            return reason, strong
    return None
