"""The baselines measured beside the scenarios: naive worker, bare PDF pool, bare SMTP, DKIM."""

from __future__ import annotations

import asyncio
import io
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, wait
from datetime import UTC, datetime
from pathlib import Path

import aiosmtplib
import dkim
import psutil
import pypdf

from bench.events import Workload, invoice_with_pdf, message_id, plain_reminder
from bench.results import Baselines, DkimResult, LoopRate
from bench.stack import DKIM_SELECTOR, FROM_ADDRESS, python_env, start_sink
from mailer.catalog import DocumentKind
from mailer.dkim import DkimSigner
from mailer.events import Address, SendEvent
from mailer.mime import build_message
from mailer.pdf import render_document, warm_up
from mailer.render import EmailRenderer, default_templates_dir

NAIVE_PLAIN_MAX = 300
NAIVE_PDF_MAX = 40
POOL_DOCUMENTS_MAX = 100
SMTP_MESSAGES = 4000
SMTP_CONNECTIONS = 8
DKIM_SIGNATURES = 2000
DKIMPY_SIGNATURES = 200
DOMAIN = FROM_ADDRESS.rpartition("@")[2]


def plain_email() -> bytes:
    """A typical plain email as the service builds it (a reminder without PDF), unsigned."""
    event = SendEvent.model_validate_json(plain_reminder("baseline", 1))
    rendered = EmailRenderer(default_templates_dir()).render(event)
    return build_message(
        rendered,
        sender=Address(email=FROM_ADDRESS, name=event.data.company.name),
        reply_to=[],
        to=event.to,
        cc=event.cc,
        message_id=message_id(event.id),
        date=datetime.now(UTC),
    )


def naive(workload: Workload, count: int, key: Path, workdir: Path) -> LoopRate:
    """The naive worker's steady rate, in its own process, into a fresh sink."""
    sink = start_sink(workdir, f"sink-naive-{workload.value}")
    argv = [
        sys.executable,
        "-m",
        "bench.naive",
        "--workload",
        workload.value,
        "--count",
        str(count),
        "--port",
        str(sink.port),
        "--key",
        str(key),
    ]
    try:
        done = subprocess.run(argv, env=python_env(), capture_output=True, text=True, check=True)
    finally:
        sink.process.stop()
    measured = json.loads(done.stdout.splitlines()[-1])
    return LoopRate(
        measured["count"],
        measured["count"] / measured["seconds"],
        measured["cpu_seconds"] / measured["count"],
    )


def pdf_pages(document: bytes) -> int:
    return len(pypdf.PdfReader(io.BytesIO(document)).pages)


def bare_pool(workers: int, count: int) -> tuple[LoopRate, int]:
    """Warm WeasyPrint workers rendering the same two-page invoice: the rate and its pages."""
    data = SendEvent.model_validate_json(invoice_with_pdf("baseline", 1)).data
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=warm_up) as pool:
        warm = [
            pool.submit(render_document, DocumentKind.INVOICE, data, "en")
            for _ in range(2 * workers)
        ]
        wait(warm)
        pages = pdf_pages(warm[0].result().data)
        children = psutil.Process().children(recursive=True)
        cpu_before = _cpu(children)
        started = time.perf_counter()
        futures = [
            pool.submit(render_document, DocumentKind.INVOICE, data, "en") for _ in range(count)
        ]
        for future in futures:
            future.result()
        seconds = time.perf_counter() - started
        cpu = _cpu(children) - cpu_before
    return LoopRate(count, count / seconds, cpu / count), pages


def _cpu(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def bare_smtp(message: bytes, workdir: Path, count: int = SMTP_MESSAGES) -> LoopRate:
    """aiosmtplib over SMTP_CONNECTIONS reused connections into a fresh sink process."""
    sink = start_sink(workdir, "sink-smtp")
    try:
        return asyncio.run(_push(message, sink.port, count))
    finally:
        sink.process.stop()


async def _push(message: bytes, port: int, count: int) -> LoopRate:
    clients = [
        aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        for _ in range(SMTP_CONNECTIONS)
    ]
    await asyncio.gather(*(client.connect() for client in clients))
    share = [
        count // SMTP_CONNECTIONS + (i < count % SMTP_CONNECTIONS) for i in range(SMTP_CONNECTIONS)
    ]

    async def push(client: aiosmtplib.SMTP, messages: int) -> None:
        for _ in range(messages):
            await client.sendmail(FROM_ADDRESS, ["customer@example.org"], message)

    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(*(push(client, n) for client, n in zip(clients, share, strict=True)))
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    await asyncio.gather(*(client.quit() for client in clients))
    return LoopRate(count, count / seconds, cpu / count)


def dkim_medians(message: bytes, key_pem: bytes) -> DkimResult:
    """Median signing time of mailer's signer and of dkimpy, and a dkimpy verification."""
    signer = DkimSigner(DOMAIN, DKIM_SELECTOR, key_pem)
    mailer_ms = _median_ms(lambda: signer.sign(message), DKIM_SIGNATURES)
    dkimpy_ms = _median_ms(
        lambda: dkim.sign(message, DKIM_SELECTOR.encode(), DOMAIN.encode(), key_pem),
        DKIMPY_SIGNATURES,
    )
    record = signer.public_key_dns_record().encode()

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return record if name == f"{DKIM_SELECTOR}._domainkey.{DOMAIN}.".encode() else b""

    verified = bool(dkim.verify(signer.sign(message), dnsfunc=dns))
    return DkimResult(mailer_ms, dkimpy_ms, verified)


def _median_ms(action: Callable[[], object], times: int) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def pool_workers() -> int:
    """The service's PDF pool size by default (MAILER_PDF_WORKERS=0: one per core)."""
    return os.cpu_count() or 1


def run_baselines(
    events: int, key: Path, workdir: Path, log: Callable[[str], None] = print
) -> Baselines:
    """All baselines; counts scale with `events` up to the steady-state maxima above."""
    workdir.mkdir(parents=True, exist_ok=True)
    message = plain_email()
    log("baseline: DKIM")
    signing = dkim_medians(message, key.read_bytes())
    log("baseline: bare SMTP")
    smtp = bare_smtp(message, workdir)
    workers = pool_workers()
    log(f"baseline: bare WeasyPrint pool ({workers} workers)")
    pool, pages = bare_pool(workers, max(2 * workers, min(events, POOL_DOCUMENTS_MAX)))
    log("baseline: naive worker, plain")
    naive_plain = naive(Workload.PLAIN, min(events, NAIVE_PLAIN_MAX), key, workdir)
    log("baseline: naive worker, with PDF")
    naive_pdf = naive(Workload.PDF, min(events, NAIVE_PDF_MAX), key, workdir)
    return Baselines(naive_plain, naive_pdf, pool, workers, pages, smtp, signing)
