"""The one small HTTP client every API source uses.

Transport faults are retried by urllib3's `Retry` (backoff, `Retry-After` honoured, a
bounded number of attempts); every call has a timeout. A connection dropped in the middle
of a body surfaces after urllib3 has handed the response over, so it gets its own bounded
retry here. Nothing is ever skipped: when retries run out the call raises.

What retrying cannot fix fails at once, with the URL (the token travels in a header, never
in it), the status, the content type and the first bytes of the body: a refused token, a
4xx, an HTML error page or any other body that is not JSON, and a complete body that is
not valid JSON (a 200 HTML page is not a "broken" body to try eight times).

A body is read by msgspec (strict JSON, twice as fast as the json module); one it refuses
is read as the json module reads it, so what a source may send is the same: NaN, ±Infinity
and numbers too large for a double such as `1e999` (marked `NonFinite`, landed as a token
the load quarantines with its reason, never as NULL), a UTF-16 body.

Bounds: a body is read in chunks and refused once it passes `max_body_bytes`
(PLAN_METRICS_HTTP_MAX_BODY_MB, default 64) — decompressed bytes, so a gzip bomb stops there
too; redirects are followed only within the source's own origin (scheme, host and port):
one to any other origin is refused with an error naming it, and the token never leaves.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import msgspec
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

RETRY_STATUSES = (429, 500, 502, 503, 504)
REDIRECTS = (301, 302, 303, 307, 308)
MAX_REDIRECTS = 5
MAX_BODY_BYTES = 64 * 1024 * 1024


_strict_json = msgspec.json.Decoder().decode  # strict JSON, in half the time of the json module
DEFAULT_TIMEOUT = (5.0, 60.0)  # connect, read (seconds)


class SourceError(RuntimeError):
    """A source failed in a way retries could not fix; the message says which call."""


@dataclass
class CallStats:
    requests: int = 0
    retries: int = 0
    bytes: int = 0


@dataclass
class ApiClient:
    base_url: str
    token: str
    total_retries: int = 8
    backoff_factor: float = 0.2
    backoff_max: float = 10.0
    timeout: tuple[float, float] = DEFAULT_TIMEOUT
    stats: CallStats = field(default_factory=CallStats)
    max_body: int = MAX_BODY_BYTES  # the settings' http_max_body_mb, given by the caller

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        retry = Retry(
            total=self.total_retries,
            connect=self.total_retries,
            read=self.total_retries,
            status=self.total_retries,
            backoff_factor=self.backoff_factor,
            backoff_max=self.backoff_max,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=frozenset({"GET"}),
            respect_retry_after_header=True,
            raise_on_status=True,
        )
        self.session = requests.Session()
        self.session.mount("http://", HTTPAdapter(max_retries=retry))
        self.session.mount("https://", HTTPAdapter(max_retries=retry))
        self.session.headers["Authorization"] = f"Bearer {self.token}"
        self.session.headers["Accept"] = "application/json"

    def get_json(self, path: str, params: dict) -> dict:
        url = f"{self.base_url}{path}"
        for attempt in range(self.total_retries + 1):
            try:
                resp = self._get(url, params)
                if resp.status_code == 401:
                    raise SourceError(f"401 from {resp.url}: the token was refused ({self._body(resp)[:200]!r})")
                if resp.status_code >= 400:
                    raise SourceError(_describe(resp, self._body(resp), f"HTTP {resp.status_code}"))
                body = self._body(resp)  # a dropped connection raises here, after urllib3 is done
                self.stats.bytes += len(body)
                return _decode(resp, body)
            except requests.exceptions.RetryError as exc:
                raise SourceError(f"GET {url} {params} failed after {self.total_retries} retries: {exc}") from exc
            except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError, _Truncated) as exc:
                # truncated body / connection reset mid-body / half a JSON document
                if attempt == self.total_retries:
                    raise SourceError(f"GET {url} {params}: body kept breaking off: {exc}") from exc
                self.stats.retries += 1
                time.sleep(min(self.backoff_max, self.backoff_factor * 2**attempt))
        raise AssertionError("unreachable")

    def _get(self, url: str, params: dict | None) -> requests.Response:
        """GET with redirects followed by hand, within the source's origin only."""
        origin = _origin(self.base_url)
        for _ in range(MAX_REDIRECTS + 1):
            resp = self.session.get(url, params=params, timeout=self.timeout, stream=True, allow_redirects=False)
            self.stats.requests += 1
            history = getattr(getattr(resp.raw, "retries", None), "history", ()) or ()
            self.stats.retries += len(history)
            if resp.status_code not in REDIRECTS:
                return resp
            target = urljoin(resp.url, resp.headers.get("Location", ""))
            resp.close()
            if _origin(target) != origin:
                raise SourceError(
                    f"GET {url}: redirected to another origin, {_origin(target)} (only {origin} is this "
                    "source's): refused, and the token was not sent there"
                )
            url, params = target, None  # the Location carries its own query
        raise SourceError(f"GET {url}: more than {MAX_REDIRECTS} redirects")

    def _body(self, resp: requests.Response) -> bytes:
        """The body, read in chunks and refused once it passes `max_body`."""
        promised = resp.headers.get("Content-Length")
        if promised and promised.isdigit() and int(promised) > self.max_body:
            resp.close()
            raise SourceError(_too_large(resp, self.max_body))
        chunks, size = [], 0
        for chunk in resp.iter_content(chunk_size=1 << 16):
            size += len(chunk)
            if size > self.max_body:
                resp.close()
                raise SourceError(_too_large(resp, self.max_body))
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self.session.close()


