"""GIVEN the deployment's secrets check (`python -m deploy.env_secrets`), `make secrets`, `make tls`
and the first admin's creation WHEN values people really type are given THEN what is not a
secret is refused — repeats, sequences, a single kind of character, a Fernet key of zeros, a
source connection whose token is `<token>` — generated values always pass, `.env` is 0600 from
its first byte (seen in the system calls, under strace), a password can come from a file and
never needs a command line, and the certificate's key is private."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from deploy import env_secrets

REPO = Path(__file__).resolve().parents[2]
TOKENS = [s.name for s in env_secrets.SECRETS if s.kind in ("token", "password")]
GOOD_TOKEN = "q7Vx2-LmN9pR4tK8wZ3sY6bH"  # 24 characters, every kind, no run


def good_sources(token: str = "tok_8fJ2kQ9xLm3Vz7Rb") -> dict[str, str]:
    from extract.sources import http_sources

    return {
        s.conn_env: json.dumps({"conn_type": "http", "host": "h.example.org", "password": token})
        for s in http_sources()
    }


@pytest.mark.parametrize("name", TOKENS)
@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("aaaaaaaaaaaaaaaaaaaaaaaa", "repeats"),
        ("123456789012345678901234", "repeats or sequences"),
        ("abababababababababababab", "repeats"),
        ("Ab1_Ab1_Ab1_Ab1_Ab1_Ab1_", "repeats"),
        ("abcdefABCDEF123456abcdef", "sequences"),
        ("qpwoeirutyalskdjfhgmznxb", "only lower-case letters"),
        ("QPWOEIRUTYALSKDJFHGMZNXB", "only upper-case letters"),
        ("918273645546372819102938", "only digits"),
    ],
)
def test_the_check_refuses_values_too_regular_to_be_random_naming_the_variable(name, value, why):
    # GIVEN every secret good but one, set to a value a person would type
    env = {**env_secrets.generate(), name: value}
    # THEN the check refuses exactly that one, saying why
    (problem,) = env_secrets.problems(env)
    assert problem.startswith(f"{name} is not random") and why in problem, problem


def test_a_fernet_key_of_one_repeated_byte_is_refused_and_a_real_one_accepted():
    env = env_secrets.generate()
    zeros = "A" * 43 + "="  # valid base64 of 32 zero bytes: a Fernet key in form only
    (problem,) = env_secrets.problems({**env, "AIRFLOW_FERNET_KEY": zeros})
    assert problem.startswith("AIRFLOW_FERNET_KEY is not random (only 1 different bytes of 32)")
    assert env_secrets.problems(env) == []


def test_generated_secrets_and_a_strong_typed_one_always_pass():
    for _ in range(200):
        assert env_secrets.problems(env_secrets.generate()) == []
    assert env_secrets.problems({**env_secrets.generate(), "AIRFLOW_JWT_SECRET": GOOD_TOKEN}) == []


@pytest.mark.parametrize(
    ("token", "says"),
    [
        ("<token>", "still a placeholder"),
        ("short-tok", "too short"),
        ("aaaaaaaaaaaaaaaaaaaaaaaa", "not random"),
        ("1234567890123456789", "not random"),
    ],
)
def test_the_check_refuses_a_source_connection_without_a_usable_token(token, says):
    from extract.sources import http_sources

    conn = http_sources()[0].conn_env
    env = {**good_sources(), conn: json.dumps({"conn_type": "http", "host": "h", "password": token})}
    (problem,) = env_secrets.source_problems(env)
    assert problem.startswith(conn) and says in problem


def test_source_tokens_are_read_from_json_and_uri_connections_and_a_hex_token_passes():
    from extract.sources import http_sources

    assert env_secrets.source_problems(good_sources()) == []
    assert env_secrets.source_problems(good_sources("9f86d081884c7d659a2feaa0c55ad015")) == []
    uri = {s.conn_env: "https://:tok_8fJ2kQ9xLm3Vz7Rb@h.example.org" for s in http_sources()}
    assert env_secrets.source_problems(uri) == []
    missing = env_secrets.source_problems({})
    assert [p.split(" ")[0] for p in missing] == [s.conn_env for s in http_sources()]


def check(env: dict, *names: str) -> subprocess.CompletedProcess:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW", "POSTGRES", "REDIS", "DASHBOARD", "OPENLINEAGE"))
    }
    return subprocess.run(
        [sys.executable, "-m", "deploy.env_secrets", "check", *names],
        env={**base, **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_check_command_refuses_placeholder_tokens_and_checks_only_what_a_container_was_given(tmp_path):
    secrets = env_secrets.generate()
    # GIVEN all secrets good, the source tokens still `<token>` (a copied example)
    placeholders = {k: v.replace("tok_8fJ2kQ9xLm3Vz7Rb", "<token>") for k, v in good_sources().items()}
    refused = check({**secrets, **placeholders})
    assert refused.returncode == 1
    assert len(re.findall(r"refusing to start: AIRFLOW_CONN_\w+'s token is still a placeholder", refused.stderr)) == 3
    assert check({**secrets, **good_sources()}).returncode == 0
    # AND a container checks only its own, as it holds them (airflow-init: the Fernet key in
    # Airflow's variable, the admin password)
    mine = {
        "AIRFLOW__CORE__FERNET_KEY": secrets["AIRFLOW_FERNET_KEY"],
        "AIRFLOW_ADMIN_PASSWORD": secrets["AIRFLOW_ADMIN_PASSWORD"],
    }
    assert check(mine, "AIRFLOW_FERNET_KEY=AIRFLOW__CORE__FERNET_KEY", "AIRFLOW_ADMIN_PASSWORD").returncode == 0
    zeros = check({**mine, "AIRFLOW__CORE__FERNET_KEY": "A" * 43 + "="}, "AIRFLOW_FERNET_KEY=AIRFLOW__CORE__FERNET_KEY")
    assert zeros.returncode == 1 and "AIRFLOW_FERNET_KEY is not random" in zeros.stderr
    # AND a secret may come from a file (NAME_FILE), never needing a command line
    secret_file = tmp_path / "admin_password"
    secret_file.write_text(secrets["AIRFLOW_ADMIN_PASSWORD"] + "\n")
    from_file = {"AIRFLOW_FERNET_KEY": secrets["AIRFLOW_FERNET_KEY"], "AIRFLOW_ADMIN_PASSWORD_FILE": str(secret_file)}
    assert check(from_file, "AIRFLOW_FERNET_KEY", "AIRFLOW_ADMIN_PASSWORD").returncode == 0
    secret_file.write_text("aaaaaaaaaaaaaaaaaaaaaaaaaaaa\n")
    assert "AIRFLOW_ADMIN_PASSWORD is not random" in check(from_file, "AIRFLOW_ADMIN_PASSWORD").stderr


@pytest.mark.parametrize(("key", "says"), [("<token>", "still a placeholder"), ("dh-123", "too short")])
def test_the_lineage_backends_token_may_be_unset_but_is_vetted_when_set(key, says):
    # GIVEN every required secret and source token good
    good = {**env_secrets.generate(), **good_sources()}
    # WHEN the lineage backend's token is unset, a real-looking one, or a placeholder / short one
    unset, issued = check(good), check({**good, "OPENLINEAGE_API_KEY": "eyJhbGciOiJIUzI1NiJ9.dGVzdA.q3"})
    refused = check({**good, "OPENLINEAGE_API_KEY": key})
    # THEN only the unusable one stops the deployment, naming the variable and why
    assert unset.returncode == 0 and issued.returncode == 0, unset.stderr + issued.stderr
    assert refused.returncode == 1
    assert re.search(rf"refusing to start: OPENLINEAGE_API_KEY \(.*\) is {says}", refused.stderr), refused.stderr
    assert key not in refused.stderr or key == "<token>"  # (a placeholder is no secret to leak)


@pytest.fixture(scope="module")
def strace() -> str:
    """strace from Debian, installed by the project's own script when missing."""
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "system_packages.sh"), "strace"], capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return "/usr/bin/strace"


