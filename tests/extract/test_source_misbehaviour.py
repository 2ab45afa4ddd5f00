"""Sources that misbehave in ways the simulator does not play: each is served by a tiny HTTP
server inside the test (real sockets), and the extractor either reads to the proven end or
fails at once with a message that says what happened — never a silent short read, never a
retry loop on something retrying cannot fix."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import duckdb
import pytest

from extract.api import extract_endpoint
from extract.http_client import ApiClient, SourceError
from extract.sources import ORDERS, STOP_VISITS
from warehouse.raw_load import load_endpoint

TOKEN = "secret-token-never-in-messages"


class FakeSource:
    """Serves `respond(path, query) -> (status, content_type, body bytes)` and counts requests."""

    def __init__(self, respond: Callable[[str, dict], tuple[int, str, bytes]]):
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.hits += 1
                url = urlparse(self.path)
                status, ctype, body = respond(url.path, {k: v[0] for k, v in parse_qs(url.query).items()})
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def client(self, **kw) -> ApiClient:
        return ApiClient(self.url, TOKEN, backoff_factor=0.01, **kw)

    def close(self):
        self.server.shutdown()


def json_body(obj) -> tuple[int, str, bytes]:
    return 200, "application/json", json.dumps(obj).encode()


def visit(i: int, ts: str) -> dict:
    return {"stop_id": f"s{i:04d}", "visit_date": "2020-08-01", "visitors": i, "student_visitors": 0, "updated_at": ts}


@pytest.fixture
def serve():
    sources = []

    def start(respond):
        sources.append(FakeSource(respond))
        return sources[-1]

    yield start
    for s in sources:
        s.close()


def test_a_refused_token_is_one_request_and_a_clear_error(serve):
    src = serve(lambda path, q: (401, "application/json", b'{"error": "invalid token"}'))
    with pytest.raises(SourceError, match="401") as err:
        src.client().get_json("/v1/orders", {"limit": 1})
    assert src.hits == 1, "a refused token is not retried"
    assert TOKEN not in str(err.value)


@pytest.mark.parametrize(
    ("status", "ctype", "body", "says"),
    [
        pytest.param(
            200,
            "text/html; charset=utf-8",
            b"<html><body>Login required</body></html>",
            "expected a JSON body",
            id="200-html-page",
        ),
        pytest.param(200, "application/json", b'{"data": [1, 2', "invalid JSON", id="200-invalid-json"),
        pytest.param(404, "text/plain", b"no such endpoint", "HTTP 404", id="404"),
        pytest.param(200, "application/json", b"[1, 2, 3]", "expected a JSON object", id="json-but-not-an-object"),
    ],
)
def test_a_body_that_is_not_the_api_fails_at_once_with_url_status_type_and_first_bytes(
    serve, status, ctype, body, says
):
    src = serve(lambda path, q: (status, ctype, body))
    with pytest.raises(SourceError) as err:
        src.client().get_json("/v1/orders", {"limit": 10})
    message = str(err.value)
    assert says in message and f"status {status}" in message and ctype.split(";")[0] in message
    assert repr(body[:20])[2:-1][:15] in message, "the first bytes of the body"
    assert src.url in message and TOKEN not in message
    assert src.hits == 1, "not retried as a 'broken body'"


def test_an_envelope_without_its_list_names_the_keys_it_has(serve, tmp_path):
    src = serve(lambda path, q: json_body({"result": [], "next_cursor": None}))
    with pytest.raises(SourceError, match=r"no list 'data' \(its keys: \['next_cursor', 'result'\]\)"):
        extract_endpoint(src.client(), ORDERS, tmp_path / "landing", "run1", None)
    assert not list((tmp_path / "landing").rglob("_manifest.json")), "nothing landed"


def test_a_cursor_that_comes_back_is_a_loop_and_fails_within_a_bound(serve, tmp_path):
    src = serve(lambda path, q: json_body({"data": [], "next_cursor": "same"}))
    with pytest.raises(SourceError, match="cursor 'same' a second time"):
        extract_endpoint(src.client(), ORDERS, tmp_path / "landing", "run1", None)
    assert src.hits == 2


def test_endless_empty_pages_that_promise_more_fail_within_a_bound(serve, tmp_path):
    src = serve(lambda path, q: json_body({"data": [], "next_cursor": str(int(q.get("cursor", "0")) + 1)}))
    with pytest.raises(SourceError, match="empty pages in a row"):
        extract_endpoint(src.client(), ORDERS, tmp_path / "landing", "run1", None)
    assert src.hits <= 25


def offset_source(rows: list[dict], cap: int, echo: bool):
    """An offset API over `rows` (in the given order) that serves at most `cap` per page and
    echoes the size it used only when `echo`."""

    def respond(path, q):
        size = int(q["page_size"])
        used = min(size, cap)
        page = int(q["page"])
        since = q.get("modified_after")
        matching = [r for r in rows if since is None or r["updated_at"] > since]
        items = matching[(page - 1) * used : page * used]
        return json_body({"items": items, "page": page, "page_size": used if echo else size, "total": len(matching)})

    return respond


@pytest.mark.parametrize("echo", [pytest.param(True, id="cap-echoed"), pytest.param(False, id="cap-not-echoed")])
def test_an_offset_api_that_caps_its_pages_is_read_to_the_end(serve, tmp_path, echo):
    # GIVEN 261 stop-visits sorted by updated_at, served at most 37 a page whatever is asked
    rows = [visit(i, f"2020-08-{1 + i // 10:02d}T{i % 10:02d}:00:00+08:00") for i in range(261)]
    src = serve(offset_source(rows, cap=37, echo=echo))
    # WHEN the extractor asks for pages of 500
    m = extract_endpoint(src.client(), STOP_VISITS, tmp_path / "landing", "run1", None)
    # THEN every row landed (once or more: the load keeps one version)
    landed = {json.loads(line)["stop_id"] for p in (tmp_path / "landing").rglob("*.part-*.jsonl") for line in p.open()}
    assert landed == {r["stop_id"] for r in rows}
    assert m.records_received >= 261


def test_an_offset_listing_in_no_particular_order_is_read_completely(serve, tmp_path):
    # GIVEN a listing ordered by id while updated_at jumps around, capped at 40 a page
    stamps = [f"2020-{8 + (i * 7) % 5:02d}-{1 + (i * 13) % 28:02d}T10:00:00+08:00" for i in range(200)]
    rows = [visit(i, ts) for i, ts in enumerate(stamps)]
    src = serve(offset_source(rows, cap=40, echo=True))
    # WHEN the extractor reads it (its fast path assumes an updated_at order it then cannot see)
    extract_endpoint(src.client(), STOP_VISITS, tmp_path / "landing", "run1", None)
    # THEN no row is lost
    landed = {json.loads(line)["stop_id"] for p in (tmp_path / "landing").rglob("*.part-*.jsonl") for line in p.open()}
    assert landed == {r["stop_id"] for r in rows}


def test_a_total_that_is_never_delivered_fails_loudly_with_the_counts(serve, tmp_path):
    # GIVEN a server whose total says 120 but whose pages hold only the first 100 rows
    rows = [visit(i, f"2020-08-01T{i // 60:02d}:{i % 60:02d}:00+08:00") for i in range(100)]

    def respond(path, q):
        page, size = int(q["page"]), int(q["page_size"])
        return json_body(
            {"items": rows[(page - 1) * size : page * size], "page": page, "page_size": size, "total": 120}
        )

    src = serve(respond)
    with pytest.raises(SourceError, match=r"received 100 distinct records, but the server says it holds 120"):
        extract_endpoint(src.client(), STOP_VISITS, tmp_path / "landing", "run1", None)


def test_a_record_with_an_unparseable_updated_at_on_a_full_page_is_quarantined_and_the_rest_read(serve, tmp_path):
    # GIVEN an offset listing of 7 stop-days, 3 a page, one of them stamped "yesterday"
    rows = [visit(i, f"2020-08-0{1 + i}T10:00:00+08:00") for i in range(7)]
    rows[1]["updated_at"] = "yesterday"
    src = serve(offset_source(rows, cap=3, echo=True))
    # WHEN the extractor reads it and the load checks what landed
    m = extract_endpoint(src.client(), STOP_VISITS, tmp_path / "landing", "run1", None)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        loaded = load_endpoint(conn, STOP_VISITS, tmp_path / "landing")
        raw = {r[0] for r in conn.execute(f"select stop_id from {STOP_VISITS.raw_table}").fetchall()}
        entries = conn.execute("select column_name, value, reason, record->>'stop_id' from meta.quarantine").fetchall()
        counted = conn.execute("select quarantined from meta.extract_runs").fetchone()[0]
    # THEN the other six were read to the end and loaded, the bad one is quarantined with its column and reason
    assert m.records_received >= 7 and m.watermark_after == "2020-08-07T10:00:00+08:00"
    assert raw == {r["stop_id"] for r in rows} - {"s0001"}
    assert entries == [("updated_at", "yesterday", "unparseable timestamp", "s0001")]
    assert loaded["quarantined"] == counted == 1
