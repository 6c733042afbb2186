"""As a new user would: `mailer run` on the embedded default, `mailer send`, outbox, HTTP API."""

from __future__ import annotations

import asyncio
import email
import email.policy
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pypdf
import pytest

from mailer.embedded_nats import free_port
from tests.conftest import EXAMPLES_DIR, load_example
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration
MAILER = [sys.executable, "-m", "mailer.cli"]


@pytest.fixture
def service(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    """`mailer run` with no configuration but a private data directory and HTTP port."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("MAILER_")} | {
        "MAILER_DATA_DIR": str(tmp_path / "var"),
        "MAILER_HTTP_LISTEN": f"127.0.0.1:{port}",
        "MAILER_BOUNCE_LISTEN": f"127.0.0.1:{free_port()}",
    }
    log = (tmp_path / "mailer.log").open("wb")
    process = subprocess.Popen([*MAILER, "run"], env=env, cwd=tmp_path, stdout=log, stderr=log)
    try:
        yield f"http://127.0.0.1:{port}", env, tmp_path / "var"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            assert process.wait(timeout=30) == 0, (tmp_path / "mailer.log").read_text()
        finally:
            if process.poll() is None:
                process.kill()
            log.close()


async def _healthy(base: str) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            return (await client.get(f"{base}/healthz")).status_code == 200
    except httpx.TransportError:
        return False


async def test_new_user_publishes_an_event_and_opens_the_eml(
    service: tuple[str, dict[str, str], Path],
) -> None:
    base, env, data_dir = service
    await wait_for(lambda: _healthy(base), timeout=60)
    assert (data_dir / "broker.url").read_text().startswith("nats://127.0.0.1:")
    assert ":4222" not in (data_dir / "broker.url").read_text()

    published = await asyncio.to_thread(
        subprocess.run,
        [*MAILER, "send", str(EXAMPLES_DIR / "invoice.new.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert published.returncode == 0, published.stderr
    outbox = data_dir / "outbox"
    await wait_for(lambda: any(outbox.glob("*.eml")), timeout=60)
    [eml] = list(outbox.glob("*.eml"))
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert message["To"].addresses[0].addr_spec == "customer1@example.org"
    assert message["Subject"] and "INV-10001" in message["Subject"]
    [attachment] = list(message.iter_attachments())
    pdf = pypdf.PdfReader(io.BytesIO(attachment.get_content()))
    text = "\n".join(page.extract_text() for page in pdf.pages)
    assert "INV-10001" in text and "€540.00" in text

    async with httpx.AsyncClient(base_url=base) as client:
        log = await client.get(
            "/api/messages", params={"tenant": "acme", "request_id": "evt-invoice-new-0001"}
        )
        assert log.status_code == 200
        assert [entry["status"] for entry in log.json()["history"]] == ["queued", "sent"]

        accepted = await client.post("/api/send", json=load_example("statement"))
        assert accepted.status_code == 202
        assert accepted.json() == {
            "request_id": "evt-statement-0001",
            "tenant": "acme",
            "status": "accepted",
        }
        await wait_for(lambda: len(list(outbox.glob("*.eml"))) == 2, timeout=60)

        broken = load_example("statement") | {"template": "nope"}
        refused = await client.post("/api/send", json=broken)
        assert refused.status_code == 422 and "template" in refused.json()["detail"]
        garbage = await client.post("/api/send", content=b"\xff\xfe not json")
        assert garbage.status_code == 422

        missing = await client.get(
            "/api/messages", params={"tenant": "other", "request_id": "evt-invoice-new-0001"}
        )
        assert missing.status_code == 404  # another tenant sees nothing

        asyncapi = (await client.get("/asyncapi.json")).json()
        assert "mail.send" in json.dumps(asyncapi["channels"]) and "SendEvent" in json.dumps(
            asyncapi
        )
        assert (await client.get("/openapi.json")).status_code == 200


def test_send_refuses_an_invalid_file_without_publishing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(load_example("invoice.new") | {"to": []}))
    result = subprocess.run(
        [*MAILER, "send", str(bad)],
        env=os.environ | {"MAILER_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "rejected: to: List should have at least 1 item" in result.stderr
