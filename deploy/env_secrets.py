"""The deployment's secrets: which there are, how fresh ones are made, and when a value is refused.

    python -m deploy.env_secrets write .env   # `make secrets`: fill in every missing secret
    python -m deploy.env_secrets check        # exit 1, naming each bad variable (compose's
                                              # `secrets-check` service runs this first)

docker-compose.yml reads every secret as `${NAME:?…}`, so compose itself refuses to start when
one is missing or empty — and `.env.example` leaves them all empty, so a copied example never
starts. This check adds what compose cannot express: a value typed in from an example or a
tutorial ("change-me", "<token>"), one too short to be random, a Fernet key that is not one,
a password that would break the URLs it is spliced into. Nothing here has a default: a
secret that is not set stops the deployment rather than falling back to a known value.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


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
)
NAMES = tuple(s.name for s in SECRETS)

MIN_LENGTH = 24
URL_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")
# What people paste from examples and tutorials; none of it is a secret.
PLACEHOLDER = re.compile(
    r"change.?me|changeit|example|placeholder|replace|your.?|secret|password|passw0rd|<[^>]*>|^x+$|^\*+$|^\.+$"
    r"|^(admin|airflow|postgres|redis|test|default|none|null|todo)$",
    re.I,
)


def generate() -> dict[str, str]:
    """Fresh values for every secret (URL-safe, 256 bits; a real Fernet key)."""
    from cryptography.fernet import Fernet

    values = {}
    for s in SECRETS:
        # a random value can, very rarely, contain a word the placeholder rule refuses: draw again
        while problem(s, value := Fernet.generate_key().decode() if s.kind == "fernet" else secrets.token_urlsafe(32)):
            pass
        values[s.name] = value
    return values


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
        return None
    if len(value) < MIN_LENGTH:
        return f"{secret.name} is too short to be random ({len(value)} < {MIN_LENGTH} characters): {fix}"
    if secret.kind == "password" and not URL_SAFE.match(value):
        return f"{secret.name} may only use A-Z a-z 0-9 - _ (it is spliced into connection URLs): {fix}"
    return None


def problems(env: Mapping[str, str]) -> list[str]:
    return [p for s in SECRETS if (p := problem(s, env.get(s.name)))]


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


def write_env(path: Path, example: Path) -> list[str]:
    """Make `path` a usable .env: start from `example` when it does not exist, then give every
    secret that is missing, empty or refused a fresh value. Secrets already good are kept (a
    new database password would lock the running deployment out of its own volume)."""
    lines = (path if path.exists() else example).read_text(encoding="utf-8").splitlines()
    current = read_env_file(path) if path.exists() else {}
    fresh = generate()
    by_name = {s.name: s for s in SECRETS}
    replaced, seen = [], set()
    for i, line in enumerate(lines):
        key = line.split("=", 1)[0].strip() if "=" in line and not line.lstrip().startswith("#") else None
        if key in by_name:
            seen.add(key)
            if problem(by_name[key], current.get(key)):
                lines[i] = f"{key}={fresh[key]}"
                replaced.append(key)
    for name in NAMES:
        if name not in seen:
            lines.append(f"{name}={fresh[name]}")
            replaced.append(name)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return replaced


def main(argv: list[str]) -> int:
    if argv[:1] == ["check"]:
        found = problems(os.environ)
        for p in found:
            print(f"refusing to start: {p}", file=sys.stderr)
        return 1 if found else 0
    if argv[:1] == ["write"] and len(argv) == 2:
        path = Path(argv[1])
        replaced = write_env(path, Path(__file__).resolve().parent.parent / ".env.example")
        kept = [n for n in NAMES if n not in replaced]
        print(f"{path}: new {', '.join(replaced) or 'nothing'}" + (f"; kept {', '.join(kept)}" if kept else ""))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
