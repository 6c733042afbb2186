"""Builds the SMS side (renderer, provider, dispatcher) from Settings, for `mailer.bootstrap`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mailer.broker import BrokerPublisher
from mailer.errors import ConfigurationError
from mailer.pipeline import StatusPublisher
from mailer.retry import RetryPolicy
from mailer.settings import Settings
from mailer.sms.broker import SmsBrokerPublisher
from mailer.sms.dispatch import SmsDispatcher
from mailer.sms.outbox import SmsOutboxProvider
from mailer.sms.provider import SmsProvider, TwilioConfig, TwilioProvider
from mailer.sms.render import SmsRenderer, default_sms_dir

__all__ = ["SMS_OUTBOX_FILE", "build_sms_provider", "build_sms_side"]

logger = logging.getLogger(__name__)
SMS_OUTBOX_FILE = "sms-outbox.jsonl"


def build_sms_provider(settings: Settings) -> SmsProvider:
    """The Twilio-compatible API when a URL is configured, else the local JSON Lines outbox."""
    if settings.sms_provider_url is None:
        path = settings.data_dir / SMS_OUTBOX_FILE
        logger.info("no SMS provider configured: SMS go to the local outbox %s", path)
        return SmsOutboxProvider(path)
    if not (settings.sms_account_sid and settings.sms_auth_token and settings.sms_from):
        raise ConfigurationError(
            "MAILER_SMS_PROVIDER_URL needs MAILER_SMS_ACCOUNT_SID, _AUTH_TOKEN and _FROM"
        )
    return TwilioProvider(
        TwilioConfig(
            base_url=settings.sms_provider_url,
            account_sid=settings.sms_account_sid,
            auth_token=settings.sms_auth_token,
            sender=settings.sms_from,
        )
    )


def build_sms_side(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    publisher: StatusPublisher,
) -> tuple[SmsDispatcher, Callable[[], Awaitable[None]]]:
    """The SMS dispatcher and the coroutine function that closes what it holds.

    Statuses go to `publisher`; the service's `BrokerPublisher` is turned into one that
    publishes on `sms.status` over the same broker.
    """
    if isinstance(publisher, BrokerPublisher):
        publisher = SmsBrokerPublisher(publisher.broker)
    provider = build_sms_provider(settings)
    dispatcher = SmsDispatcher(
        sessions=sessions,
        renderer=SmsRenderer(default_sms_dir()),
        provider=provider,
        publisher=publisher,
        policy=RetryPolicy(
            initial_delay=settings.retry_initial_delay,
            max_delay=settings.retry_max_delay,
            horizon=settings.retry_horizon_delta,
        ),
        lease=timedelta(seconds=settings.lease_seconds),
    )
    return dispatcher, provider.aclose
