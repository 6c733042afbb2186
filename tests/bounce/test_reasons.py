"""Every bounce reason has its own plain-words sentence for accounting staff."""

from __future__ import annotations

import pytest

from bounce.model import Reason
from bounce.reasons import REASONS, explain_reason

REASON_CODES = [
    "userunknown",
    "hostunknown",
    "hasmoved",
    "notaccept",
    "mailboxfull",
    "exceedlimit",
    "mesgtoobig",
    "filtered",
    "rejected",
    "blocked",
    "spamdetected",
    "virusdetected",
    "policyviolation",
    "securityerror",
    "authfailure",
    "norelaying",
    "requireptr",
    "notcompliantrfc",
    "contenterror",
    "expired",
    "networkerror",
    "systemerror",
    "systemfull",
    "toomanyconn",
    "speeding",
    "suspend",
    "syntaxerror",
    "mailererror",
    "onhold",
    "failedstarttls",
    "badreputation",
    "undefined",
    "feedback",
    "vacation",
]


@pytest.mark.parametrize("reason", list(Reason))
def test_every_reason_member_has_a_plain_words_sentence(reason: Reason) -> None:
    sentence = REASONS.get(reason)
    assert sentence, f"Reason.{reason.name} has no sentence in bounce.reasons.REASONS"
    assert explain_reason(reason.value) == sentence
    assert sentence.endswith(".") and "code" not in sentence


def test_the_vocabulary_has_nothing_but_reasons() -> None:
    assert all(isinstance(key, Reason) for key in REASONS)
    assert set(REASONS) == set(Reason)


def test_every_reason_code_has_its_own_plain_sentence() -> None:
    sentences = [explain_reason(code) for code in REASON_CODES]
    assert set(REASON_CODES) == set(REASONS)
    assert len(set(sentences)) == len(REASON_CODES)
    assert all(s.endswith(".") and "code" not in s for s in sentences)
    assert explain_reason("MailboxFull") == explain_reason("mailboxfull")
    assert explain_reason(None) == explain_reason("undefined")
    assert "reason code: brandnew" in explain_reason("brandnew")
