"""The SMS channel: `sms.send` events rendered to short texts and sent through a provider."""

from mailer.sms.dispatch import SmsDispatcher
from mailer.sms.events import SMS_SEND_SUBJECT, SMS_STATUS_SUBJECT, SmsSendEvent, SmsTemplateName
from mailer.sms.outbox import SmsOutboxProvider
from mailer.sms.provider import SmsOutcome, SmsProvider, SmsResult, TwilioConfig, TwilioProvider
from mailer.sms.render import RenderedSms, SmsRenderer
from mailer.sms.segments import SegmentCount, SmsEncoding, count_segments

__all__ = [
    "SMS_SEND_SUBJECT",
    "SMS_STATUS_SUBJECT",
    "RenderedSms",
    "SegmentCount",
    "SmsDispatcher",
    "SmsEncoding",
    "SmsOutboxProvider",
    "SmsOutcome",
    "SmsProvider",
    "SmsRenderer",
    "SmsResult",
    "SmsSendEvent",
    "SmsTemplateName",
    "TwilioConfig",
    "TwilioProvider",
    "count_segments",
]
