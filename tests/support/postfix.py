"""A private Postfix instance on loopback for end-to-end tests (its own config, queue and ports)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"


def postfix_available() -> bool:
    return Path(POSTFIX).exists()


def _main_cf(directory: Path, hostname: str) -> str:
    return f"""
compatibility_level = 3.6
myhostname = {hostname}
mydomain = {hostname}
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
transport_maps = texthash:{directory}/transport
queue_directory = {directory}/queue
data_directory = {directory}/data
maillog_file = {directory}/maillog
maillog_file_prefixes = {directory}
smtputf8_enable = no
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtp_dns_support_level = disabled
disable_dns_lookups = yes
smtp_host_lookup = native
bounce_queue_lifetime = 0
maximal_queue_lifetime = 1h
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
smtp_connect_timeout = 5s
alias_maps =
alias_database =
local_recipient_maps =
biff = no
"""


def _master_cf(port: int) -> str:
    services = [
        f"127.0.0.1:{port} inet n - n - - smtpd",
        "pickup    unix n - n 60 1 pickup",
        "cleanup   unix n - n - 0 cleanup",
        "qmgr      unix n - n 300 1 qmgr",
        "tlsmgr    unix - - n 1000? 1 tlsmgr",
        "rewrite   unix - - n - - trivial-rewrite",
        "bounce    unix - - n - 0 bounce",
        "defer     unix - - n - 0 bounce",
        "trace     unix - - n - 0 bounce",
        "verify    unix - - n - 1 verify",
        "flush     unix n - n 1000? 0 flush",
        "proxymap  unix - - n - - proxymap",
        "proxywrite unix - - n - 1 proxymap",
        "smtp      unix - - n - - smtp",
        "relay     unix - - n - - smtp",
        "showq     unix n - n - - showq",
        "error     unix - - n - - error",
        "retry     unix - - n - - error",
        "discard   unix - - n - - discard",
        "local     unix - n n - - local",
        "lmtp      unix - - n - - lmtp",
        "anvil     unix - - n - 1 anvil",
        "scache    unix - - n - 1 scache",
        "postlog   unix-dgram n - n - 1 postlogd",
    ]
    return "\n".join(services) + "\n"


def _postfix(directory: Path, *command: str) -> None:
    done = subprocess.run(
        [POSTFIX, "-c", str(directory), *command], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(f"postfix {' '.join(command)} failed: {done.stderr.strip()}")


@asynccontextmanager
async def running_postfix(
    *, port: int, routes: Mapping[str, int], hostname: str = "relay.mailer.test"
) -> AsyncIterator[Path]:
    """Postfix accepting mail on 127.0.0.1:`port` and relaying each domain of `routes` to a
    loopback port; yields its log file. It runs as root, so tests using it need root."""
    # Postfix's own user must reach the queue, so not below pytest's private (0700) folders.
    directory = Path(tempfile.mkdtemp(prefix="mailer-postfix-"))
    directory.chmod(0o755)
    (directory / "main.cf").write_text(_main_cf(directory, hostname))
    (directory / "master.cf").write_text(_master_cf(port))
    transport = "".join(f"{domain} smtp:[127.0.0.1]:{to}\n" for domain, to in routes.items())
    (directory / "transport").write_text(transport)
    (directory / "queue").mkdir(exist_ok=True)
    (directory / "data").mkdir(exist_ok=True)
    shutil.chown(directory / "data", user="postfix")
    await asyncio.to_thread(_postfix, directory, "check")
    await asyncio.to_thread(_postfix, directory, "start")
    try:
        yield directory / "maillog"
    finally:
        await asyncio.to_thread(_postfix, directory, "stop")
        shutil.rmtree(directory, ignore_errors=True)
