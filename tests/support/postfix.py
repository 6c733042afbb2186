"""A private Postfix instance on loopback for end-to-end tests (its own config, queue and ports)."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.smtp_servers import TlsFiles

__all__ = [
    "POSTFIX",
    "Submission",
    "postfix_available",
    "require_submission_tools",
    "running_postfix",
    "session_commands",
]

POSTFIX = shutil.which("postfix") or "/usr/sbin/postfix"
POSTCONF = shutil.which("postconf") or "/usr/sbin/postconf"
SASLPASSWD2 = shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2"
SASLPLUGINVIEWER = shutil.which("saslpluginviewer") or "/usr/sbin/saslpluginviewer"
SUBMISSION_PACKAGES = "postfix sasl2-bin libsasl2-modules"
_INSTALL_HINT = f"install the Debian packages {SUBMISSION_PACKAGES} (scripts/setup test)"
_DISCONNECT = re.compile(r"\bdisconnect from \S+ (?P<commands>.*)$")


@dataclass(frozen=True)
class Submission:
    """Run the instance as a firm's own submission server: Cyrus SASL AUTH against a private
    sasldb, and relaying only for authenticated clients.

    With ``tls_files`` STARTTLS is offered and mandatory (``smtpd_tls_security_level=encrypt``),
    so AUTH is offered only after it. Without, the server offers no STARTTLS at all yet still
    offers AUTH in clear text: a misconfigured server, or what a STARTTLS-stripping attacker
    shows, so only the client can keep the password safe.
    """

    users: Mapping[str, str] = field(repr=False)  # login -> password, stored in the sasldb
    tls_files: TlsFiles | None = None


def postfix_available() -> bool:
    return Path(POSTFIX).exists()


def require_submission_tools() -> None:
    """Fail with the packages to install when Postfix or Cyrus SASL pieces are missing."""
    if not postfix_available():
        raise RuntimeError(f"postfix is missing: {_INSTALL_HINT}")
    if not Path(SASLPASSWD2).exists() or not Path(SASLPLUGINVIEWER).exists():
        raise RuntimeError(f"saslpasswd2/saslpluginviewer are missing (sasl2-bin): {_INSTALL_HINT}")
    types = _run([POSTCONF, "-a"]).split()
    if "cyrus" not in types:
        raise RuntimeError(f"this Postfix has no Cyrus SASL support (postconf -a: {types})")
    plugins = _run([SASLPLUGINVIEWER, "-a", "-s"])
    mechanisms = _after(plugins, "Installed and properly configured SASL (server side)")
    if not {"PLAIN", "LOGIN"} <= set(mechanisms.split()):
        raise RuntimeError(f"Cyrus SASL PLAIN/LOGIN plugins are missing: {_INSTALL_HINT}")
    auxprops = _after(plugins, "Installed and properly configured auxprop mechanisms")
    if "sasldb" not in auxprops.split():
        raise RuntimeError(f"the Cyrus sasldb auxprop plugin is missing: {_INSTALL_HINT}")


def session_commands(maillog: Path) -> list[str]:
    """Postfix's per-session command counts (``ehlo=2 starttls=1 auth=0/1 quit=1 ...``), one
    entry per finished SMTP session, in order. An AUTH command always shows up as ``auth=``."""
    text = maillog.read_text() if maillog.exists() else ""
    lines = (_DISCONNECT.search(line) for line in text.splitlines())
    return [match["commands"] for match in lines if match]


def _main_cf(directory: Path, hostname: str, submission: Submission | None = None) -> str:
    settings = {
        "compatibility_level": "3.6",
        "myhostname": hostname,
        "mydomain": hostname,
        "myorigin": "$myhostname",
        "mydestination": "",
        "inet_interfaces": "127.0.0.1",
        "inet_protocols": "ipv4",
        "mynetworks": "127.0.0.0/8",
        "relay_domains": "",
        "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
        "transport_maps": f"texthash:{directory}/transport",
        "queue_directory": f"{directory}/queue",
        "data_directory": f"{directory}/data",
        "maillog_file": f"{directory}/maillog",
        "maillog_file_prefixes": str(directory),
        "smtputf8_enable": "no",
        "smtp_tls_security_level": "none",
        "smtpd_tls_security_level": "none",
        "smtp_dns_support_level": "disabled",
        "disable_dns_lookups": "yes",
        "smtp_host_lookup": "native",
        "bounce_queue_lifetime": "0",
        "maximal_queue_lifetime": "1h",
        "queue_run_delay": "1s",
        "minimal_backoff_time": "1s",
        "maximal_backoff_time": "2s",
        "smtp_connect_timeout": "5s",
        "alias_maps": "",
        "alias_database": "",
        "local_recipient_maps": "",
        "biff": "no",
    }
    if submission is not None:
        settings |= _submission_settings(directory, hostname, submission)
    return "".join(f"{name} = {value}\n" for name, value in settings.items())


def _submission_settings(directory: Path, hostname: str, submission: Submission) -> dict[str, str]:
    """Cyrus SASL against the private sasldb; relaying only after AUTH; STARTTLS if any."""
    settings = {
        "smtpd_relay_restrictions": "permit_sasl_authenticated, reject",
        "smtpd_sasl_auth_enable": "yes",
        "smtpd_sasl_type": "cyrus",
        "smtpd_sasl_path": "smtpd",  # Cyrus reads smtpd.conf from cyrus_sasl_config_path
        "cyrus_sasl_config_path": f"{directory}/sasl",
        "smtpd_sasl_local_domain": hostname,  # the realm saslpasswd2 stored the users in
        "smtpd_sasl_security_options": "noanonymous",
        "smtpd_sasl_tls_security_options": "noanonymous",
        "smtpd_sasl_authenticated_header": "yes",
        "smtpd_tls_security_level": "none",
        "smtpd_tls_auth_only": "no",  # without TLS, AUTH is offered in clear text: the bait
    }
    if submission.tls_files is not None:
        settings |= {
            "smtpd_tls_security_level": "encrypt",  # no AUTH and no MAIL before STARTTLS
            "smtpd_tls_auth_only": "yes",
            "smtpd_tls_cert_file": f"{directory}/tls/server.pem",
            "smtpd_tls_key_file": f"{directory}/tls/server.key",
            "smtpd_tls_loglevel": "1",
            "smtpd_tls_received_header": "yes",
        }
    return settings


def _sasl_conf(directory: Path) -> str:
    return f"""pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: {directory}/sasl/sasldb2
