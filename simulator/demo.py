"""Each simulated world keeps its own state: the folders of the demo commands.

`make run`, `make airflow` and `make simulator INCOMING=1` serve a simulated world (seed,
scale, faults). Everything a pipeline writes while it reads that world — landing, raw
layer, published file, Airflow's metadata, the simulator's store — lives in the world's
own folder, `<demo root>/<world>/` (its `PLAN_METRICS_DATA_DIR`), and the S4/S5 drops in
`<world>/incoming` (its `PLAN_METRICS_INCOMING_DIR`); two worlds never share a raw table
or a drop folder, so a publish never mixes them. The demo root is `PLAN_METRICS_DEMO_ROOT`
(default `<repo>/data/demo`); `<demo root>/latest` points at the world started last, which
`make dashboard` and `make rollback` serve when `PLAN_METRICS_DATA_DIR` is unset.

A `world.json` marker in the world's folder names the world and the furthest simulated
clock its state has seen. A source cannot go back in time: a demo at an earlier clock
would find raw versions from its own future, so the world starts afresh instead (its
folder is deleted: demo state is reproducible from seed and scale). A folder given
explicitly through `PLAN_METRICS_DATA_DIR` / `PLAN_METRICS_INCOMING_DIR` that holds
another world, or pipeline state no marker names, is refused before anything starts.

Only scripts import this module; the pipeline packages never import `simulator`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from settings import REPO
from simulator.faults import Faults
from simulator.sources import parse_specs
from simulator.world import bj_iso, parse_ts

DEFAULT_CLOCK = "2021-12-31T23:59:59+08:00"
MARKER = "world.json"
LATEST = "latest"
# what a pipeline run leaves in PLAN_METRICS_DATA_DIR (settings/, expectations/gate.py,
# scripts/airflow_env.sh, scripts/pipeline.sh, settings/duck.py, warehouse/transform.py, extract/drops.py)
# and what the demos add (the simulator's store); tests/pipeline/test_demo_worlds.py checks a real run
PIPELINE_STATE = (
    "templates",  # make templates: made from the published registry
    "landing",
    "warehouse",
    "published",
    "quality",
    "airflow",
    "logs",
    "sim",
    "incoming",
    "restricted",
    "dbt",
    "tmp",
    "lineage",  # OpenLineage events (warehouse/lineage.py) when no OPENLINEAGE_URL is set
)


@dataclass(frozen=True)
class World:
    """A simulated world: what the simulator generates from, so what its state depends on."""

    seed: int
    scale: float
    faults: tuple[str, ...] = ()  # canonical specs, see `of`

    @classmethod
    def of(cls, seed: int, scale: float, faults: list[str] | tuple[str, ...] = ()) -> World:
        """The world of these simulator arguments; fault specs are validated and written in one
        canonical form (sorted, defaults left out), so the same faults name the same world."""
        default = Faults()
        canonical = []
        for source, f in sorted(parse_specs(faults).items()):
            on = [
                f"{fl.name}={getattr(f, fl.name):g}"
                for fl in fields(f)
                if getattr(f, fl.name) != getattr(default, fl.name)
            ]
            if on:
                canonical.append(f"{source}:{','.join(on)}")
        return cls(int(seed), float(scale), tuple(canonical))

    @property
    def name(self) -> str:
        """`seed42-scale1`; faults add a short suffix that depends only on the faults."""
        base = f"seed{self.seed}-scale{self.scale:g}"
        if not self.faults:
            return base
        return f"{base}-faults-{hashlib.sha256(' '.join(self.faults).encode()).hexdigest()[:8]}"

    def describe(self) -> str:
        faults = f", faults {' '.join(self.faults)}" if self.faults else ""
        return f"{self.name} (seed {self.seed}, scale {self.scale:g}{faults})"


@dataclass(frozen=True)
class Folders:
    """Where one demo command keeps a world's state."""

    world: World
    data_dir: Path
    incoming: Path
    explicit_data: bool  # from PLAN_METRICS_DATA_DIR
    explicit_incoming: bool  # from PLAN_METRICS_INCOMING_DIR

    @property
    def marker(self) -> Path:
        return self.data_dir / MARKER

    @property
    def published_db(self) -> Path:
        return self.data_dir / "published" / "plan_metrics.duckdb"


