"""Child processes that never outlive the suite.

Every component runs in its own process group (so a stop reaches gunicorn's workers too),
writes to its own log file, and gets SIGKILL from the kernel if the Python process that
started it dies (PR_SET_PDEATHSIG), so even a killed test run leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in the child between fork and exec."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Process:
    """One long-running command: started, stopped, killed, its output in ``log``."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self._popen: subprocess.Popen[bytes] | None = None
        self._meant_to_end = False  # set by stop() and kill(): an end that is no failure

    def __repr__(self) -> str:
        return f"<{self.name} pid={self.pid}>"

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    def alive(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def start(self) -> Process:
        if self.alive():
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self._meant_to_end = False
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
            out.write(f"\n=== {stamp} starting: {' '.join(self.argv)}\n".encode())
            out.flush()
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        return self

    def exited(self) -> str | None:
        """Why the process is not running, or None while it runs."""
        if self._popen is None:
            return "never started"
        code = self._popen.poll()
        if code is None:
            return None
        return f"exited with code {code}"

    def crashed(self) -> str | None:
        """Why the process ended when nobody stopped it, else None."""
        if self._meant_to_end or self._popen is None:
            return None
        return self.exited()

    def _signal_group(self, sig: signal.Signals) -> None:
        if self._popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._popen.pid, sig)

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, no chance to clean up."""
        if self._popen is None:
            return
        self._meant_to_end = True
        self._signal_group(signal.SIGKILL)
        self._popen.wait()
        self._note("killed (SIGKILL)")

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; the whole group either way."""
        if self._popen is None:
            return
        self._meant_to_end = True
        if self._popen.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self._popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self._popen.wait()
        # Children that outlived their parent (a gunicorn worker, say) go too.
        self._signal_group(signal.SIGKILL)
        self._note(f"stopped ({self.exited()})")

    def _note(self, text: str) -> None:
        with self.log.open("a") as out:
            stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
            out.write(f"=== {stamp} {self.name} {text}\n")


class Supervisor:
    """The processes of one run, stopped in reverse order of start."""

    def __init__(self) -> None:
        self.processes: list[Process] = []

    def start(self, process: Process) -> Process:
        if process not in self.processes:
            self.processes.append(process)
        return process.start()

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop(grace=5.0)

    def check(self) -> None:
        """Fail when a component that should run has died (named, with its log)."""
        for process in self.processes:
            why = process.crashed()
            if why is not None:
                raise AssertionError(f"{process.name} {why}; see {process.log}")


def wait_port(port: int, timeout: float, what: str) -> None:
    """Wait until something accepts TCP connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what} on port {port}")