@pytest.mark.parametrize("existing", [False, True], ids=["new", "rewritten"])
def test_make_secrets_creates_env_0600_from_its_first_byte(strace, tmp_path, existing):
    env_file = tmp_path / ".env"
    if existing:  # an old .env written the old way: world-readable, one secret missing
        lines = env_secrets.generate()
        env_file.write_text("".join(f"{k}={v}\n" for k, v in lines.items() if k != "REDIS_PASSWORD"))
        env_file.chmod(0o644)
    trace = tmp_path / "trace"
    # WHEN `make secrets`' command runs under strace, with a umask that would leave a file world-readable
    subprocess.run(
        ["bash", "-c", f'umask 000 && exec {strace} -f -qq -e trace=openat,open,creat,rename,renameat,renameat2 -o {trace} "$@"', "-",
         sys.executable, "-m", "deploy.env_secrets", "write", str(env_file)],
        cwd=REPO, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    calls = [line for line in trace.read_text().splitlines() if str(tmp_path) in line]
    created = [c for c in calls if "O_CREAT" in c]
    # THEN every file it creates in that folder is created 0600, exclusively (never through an existing file or link)
    assert created, calls
    for call in created:
        assert re.search(r"O_EXCL.*\b0600\)", call) and "O_NOFOLLOW" in call, call
    # AND .env itself is never opened for writing: it appears by a rename of the finished file
    assert not [c for c in calls if f'"{env_file}"' in c and "O_WRONLY" in c], calls
    assert any(re.search(rf'rename\w*\(.*"{re.escape(str(env_file))}"', c) for c in calls), calls
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env", "trace"]  # no temporary file left


def test_the_first_admin_is_created_without_its_password_on_any_command_line():
    init = (REPO / "deploy" / "init.sh").read_text()
    accounts = (REPO / "deploy" / "accounts.py").read_text()
    assert "--password" not in init
    assert 'value_of(env, "AIRFLOW_ADMIN_PASSWORD")' in accounts  # from the environment or its _FILE


def test_make_tls_writes_a_self_signed_certificate_for_the_names_given_and_a_private_key(tmp_path):
    from cryptography import x509

    folder = tmp_path / "tls"
    result = subprocess.run(
        [sys.executable, "-m", "deploy.tls", str(folder), "plan.example.gov.cn", "10.0.0.5"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert "wrote" in result.stdout
    assert stat.S_IMODE((folder / "key.pem").stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate((folder / "cert.pem").read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["plan.example.gov.cn"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]
    assert cert.issuer == cert.subject  # self-signed
    # a second run keeps the pair (an office's own certificate is never overwritten)
    before = (folder / "cert.pem").read_bytes()
    again = subprocess.run([sys.executable, "-m", "deploy.tls", str(folder)], cwd=REPO, capture_output=True, text=True)
    assert "kept" in again.stdout and (folder / "cert.pem").read_bytes() == before
