"""`make prod-local`: the production deployment of docker-compose.yml, as processes on this machine.

There is no Docker engine here, but every part of the deployment runs without one. This
installs PostgreSQL, Redis and nginx from Debian's packages when they are missing
(`scripts/system_packages.sh`), runs compose's `secrets-check` on the generated `.env`, starts
PostgreSQL and Redis on loopback, on free ports, with freshly generated passwords, in a
throw-away folder; then runs `deploy/init.sh` (what `airflow-init` runs), Airflow's components
with the CeleryExecutor: api-server, scheduler, dag-processor, triggerer, two Celery workers on
the default queue (`--scale airflow-worker=2`) and the one DuckDB writer on queue
`duckdb_writer` with concurrency 1; then the dashboard (with its login) and the TLS proxy
(nginx on deploy/nginx.conf, a self-signed certificate from deploy/tls.py), the one way in.

"Exactly as compose configures it" is read, not copied: each component's command and
environment come from docker-compose.yml itself (its `${VAR:?…}` rules included, so a missing
secret is refused here as compose refuses it; each component gets only its service's secrets)
and from `deploy/airflow.env`, the one file of Airflow settings both use. Only what a container
network provides differently is put in locally: service host names become 127.0.0.1 and a free
port, container paths become folders under the throw-away root, the readers group is the local
`plan-readers` (created when running as root) or the user's own, and each worker gets its own
Celery name and log-server port (containers each have their own host name and ports; processes
on one machine share them).

`make prod-local` also starts the source simulator (SIM_SCALE, SIM_CLOCK, SIM_SEED) so the
DAGs have sources, prints the proxy's URLs and the admin login, and stops everything on Ctrl-C.
The production-shaped test (tests/deployment/test_prod_celery.py) drives the same class.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import requests
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from deploy import env_secrets  # noqa: E402

COMPOSE_FILE = REPO / "docker-compose.yml"
AIRFLOW_ENV_FILE = REPO / "deploy" / "airflow.env"
# The compose services that are Airflow components, in the order compose's depends_on starts them.
SERVERS = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer")
WORKER, WRITER = "airflow-worker", "airflow-writer"
CHECK, INIT, DASHBOARD, PROXY = "secrets-check", "airflow-init", "dashboard", "proxy"
AIRFLOW_PATH = "/airflow"  # where the proxy serves Airflow ([api] base_url's path)
IMAGE_REPO = "/opt/plan-metrics"  # where the image has the project (Dockerfile)
READERS_GROUP = "plan-readers"  # compose's group that may read the published folder
PACKAGES = ("postgresql", "redis-server", "nginx")  # from Debian, when missing


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_env_file(path: Path) -> dict[str, str]:
    """`deploy/airflow.env`: plain KEY=value lines (the format compose's env_file and this share)."""
    values = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.fullmatch(r"([A-Z][A-Z0-9_]*)=([^\s'\"$]*)", line)
        if not m:
            raise ValueError(f"{path}:{n}: not a plain KEY=value line: {line!r}")
        values[m[1]] = m[2]
    return values


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(text: str, variables: Mapping[str, str]) -> str:
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}` and `${VAR?error}`."""

    def sub(m: re.Match) -> str:
        name, op, arg = m[1], m[2] or "", m[3] or ""
        value = variables.get(name)
        unset_or_empty = value is None or (op.startswith(":") and value == "")
        if op.endswith("?") and unset_or_empty:
            raise ValueError(f"required variable {name} is missing a value: {arg}")
        if op.endswith("-") and unset_or_empty:
            return arg
        return value or ""

    return _VAR.sub(sub, text)


def compose_services() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]


def compose_command(service: str) -> list[str]:
    command = compose_services()[service]["command"]
    return command.split() if isinstance(command, str) else list(command)


class Process:
    """One service: a process in its own session (so a signal reaches everything it started)."""

    def __init__(self, name: str, argv: list[str], env: dict, log: Path, cwd: Path = REPO, user: str | None = None):
        self.name, self.argv, self.env, self.log, self.cwd, self.user = name, argv, env, log, cwd, user
        self.proc: subprocess.Popen | None = None
        self.log_offset = 0

    def start(self) -> Process:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log_offset = self.log.stat().st_size if self.log.exists() else 0  # a restart appends
        argv = ["runuser", "-u", self.user, "--", *self.argv] if self.user else self.argv
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, env=self.env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def group_alive(self) -> bool:
        if self.proc is None:
            return False
        self.proc.poll()
        try:
            os.killpg(self.proc.pid, 0)
            return True
        except ProcessLookupError:
            return False

    def kill(self) -> list[int]:
        """SIGKILL the process and everything it started, as `docker kill` ends a container:
        nothing cleans up. Airflow puts each task process in a process group of its own, so
        the whole tree is collected first (children are re-parented once their parent dies).
        Returns the pids killed."""
        import psutil

        # freeze the tree first (SIGSTOP), so nothing forks between listing and killing
        frozen: dict[int, psutil.Process] = {}
        while True:
            try:
                root = psutil.Process(self.proc.pid)
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                tree = []
            new = [p for p in tree if p.pid not in frozen]
            if not new:
                break
            for p in new:
                try:
                    p.suspend()
                    frozen[p.pid] = p
                except psutil.NoSuchProcess:
                    pass
        killed = []
        for p in frozen.values():
            try:
                p.kill()
                killed.append(p.pid)
            except psutil.NoSuchProcess:
                pass
        self.send(signal.SIGKILL)
        self.proc.wait(timeout=30)
        psutil.wait_procs(list(frozen.values()), timeout=30)
        return killed

    def send(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, timeout: float = 30, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        self.send(sig)
        deadline = time.monotonic() + timeout
        while self.group_alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        if self.group_alive():
            self.send(signal.SIGKILL)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def output(self) -> str:
        """What this start of the process logged (a restarted one appends to the same file)."""
        with self.log.open("rb") as f:
            f.seek(self.log_offset)
            return f.read().decode(errors="replace")

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


def wait_until(check, what: str, timeout: float, process: Process | None = None, interval: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        if process is not None and not process.alive():
            raise RuntimeError(f"{process.name} exited while waiting for {what}:\n{process.tail()}")
        try:
            result = check()
            if result:
                return result
        except Exception:
            pass
        if time.monotonic() > deadline:
            tail = f":\n{process.tail()}" if process else ""
            raise TimeoutError(f"{what}: not after {timeout:.0f}s{tail}")
        time.sleep(interval)


class Postgres:
    """PostgreSQL from Debian's packages, as a throw-away cluster on 127.0.0.1:<free port>.

    It refuses to run as root, so as root it runs as the `postgres` user the package creates;
    its folder is then a fresh one under /tmp that this user can reach."""

    def __init__(self, logs: Path, password: str):
        self.password = password
        self.port = free_port()
        self.user = "postgres" if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="plan-metrics-pg-"))
        self.data = self.root / "data"
        self.log = logs / "postgres.log"
        self.process: Process | None = None

    @staticmethod
    def bindir() -> Path:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not found:
            raise RuntimeError("PostgreSQL is not installed: scripts/system_packages.sh postgresql")
        return found[-1].parent

    def _run(self, argv: list[str]) -> None:
        argv = ["runuser", "-u", self.user, "--", *argv] if self.user else argv
        result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        if result.returncode:
            raise RuntimeError(f"{' '.join(argv[:6])} failed: {result.stdout[-2000:]}{result.stderr[-2000:]}")

    def start(self) -> None:
        if self.user:
            shutil.chown(self.root, self.user, self.user)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if self.user:
            shutil.chown(pwfile, self.user, self.user)
        bindir = self.bindir()
        self._run(
            [
                str(bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "airflow",
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
        )
        pwfile.unlink()
        # loopback only, password required (scram), no socket outside our folder
        self.process = Process(
            "postgres",
            [
                str(bindir / "postgres"),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                f"unix_socket_directories={self.root}",
            ],
            env={"PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"},
            log=self.log,
            cwd=self.root,
            user=self.user,
        ).start()
        wait_until(self._create_database, "PostgreSQL accepting connections", 60, self.process)

    def _create_database(self) -> bool:
        import psycopg2

        conn = psycopg2.connect(
            host="127.0.0.1", port=self.port, user="airflow", password=self.password, dbname="postgres"
        )
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = 'airflow'")
            if not cur.fetchone():
                cur.execute("create database airflow")
        conn.close()
        return True

    def stop(self) -> None:
        if self.process:
            self.process.stop(timeout=30, sig=signal.SIGINT)  # SIGINT: PostgreSQL's fast shutdown
        shutil.rmtree(self.root, ignore_errors=True)


class Redis:
    """redis-server from Debian's packages on 127.0.0.1:<free port>, requiring its password;
    nothing persisted (the broker only holds messages in flight)."""

    def __init__(self, root: Path, logs: Path, password: str):
        self.password = password
        self.port = free_port()
        self.root = root
        self.log = logs / "redis.log"
        self.process: Process | None = None

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        conf = self.root / "redis.conf"
        # the password sits in a 0600 file, not on the command line where `ps` shows it
        conf.write_text(
            f"port {self.port}\nbind 127.0.0.1\nprotected-mode yes\nrequirepass {self.password}\n"
            f'dir {self.root}\nsave ""\nappendonly no\n'
        )
        conf.chmod(0o600)
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.process = Process("redis", [binary, str(conf)], {"PATH": os.environ.get("PATH", "")}, self.log).start()
        wait_until(self.ping, "Redis answering", 30, self.process, interval=0.2)

    def client(self):
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, socket_timeout=5)

    def ping(self) -> bool:
        return bool(self.client().ping())

    def stop(self) -> None:
        if self.process:
            self.process.stop(timeout=15)


class Nginx:
    """The TLS proxy: Debian's nginx on docker-compose.yml's `proxy` configuration (deploy/nginx.conf),
    with only its upstream hosts, listening port and paths made local. Its working folder is a
    fresh one under /tmp, which its worker processes (user nobody, when run as root) can reach."""

    def __init__(self, logs: Path, tls_dir: Path):
        self.port = free_port()
        self.tls_dir = tls_dir
        self.root: Path | None = None  # made at start
        self.log = logs / "proxy.log"
        self.process: Process | None = None

    def render(self, upstreams: Mapping[str, str]) -> str:
        spec = compose_services()["proxy"]
        mounts = {target: source for source, target, *_ in (interpolate(v, {}).split(":") for v in spec["volumes"])}
        text = (REPO / mounts["/etc/nginx/nginx.conf"]).read_text(encoding="utf-8")
        container_port = spec["ports"][0].rsplit(":", 1)[1]
        text = text.replace(f"listen {container_port} ssl", f"listen 127.0.0.1:{self.port} ssl")
        for host, local in upstreams.items():
            text = text.replace(f"server {host};", f"server {local};")
        (self.root / "cache").mkdir(exist_ok=True)
        self.root.chmod(0o755)
        for container, local in (
            ("/etc/plan-metrics/tls/", f"{self.tls_dir}/"),
            ("/var/cache/nginx/", f"{self.root}/cache/"),
            ("/var/log/nginx/error.log", str(self.log)),
            ("/var/log/nginx/access.log", str(self.log.with_name("proxy-access.log"))),
            ("/var/run/nginx.pid", str(self.root / "nginx.pid")),
        ):
            text = text.replace(container, local)
        leftover = [h for h in (*upstreams, "/etc/", "/var/") if h in text]
        if leftover:
            raise ValueError(f"deploy/nginx.conf names what this run does not map: {leftover}")
        return text

    def start(self, upstreams: Mapping[str, str]) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="plan-metrics-nginx-"))
        conf = self.root / "nginx.conf"
        conf.write_text(self.render(upstreams), encoding="utf-8")
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        argv = [nginx, "-c", str(conf), "-p", f"{self.root}/", "-e", str(self.log)]
        check = subprocess.run([*argv, "-t", "-q"], capture_output=True, text=True, timeout=60)
        if check.returncode:
            raise RuntimeError(f"nginx refuses {conf}: {check.stderr[-2000:]}")
        self.process = Process("proxy", [*argv, "-g", "daemon off;"], {"PATH": os.environ.get("PATH", "")}, self.log)
        self.process.start()
        wait_until(self.ready, "the TLS proxy answering", 30, self.process, interval=0.2)

    def ready(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2):
            return True

    def stop(self) -> None:
        if self.process:
            self.process.stop(timeout=15)
        if self.root:
            shutil.rmtree(self.root, ignore_errors=True)


def readers_group(create: bool = False) -> str:
    """The local stand-in for compose's readers group `plan-readers`: the group itself (with
    `create`, made a system group when running as root, like the packages a start installs),
    else the user's own primary group."""
    import grp

    try:
        grp.getgrnam(READERS_GROUP)
        return READERS_GROUP
    except KeyError:
        pass
    if create and os.geteuid() == 0:
        subprocess.run(["groupadd", "--system", READERS_GROUP], check=True, capture_output=True)
        return READERS_GROUP
    return grp.getgrgid(os.getgid()).gr_name


class ProdLocal:
    """The deployment as processes under `root` (a throw-away folder). Use as a context manager.

    env: what the deployment's `.env` would add besides the secrets — the source connections
    (AIRFLOW_CONN_*) and alerts. Like compose, each component gets only what its service's
    `environment:` takes from it; a name compose never reads goes to every Airflow component.
    worker_env: extra environment for single components by name (`airflow-worker-1`,
    `airflow-writer`, …), e.g. a failpoint for a crash test.
    """

    def __init__(
        self,
        root: Path,
        env: Mapping[str, str] | None = None,
        *,
        workers: int = 2,
        worker_env: Mapping[str, Mapping[str, str]] | None = None,
    ):
        self.root = Path(root)
        self.logs = self.root / "logs"
        self.data_dir = self.root / "data"
        self.incoming_dir = self.data_dir / "incoming"
        self.airflow_home = self.root / "airflow"
        self.audit_dir = self.root / "audit"
        self.tls_dir = self.root / "tls"
        self.extra_env = dict(env or {})
        self.worker_env = {k: dict(v) for k, v in (worker_env or {}).items()}
        self.workers = workers
        self.secrets = env_secrets.generate()
        self.admin = ("admin", self.secrets["AIRFLOW_ADMIN_PASSWORD"])
        self.postgres = Postgres(self.logs, self.secrets["POSTGRES_PASSWORD"])
        self.redis = Redis(self.root / "redis", self.logs, self.secrets["REDIS_PASSWORD"])
        self.proxy = Nginx(self.logs, self.tls_dir)
        self.api_port = free_port()
        self.dashboard_port = free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}{AIRFLOW_PATH}"  # direct, for the tests' REST calls
        self.url = f"https://127.0.0.1:{self.proxy.port}"  # what people open: the TLS proxy
        self.readers_group: str | None = None
        self.processes: dict[str, Process] = {}
        self.envs: dict[str, dict[str, str]] = {}
        self.timings: dict[str, float] = {}

    # --- configuration -------------------------------------------------------------------
    def dotenv(self) -> dict[str, str]:
        """What `.env` holds here: the generated secrets, the caller's additions, the public URL."""
        return {"PLAN_METRICS_PUBLIC_URL": self.url, **self.secrets, **self.extra_env}

    def localize(self, value: str) -> str:
        """A value of compose's environment made local: service host names become 127.0.0.1 and
        their ports, container paths folders under the throw-away root."""
        hosts = {
            "@postgres/": f"@127.0.0.1:{self.postgres.port}/",
            "@redis:6379/": f"@127.0.0.1:{self.redis.port}/",
            "//airflow-apiserver:8080/": f"//127.0.0.1:{self.api_port}/",
        }
        for container, local in hosts.items():
            value = value.replace(container, local)
        paths = {"/data": self.data_dir, "/incoming": self.incoming_dir, "/audit": self.audit_dir, IMAGE_REPO: REPO}
        for container, local in paths.items():
            if value == container or value.startswith(container + "/"):
                value = str(local) + value[len(container) :]
        if value == READERS_GROUP:
            value = self.readers_group or readers_group()
        return value

    def compose_environment(self, service: str) -> dict[str, str]:
        """A service's `environment:` as compose gives it: interpolated from `.env` with compose's
        rules, then made local; fails loudly on a host name this run does not map."""
        spec = compose_services()[service]
        dotenv = self.dotenv()
        env = {k: self.localize(interpolate(str(v), dotenv)) for k, v in (spec.get("environment") or {}).items()}
        leftover = [k for k, v in env.items() if re.search(r"[@/](postgres|redis|airflow-apiserver|dashboard)[:/]", v)]
        if leftover:
            raise ValueError(f"docker-compose.yml names a host this run does not map: {service}: {leftover}")
        return env

    def environment(self, service: str = "airflow-scheduler") -> dict[str, str]:
        """A component's whole environment: what compose gives its container, made local.

        Order as compose: the service's env_file (deploy/airflow.env), then its `environment:`
        (its own secrets only) — plus what the image's ENV sets and what processes on one
        machine must not share (ports)."""
        spec = compose_services()[service]
        base = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PLAN_METRICS"))}
        files = {}
        for name in spec.get("env_file") or []:
            if name != "deploy/airflow.env":
                raise ValueError(f"{service} reads env_file {name}: only the secrets check may see .env")
            files.update(read_env_file(AIRFLOW_ENV_FILE))
        read = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE_FILE.read_text(encoding="utf-8")))
        unrouted = {k: v for k, v in self.extra_env.items() if k not in read} if service.startswith("airflow") else {}
        env = {**base, **files, **unrouted, **self.compose_environment(service)}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        env["PYTHONUNBUFFERED"] = "1"
        if service.startswith("airflow"):
            env.update(
                {
                    # what the Dockerfile's ENV sets in the image
                    "AIRFLOW_HOME": str(self.airflow_home),
                    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                    # compose's network keeps the api-server internal; here it binds loopback
                    "AIRFLOW__API__HOST": "127.0.0.1",
                    "AIRFLOW__API__PORT": str(self.api_port),
                    "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                }
            )
        return env

    def component_argv(self, name: str) -> list[str]:
        """The compose service's command; a worker gets its own Celery name (containers differ
        by host name, processes on one machine do not)."""
        if name.startswith(f"{WORKER}-"):
            return [*compose_command(WORKER), "--celery-hostname", f"{name}@%h"]
        argv = compose_command(name)
        if name == WRITER:
            argv += ["--celery-hostname", f"{name}@%h"]
        return argv

    def dashboard_argv(self) -> list[str]:
        """compose's dashboard command, on loopback and a free port (its container listens on
        every interface of its own network, where only the proxy reaches it)."""
        argv = compose_command(DASHBOARD)
        argv = [sys.executable if a == "python" else a for a in argv]
        for flag, value in (("--address", "127.0.0.1"), ("--port", str(self.dashboard_port))):
            argv[argv.index(flag) + 1] = value
        return argv

    # --- life cycle ------------------------------------------------------------------------
    def __enter__(self) -> ProdLocal:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def _timed(self, label: str, started: float) -> None:
        self.timings[label] = round(time.monotonic() - started, 1)

    def secrets_check(self) -> None:
        """compose's `secrets-check`: its command on the whole `.env`, before anything starts."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PLAN_METRICS"))}
        env.update(self.dotenv())
        env.update({k: interpolate(str(v), self.dotenv()) for k, v in compose_services()[CHECK]["environment"].items()})
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # the image's python
        result = subprocess.run(compose_command(CHECK), env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
        if result.returncode:
            raise RuntimeError(f"secrets-check refused to start:\n{result.stderr[-3000:]}")

    def start(self) -> None:
        t = time.monotonic()
        subprocess.run(["bash", str(REPO / "scripts" / "system_packages.sh"), *PACKAGES], check=True)
        self.readers_group = readers_group(create=True)
        self._timed("install", t)
        for folder in (self.logs, self.data_dir, self.incoming_dir, self.airflow_home, self.audit_dir):
            folder.mkdir(parents=True, exist_ok=True)
        # the data volume's root as the image has it: the pipeline's, readable by the readers group
        self.data_dir.chmod(0o750)
        shutil.chown(self.data_dir, group=self.readers_group)
        self.secrets_check()
        t = time.monotonic()
        self.postgres.start()
        self.redis.start()
        self._timed("postgres+redis", t)
        t = time.monotonic()
        self.envs = {name: self.environment(name) for name in (INIT, *SERVERS, WORKER, WRITER)}
        init = subprocess.run(
            compose_command(INIT), env=self.envs[INIT], cwd=REPO, capture_output=True, text=True, timeout=600
        )
        (self.logs / "airflow-init.log").write_text(init.stdout + init.stderr)
        if init.returncode:
            raise RuntimeError(f"deploy/init.sh failed:\n{(init.stdout + init.stderr)[-3000:]}")
        self._timed("airflow-init", t)
        t = time.monotonic()
        for name in SERVERS:
            self.start_component(name)
        wait_until(self.api_ready, "the api-server answering", 300, self.processes["airflow-apiserver"])
        self._timed("servers", t)
        # compose starts the workers once the api-server is healthy: tasks report to it
        t = time.monotonic()
        for i in range(1, self.workers + 1):
            self.start_component(f"{WORKER}-{i}")
        self.start_component(WRITER)
        self.start_dashboard()
        self.start_proxy()
        wait_until(self.workers_ready, "every Celery worker ready", 180)
        self._timed("workers, dashboard, proxy", t)

    def start_component(self, name: str, env: Mapping[str, str] | None = None) -> Process:
        service = WORKER if name.startswith(f"{WORKER}-") else name
        component_env = {**self.envs[service], **self.worker_env.get(name, {}), **(env or {})}
        if name.startswith((WORKER, WRITER)):
            component_env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(free_port())
        self.processes[name] = Process(name, self.component_argv(name), component_env, self.logs / f"{name}.log")
        return self.processes[name].start()

    def start_dashboard(self) -> Process:
        env = self.environment(DASHBOARD)
        self.envs[DASHBOARD] = env
        self.processes[DASHBOARD] = Process(DASHBOARD, self.dashboard_argv(), env, self.logs / "dashboard.log").start()
        health = f"http://127.0.0.1:{self.dashboard_port}/_stcore/health"
        wait_until(
            lambda: requests.get(health, timeout=5).ok, "the dashboard answering", 120, self.processes[DASHBOARD]
        )
        return self.processes[DASHBOARD]

    def start_proxy(self) -> None:
        from deploy import tls

        tls.make(self.tls_dir, ["localhost", "127.0.0.1"])
        self.proxy.start(
            {
                "airflow-apiserver:8080": f"127.0.0.1:{self.api_port}",
                "dashboard:8501": f"127.0.0.1:{self.dashboard_port}",
            }
        )
        self.processes[PROXY] = self.proxy.process

    @property
    def cert(self) -> Path:
        """The proxy's self-signed certificate (verify HTTPS against it)."""
        return self.tls_dir / "cert.pem"

    @property
    def audit_log(self) -> Path:
        return Path(self.envs[DASHBOARD]["PLAN_METRICS_DASHBOARD_AUDIT_LOG"])

    def kill(self, name: str) -> list[int]:
        return self.processes[name].kill()

    def restart(self, name: str, env: Mapping[str, str] | None = None) -> Process:
        """What compose's `restart: always` does after a crash; `env` replaces the per-component extras."""
        self.processes[name].stop()
        self.worker_env[name] = dict(env or {})
        return self.start_component(name)

    def api_ready(self) -> bool:
        return requests.get(f"{self.api_url}/api/v2/version", timeout=5).ok

    def celery_names(self) -> list[str]:
        return sorted(n for n in self.processes if n.startswith((WORKER, WRITER)))

    def worker_ready(self, name: str) -> bool:
        return self.processes[name].alive() and " ready." in self.processes[name].output()

    def workers_ready(self) -> bool:
        for name in self.celery_names():
            if not self.processes[name].alive():
                raise RuntimeError(f"{name} exited:\n{self.processes[name].tail()}")
        return all(self.worker_ready(n) for n in self.celery_names())

    def broker_url(self) -> str:
        return self.envs["airflow-scheduler"]["AIRFLOW__CELERY__BROKER_URL"]

    def stop(self) -> None:
        # the edge first, then workers (a warm shutdown finishes what they run), then the
        # servers, then the stores
        edge = [n for n in (PROXY, DASHBOARD) if n in self.processes]
        workers = [n for n in self.processes if n.startswith((WORKER, WRITER))]
        order = edge + workers + [n for n in self.processes if n not in edge and n not in workers]
        for name in order:
            self.processes[name].send(signal.SIGTERM)
        for name in order:
            self.processes[name].stop(timeout=45)
        self.proxy.stop()
        self.redis.stop()
        self.postgres.stop()

    def leftovers(self) -> list[str]:
        """Processes of this installation still alive (found by AIRFLOW_HOME or the data folder,
        or as PostgreSQL, Redis or nginx)."""
        import psutil

        found = []
        for p in psutil.process_iter(["pid", "cmdline"]):
            try:
                cmd = " ".join(p.info["cmdline"] or [])
                environ = p.environ()
                if (
                    environ.get("AIRFLOW_HOME") == str(self.airflow_home)
                    or environ.get("PLAN_METRICS_DATA_DIR") == str(self.data_dir)
                    or str(self.postgres.data) in cmd
                    or ("redis-server" in cmd and str(self.redis.root) in cmd)
                    or (self.proxy.root is not None and "nginx" in cmd and str(self.proxy.root) in cmd)
                ):
                    found.append(f"{p.pid} {cmd[:120]}")
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        return found


class RestApi:
    """The REST API as one user: a token from FAB's `POST /auth/token`, then `/api/v2`."""

    def __init__(self, url: str, username: str, password: str):
        self.url = url
        r = requests.post(f"{url}/auth/token", json={"username": username, "password": password}, timeout=30)
        assert r.status_code == 201, f"{username} could not log in: {r.status_code} {r.text[:300]}"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {r.json()['access_token']}"

    def request(self, method: str, path: str, **kw) -> requests.Response:
        return self.session.request(method, f"{self.url}{path}", timeout=60, **kw)

    def __call__(self, method: str, path: str, **kw) -> dict:
        r = self.request(method, f"/api/v2{path}", **kw)
        assert r.ok, f"{method} {path}: {r.status_code} {r.text[:500]}"
        return r.json() if r.content else {}

    def runs(self, dag_id: str) -> list[dict]:
        return self("GET", f"/dags/{dag_id}/dagRuns", params={"order_by": "run_after", "limit": 100})["dag_runs"]

    def tis(self, dag_id: str, run_id: str) -> dict[str, dict]:
        data = self("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances")
        return {t["task_id"]: t for t in data["task_instances"]}

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict]:
        data = self("GET", f"/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/tries")
        return sorted(data["task_instances"], key=lambda t: t["try_number"])

    def trigger(self, dag_id: str, conf: dict | None = None) -> requests.Response:
        return self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})


def quote(text: str) -> str:
    return requests.utils.quote(text, safe="")


def main() -> int:
    from simulator.process import SimulatorProcess

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    root = Path(os.environ.get("PROD_LOCAL_DIR") or tempfile.mkdtemp(prefix="plan-metrics-prod-"))
    seed = int(os.environ.get("SIM_SEED", "42"))
    scale = float(os.environ.get("SIM_SCALE", "0.2"))
    clock = os.environ.get("SIM_CLOCK", "2021-12-31T23:59:59+08:00")
    print(f"Throw-away folder: {root}\nStarting the simulated sources (seed {seed}, scale {scale:g}) …", flush=True)
    try:
        with SimulatorProcess(
            root / "sim", seed=seed, scale=scale, clock=clock, incoming=root / "data" / "incoming"
        ) as sim:
            print("Installing/starting PostgreSQL and Redis, then Airflow (CeleryExecutor) …", flush=True)
            with ProdLocal(root, sim.airflow_connections()) as prod:
                user, password = prod.admin
                print(
                    f"\n  Dashboard    {prod.url}/            (log in with an Airflow account)\n"
                    f"  Airflow UI   {prod.url}/airflow/\n  login        {user}   password {password}\n"
                    f"  TLS          self-signed: {prod.cert} (the browser warns; trust it or accept once)\n"
                    f"  PostgreSQL   127.0.0.1:{prod.postgres.port}   Redis 127.0.0.1:{prod.redis.port}\n"
                    f"  workers      {', '.join(prod.celery_names())}\n  logs         {prod.logs}\n"
                    f"  audit        {prod.audit_log}\n"
                    f"  published    {prod.data_dir / 'published' / 'plan_metrics.duckdb'}\n"
                    f"  start-up     {json.dumps(prod.timings)}\n"
                    "\nThe DAGs start paused (production setting): unpause them in the UI; for the data as of the\n"
                    f'simulated clock trigger transform_publish with {{"as_of": "{clock}"}}. Ctrl-C stops everything.\n',
                    flush=True,
                )
                while all(p.alive() for p in prod.processes.values()):
                    time.sleep(1)
                dead = [n for n, p in prod.processes.items() if not p.alive()]
                print(f"stopped unexpectedly: {dead}; see {prod.logs}", file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        print("\nStopping …", flush=True)
        return 0
    finally:
        if not os.environ.get("PROD_LOCAL_DIR"):
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