class WorldConflict(Exception):
    """An explicitly chosen folder holds state of another (or an unknown) world."""


def demo_root(env: Mapping[str, str]) -> Path:
    return Path(env.get("PLAN_METRICS_DEMO_ROOT") or REPO / "data" / "demo").resolve()


def folders_for(world: World, env: Mapping[str, str]) -> Folders:
    data = env.get("PLAN_METRICS_DATA_DIR")
    data_dir = Path(data).resolve() if data else demo_root(env) / world.name
    incoming = env.get("PLAN_METRICS_INCOMING_DIR")
    return Folders(
        world=world,
        data_dir=data_dir,
        incoming=Path(incoming).resolve() if incoming else data_dir / "incoming",
        explicit_data=bool(data),
        explicit_incoming=bool(incoming),
    )


def read_marker(folder: Path) -> dict | None:
    path = folder / MARKER
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return {"world": f"unreadable {MARKER}"}


def _entries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def _reset_hint(var: str, folder: Path, env: Mapping[str, str]) -> str:
    default = f"each world then gets its own folder under {demo_root(env)}/"
    return f"Unset {var} ({default}), or, if nothing in it is needed, start afresh with:  rm -rf {shlex.quote(str(folder))}"


def _conflict_in_data_dir(folders: Folders, env: Mapping[str, str]) -> str | None:
    """Why the (explicit) data folder cannot hold this world, or None."""
    marker, entries = read_marker(folders.data_dir), _entries(folders.data_dir)
    world, where = folders.world, f"PLAN_METRICS_DATA_DIR={folders.data_dir}"
    if marker is not None:
        if marker.get("world") == world.name:
            return None
        return (
            f"{where} holds the simulated world {marker.get('world')} ({MARKER}), but this command serves "
            f"{world.describe()}: running it there would publish a mix of the two worlds. "
            + _reset_hint("PLAN_METRICS_DATA_DIR", folders.data_dir, env)
        )
    state = [e for e in entries if e in PIPELINE_STATE]
    if state:
        return (
            f"{where} holds pipeline state ({', '.join(state)}) that no {MARKER} marker names (real sources' "
            f"data, or a demo from before each world kept its own folder), and this command serves "
            f"{world.describe()}: running it there would publish a mix of the two. "
            + _reset_hint("PLAN_METRICS_DATA_DIR", folders.data_dir, env)
        )
    if entries:
        return (
            f"{where} is not empty ({', '.join(entries[:5])}) and is no simulated world's folder: choose an "
            "empty or new folder for the demo, or unset PLAN_METRICS_DATA_DIR."
        )
    return None


def _world_of_drops(folder: Path, env: Mapping[str, str]) -> str:
    """Which world's marker names this drop folder, if any (for the message)."""
    root = demo_root(env)
    for marker in sorted(root.glob(f"*/{MARKER}")) if root.is_dir() else []:
        data = read_marker(marker.parent) or {}
        if data.get("incoming") == str(folder):
            return f"the drops of the simulated world {data.get('world')}"
    return "files that this world's marker does not name (real drops, or another world's)"


def _conflict_in_incoming(folders: Folders, env: Mapping[str, str]) -> str | None:
    marker = read_marker(folders.data_dir) or {}
    ours = marker.get("world") == folders.world.name and marker.get("incoming") == str(folders.incoming)
    files = [p for p in folders.incoming.rglob("*") if p.is_file()] if folders.incoming.is_dir() else []
    if ours or not files:
        return None
    return (
        f"PLAN_METRICS_INCOMING_DIR={folders.incoming} holds {len(files)} file{'' if len(files) == 1 else 's'} — "
        f"{_world_of_drops(folders.incoming, env)} — but this command writes the drops of "
        f"{folders.world.describe()} there: the pipeline would load both. "
        + _reset_hint("PLAN_METRICS_INCOMING_DIR", folders.incoming, env)
    )


def check(folders: Folders, env: Mapping[str, str]) -> None:
    """Raise WorldConflict when an explicitly chosen folder holds another world's state."""
    reasons = [
        r
        for r in (
            _conflict_in_data_dir(folders, env) if folders.explicit_data else None,
            _conflict_in_incoming(folders, env) if folders.explicit_incoming else None,
        )
        if r
    ]
    if reasons:
        raise WorldConflict("\n".join(reasons))


