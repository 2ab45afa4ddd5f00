"""The simulated source systems over real HTTP: one port per source, each with its own token.

S2 and S3 page with keyset cursors (`updated_since`, `cursor`, `limit` →
`{"data", "next_cursor"}`); S1 pages with offsets (`modified_after`, `page` from 1,
`page_size` → `{"items", "page", "page_size", "total"}`), ordered by (updated_at, id)
(by record id with the `unordered` fault). Faults: `simulator/faults.py`.
A control endpoint (`/_sim/clock`, no token: it is the simulator's, not the source's)
moves the simulated clock, which is how tests make the world change between runs.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from simulator.faults import Faults, needs_history, served_body
from simulator.sources import SimulatedSource, http_sources
from simulator.store import VersionStore
from simulator.world import WORLD_END, bj_iso, parse_ts, to_epoch

__all__ = ["ROUTES", "Faults", "SimState", "start_servers"]

# source name -> {path: entity}, in port order (from the registry, simulator/sources.py)
ROUTES: dict[str, dict[str, str]] = {source.name: dict(source.routes) for source in http_sources()}
MAX_LIMIT = 1000


@dataclass
class SimState:
    store: VersionStore
    clock: int = to_epoch(WORLD_END)
    tokens: dict[str, str] = field(default_factory=dict)
    faults: dict[str, Faults] = field(default_factory=dict)
    fault_rng: random.Random = field(default_factory=lambda: random.Random(0))
    lock: threading.Lock = field(default_factory=threading.Lock)
    requests_served: int = 0
    on_clock: Callable[[int], None] | None = None  # e.g. write the file drops due by then


def encode_cursor(ts: int, record_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([ts, record_id]).encode()).decode()


def decode_cursor(cursor: str) -> tuple[int, str]:
    ts, record_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    return int(ts), str(record_id)


class SourceHandler(BaseHTTPRequestHandler):
    """Serves one source's routes from `state`; `make_handler` binds the two."""

    protocol_version = "HTTP/1.1"
    source: SimulatedSource
    state: SimState

    def log_message(self, fmt, *args):  # quiet: tests and `make run` read their own logs
        pass

    def _send(self, status: int, payload: dict | bytes, headers: dict | None = None, drop: bool = False):
        body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if drop:  # promise the whole body, send half, hang up
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def do_POST(self):
        url = urlsplit(self.path)
        if url.path != "/_sim/clock":
            return self._send(404, {"error": "not found"})
        length = int(self.headers.get("Content-Length") or 0)
        data = json.loads(self.rfile.read(length) or b"{}")
        state = self.state
        with state.lock:
            state.clock = parse_ts(data["clock"])
            if state.on_clock is not None:
                state.on_clock(state.clock)
        return self._send(200, {"clock": bj_iso(state.clock)})

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/_sim/clock":
            return self._send(200, {"clock": bj_iso(self.state.clock)})
        entity = self.source.routes.get(url.path)
        if entity is None:
            return self._send(404, {"error": f"no such endpoint {url.path}"})
        if self.headers.get("Authorization") != f"Bearer {self.state.tokens[self.source.name]}":
            return self._send(401, {"error": "missing or invalid bearer token"})
        faults = self.state.faults.get(self.source.name, Faults())
        failed, drop = self._transport_faults(faults)
        if failed:
            return self._send(*failed)
        query = parse_qs(url.query)
        try:
            page = _offset_page if self.source.paging == "offset" else _cursor_page
            payload = page(self.state, entity, query, faults)
        except (ValueError, KeyError) as exc:
            return self._send(400, {"error": f"bad request: {exc}"})
        return self._send(200, payload, drop=drop)

    def _transport_faults(self, faults: Faults) -> tuple[tuple | None, bool]:
        """One roll per request: (the error response to send instead, or None; whether to
        drop the connection mid-body). A slow response sleeps here."""
        with self.state.lock:
            self.state.requests_served += 1
            roll = self.state.fault_rng.random()
        if roll < faults.rate_limit:
            return (429, {"error": "too many requests"}, {"Retry-After": "1"}), False
        roll -= faults.rate_limit
        if roll < faults.server_error:
            status = 500 if int(roll * 1e6) % 2 else 503
            return (status, {"error": "internal error"}), False
        roll -= faults.server_error
        drop = roll < faults.drop
        roll -= faults.drop
        if roll < faults.slow:
            time.sleep(faults.slow_seconds)
        return None, drop


