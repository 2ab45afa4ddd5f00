"""Parsing untrusted uploads in isolated worker processes with hard limits.

A spreadsheet is parsed by a worker: a separate Python process (`python -m
extract.parse_pool`) started with a scrubbed environment (no Airflow connection, no token)
that sets its own hard limits before it reads a byte of input — address space
(`RLIMIT_AS`, the memory limit), CPU seconds per file (`RLIMIT_CPU`, raised before each
file by what the file may use) and no file writes at all (`RLIMIT_FSIZE` 0) — and answers
one file at a time over a pipe. The parent adds the wall-clock limit: a worker that has not
answered in time is killed.

A breach kills only that worker: its file is refused with the limit it crossed ("parsing
needed more than 512 MB of memory"), a fresh worker takes its place, and the rest of the
folder goes on. Workers live for the whole folder (a pool of `workers`), so isolation costs
a process start per run, not per file, and two workers parse on two cores while the parent
reads, hashes and lands.

Settings (environment, with their defaults; read by settings.Settings, `ParseLimits.of`):
    PLAN_METRICS_PARSE_MEMORY_MB     512   address space of a worker
    PLAN_METRICS_PARSE_CPU_SECONDS    30   CPU seconds one file may take
    PLAN_METRICS_PARSE_WALL_SECONDS   60   wall-clock seconds one file may take
    PLAN_METRICS_PARSE_WORKERS         2   workers (processes) in the pool
"""

from __future__ import annotations

import os
import resource
import selectors
import signal
import struct
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from settings import REPO, child_env

_HEADER = struct.Struct("<Q")
AHEAD = 16  # outcomes (and passed-through items) held while an earlier job is still parsed
_END = object()
MAX_REPLY_BYTES = 512 * 1024 * 1024
_ENV_KEEP = ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "PYTHONHASHSEED")


@dataclass(frozen=True)
class ParseLimits:
    memory_mb: int = 512
    cpu_seconds: int = 30
    wall_seconds: float = 60.0
    workers: int = 2

    @classmethod
    def of(cls, settings) -> ParseLimits:
        """The parse workers' part of the pipeline's settings (settings.Settings)."""
        return cls(
            memory_mb=settings.parse_memory_mb,
            cpu_seconds=settings.parse_cpu_seconds,
            wall_seconds=settings.parse_wall_seconds,
            workers=settings.parse_workers,
        )


@dataclass
class Job:
    """One file to parse: the source whose parser reads it, a name (for its suffix only) and
    its bytes. With `landing` ({raw_name, lineage, known}), the worker also prepares what the
    landing writes (`Parsed.for_landing`) and answers that instead of the rows."""

    source: str
    name: str
    data: bytes
    tag: object = None  # the caller's, handed back with the result
    landing: dict | None = None


@dataclass
class Outcome:
    """What a worker made of a job: `parsed` (the parser's result as plain data), or
    `rejected` (the file is unusable; `reason` says why, for a person)."""

    job: Job
    parsed: dict | None = None
    rejected: str | None = None
    detail: str | None = None  # an exception's own text: restricted (it may quote a cell)


# ------------------------------------------------------------------------ the worker ----
def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _frame(payload: bytes) -> bytes:
    return _HEADER.pack(len(payload)) + payload


def _parse(job: dict) -> dict:
    from extract import spreadsheets
    from extract.sources import SOURCES

    try:
        parsed = SOURCES[job["source"]].parser(Path(job["name"]), job["data"])
    except spreadsheets.Rejected as exc:
        return {"rejected": str(exc), "detail": str(exc.__cause__ or "")[:2000]}
    except MemoryError:
        return {"limit": "memory"}
    except RecursionError:
        return {"rejected": "the file is nested too deeply to read"}
    except Exception as exc:  # a parser bug must not stop the folder: the file is refused, loudly
        return {"rejected": f"the parser failed ({type(exc).__name__})", "detail": str(exc)[:2000]}
    if job.get("landing"):
        landing = job["landing"]
        return {"parsed": parsed.for_landing(landing["raw_name"], landing["lineage"], set(landing["known"]))}
    return {"parsed": parsed.to_plain()}


