"""What of an untrusted input may leave restricted storage, and in what form.

Uploads and API bodies are written by people: a name and a phone number can be typed into
any cell, a file can be named after the person who filled it in, a source can add a field
that holds a phone under a new name. Everything the pipeline writes outside restricted
storage — the landing zone, `meta`, logs, quality reports, alerts, the published file —
goes through this module first:

- `FileName`: a drop file's path as the bytes the file system holds (any encoding, newlines,
  a leading `-`). `key` is a reversible text form of those bytes (the file's identity; the
  raw bytes come back with `FileName.from_key`), `shown` the form a person reads: decoded as
  UTF-8, else GB18030 (a name from a Windows share), else Latin-1, with control and
  direction-changing characters escaped (`\\n`, `\\u202e`), so a name can never forge a log
  line, and with phone-like digit runs and known personal names masked. Only `shown` leaves
  restricted storage.
- `shown_value()`: a quarantined cell or field appears only when it is a well-formed number,
  date or code (an id of letters and digits) from a non-personal column, and never when it
  holds a run of digits as long as a phone number; anything else appears as its kind and
  length ("text, 16 characters"). The value itself stays in restricted storage beside the
  original (`extract/originals.py`).
- `personal_field()`: an API field the contract does not name whose name says it holds
  personal data (phone, mobile, contact, 姓名, 联系电话 …) is never landed.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property

# 7 or more digits, possibly split by spaces or dashes (13800138000, 138-0013-8000, 027 8888 6666)
_DIGIT_RUN = re.compile(r"\d(?:[ \-]?\d){6,}")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_NUMBER = re.compile(r"[+-]?(?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?%?|Infinity|NaN)")
_DATE = re.compile(
    r"\d{4}(?:[-/.年]\d{1,2}(?:[-/.月]\d{1,2}日?)?月?)"
    r"(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?"
)
_CODE = re.compile(r"[A-Za-z][A-Za-z0-9_.:/-]{0,39}|\d{6}")
_PERSONAL_NAME_PARTS = (
    "phone",
    "mobile",
    "tel",
    "contact",
    "email",
    "mail",
    "person",
    "wechat",
    "idcard",
    "identity",
    "passport",
    "address",
    "电话",
    "手机",
    "联系",
    "姓名",
    "填报人",
    "身份证",
    "微信",
    "邮箱",
    "地址",
)
MASK = "•••"


def _escape_char(ch: str) -> str:
    """A character that could change how a line reads (a newline, a terminal escape, a
    right-to-left override) as a visible escape; printable characters as they are."""
    if ch == "\\":
        return "\\\\"
    category = unicodedata.category(ch)
    if category in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
        code = ord(ch)
        return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch) or (
            # \xNN only below 0x80: in a FileName key, \xNN from 0x80 up is a byte that is not UTF-8
            f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"
        )
    return ch


def escape_text(text: str) -> str:
    if text.isprintable() and "\\" not in text:  # the common case, decided in C
        return text
    return "".join(_escape_char(ch) for ch in text)


def mask_text(text: str, names: frozenset[str] | set[str] = frozenset()) -> str:
    """Phone-like digit runs, e-mail addresses and the given personal names masked."""
    text = _DIGIT_RUN.sub(MASK, _EMAIL.sub(MASK, text))
    for name in sorted((n for n in names if len(n) >= 2), key=len, reverse=True):
        text = text.replace(name, MASK)
    return text


def has_personal_pattern(text: str) -> bool:
    return bool(_DIGIT_RUN.search(text) or _EMAIL.search(text))


def describe(text: str) -> str:
    """A value as its kind and length only."""
    kind = "number-like text" if re.fullmatch(r"[\d\s,.+%-]+", text) else "text"
    return f"{kind}, {len(text)} characters"


def shown_value(value, personal: bool = False) -> str:
    """What of a quarantined value may be written outside restricted storage (see the module's
    docstring). `personal`: the column or field is personal data — never shown."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFKC", str(value)).strip()
    if not text:
        return ""
    if personal:
        return describe(text)
    if _DATE.fullmatch(text) or (not has_personal_pattern(text) and (_NUMBER.fullmatch(text) or _CODE.fullmatch(text))):
        return text
    return describe(text)


