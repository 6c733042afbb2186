"""The naive baseline process: what a typical task-queue worker does, one message at a time."""

from __future__ import annotations

import argparse
import json
import smtplib
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import dkim

from bench.events import Workload, message_id, workload_events
from bench.stack import DKIM_SELECTOR, FROM_ADDRESS
from mailer.catalog import CATALOG
from mailer.events import Address, SendEvent
from mailer.message import RenderedEmail
from mailer.mime import build_message
from mailer.pdf import render_document
from mailer.render import EmailRenderer, default_templates_dir

DOMAIN = FROM_ADDRESS.rpartition("@")[2]


class NaiveWorker:
    """Validates, renders, builds MIME, signs with dkimpy and sends over a new SMTP connection."""

    def __init__(self, port: int, key_pem: bytes) -> None:
        self._port = port
        self._key_pem = key_pem
        self._renderer = EmailRenderer(default_templates_dir())

    def handle(self, body: bytes) -> None:
        event = SendEvent.model_validate_json(body)
        rendered = self._renderer.render(event)
        document = CATALOG[event.template].document
        if event.attach_pdf and document is not None:
            attachment = render_document(document, event.data, event.locale)
            rendered = RenderedEmail(rendered.subject, rendered.html, rendered.text, (attachment,))
        data = build_message(
            rendered,
            sender=Address(email=FROM_ADDRESS, name=event.data.company.name),
            reply_to=[],
            to=event.to,
            cc=event.cc,
            message_id=message_id(event.id),
            date=datetime.now(UTC),
        )
        signed = dkim.sign(data, DKIM_SELECTOR.encode(), DOMAIN.encode(), self._key_pem)
        with smtplib.SMTP("127.0.0.1", self._port) as smtp:
            smtp.sendmail(FROM_ADDRESS, [address.email for address in event.to], signed + data)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.naive", description=__doc__)
    parser.add_argument("--workload", type=Workload, choices=list(Workload), required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--port", type=int, required=True, help="the sink's port")
    parser.add_argument("--key", type=Path, required=True, help="RSA private key (PEM)")
    args = parser.parse_args(argv)
    worker = NaiveWorker(args.port, args.key.read_bytes())
    events = workload_events(args.workload, "naive", args.count + 1)
    _, first = next(events)
    worker.handle(first)  # start-up (imports, fonts) is not the steady rate
    bodies = [body for _, body in events]
    started, cpu_started = time.perf_counter(), time.process_time()
    for body in bodies:
        worker.handle(body)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    print(json.dumps({"count": len(bodies), "seconds": seconds, "cpu_seconds": cpu}))


if __name__ == "__main__":
    main()