def worker_main(memory_mb: int, cpu_seconds: int) -> None:
    """Answer jobs from stdin until it closes; limits first, then the first read."""
    # everything a parse imports, loaded before the limits (and before any input)
    import python_calamine  # noqa: F401
    import xlrd.compdoc  # noqa: F401

    from extract import sources, spreadsheets  # noqa: F401

    os.setsid()
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    encode, decode = msgspec.msgpack.Encoder().encode, msgspec.msgpack.Decoder().decode
    while True:
        header = _read_exact(stdin, _HEADER.size)
        if header is None:
            return
        job = decode(_read_exact(stdin, _HEADER.unpack(header)[0]))
        used = resource.getrusage(resource.RUSAGE_SELF)
        soft = int(used.ru_utime + used.ru_stime) + 1 + cpu_seconds
        resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.RLIM_INFINITY))
        try:
            reply = encode(_parse(job))
        except MemoryError:
            reply = encode({"limit": "memory"})
        _write_all(stdout, _frame(reply))


# ------------------------------------------------------------------------ the parent ----
class _Worker:
    def __init__(self, limits: ParseLimits):
        # the worker imports this checkout's code, whatever the parent's path was
        env = child_env(only=_ENV_KEEP)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "extract.parse_pool", str(limits.memory_mb), str(limits.cpu_seconds)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            close_fds=True,
        )
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.buffer = bytearray()
        self.job: Job | None = None
        self.deadline = 0.0
        self.peak_rss_kb = 0
        self.dead = False

    def send(self, job: Job, wall: float) -> None:
        self.job, self.deadline = job, time.monotonic() + wall
        self.buffer.clear()
        payload = msgspec.msgpack.encode(
            {"source": job.source, "name": job.name, "data": job.data, "landing": job.landing}
        )
        _write_all(self.proc.stdin.fileno(), _frame(payload))  # unbuffered: the fd, never the file object

    def pump(self) -> bool:
        """Read what the worker has written; False once it closed its end (it died)."""
        try:
            chunk = os.read(self.proc.stdout.fileno(), 1 << 20)
        except BlockingIOError:
            return True
        if not chunk:
            return False
        self.buffer += chunk
        return True

    def reply(self) -> dict | None:
        if len(self.buffer) < _HEADER.size:
            return None
        size = _HEADER.unpack_from(self.buffer)[0]
        if size > MAX_REPLY_BYTES:
            raise _TooBig
        if len(self.buffer) < _HEADER.size + size:
            return None
        return msgspec.msgpack.decode(bytes(self.buffer[_HEADER.size : _HEADER.size + size]))

    def note_rss(self) -> None:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_rss_kb = max(self.peak_rss_kb, int(line.split()[1]))
        except (OSError, ValueError):
            pass

    def kill(self) -> int:
        self.note_rss()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            self.proc.kill()
        return self.proc.wait()

    def stop(self) -> None:
        self.note_rss()
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
        self.proc.stdout.close()


class _TooBig(Exception):
    pass


