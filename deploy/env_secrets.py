"""The deployment's secrets: which there are, how fresh ones are made, and when a value is refused.

    python -m deploy.env_secrets write .env      # `make secrets`: fill in every missing secret
    python -m deploy.env_secrets check           # exit 1, naming each bad variable (compose's
                                                 # `secrets-check` service runs this first)
    python -m deploy.env_secrets check NAME ...  # only these (what one container was given;
                                                 # NAME=VAR: NAME as held in the variable VAR)

docker-compose.yml reads every secret as `${NAME:?…}`, so compose itself refuses to start when
one is missing or empty — and `.env.example` leaves them all empty, so a copied example never
starts. This check adds what compose cannot express: a value typed in from an example or a
tutorial ("change-me", "<token>"), one too short or too regular to be random (repeats,
sequences, a single kind of character), a Fernet key that is not one or holds too few
different bytes, a password that would break the URLs it is spliced into, and a source
connection (AIRFLOW_CONN_* of every HTTP source in `extract.sources`) without a usable bearer
token. The optional secrets (`OPTIONAL`: the lineage backend's token) may be left unset; set,
they are vetted like a source's token. Nothing here has a default: a secret that is not set
stops the deployment rather than falling back to a known value.

A secret can also come from a file: `NAME_FILE=/run/secrets/name` (Docker's convention) is read
when NAME itself is not set, so a password never has to appear on a command line.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True)
class Secret:
    name: str
    what: str
    kind: str  # "password" (spliced into URLs: URL-safe only), "token", "fernet"


SECRETS = (
    Secret("POSTGRES_PASSWORD", "password of Airflow's metadata database", "password"),
    Secret("REDIS_PASSWORD", "password of the Celery broker (Redis requirepass)", "password"),
    Secret("AIRFLOW_FERNET_KEY", "key encrypting connection passwords and extras in the database", "fernet"),
    Secret("AIRFLOW_JWT_SECRET", "key signing REST and execution API tokens", "token"),
    Secret("AIRFLOW_API_SECRET_KEY", "key signing UI sessions and worker log requests", "token"),
    Secret("AIRFLOW_ADMIN_PASSWORD", "password of the first admin user, created by airflow-init", "password"),
    Secret("DASHBOARD_SESSION_SECRET", "key signing the dashboard's login sessions", "token"),
)
NAMES = tuple(s.name for s in SECRETS)
# Secrets a deployment may go without; when one is set it must be usable. The issuer's format
# decides their shape (as a source's token), so they are held to the token rules.
OPTIONAL = {"OPENLINEAGE_API_KEY": "token the lineage backend issued (OPENLINEAGE_URL)"}
BY_NAME = {s.name: s for s in SECRETS}

MIN_LENGTH = 24
MIN_TOKEN_LENGTH = 16  # a source system's bearer token: its format is the source's, not ours
MIN_DISTINCT = 10  # different characters in a value (a random 24-character one has ~20)
MIN_TOKEN_DISTINCT = 6  # a source's token may be hex: 16 symbols only
MIN_FERNET_BYTES = 16  # different bytes of the 32 in a Fernet key (a random key has ~30)
URL_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")
# What people paste from examples and tutorials; none of it is a secret.
PLACEHOLDER = re.compile(
    r"change.?me|changeit|example|placeholder|replace|your.?|secret|password|passw0rd"
    r"|<[^>]*>|^x+$|^\*+$|^\.+$|^(admin|airflow|postgres|redis|test|default|none|null|todo)$",
    re.I,
)
CLASSES = (("digits", str.isdigit), ("lower-case letters", str.islower), ("upper-case letters", str.isupper))


def value_of(env: Mapping[str, str], name: str) -> str | None:
    """`name` from the environment, else the contents of the file `name_FILE` names."""
    if env.get(name):
        return env[name]
    path = env.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError:
            return None
    return env.get(name)


def generate() -> dict[str, str]:
    """Fresh values for every secret (URL-safe, 256 bits; a real Fernet key)."""
    from cryptography.fernet import Fernet

    values = {}
    for s in SECRETS:
        # a random value can, very rarely, contain a word or a run the rules refuse: draw again
        while problem(s, value := Fernet.generate_key().decode() if s.kind == "fernet" else secrets.token_urlsafe(32)):
            pass
        values[s.name] = value
    return values


def _runs(value: str) -> int:
    """How many characters of `value` sit in a run of 4 or more that repeats one character or
    steps by one (aaaa, 1234, dcba, 7890)."""

    def step(a: str, b: str) -> int | None:
        d = ord(b) - ord(a)
        if a.isdigit() and b.isdigit() and abs(d) == 9:  # 9→0 and 0→9 continue a sequence
            d = -1 if d > 0 else 1
        return d if abs(d) <= 1 else None

    covered, start = set(), 0
    for i in range(1, len(value) + 1):
        same = i < len(value) and i - start >= 1 and step(value[i - 1], value[i]) is not None
        if same and i - start >= 2:
            same = step(value[i - 2], value[i - 1]) == step(value[i - 1], value[i])
        if not same:
            if i - start >= 4:
                covered.update(range(start, i))
            start = i - 1 if i < len(value) and step(value[i - 1], value[i]) is not None else i
    return len(covered)


def weakness(value: str, *, one_class_ok: bool = False, min_distinct: int = MIN_DISTINCT) -> str | None:
    """Why `value` is too regular to be random, or None: few different characters (repeats),
    runs that repeat or count (sequences), or a single kind of character."""
    if len(set(value)) < min_distinct:
        return f"has only {len(set(value))} different characters (repeats)"
    if _runs(value) * 2 >= len(value):
        return "is mostly repeats or sequences (aaaa, 1234, abcd)"
    if not one_class_ok:
        for what, test in CLASSES:
            if all(test(c) for c in value):
                return f"uses only {what}"
    return None


def problem(secret: Secret, value: str | None) -> str | None:
    """Why `value` cannot be `secret`, or None when it can."""
    fix = "run `make secrets` (or set it in .env)"
    if value is None or not value.strip():
        return f"{secret.name} is missing or empty ({secret.what}): {fix}"
    if PLACEHOLDER.search(value):
        return f"{secret.name} is still a placeholder (an example value, not a secret): {fix}"
    if secret.kind == "fernet":
        from cryptography.fernet import Fernet

        try:
            Fernet(value.encode())
        except Exception:
            return f"{secret.name} is not a Fernet key (32 url-safe base64-encoded bytes): {fix}"
        key = base64.urlsafe_b64decode(value.encode())
        if len(set(key)) < MIN_FERNET_BYTES:
            return f"{secret.name} is not random (only {len(set(key))} different bytes of 32): {fix}"
        return None
    if len(value) < MIN_LENGTH:
        return f"{secret.name} is too short to be random ({len(value)} < {MIN_LENGTH} characters): {fix}"
    if secret.kind == "password" and not URL_SAFE.match(value):
        return f"{secret.name} may only use A-Z a-z 0-9 - _ (it is spliced into connection URLs): {fix}"
    if weak := weakness(value):
        return f"{secret.name} is not random: it {weak}: {fix}"
    return None


def problems(env: Mapping[str, str], names: Iterable[str] = NAMES) -> list[str]:
    return [p for name in names if (p := problem(BY_NAME[name], value_of(env, name)))]


def optional_problems(env: Mapping[str, str]) -> list[str]:
    """The optional secrets that are set but unusable (placeholder, too short, not random)."""
    found = []
    for name, what in OPTIONAL.items():
        value = value_of(env, name)
        if value and (why := token_problem(value)):
            found.append(f"{name} ({what}) {why}: put the token the backend issued in .env, or leave it unset")
    return found


def token_problem(token: str) -> str | None:
    """Why a token another system issued cannot be one (its format is the issuer's), or None."""
    if PLACEHOLDER.search(token):
        return "is still a placeholder"
    if len(token) < MIN_TOKEN_LENGTH:
        return f"is too short ({len(token)} < {MIN_TOKEN_LENGTH})"
    if weak := weakness(token, one_class_ok=True, min_distinct=MIN_TOKEN_DISTINCT):
        return f"is not random: it {weak}"
    return None


def source_token(conn: str) -> str | None:
    """The bearer token (password) of an Airflow connection given as JSON or as a URI."""
    conn = conn.strip()
    if conn.startswith("{"):
        try:
            value = json.loads(conn).get("password")
        except (ValueError, AttributeError):
            return None
        return str(value) if value else None
    password = urlsplit(conn).password
    return unquote(password) if password else None


def source_problems(env: Mapping[str, str]) -> list[str]:
    """Each HTTP source's connection must carry a usable bearer token (extract.sources is the list)."""
    from extract.sources import http_sources

    fix = "put the token the source system issued into its connection in .env"
    found = []
    for s in http_sources():
        conn = value_of(env, s.conn_env)
        token = source_token(conn) if conn else None
        if not conn:
            found.append(f"{s.conn_env} is missing ({s.title}): {fix}")
        elif not token:
            found.append(f"{s.conn_env} has no password (the source's bearer token): {fix}")
        elif why := token_problem(token):
            found.append(f"{s.conn_env}'s token {why}: {fix}")
    return found


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=value lines of a .env file (comments and blank lines skipped, optional quotes)."""
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def write_private(path: Path, text: str) -> None:
    """Write `path` so that it is 0600 from its first byte: a fresh file created 0600 beside it
    (O_EXCL, never through a link), filled, synced, then renamed over `path`."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_env(path: Path, example: Path) -> list[str]:
    """Make `path` a usable .env: start from `example` when it does not exist, then give every
    secret that is missing, empty or refused a fresh value. Secrets already good are kept (a
    new database password would lock the running deployment out of its own volume)."""
    lines = (path if path.exists() else example).read_text(encoding="utf-8").splitlines()
    current = read_env_file(path) if path.exists() else {}
    fresh = generate()
    replaced, seen = [], set()
    for i, line in enumerate(lines):
        key = line.split("=", 1)[0].strip() if "=" in line and not line.lstrip().startswith("#") else None
        if key in BY_NAME:
            seen.add(key)
            if problem(BY_NAME[key], current.get(key)):
                lines[i] = f"{key}={fresh[key]}"
                replaced.append(key)
    for name in NAMES:
        if name not in seen:
            lines.append(f"{name}={fresh[name]}")
            replaced.append(name)
    write_private(path, "\n".join(lines) + "\n")
    return replaced


def main(argv: list[str]) -> int:
    from settings import Settings

    env = Settings.from_env().environment  # the container's, as it started: what the check judges
    if argv[:1] == ["check"]:
        # NAME, or NAME=VARIABLE: the secret NAME as this container holds it, in VARIABLE
        where = dict(a.split("=", 1) if "=" in a else (a, a) for a in argv[1:])
        unknown = [n for n in where if n not in BY_NAME]
        if unknown:
            print(f"unknown secret(s): {', '.join(unknown)}; known: {', '.join(NAMES)}", file=sys.stderr)
            return 2
        if where:
            held = {name: v for name, var in where.items() if (v := value_of(env, var)) is not None}
            found = problems(held, where)
        else:
            found = problems(env) + source_problems(env) + optional_problems(env)
        for p in found:
            print(f"refusing to start: {p}", file=sys.stderr)
        return 1 if found else 0
    if argv[:1] == ["write"] and len(argv) == 2:
        path = Path(argv[1])
        from settings import REPO

        replaced = write_env(path, REPO / ".env.example")
        kept = [n for n in NAMES if n not in replaced]
        print(f"{path}: new {', '.join(replaced) or 'nothing'}" + (f"; kept {', '.join(kept)}" if kept else ""))
        todo = source_problems(read_env_file(path))
        if todo:
            print(f"still to fill in by hand ({path}):\n  " + "\n  ".join(todo))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