def shown_value_sql(expr: str) -> str:
    """`shown_value` as a DuckDB SQL expression over a varchar `expr` (a JSON string's text
    without its quotes): the same patterns, for values the load sets aside in SQL."""

    def q(pattern: re.Pattern) -> str:
        return "'" + pattern.pattern.replace("'", "''") + "'"

    v = f"trim({expr})"
    described = (
        f"case when regexp_full_match({v}, '[0-9\\s,.+%-]+') then 'number-like text' else 'text' end"
        f" || ', ' || length({v}) || ' characters'"
    )
    return (
        f"case when {expr} is null or {v} = '' then {expr} "
        f"when regexp_full_match({v}, {q(_DATE)}) then {v} "
        f"when regexp_matches({v}, {q(_DIGIT_RUN)}) or regexp_matches({v}, {q(_EMAIL)}) then {described} "
        f"when regexp_full_match({v}, {q(_NUMBER)}) or regexp_full_match({v}, {q(_CODE)}) then {v} "
        f"else {described} end"
    )


def personal_field(name: str) -> bool:
    """Whether a field the contract does not name is personal data by its name."""
    folded = re.sub(r"[\s_\-.]", "", str(name)).lower()
    return any(part in folded for part in _PERSONAL_NAME_PARTS)


@dataclass(frozen=True)
class FileName:
    """A drop file's path relative to its folder, as the bytes the file system holds.

    Outside restricted storage a file is `id` (who it is: a hash of the raw bytes) and
    `shown()` (what a person reads); `key` (the bytes, reversibly) stays in restricted
    storage, since a sender may put a person's name or phone into a file's name."""

    raw: bytes

    @cached_property
    def id(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()[:20]

    @cached_property
    def key(self) -> str:
        """Reversible text of the raw bytes: valid UTF-8 stays as it is (controls escaped),
        any other byte is `\\xNN`, a backslash `\\\\`. Equal keys are equal files."""
        if self.encoding == "utf-8":
            return escape_text(self.raw.decode("utf-8"))
        text = self.raw.decode("utf-8", "surrogateescape")
        out = []
        for ch in text:
            if 0xDC80 <= ord(ch) <= 0xDCFF:  # a byte that is not UTF-8
                out.append(f"\\x{ord(ch) - 0xDC00:02x}")
            else:
                out.append(_escape_char(ch))
        return "".join(out)

    @classmethod
    def from_key(cls, key: str) -> FileName:
        """The raw bytes back from `key`."""
        out = bytearray()
        i = 0
        while i < len(key):
            ch = key[i]
            if ch != "\\":
                out += ch.encode("utf-8")
                i += 1
                continue
            tag = key[i + 1]
            if tag == "\\":
                out += b"\\"
                i += 2
            elif tag in "nrt":
                out += {"n": b"\n", "r": b"\r", "t": b"\t"}[tag]
                i += 2
            elif tag == "x":
                code = int(key[i + 2 : i + 4], 16)
                # \xNN is a raw byte when >= 0x80 (not UTF-8), else the control character
                out += bytes([code]) if code >= 0x80 else chr(code).encode("utf-8")
                i += 4
            else:
                width = 4 if tag == "u" else 8
                out += chr(int(key[i + 2 : i + 2 + width], 16)).encode("utf-8", "surrogatepass")
                i += 2 + width
        return cls(bytes(out))

    @cached_property
    def encoding(self) -> str:
        for encoding in ("utf-8", "gb18030"):
            try:
                self.raw.decode(encoding)
                return encoding
            except UnicodeDecodeError:
                continue
        return "latin-1"

    def decoded(self) -> str:
        return self.raw.decode(self.encoding)

    def shown(self, names: frozenset[str] | set[str] = frozenset()) -> str:
        """The name a person reads: decoded, controls escaped, personal data masked, at most
        300 characters; a name that was not UTF-8 says which encoding it was read in."""
        text = mask_text(escape_text(self.decoded()), names)
        if len(text) > 300:
            text = text[:150] + "…" + text[-149:]
        return text if self.encoding == "utf-8" else f"{text} [{self.encoding} name]"

    @property
    def suffix(self) -> str:
        name = self.raw.rsplit(b"/", 1)[-1]
        return name.rsplit(b".", 1)[-1].decode("ascii", "replace").lower() if b"." in name else ""
