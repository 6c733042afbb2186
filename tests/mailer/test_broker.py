"""The broker adapter's contract: `mail.send` carries one SendEvent per message on every broker."""

from __future__ import annotations

import json

import pytest

from consumers.send import register_send_consumer
from mailer.broker import create_broker
from mailer.events import SEND_SUBJECT

BROKER_URLS = [
    "nats://127.0.0.1:4222",
    "amqp://guest:guest@127.0.0.1:5672/",
    "redis://127.0.0.1:6379/0",
    "kafka://127.0.0.1:9092",
]


async def _never(_body: bytes) -> None:
    raise AssertionError("only the document is built: nothing is consumed")


@pytest.mark.parametrize("url", BROKER_URLS, ids=["nats", "rabbitmq", "redis", "kafka"])
def test_mail_send_is_documented_as_one_send_event_per_message(url: str) -> None:
    from mailer.api import asyncapi_document  # the HTTP app module: imported only here

    broker = create_broker(url)  # not connected: the document needs no server
    register_send_consumer(broker, _never, max_workers=64)  # JetStream consumes in batches
    document = json.loads(asyncapi_document(broker))

    [channel] = [c for c in document["channels"].values() if c["address"] == SEND_SUBJECT]
    [message] = channel["messages"].values()
    name = message["$ref"].removeprefix("#/components/messages/")
    payload = document["components"]["messages"][name]["payload"]
    assert payload == {"$ref": "#/components/schemas/SendEvent"}  # not an array of them
    assert document["components"]["schemas"]["SendEvent"]["type"] == "object"
