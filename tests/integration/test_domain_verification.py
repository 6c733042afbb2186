"""Custom sending domains against a real DNS server on loopback, with independent DKIM verifiers."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import dkim
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.resolver
import httpx
import pytest

from mailer.api import create_api
from mailer.bootstrap import Runtime
from mailer.dns_check import lookup
from mailer.domain_service import signer_for, verified_domain
from mailer.domains import check_records, dkim_public_txt, expected_records, generate_dkim_key
from mailer.secrets import SecretBox, generate_secret_key
from mailer.settings import Settings
from mailer.store.database import create_engine, migrate, session_factory
from tests.support.databases import temporary_database
from tests.support.dns_server import DnsServer, dns_server, txt
from tests.support.inbox import ACME_TOKEN, GLOBEX_TOKEN, TOKENS, FakeRuntime

pytestmark = pytest.mark.integration

DOMAIN = "billing.acme.test"
BOUNCE_HOST = "bounces.mailer.test"
BASE = f"/api/tenants/acme/domains/{DOMAIN}"
PERL_VERIFIER = Path(__file__).with_name("dkim_verify_dns.pl")
MESSAGE = (
    b"From: Acme Billing <billing@billing.acme.test>\r\nTo: customer@example.org\r\n"
    b"Subject: Invoice INV-1\r\nMessage-ID: <inv-1@billing.acme.test>\r\n\r\nHello.\r\n"
)


@pytest.fixture(scope="module")
def running_dns() -> Iterator[DnsServer]:
    with dns_server() as server:
        yield server


@pytest.fixture
def server(running_dns: DnsServer) -> DnsServer:
    running_dns.clear()
    return running_dns


@contextlib.asynccontextmanager
async def domain_app(
    directory: Path, resolver: str, backend: str
) -> AsyncIterator[tuple[Any, FakeRuntime]]:
    async with temporary_database(backend, directory) as url:
        engine = create_engine(url)
        try:
            await migrate(engine)
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None,
                data_dir=directory,
                api_tokens=TOKENS,
                bounce_domain=BOUNCE_HOST,
                dns_resolver=resolver,
                secret_key=generate_secret_key(),
            )
            runtime = FakeRuntime(settings, engine, session_factory(engine))
            yield create_api(cast(Runtime, runtime)), runtime
        finally:
            await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def app(
    request: pytest.FixtureRequest, tmp_path: Path, server: DnsServer
) -> AsyncIterator[tuple[Any, FakeRuntime]]:
    async with domain_app(tmp_path, server.address, request.param) as built:
        yield built


def client(app: Any, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {token}"},
    )


def publish(server: DnsServer, records: list[dict[str, Any]], *purposes: str) -> None:
    """Publish the API's records of these purposes, as the tenant would in their zone."""
    for record in records:
        if record["purpose"] in purposes:
            value = txt(*record["strings"]) if record["type"] == "TXT" else record["value"] + "."
            server.set(record["name"], record["type"], value)


def states(view: dict[str, Any]) -> dict[str, str]:
    return {f"{c['purpose']}:{c['selector'] or ''}": c["state"] for c in view["last_check"]}


