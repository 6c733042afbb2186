"""Starting and stopping the benchmark's processes, and sampling their CPU time and RSS."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

SAMPLE_INTERVAL = 0.25
STOP_TIMEOUT = 30.0
MIB = 1024 * 1024


class ManagedProcess:
    """A child process whose output goes to a log file; stopped with SIGTERM, then SIGKILL."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log = log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                list(argv), env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=out
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        """The end of the process's log, to show when something went wrong."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, wait up to `timeout`, then SIGKILL; the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                return self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
        return self.popen.wait()


def child_kind(cmdline: Sequence[str], parent_cmdline: Sequence[str]) -> str:
    """What a descendant of a service process is, from its command line and its parent's."""
    joined = " ".join(cmdline)
    if cmdline and Path(cmdline[0]).name == "nats-server":
        return "nats"
    if "multiprocessing.resource_tracker" in joined:
        return "resource-tracker"
    if "multiprocessing.forkserver" in joined:
        # Workers are forked by the fork server without exec, so they share its command line.
        forked = "multiprocessing.forkserver" in " ".join(parent_cmdline)
        return "pdf-worker" if forked else "forkserver"
    if "multiprocessing.spawn" in joined:
        return "pdf-worker"
    if "mailer.cli" in joined and "worker" in cmdline:
        return "worker"  # one of the consuming processes `mailer run` starts
    return "child"


@dataclass
class SeenProcess:
    """What the sampler knows of one process (pid and start time)."""

    role: str
    cpu: float = 0.0
    rss_max: int = 0
    hwm: int = 0


@dataclass(frozen=True, slots=True)
class RssSample:
    """At `at` (time.time()), the largest RSS among each role's live processes, in bytes."""

    at: float
    rss: Mapping[str, int]


_Key = tuple[int, float]


@dataclass
class Sampler:
    """Samples CPU seconds and RSS of watched processes and all their descendants, every
    SAMPLE_INTERVAL, in a thread. Exited processes keep their last sample, so the CPU of
    recycled PDF workers is counted."""

    interval: float = SAMPLE_INTERVAL
    roots: dict[str, psutil.Process] = field(default_factory=dict)
    seen: dict[_Key, SeenProcess] = field(default_factory=dict)
    series: list[RssSample] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopped: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def watch(self, role: str, pid: int) -> None:
        """Sample process `pid` as `role`, its descendants as `role/<kind>` (or `nats`)."""
        with contextlib.suppress(psutil.NoSuchProcess), self._lock:
            self.roots[role] = psutil.Process(pid)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    def _loop(self) -> None:
        while not self._stopped.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        with self._lock:
            rss: dict[str, int] = {}
            for root_role, root in self.roots.items():
                for process, role in self._tree(root_role, root):
                    with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                        self._sample_one(process, role, rss)
            self.series.append(RssSample(time.time(), rss))

    def _tree(self, root_role: str, root: psutil.Process) -> list[tuple[psutil.Process, str]]:
        tree = [(root, root_role)]
        with contextlib.suppress(psutil.NoSuchProcess):
            for child in root.children(recursive=True):
                key = _key(child)
                if key is None:
                    continue
                known = self.seen.get(key)
                tree.append((child, known.role if known else self._child_role(root_role, child)))
        return tree

    @staticmethod
    def _child_role(root_role: str, child: psutil.Process) -> str:
        try:
            parent = child.parent()
            kind = child_kind(child.cmdline(), parent.cmdline() if parent else [])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            kind = "child"
        return f"{root_role}/{kind}"

    def _sample_one(self, process: psutil.Process, role: str, rss: dict[str, int]) -> None:
        key = _key(process)
        if key is None:
            return
        with process.oneshot():
            times = process.cpu_times()
            resident = process.memory_info().rss
        seen = self.seen.setdefault(key, SeenProcess(role))
        seen.cpu = times.user + times.system
        seen.rss_max = max(seen.rss_max, resident)
        seen.hwm = max(seen.hwm, _vm_hwm(process.pid))
        rss[role] = max(rss.get(role, 0), resident)

    def cpu_snapshot(self) -> dict[_Key, float]:
        """CPU seconds so far of every process seen, sampled now: the start of a window."""
        self.sample()
        with self._lock:
            return {key: seen.cpu for key, seen in self.seen.items()}

    def cpu_by_role(
        self, since: Mapping[_Key, float], until: Mapping[_Key, float] | None = None
    ) -> dict[str, float]:
        """CPU seconds per role between two snapshots (`until` None: the last samples);
        processes that started after `since` count from their start."""
        totals: dict[str, float] = {}
        with self._lock:
            for key, seen in self.seen.items():
                end = seen.cpu if until is None else until.get(key, since.get(key, 0.0))
                spent = max(0.0, end - since.get(key, 0.0))
                totals[seen.role] = totals.get(seen.role, 0.0) + spent
        return totals

    def peak_rss_by_role(self) -> dict[str, int]:
        """The largest RSS of any one process of each role (sampled, or the kernel's VmHWM)."""
        peaks: dict[str, int] = {}
        with self._lock:
            for seen in self.seen.values():
                peaks[seen.role] = max(peaks.get(seen.role, 0), seen.rss_max, seen.hwm)
        return peaks


def _key(process: psutil.Process) -> _Key | None:
    try:
        return process.pid, process.create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _vm_hwm(pid: int) -> int:
    """The kernel's peak resident set of `pid` in bytes (0 where /proc has none)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return 0
    return 0
