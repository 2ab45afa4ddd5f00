"""Processes on this machine: a free loopback port, a service process in its own session that can
be stopped or killed as a container is, and waiting for something with a deadline."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

from deploy.local_stack.compose import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """One service: a process in its own session (so a signal reaches everything it started)."""

    def __init__(self, name: str, argv: list[str], env: dict, log: Path, cwd: Path = REPO, user: str | None = None):
        self.name, self.argv, self.env, self.log, self.cwd, self.user = name, argv, env, log, cwd, user
        self.proc: subprocess.Popen | None = None
        self.log_offset = 0

    def start(self) -> Process:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0  # a restart appends
        argv = ["runuser", "-u", self.user, "--", *self.argv] if self.user else self.argv
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, env=self.env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def group_alive(self) -> bool:
        if self.proc is None:
            return False
        self.proc.poll()
        try:
            os.killpg(self.proc.pid, 0)
            return True
        except ProcessLookupError:
            return False

    def kill(self) -> list[int]:
        """SIGKILL the process and everything it started, as `docker kill` ends a container:
        nothing cleans up. Airflow puts each task process in a process group of its own, so
        the whole tree is collected first (children are re-parented once their parent dies).
        Returns the pids killed."""
        import psutil

        # freeze the tree first (SIGSTOP), so nothing forks between listing and killing
        frozen: dict[int, psutil.Process] = {}
        while True:
            try:
                root = psutil.Process(self.proc.pid)
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                tree = []
            new = [p for p in tree if p.pid not in frozen]
            if not new:
                break
            for p in new:
                try:
                    p.suspend()
                    frozen[p.pid] = p
                except psutil.NoSuchProcess:
                    pass
        killed = []
        for p in frozen.values():
            try:
                p.kill()
                killed.append(p.pid)
            except psutil.NoSuchProcess:
                pass
        self.send(signal.SIGKILL)
        self.proc.wait(timeout=30)
        psutil.wait_procs(list(frozen.values()), timeout=30)
        return killed

    def send(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 30, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        self.send(sig)
        deadline = time.monotonic() + timeout
        while self.group_alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        if self.group_alive():
            self.send(signal.SIGKILL)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def output(self) -> str:
        """What this start of the process logged (a restarted one appends to the same file)."""
        with self.log.open("rb") as f:
            f.seek(self.log_offset)
            return f.read().decode(errors="replace")

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def wait_until(
    check, what: str, timeout: float, process: Process | subprocess.Popen | None = None, interval: float = 0.5
):
    """Call `check` until it returns something true (an exception counts as not yet) and return
    that; TimeoutError after `timeout` seconds, RuntimeError as soon as `process` has exited
    (a service that died will never answer)."""
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and not _alive(process):
            raise RuntimeError(f"{_name(process)} exited while waiting for {what}{_tail(process)}")
        try:
            result = check()
            if result:
                return result
        except Exception:
            pass
        if time.monotonic() > deadline:
            tail = _tail(process) if process else ""
            raise TimeoutError(f"{what}: not after {timeout:.0f}s{tail}")
        time.sleep(interval)


def _alive(process: Process | subprocess.Popen) -> bool:
    return process.poll() is None if isinstance(process, subprocess.Popen) else process.alive()


def _name(process: Process | subprocess.Popen) -> str:
    return f"process {process.pid}" if isinstance(process, subprocess.Popen) else process.name


def _tail(process: Process | subprocess.Popen) -> str:
    return "" if isinstance(process, subprocess.Popen) else f":\n{process.tail()}"


def api_answers(url: str) -> bool:
    """Whether Airflow's api-server at `url` (its base URL, path included) answers."""
    return requests.get(f"{url}/api/v2/version", timeout=5).ok


def wait_for_api(url: str, timeout: float, process: Process | subprocess.Popen | None = None, interval: float = 1):
    """Wait until the api-server at `url` answers (see wait_until for how it fails)."""
    wait_until(lambda: api_answers(url), "the api-server answering", timeout, process, interval)
