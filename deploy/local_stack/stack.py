"""`ProdLocal`: the deployment of docker-compose.yml as processes under one throw-away folder."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import requests

from deploy import env_secrets
from deploy.local_stack.compose import (
    AIRFLOW_ENV_FILE,
    AIRFLOW_PATH,
    CHECK,
    COMPOSE_FILE,
    DASHBOARD,
    IMAGE_REPO,
    INIT,
    PACKAGES,
    PROXY,
    READERS_GROUP,
    REPO,
    SERVERS,
    WORKER,
    WRITER,
    compose_command,
    compose_services,
    interpolate,
    read_env_file,
)
from deploy.local_stack.processes import Process, free_port, wait_for_api, wait_until
from deploy.local_stack.services import Nginx, Postgres, Redis
from settings import child_env


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
        base = child_env(without=("AIRFLOW", "PLAN_METRICS"))
        files = {}
        for name in spec.get("env_file") or []:
            if name != "deploy/airflow.env":
                raise ValueError(f"{service} reads env_file {name}: only the secrets check may see .env")
            files.update(read_env_file(AIRFLOW_ENV_FILE))
        read = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE_FILE.read_text(encoding="utf-8")))
        unrouted = {k: v for k, v in self.extra_env.items() if k not in read} if service.startswith("airflow") else {}
        env = {**base, **files, **unrouted, **self.compose_environment(service)}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{base.get('PATH', '')}"
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
        env = child_env(without=("AIRFLOW", "PLAN_METRICS"))
        path = env.get("PATH", "")
        env.update(self.dotenv())
        env.update({k: interpolate(str(v), self.dotenv()) for k, v in compose_services()[CHECK]["environment"].items()})
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{path}"  # the image's python
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
        wait_for_api(self.api_url, 300, self.processes["airflow-apiserver"])
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