mech_list: PLAIN LOGIN
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


def _run(command: list[str], *, stdin: str | None = None) -> str:
    done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(command[0]).name} failed: {done.stderr.strip()}")
    return done.stdout


def _after(text: str, heading: str) -> str:
    """The line following ``heading`` in saslpluginviewer's output."""
    lines = text.splitlines()
    for index, line in enumerate(lines[:-1]):
        if line.startswith(heading):
            return lines[index + 1]
    return ""


def _postfix(directory: Path, *command: str) -> None:
    done = subprocess.run(
        [POSTFIX, "-c", str(directory), *command], capture_output=True, text=True, timeout=60
    )
    if done.returncode != 0:
        raise RuntimeError(f"postfix {' '.join(command)} failed: {done.stderr.strip()}")


def _prepare_submission(directory: Path, hostname: str, submission: Submission) -> None:
    """Private TLS files and sasldb; smtpd reads the db after dropping to the postfix user."""
    if submission.tls_files is not None:
        (directory / "tls").mkdir(mode=0o700)
        shutil.copyfile(submission.tls_files.cert, directory / "tls" / "server.pem")
        shutil.copyfile(submission.tls_files.key, directory / "tls" / "server.key")
        (directory / "tls" / "server.key").chmod(0o600)
    sasl = directory / "sasl"
    sasl.mkdir(mode=0o755)
    (sasl / "smtpd.conf").write_text(_sasl_conf(directory))
    sasldb = sasl / "sasldb2"
    for login, password in submission.users.items():
        # -p reads the password from stdin, so it never shows in the process list.
        _run([SASLPASSWD2, "-f", str(sasldb), "-p", "-c", "-u", hostname, login], stdin=password)
    # Readable through the postfix group: root keeps ownership, so `postfix check` stays quiet.
    shutil.chown(sasldb, group="postfix")
    sasldb.chmod(0o640)


@asynccontextmanager
async def running_postfix(
    *,
    port: int,
    routes: Mapping[str, int],
    hostname: str = "relay.mailer.test",
    submission: Submission | None = None,
) -> AsyncIterator[Path]:
    """Postfix accepting mail on 127.0.0.1:`port` and relaying each domain of `routes` to a
    loopback port; yields its log file. It runs as root, so tests using it need root.

    By default any loopback client may relay; with `submission` only clients that logged in
    (see ``Submission``), which needs Cyrus SASL: ``require_submission_tools`` is checked first.
    """
    if submission is not None:
        await asyncio.to_thread(require_submission_tools)
    # Postfix's own user must reach the queue, so not below pytest's private (0700) folders.
    directory = Path(tempfile.mkdtemp(prefix="mailer-postfix-"))
    try:
        directory.chmod(0o755)
        (directory / "main.cf").write_text(_main_cf(directory, hostname, submission))
        (directory / "master.cf").write_text(_master_cf(port))
        transport = "".join(f"{domain} smtp:[127.0.0.1]:{to}\n" for domain, to in routes.items())
        (directory / "transport").write_text(transport)
        (directory / "queue").mkdir(exist_ok=True)
        (directory / "data").mkdir(exist_ok=True)
        shutil.chown(directory / "data", user="postfix")
        if submission is not None:
            await asyncio.to_thread(_prepare_submission, directory, hostname, submission)
        await asyncio.to_thread(_postfix, directory, "check")
        await asyncio.to_thread(_postfix, directory, "start")
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    try:
        yield directory / "maillog"
    finally:
        await asyncio.to_thread(_postfix, directory, "stop")
        shutil.rmtree(directory, ignore_errors=True)