def _afresh_reason(folders: Folders, clock: str) -> str | None:
    """Why the world's own (default) folder, or a marked one, must start afresh, or None."""
    marker = read_marker(folders.data_dir)
    name = folders.world.name
    if marker is None:
        state = [e for e in _entries(folders.data_dir) if e in PIPELINE_STATE]
        if state and not folders.explicit_data:
            return f"{folders.data_dir} holds pipeline state ({', '.join(state)}) without a {MARKER} marker"
        return None
    if marker.get("world") != name:  # only in the world's own folder: an explicit one was refused
        return f"{folders.data_dir} is marked as the world {marker.get('world')}, not {name}"
    served = marker.get("clock")
    if served and parse_ts(clock) < parse_ts(served):
        return (
            f"it already served the clock {served}, and a source cannot go back in time to "
            f"{bj_iso(parse_ts(clock))} (its raw layer holds versions from that future)"
        )
    return None


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def write_marker(folders: Folders, clock: str) -> dict:
    """Record the world and the furthest clock served (never moves back: see `prepare`)."""
    old = read_marker(folders.data_dir) or {}
    epoch = parse_ts(clock)
    if old.get("world") == folders.world.name and old.get("clock"):
        epoch = max(epoch, parse_ts(old["clock"]))
    marker = {
        "world": folders.world.name,
        "seed": folders.world.seed,
        "scale": folders.world.scale,
        "faults": list(folders.world.faults),
        "clock": bj_iso(epoch),
        "incoming": str(folders.incoming),
    }
    folders.data_dir.mkdir(parents=True, exist_ok=True)
    tmp = folders.marker.with_name(MARKER + ".tmp")
    tmp.write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, folders.marker)
    return marker


def record_end_clock(folders: Folders, ask_clock: Callable[[], str], say: Callable[[str], None] = print) -> None:
    """After a demo whose user could move the clock (POST /_sim/clock): ask the simulator where
    it ended and record it in the marker, so a later demo at an earlier clock starts afresh."""
    try:
        clock = ask_clock()
    except Exception as exc:  # the simulator died: the marker keeps the clock the demo started at
        say(f"Could not ask the simulator for its clock ({exc}); {folders.marker} keeps the clock it started at.")
        return
    marker = write_marker(folders, clock)
    say(f"The world {folders.world.name} has served the clock {marker['clock']} (recorded in {folders.marker}).")


def point_latest(folders: Folders, env: Mapping[str, str]) -> Path:
    """`<demo root>/latest` -> the world's folder (relative when it lies in the demo root)."""
    root = demo_root(env)
    root.mkdir(parents=True, exist_ok=True)
    target = folders.data_dir
    link_text = target.name if target.parent == root else str(target)
    tmp = root / f".{LATEST}.tmp"
    _remove(tmp)
    tmp.symlink_to(link_text, target_is_directory=True)
    os.replace(tmp, root / LATEST)
    return root / LATEST


def prepare(
    world: World,
    clock: str,
    env: Mapping[str, str],
    say: Callable[[str], None] = print,
) -> Folders:
    """The folders a demo command uses for `world` at `clock`, ready before anything starts:
    checked (WorldConflict), started afresh if needed (said in one line), marked, and
    `latest` pointing at them. `env`: the environment the command started with (its
    settings' `environment`), where PLAN_METRICS_DATA_DIR / _INCOMING_DIR / _DEMO_ROOT may
    choose the folders."""
    folders = folders_for(world, env)
    check(folders, env)
    reason = _afresh_reason(folders, clock)
    if reason:
        gone = [folders.data_dir] + ([folders.incoming] if folders.explicit_incoming else [])
        say(f"Starting the world {world.name} afresh, deleting {' and '.join(map(str, gone))}: {reason}.")
        for path in gone:
            _remove(path)
    write_marker(folders, clock)
    folders.incoming.mkdir(parents=True, exist_ok=True)
    point_latest(folders, env)
    return folders


def latest_data_dir(env: Mapping[str, str]) -> Path | None:
    """The folder of the world started last, if `<demo root>/latest` points at one."""
    link = demo_root(env) / LATEST
    return link.resolve() if link.is_dir() else None
