"""A source's answers are bounded like an upload: a body is refused once it passes the cap
while it streams (a gzip bomb too), a redirect to another origin is refused with an error
naming it and the token never travels there, a number only a double's infinity holds
(`1e999`) is quarantined with its reason instead of landing as NULL, and a field the
contract does not name that holds personal data is never landed. Each source is a small
HTTP server inside the test (real sockets)."""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import duckdb
import pytest

from extract.api import extract_endpoint
from extract.http_client import ApiClient, SourceError
from extract.sources import ORDERS
from tests.extract.test_source_misbehaviour import TOKEN
from tests.warehouse.test_raw_records import GOOD
from warehouse.raw_load import load_endpoint


class Server:
    """Answers every GET with `respond(handler)`; records each request's path and headers."""

    def __init__(self, respond):
        self.requests: list[tuple[str, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.requests.append((self.path, dict(self.headers)))
                respond(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve():
    servers = []

    def start(respond) -> Server:
        servers.append(Server(respond))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def send(handler, body: bytes, ctype="application/json", length: bool = True, **headers) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", ctype)
    for k, v in headers.items():
        handler.send_header(k.replace("_", "-"), v)
    if length:
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    try:
        handler.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):  # the client refused the rest: that is the point
        handler.close_connection = True


def page(records: list[dict]) -> bytes:
    return json.dumps({"data": records, "next_cursor": None}).encode()


def client(url: str, **kw) -> ApiClient:
    return ApiClient(url, TOKEN, backoff_factor=0.01, total_retries=1, **kw)


@pytest.mark.parametrize(
    "how",
    [
        pytest.param("declared", id="content-length-over-the-cap"),
        pytest.param("streamed", id="no-length-refused-while-streaming"),
        pytest.param("gzip-bomb", id="gzip-bomb-refused-decompressed"),
    ],
)
def test_a_body_larger_than_the_cap_is_refused_with_a_clear_error(serve, how):
    # GIVEN a source whose answer is 8 MB (declared, streamed without a length, or gzip of 8 MB
    # of zeros, ~8 KB on the wire) and a cap of 1 MB
    big = b'{"data": [], "padding": "' + b"0" * (8 << 20) + b'"}'

    def respond(h):
        if how == "declared":
            send(h, big)
        elif how == "streamed":
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.end_headers()
            try:
                h.wfile.write(big)
            except (BrokenPipeError, ConnectionResetError):
                pass
            h.close_connection = True
        else:
            send(h, gzip.compress(big), Content_Encoding="gzip")

    src = serve(respond)
    # WHEN a page is asked for THEN it is refused, naming the cap, and nothing is retried
    with pytest.raises(SourceError, match="larger than 1,048,576 bytes"):
        client(src.url, max_body=1 << 20).get_json("/v1/orders", {})
    assert len(src.requests) == 1


def test_a_redirect_to_another_origin_is_refused_and_the_token_never_goes_there(serve):
    # GIVEN a source that redirects to a server of another origin (another port)
    elsewhere = serve(lambda h: send(h, page([])))
    src = serve(lambda h: (h.send_response(302), h.send_header("Location", f"{elsewhere.url}/v1/orders"),
                           h.send_header("Content-Length", "0"), h.end_headers()))  # fmt: skip
    # WHEN a page is asked for THEN the redirect is refused with an error naming the origin
    with pytest.raises(SourceError, match=r"redirected to another origin, http://127\.0\.0\.1:\d+") as err:
        client(src.url).get_json("/v1/orders", {})
    assert str(elsewhere.server.server_address[1]) in str(err.value) and TOKEN not in str(err.value)
    # AND the other origin was never asked, so the token never reached it
    assert elsewhere.requests == []


def test_a_redirect_within_the_sources_origin_is_followed_with_its_token(serve):
    def respond(h):
        if h.path.startswith("/old"):
            h.send_response(301)
            h.send_header("Location", "/v1/orders?limit=5")
            h.send_header("Content-Length", "0")
            h.end_headers()
        else:
            send(h, page([]))

    src = serve(respond)
    assert client(src.url).get_json("/old/orders", {"limit": 5}) == {"data": [], "next_cursor": None}
    (first, _), (second, headers) = src.requests
    assert first.startswith("/old/orders") and second == "/v1/orders?limit=5"
    assert headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_number_too_large_for_a_double_is_quarantined_with_its_reason_never_landed_as_null(serve, tmp_path):
    # GIVEN a page where one order's satisfaction is 1e999 and another's is -1e999
    records = [
        {**GOOD, "order_id": "O-ok"},
        {**GOOD, "order_id": "O-big", "satisfaction": "BIG"},
        {**GOOD, "order_id": "O-small", "satisfaction": "SMALL"},
    ]
    body = json.dumps({"data": records, "next_cursor": None}).replace('"BIG"', "1e999").replace('"SMALL"', "-1e999")
    assert "1e999" in body and "-1e999" in body
    src = serve(lambda h: send(h, body.encode()))
    # WHEN it is extracted and loaded
    extract_endpoint(client(src.url), ORDERS, tmp_path / "landing", "run1", None)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        load_endpoint(conn, ORDERS, tmp_path / "landing")
        raw = conn.execute(f"select order_id, satisfaction from {ORDERS.raw_table} order by 1").fetchall()
        quarantined = conn.execute(
            "select json_extract_string(record, '$.order_id'), column_name, value, reason from meta.quarantine "
            "order by 1"
        ).fetchall()
    # THEN only the good order reaches the raw layer, and the other two are set aside with why
    assert [r[0] for r in raw] == ["O-ok"]
    assert quarantined == [
        ("O-big", "satisfaction", "Infinity", "non-finite number"),
        ("O-small", "satisfaction", "-Infinity", "non-finite number"),
    ]


@pytest.mark.parametrize(
    "field, value",
    [
        pytest.param("contactPhone", "13800138000", id="renamed-phone-field"),
        pytest.param("联系人", "张三", id="contact-person-in-chinese"),
        pytest.param("remark", "请联系 13800138000", id="a-phone-in-an-unknown-field"),
    ],
)
def test_a_field_the_contract_does_not_name_that_holds_personal_data_is_never_landed(serve, tmp_path, field, value):
    # GIVEN an order with its personal field (contact_phone) and one more personal field the
    # contract does not name, next to a harmless new field
    record = {**GOOD, "order_id": "O-1", "contact_phone": "13900139000", field: value, "channel": "web"}
    src = serve(lambda h: send(h, page([record])))
    # WHEN it is extracted and loaded
    m = extract_endpoint(client(src.url), ORDERS, tmp_path / "landing", "run1", None)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:
        load_endpoint(conn, ORDERS, tmp_path / "landing")
        extra = conn.execute(f"select _extra from {ORDERS.raw_table}").fetchone()[0]
    # THEN the harmless field is kept in _extra, the personal one is not landed anywhere
    assert json.loads(extra) == {"channel": "web"}
    assert m.personal_fields_dropped == [field] and sorted(m.new_fields) == sorted([field, "channel"])
    landed = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "landing").rglob("*") if p.is_file())
    assert value not in landed and "13900139000" not in landed
