"""A child process whose output a test reads line by line, every read with a deadline.

`proc.stdout.readline()` waits for as long as the child neither writes a line nor exits: a
child stuck in an import or a lock hangs the test until CI gives up. Here a thread drains
stdout into a queue (and stderr into a list, so a chatty child never blocks on a full pipe),
and the test waits on the queue with a timeout: a silent child fails the test with what it
wrote so far. Leaving the `with` block kills a child that is still running.
"""

from __future__ import annotations

import queue
import subprocess
import threading
import time
from collections.abc import Callable


class ChildLines:
    def __init__(self, args: list[str], what: str, **popen: object):
        self.what = what
        self.lines: list[str] = []  # every stdout line read so far, in order
        self.stderr: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)
        self._threads = [
            threading.Thread(target=self._drain_stdout, daemon=True),
            threading.Thread(target=self._drain_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _drain_stdout(self) -> None:
        for line in self.proc.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)  # end of output

    def _drain_stderr(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line)

    def __enter__(self) -> ChildLines:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=60)

    def _explain(self) -> str:
        return f"{self.what} (exit {self.proc.poll()}); its stderr ends: {''.join(self.stderr)[-2000:]!r}"

    def next(self, timeout: float) -> str:
        """The next line, or a failure when none comes within `timeout` seconds or the output ended."""
        try:
            line = self._queue.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            raise AssertionError(f"no line within {timeout:.0f} s from {self._explain()}") from None
        if line is None:
            self._queue.put(None)  # the end stays visible to later reads
            raise AssertionError(f"the output ended before the line the test waits for: {self._explain()}")
        self.lines.append(line)
        return line

    def until(self, wanted: Callable[[str], bool], timeout: float) -> str:
        """Read lines until one is `wanted` (returned); fail if none is within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.next(deadline - time.monotonic())
            if wanted(line):
                return line

    def finish(self, timeout: float) -> list[str]:
        """Wait for the child to exit (it was told to stop) and return the lines not read yet."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"still running {timeout:.0f} s after it was told to stop: {self._explain()}"
            ) from None
        for thread in self._threads:  # the pipes are closed: the threads end promptly
            thread.join(timeout=timeout)
        rest = []
        while (line := self._queue.get(timeout=timeout)) is not None:
            rest.append(line)
        self._queue.put(None)
        self.lines.extend(rest)
        return rest