async def test_each_record_is_reported_ok_missing_or_wrong(
    app: tuple[Any, FakeRuntime], server: DnsServer
) -> None:
    async with client(app[0], ACME_TOKEN) as acme:
        added = await acme.post("/api/tenants/acme/domains", json={"domain": "Billing.Acme.TEST"})
        assert added.status_code == 201, added.text
        view = added.json()
        assert view["domain"] == DOMAIN and view["status"] == "pending"
        selector = view["keys"][0]["selector"]
        assert selector.startswith("mailer") and view["keys"][0]["state"] == "pending"
        assert "private" not in added.text.lower()
        records = view["records"]

        nothing = (await acme.post(f"{BASE}/verify")).json()
        assert nothing["status"] == "failed"
        assert set(states(nothing).values()) == {"missing"}

        publish(server, records, "dkim", "spf")
        partial = (await acme.post(f"{BASE}/verify")).json()
        assert states(partial) == {
            f"dkim:{selector}": "ok",
            "spf:": "ok",
            "return_path:": "missing",
            "dmarc:": "missing",
        }
        assert partial["status"] == "failed"

        other_key = expected_records(DOMAIN, selector, _other_public_txt(), spf_include="x",
                                     bounce_host="x")[0]  # fmt: skip
        server.set(other_key.name, "TXT", txt(*other_key.strings))
        server.set(DOMAIN, "TXT", txt("v=spf1 mx -all"))
        server.set(f"bounces.{DOMAIN}", "CNAME", "elsewhere.example.net.")
        wrong = (await acme.post(f"{BASE}/verify")).json()
        assert states(wrong) == {
            f"dkim:{selector}": "wrong",
            "spf:": "wrong",
            "return_path:": "wrong",
            "dmarc:": "missing",
        }
        found = {c["purpose"]: c["found"] for c in wrong["last_check"]}
        assert found["dkim"] == [other_key.value]
        assert found["spf"] == ["v=spf1 mx -all"]
        assert found["return_path"] == ["elsewhere.example.net"]

        publish(server, records, "dkim", "spf", "return_path")
        verified = (await acme.post(f"{BASE}/verify")).json()
        assert verified["status"] == "verified", verified["last_check"]
        assert states(verified)["dmarc:"] == "missing"  # advisory only
        assert verified["keys"][0]["state"] == "active"

        listed = (await acme.get("/api/tenants/acme/domains")).json()
        assert [(d["domain"], d["status"]) for d in listed] == [(DOMAIN, "verified")]


def _other_public_txt() -> str:
    return dkim_public_txt(generate_dkim_key())


async def verified_acme_domain(acme: httpx.AsyncClient, server: DnsServer) -> dict[str, Any]:
    view = (await acme.post("/api/tenants/acme/domains", json={"domain": DOMAIN})).json()
    publish(server, view["records"], "dkim", "spf", "return_path", "dmarc")
    verified = (await acme.post(f"{BASE}/verify")).json()
    assert verified["status"] == "verified"
    assert set(states(verified).values()) == {"ok"}
    return cast(dict[str, Any], verified)