def _origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def _too_large(resp: requests.Response, limit: int) -> str:
    return (
        f"GET {resp.url}: the body is larger than {limit:,} bytes (PLAN_METRICS_HTTP_MAX_BODY_MB): "
        "refused before it was read whole"
    )


class NonFinite(float):
    """NaN or ±Infinity as a source sent it (or a number like `1e999` that only a double's
    infinity holds): not JSON (RFC 8259), though Python's reader takes it. Marked, so the
    landing writes it back as a token (NaN, Infinity, -Infinity) instead of as null, and the
    load quarantines its record with the reason."""


def _number(text: str) -> float:
    value = float(text)
    return value if math.isfinite(value) else NonFinite(value)


class _Truncated(ValueError):
    """A body shorter than the server said it would be: the connection broke off."""


def _describe(resp: requests.Response, body: bytes, what: str) -> str:
    ctype = resp.headers.get("Content-Type") or "no content type"
    return f"GET {resp.url}: {what} (status {resp.status_code}, {ctype}); the body begins {body[:200]!r}"


def _decode(resp: requests.Response, body: bytes) -> dict:
    """The JSON object of a response, or a clear error (never a retry) when it is not one."""
    ctype = (resp.headers.get("Content-Type") or "").lower()
    if "json" not in ctype:
        raise SourceError(_describe(resp, body, "expected a JSON body"))
    try:
        data = _strict_json(body)
    except msgspec.DecodeError:  # not strict JSON: read it as the json module does, or say why not
        data = _lenient_json(resp, body)
    if not isinstance(data, dict):
        raise SourceError(_describe(resp, body, f"expected a JSON object, got {type(data).__name__}"))
    return data


def _lenient_json(resp: requests.Response, body: bytes):
    """What Python's reader makes of a body strict JSON refuses (NaN and ±Infinity marked as
    `NonFinite`, a UTF-16 body...), or the error: cut short (retried) or invalid (not)."""
    try:
        return json.loads(body, parse_constant=NonFinite, parse_float=_number)
    except ValueError as exc:
        promised = resp.headers.get("Content-Length")
        if promised is None or int(promised) != len(body):
            raise _Truncated(f"{len(body)} of {promised or 'unknown'} bytes") from exc
        raise SourceError(_describe(resp, body, f"invalid JSON ({exc})")) from exc