class ParsePool:
    """`with ParsePool(limits) as pool: for outcome in pool.map(jobs): ...` — outcomes in the
    order of the jobs, `workers` files parsed at a time."""

    def __init__(self, limits: ParseLimits | None = None):
        self.limits = limits or ParseLimits()
        self.idle: list[_Worker] = []
        self.busy: list[_Worker] = []
        self.peak_rss_kb = 0
        self.restarts = 0
        self._selector = selectors.DefaultSelector()

    def __enter__(self) -> ParsePool:
        return self

    def start(self) -> ParsePool:
        """Start every worker now (they start on demand otherwise)."""
        while len(self.idle) + len(self.busy) < self.limits.workers:
            self.idle.append(self._worker(new=True))
        return self

    def __exit__(self, *exc) -> None:
        for w in [*self.idle, *self.busy]:
            w.stop()
            self.peak_rss_kb = max(self.peak_rss_kb, w.peak_rss_kb)
        self.idle, self.busy = [], []
        self._selector.close()

    def _worker(self, new: bool = False) -> _Worker:
        while self.idle and not new:
            w = self.idle.pop()
            if not w.dead:
                return w
            self._retire(w)
        w = _Worker(self.limits)
        self._selector.register(w.proc.stdout, selectors.EVENT_READ, w)
        return w

    def map(self, jobs: Iterable) -> Iterator:
        """An outcome for each Job, in order; anything else in `jobs` passes through in its place.

        Jobs go to whichever worker is free, and their outcomes are held (at most AHEAD of
        them) until the ones before them are done: no worker waits for a slower one's file."""
        order: deque[list] = deque()  # [job or item, outcome, done] in the order given
        running: dict[_Worker, list] = {}
        items, exhausted = iter(jobs), False
        while True:
            while not exhausted and len(order) < AHEAD and self._free():
                item = next(items, _END)
                if item is _END:
                    exhausted = True
                elif isinstance(item, Job):
                    slot = [item, None, False]
                    running[self._start(item)] = slot
                    order.append(slot)
                else:
                    order.append([item, item, True])
            while order and order[0][2]:
                yield order.popleft()[1]
            if not order and exhausted:
                return
            if running:
                self._wait(running)
            elif not self._free():  # defensive: nothing runs, nothing can start
                raise RuntimeError("the parse pool has no worker to run a job on")

    def _free(self) -> bool:
        """Whether a job can start now: a live worker is idle, or the pool may start one."""
        live = sum(not w.dead for w in (*self.idle, *self.busy))
        return any(not w.dead for w in self.idle) or live < self.limits.workers

    def _start(self, job: Job) -> _Worker:
        w = self._worker()
        try:
            w.send(job, self.limits.wall_seconds)
        except (BrokenPipeError, OSError):  # a worker that died idle: replace it once
            self._retire(w)
            w = self._worker()
            w.send(job, self.limits.wall_seconds)
        self.busy.append(w)
        return w

    def _wait(self, running: dict[_Worker, list]) -> None:
        """Read what the busy workers wrote until at least one job is done (answered, or its
        worker died or ran out of time); record each done job's outcome in its slot."""
        while True:
            done = []
            for w, slot in running.items():
                outcome = self._settled(w, slot[0])
                if outcome is not None:
                    slot[1], slot[2] = outcome, True
                    done.append(w)
            for w in done:
                del running[w]
            if done:
                return
            left = min(w.deadline for w in running) - time.monotonic()
            for key, _ in self._selector.select(timeout=max(0.0, min(left, 1.0))):
                other = key.data
                if not other.pump():  # it closed its end: no more to read from it
                    other.dead = True
                    self._selector.unregister(other.proc.stdout)

    def _settled(self, w: _Worker, job: Job) -> Outcome | None:
        """`w`'s outcome for `job` if there is one yet: its answer, its death, or its deadline."""
        try:
            reply = w.reply()
        except _TooBig:
            self._retire(w, kill=True)
            return Outcome(job, rejected="parsing produced more output than allowed (not a report)")
        if reply is not None:
            self.busy.remove(w)
            self.idle.append(w)
            return self._outcome(job, reply)
        if w.dead:
            return Outcome(job, rejected=self._died(self._retire(w, kill=True)))
        if time.monotonic() >= w.deadline:
            self._retire(w, kill=True)
            return Outcome(job, rejected=f"parsing took longer than {self.limits.wall_seconds:g} seconds")
        return None

    def _outcome(self, job: Job, reply: dict) -> Outcome:
        if "parsed" in reply:
            return Outcome(job, parsed=reply["parsed"])
        if reply.get("limit") == "memory":
            return Outcome(job, rejected=f"parsing needed more than {self.limits.memory_mb} MB of memory")
        return Outcome(job, rejected=reply.get("rejected") or "the parser failed", detail=reply.get("detail"))

    def _died(self, status: int) -> str:
        sig = -status if status < 0 else None
        if sig == signal.SIGXCPU:
            return f"parsing needed more than {self.limits.cpu_seconds} CPU seconds"
        name = signal.Signals(sig).name if sig else f"exit status {status}"
        return f"parsing needed more than {self.limits.memory_mb} MB of memory (the parser process died: {name})"

    def _retire(self, w: _Worker, kill: bool = False) -> int:
        status = w.kill() if kill else w.proc.wait()
        self.peak_rss_kb = max(self.peak_rss_kb, w.peak_rss_kb)
        if not w.dead:
            self._selector.unregister(w.proc.stdout)
            w.dead = True
        w.proc.stdout.close()
        for group in (self.busy, self.idle):
            if w in group:
                group.remove(w)
        self.restarts += 1
        return status


if __name__ == "__main__":
    worker_main(int(sys.argv[1]), int(sys.argv[2]))