def verify_with_mail_dkim(message: bytes, server: DnsServer) -> str:
    result = subprocess.run(
        ["perl", str(PERL_VERIFIER), "127.0.0.1", str(server.port)],
        input=message,
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert result.returncode in (0, 1), result.stderr.decode()
    return result.stdout.decode()


def verify_with_dkimpy(message: bytes, server: DnsServer) -> bool:
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers, resolver.port = ["127.0.0.1"], server.port

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        try:
            answer = resolver.resolve(name.decode(), "TXT", lifetime=timeout)
        except dns.resolver.NXDOMAIN:
            return b""
        return b"".join(answer[0].strings)

    return bool(dkim.verify(message, dnsfunc=dnsfunc))


async def test_rotation_signs_with_the_old_key_until_the_new_selector_verifies(
    app: tuple[Any, FakeRuntime], server: DnsServer
) -> None:
    api, runtime = app
    box = SecretBox.from_settings(runtime.settings)
    async with client(api, ACME_TOKEN) as acme:
        first = (await verified_acme_domain(acme, server))["keys"][0]["selector"]
        async with runtime.sessions() as session:
            signer = await signer_for(session, box, "acme", "billing.ACME.test")
        assert signer is not None and signer.selector == first
        signed = signer.sign(MESSAGE)
        assert verify_with_mail_dkim(signed, server).startswith("pass")
        assert verify_with_dkimpy(signed, server)

        rotating = await acme.post(f"{BASE}/rotate")
        assert rotating.status_code == 200, rotating.text
        keys = {k["selector"]: k["state"] for k in rotating.json()["keys"]}
        second = next(s for s, state in keys.items() if state == "pending")
        assert second != first and keys[first] == "active"
        assert [r["selector"] for r in rotating.json()["records"] if r["purpose"] == "dkim"] == [
            first,
            second,
        ]
        assert (await acme.post(f"{BASE}/rotate")).status_code == 409

        unpublished = (await acme.post(f"{BASE}/verify")).json()
        assert unpublished["status"] == "verified"
        assert states(unpublished)[f"dkim:{second}"] == "missing"
        async with runtime.sessions() as session:
            signer = await signer_for(session, box, "acme", DOMAIN)
        assert signer is not None and signer.selector == first

        publish(server, rotating.json()["records"], "dkim")
        rotated = (await acme.post(f"{BASE}/verify")).json()
        keys = {k["selector"]: k["state"] for k in rotated["keys"]}
        assert keys == {first: "retired", second: "active"}
        async with runtime.sessions() as session:
            signer = await signer_for(session, box, "acme", DOMAIN)
        assert signer is not None and signer.selector == second
        signed = signer.sign(MESSAGE)
        output = verify_with_mail_dkim(signed, server)
        assert output.startswith("pass") and f"signature: {second} pass" in output
        assert verify_with_dkimpy(signed, server)

        server.set(f"{second}._domainkey.{DOMAIN}", "TXT", txt(_other_public_txt()))
        assert verify_with_mail_dkim(signed, server).startswith("fail")
        assert not verify_with_dkimpy(signed, server)


async def test_tenants_cannot_reach_or_claim_each_others_domains(
    app: tuple[Any, FakeRuntime], server: DnsServer
) -> None:
    api, runtime = app
    box = SecretBox.from_settings(runtime.settings)
    async with client(api, ACME_TOKEN) as acme, client(api, GLOBEX_TOKEN) as globex:
        early = await globex.post("/api/tenants/globex/domains", json={"domain": DOMAIN})
        assert early.status_code == 201  # nobody has verified it yet: adding proves nothing
        await verified_acme_domain(acme, server)

        other = f"/api/tenants/globex/domains/{DOMAIN}"
        assert (await globex.get(BASE)).status_code == 403
        assert (await globex.post(f"{BASE}/verify")).status_code == 403
        assert (await globex.post(f"{other}/verify")).status_code == 409
        assert (await globex.get(other)).json()["status"] == "pending"
        assert (await globex.delete(other)).status_code == 204
        for method, path in (("GET", ""), ("POST", "/verify"), ("POST", "/rotate"), ("DELETE", "")):
            response = await globex.request(method, other + path)
            assert response.status_code == 404, (method, path)
        again = await globex.post("/api/tenants/globex/domains", json={"domain": DOMAIN.upper()})
        assert again.status_code == 409
        assert (await globex.get("/api/tenants/globex/domains")).json() == []
        assert (await acme.get(BASE)).json()["status"] == "verified"

    async with runtime.sessions() as session:
        assert await verified_domain(session, "acme", DOMAIN)
        assert not await verified_domain(session, "globex", DOMAIN)
        assert not await verified_domain(session, "acme", "other.acme.test")
        assert await signer_for(session, box, "globex", DOMAIN) is None
        assert await signer_for(session, box, "acme", "not a domain") is None


async def test_an_unreachable_resolver_is_a_lookup_failure_not_a_verdict() -> None:
    records = expected_records(DOMAIN, "s", "v=DKIM1; p=x", spf_include="x", bounce_host="y")

    answers = await lookup(records, "127.0.0.1:9", query_timeout=0.3)

    assert answers and all(a.error and not a.values for a in answers.values())
    assert {c.state.value for c in check_records(records, answers)} == {"lookup_failed"}


def test_the_test_server_truncates_over_udp_and_answers_over_tcp(server: DnsServer) -> None:
    long_value = "v=DKIM1; k=rsa; p=" + "A" * 700  # a 4096-bit key's size: over 512 bytes
    server.set("big._domainkey.example.test", "TXT", txt(long_value))
    query = dns.message.make_query("big._domainkey.example.test", "TXT")

    over_udp = dns.query.udp(query, "127.0.0.1", port=server.port, timeout=5)
    over_tcp = dns.query.tcp(query, "127.0.0.1", port=server.port, timeout=5)

    assert over_udp.flags & dns.flags.TC
    assert b"".join(over_tcp.answer[0][0].strings).decode() == long_value
    missing = dns.query.udp(dns.message.make_query("nothing.example.test", "TXT"), "127.0.0.1",
                            port=server.port, timeout=5)  # fmt: skip
    assert missing.rcode() == dns.rcode.NXDOMAIN