def make_handler(source: SimulatedSource, state: SimState) -> type[SourceHandler]:
    attrs = {"source": source, "state": state, "server_version": f"plan-sim-{source.name}"}
    return type(f"Handler_{source.name}", (SourceHandler,), attrs)


def _serve(state: SimState, entity: str, rows, faults: Faults, envelope: dict, key: str) -> bytes:
    """The page as bytes: `envelope` with the served records under `key`.

    Without record faults the stored JSON text is served as it is (no parse and
    re-encode per record: the serving rate is what the extract benchmark compares with).
    """
    if faults.record_faults():
        items = []
        for rid, ts, text in rows:
            history = state.store.history(entity, rid, ts) if needs_history(faults) else ()
            items.append(
                json.dumps(served_body(entity, rid, ts, json.loads(text), faults, history), ensure_ascii=False)
            )
    else:
        items = [text for _, _, text in rows]
    rest = json.dumps(envelope, ensure_ascii=False)[1:]  # '"next_cursor": ...}'
    return (f'{{"{key}": [' + ", ".join(items) + "], " + rest).encode()


def _cursor_page(state: SimState, entity: str, query: dict, faults: Faults) -> bytes:
    since_text = query.get("updated_since", [None])[0]
    since = parse_ts(since_text) if since_text else -(2**62)
    limit = int(query.get("limit", ["100"])[0])
    if limit < 1:
        raise ValueError("limit must be >= 1")
    limit = _capped(limit, faults)
    cursor = query.get("cursor", [None])[0]
    after = decode_cursor(cursor) if cursor else None
    rows = state.store.page_after(entity, state.clock, since, after, limit)
    # a full page (at the size served, capped or not) may have more behind it
    next_cursor = encode_cursor(rows[-1][1], rows[-1][0]) if len(rows) == limit else None
    return _serve(state, entity, rows, faults, {"next_cursor": next_cursor}, "data")


def _offset_page(state: SimState, entity: str, query: dict, faults: Faults) -> bytes:
    since_text = query.get("modified_after", [None])[0]
    since = parse_ts(since_text) if since_text else -(2**62)
    page = int(query.get("page", ["1"])[0])
    size = int(query.get("page_size", ["100"])[0])
    if page < 1 or size < 1:
        raise ValueError("page and page_size must be >= 1")
    size = _capped(size, faults)  # echoed in the envelope; pages are counted in it
    offset = (page - 1) * size
    by_id = bool(faults.unordered)
    clock = state.clock
    if page > 1 and faults.shift:
        with state.lock:
            roll = state.fault_rng.random()
            pick = state.fault_rng.random()
        if roll < faults.shift:
            _shift(state.store, entity, clock, since, offset, pick, by_id)
    rows, total = state.store.page_offset(entity, clock, since, offset, size, by_id)
    return _serve(state, entity, rows, faults, {"page": page, "page_size": size, "total": total}, "items")


def _shift(store: VersionStore, entity: str, clock: int, since: int, offset: int, pick: float, by_id: bool) -> None:
    """An update made while a client pages, `offset` rows into the listing."""
    if by_id:
        # id order: an updated record keeps its place, but one that enters the filtered
        # listing before the client's position pushes every later row towards the end
        boundary, _ = store.page_offset(entity, clock, since, offset - 1, 1, True)
        if boundary:
            entering = store.entering_before(entity, clock, since, boundary[0][0], pick)
            if entering is not None:
                store.touch(entity, entering, clock)
                return
    # a record the client already paged past is updated now: it moves to the end
    # of a time-ordered listing (and stays in place in an id-ordered one)
    read, _ = store.page_offset(entity, clock, since, int(pick * offset), 1, by_id)
    if read:
        store.touch(entity, read[0][0], clock)


def _capped(size: int, faults: Faults) -> int:
    """The page size the server uses: at most MAX_LIMIT, and at most `page_cap` if set."""
    size = min(size, MAX_LIMIT)
    return min(size, faults.page_cap) if faults.page_cap else size


def start_servers(state: SimState, host: str, base_port: int) -> dict[str, ThreadingHTTPServer]:
    """Start one server per source in daemon threads; base_port 0 picks free ports."""
    servers = {}
    for offset, source in enumerate(http_sources()):
        state.tokens.setdefault(source.name, secrets.token_urlsafe(24))
        port = base_port + offset if base_port else 0
        server = ThreadingHTTPServer((host, port), make_handler(source, state))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name=f"sim-{source.name}", daemon=True).start()
        servers[source.name] = server
    return servers
