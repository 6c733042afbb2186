"""SecretBox: AES-GCM round trips, binding to a field, key rotation, and loud, quiet failures."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailer.errors import ConfigurationError
from mailer.secrets import SecretBox, SecretKeyError, generate_secret_key
from mailer.settings import Settings
from tests.support.tenants import key_entry

PLAIN = "correct horse battery staple"
CONTEXT = "tenant:acme:smtp_password"
K1, K2 = key_entry("k1", 1), key_entry("k2", 2)


def key_material(entry: str) -> str:
    return entry.partition(":")[2]


def assert_quiet(error: BaseException, *secrets: str) -> None:
    """The message names no plaintext and no key."""
    message = str(error)
    for secret in (PLAIN, key_material(K1), key_material(K2), *secrets):
        assert secret not in message


def test_round_trip_and_token_shape() -> None:
    box = SecretBox.parse(K1)
    token = box.encrypt(PLAIN, context=CONTEXT)
    version, _, payload = token.partition("$")
    assert version == "k1" and PLAIN not in token
    assert len(base64.b64decode(payload)) == 12 + len(PLAIN) + 16
    assert box.decrypt(token, context=CONTEXT) == PLAIN
    assert box.encrypt(PLAIN, context=CONTEXT) != token  # a fresh nonce every time


def test_a_token_is_bound_to_its_field_and_tenant() -> None:
    box = SecretBox.parse(K1)
    token = box.encrypt(PLAIN, context=CONTEXT)
    for other in ("tenant:globex:smtp_password", "tenant:acme:payment_private_key", ""):
        with pytest.raises(SecretKeyError) as refused:
            box.decrypt(token, context=other)
        assert "k1" in str(refused.value)
        assert_quiet(refused.value)


def test_rotation_old_tokens_decrypt_while_the_first_key_encrypts() -> None:
    old = SecretBox.parse(K1).encrypt(PLAIN, context=CONTEXT)
    rotated = SecretBox.parse(f"{K2}, {K1}")
    assert rotated.current_version == "k2" and rotated.versions == ("k2", "k1")
    assert rotated.decrypt(old, context=CONTEXT) == PLAIN
    new = rotated.encrypt(PLAIN, context=CONTEXT)
    assert new.startswith("k2$")
    assert rotated.needs_rotation(old) and not rotated.needs_rotation(new)
    moved = rotated.reencrypt(old, CONTEXT)
    assert moved.startswith("k2$") and rotated.decrypt(moved, context=CONTEXT) == PLAIN
    assert rotated.reencrypt(new, CONTEXT) == new
    assert SecretBox.parse(K2).decrypt(moved, context=CONTEXT) == PLAIN


def test_a_retired_key_version_fails_loudly_and_says_which() -> None:
    old = SecretBox.parse(K1).encrypt(PLAIN, context=CONTEXT)
    with pytest.raises(SecretKeyError) as refused:
        SecretBox.parse(K2).decrypt(old, context=CONTEXT)
    assert "'k1'" in str(refused.value) and "MAILER_SECRET_KEY" in str(refused.value)
    assert_quiet(refused.value)


def test_a_wrong_key_under_the_same_version_fails() -> None:
    token = SecretBox.parse(K1).encrypt(PLAIN, context=CONTEXT)
    with pytest.raises(SecretKeyError) as refused:
        SecretBox.parse(key_entry("k1", 9)).decrypt(token, context=CONTEXT)
    assert "'k1'" in str(refused.value)
    assert_quiet(refused.value, key_material(key_entry("k1", 9)))


def test_tampering_is_detected() -> None:
    box = SecretBox.parse(K1)
    token = box.encrypt(PLAIN, context=CONTEXT)
    raw = bytearray(base64.b64decode(token.partition("$")[2]))
    for position in (0, 12, len(raw) - 1):
        changed = bytearray(raw)
        changed[position] ^= 0x01
        with pytest.raises(SecretKeyError) as refused:
            box.decrypt("k1$" + base64.b64encode(bytes(changed)).decode(), context=CONTEXT)
        assert_quiet(refused.value)


@pytest.mark.parametrize(
    "token", ["", PLAIN, "k1$", "k1$not base64!", "k1$" + base64.b64encode(b"short").decode(),
              "$" + base64.b64encode(bytes(40)).decode(), "bad version$AAAA"],
)  # fmt: skip
def test_malformed_tokens_are_refused_without_echoing_them(token: str) -> None:
    with pytest.raises(SecretKeyError) as refused:
        SecretBox.parse(K1).decrypt(token, context=CONTEXT)
    assert_quiet(refused.value)
    assert "not an encrypted secret" in str(refused.value) or "'k1'" in str(refused.value)


@pytest.mark.parametrize(
    "setting",
    ["", " , ", "k1", "k1:", ":" + key_material(K1), "k1:" + base64.b64encode(bytes(16)).decode(),
     "k1:***not-base64***", f"{K1},{key_entry('k1', 3)}", "bad version:" + key_material(K1)],
)  # fmt: skip
def test_bad_settings_fail_at_parse_time_without_echoing_keys(setting: str) -> None:
    with pytest.raises(SecretKeyError) as refused:
        SecretBox.parse(setting)
    assert isinstance(refused.value, ConfigurationError)
    assert_quiet(refused.value, key_material(key_entry("k1", 3)))


def test_urlsafe_and_unpadded_keys_are_accepted() -> None:
    raw = bytes(range(200, 232))
    urlsafe = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    box = SecretBox.parse(f"v2024-01:{urlsafe}")
    assert box.decrypt(box.encrypt(PLAIN, context=CONTEXT), context=CONTEXT) == PLAIN


def test_from_settings_and_repr() -> None:
    assert SecretBox.from_settings(Settings(_env_file=None)) is None  # type: ignore[call-arg]
    box = SecretBox.from_settings(Settings(_env_file=None, secret_key=f"{K2},{K1}"))  # type: ignore[call-arg]
    assert box is not None and box.current_version == "k2"
    assert repr(box) == "SecretBox(versions=['k2', 'k1'])"
    assert key_material(K1) not in repr(Settings(_env_file=None, secret_key=K1))  # type: ignore[call-arg]


def test_generated_keys_are_fresh_and_usable() -> None:
    first, second = generate_secret_key(), generate_secret_key("k7")
    assert first.startswith("k1:") and second.startswith("k7:") and first[3:] != second[3:]
    box = SecretBox.parse(f"{second},{first}")
    assert box.decrypt(box.encrypt(PLAIN, context=CONTEXT), context=CONTEXT) == PLAIN
    with pytest.raises(ValueError):
        generate_secret_key("no:colons")


@given(plaintext=st.text(max_size=300), context=st.text(max_size=80))
def test_any_text_round_trips_in_its_own_context(plaintext: str, context: str) -> None:
    box = SecretBox.parse(f"{K2},{K1}")
    token = box.encrypt(plaintext, context=context)
    assert box.decrypt(token, context=context) == plaintext
    with pytest.raises(SecretKeyError):
        box.decrypt(token, context=context + "x")
