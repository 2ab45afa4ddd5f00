"""The services the deployment's containers provide, from Debian's packages on loopback: PostgreSQL
(Airflow's metadata database), Redis (Celery's broker) and nginx (the TLS proxy)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from deploy.local_stack.compose import REPO, compose_services, interpolate
from deploy.local_stack.processes import Process, free_port, wait_until
from settings import child_env


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
            env=child_env({"LANG": "C.UTF-8"}, only=("PATH",)),
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
        self.process = Process("redis", [binary, str(conf)], child_env(only=("PATH",)), self.log).start()
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
        self.process = Process("proxy", [*argv, "-g", "daemon off;"], child_env(only=("PATH",)), self.log)
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
