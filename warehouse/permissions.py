"""Who may read what the pipeline writes: least privilege on files, set by the pipeline itself.

- Every pipeline process works under the umask 027 (`apply_umask`, called where the pipeline's
  processes start: `plan_dag_lib` — every task parses its DAG file first — and the publish CLI),
  so everything it creates under PLAN_METRICS_DATA_DIR is 0750 (folders) / 0640 (files): the
  landing zone, the working database, dbt's state, the quality reports. Nobody outside the
  pipeline's user and group reads them.
- The published folder is for readers: `share_published` gives it and its files the group
  PLAN_METRICS_READERS_GROUP (docker-compose.yml: `plan-readers`, the dashboard's group and the
  analysts') with the set-group-id bit, so a file swapped in keeps the group: 2750 / 0640.
- Restricted storage (`restricted/`, originals and what was set aside) stays 0700 / 0600
  (extract/redact.py, extract/landing.py).

`python -m warehouse.permissions fix` brings a data folder written before these rules (0755 /
0644) in line once; `python -m warehouse.permissions check` lists what is not (exit 1).
"""

from __future__ import annotations

import grp
import os
import stat
import sys
from pathlib import Path

from settings import Settings

UMASK = 0o027
DIR_MODE, FILE_MODE = 0o750, 0o640
PUBLISHED_DIR_MODE = 0o2750  # group-readable, new files inherit the readers group
RESTRICTED = "restricted"
RESTRICTED_DIR_MODE, RESTRICTED_FILE_MODE = 0o700, 0o600


def apply_umask() -> None:
    """The pipeline's umask for this process (folders 0750, files 0640)."""
    os.umask(UMASK)


def readers_gid(settings: Settings) -> int | None:
    """The group that may read the published folder, or None when PLAN_METRICS_READERS_GROUP is unset."""
    name = settings.readers_group
    if not name:
        return None
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ValueError(
            f"PLAN_METRICS_READERS_GROUP={name}: no such group on this machine (the group that may read published/)"
        ) from None


def share_published(settings: Settings, folder: Path | None = None) -> None:
    """Give the published folder, its history and their files to the readers group: 2750 / 0640."""
    folder = Path(folder or settings.published_dir)
    gid = readers_gid(settings)
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink():
            continue
        if gid is not None and path.stat().st_gid != gid:
            os.chown(path, -1, gid)
        os.chmod(path, PUBLISHED_DIR_MODE if path.is_dir() else FILE_MODE)


def expected_mode(path: Path, data_dir: Path) -> int:
    """The mode a path under the data folder should have."""
    rel = path.relative_to(data_dir)
    is_dir = path.is_dir()
    if rel.parts[:1] == (RESTRICTED,):
        return RESTRICTED_DIR_MODE if is_dir else RESTRICTED_FILE_MODE
    if rel.parts[:1] == ("published",) or path == data_dir / "published":
        return PUBLISHED_DIR_MODE if is_dir else FILE_MODE
    return DIR_MODE if is_dir else FILE_MODE


def wrong_modes(data_dir: Path) -> list[str]:
    """Every path under the data folder whose mode is not what these rules say (empty: all good)."""
    data_dir = Path(data_dir)
    found = []
    for path in [data_dir, *data_dir.rglob("*")]:
        if path.is_symlink() or not (path.is_dir() or path.is_file()):
            continue
        mode, want = stat.S_IMODE(path.stat().st_mode), expected_mode(path, data_dir)
        if mode != want:
            found.append(f"{oct(mode)} {path} (should be {oct(want)})")
    return found


def fix(settings: Settings) -> int:
    data_dir = settings.data_dir
    changed = 0
    for path in [data_dir, *data_dir.rglob("*")]:
        if path.is_symlink() or not (path.is_dir() or path.is_file()):
            continue
        want = expected_mode(path, data_dir)
        if stat.S_IMODE(path.stat().st_mode) != want:
            os.chmod(path, want)
            changed += 1
    if (data_dir / "published").is_dir():
        share_published(settings, data_dir / "published")
    return changed


def main(argv: list[str]) -> int:
    settings = Settings.from_env()
    if argv == ["fix"]:
        print(f"{fix(settings)} path(s) changed under {settings.data_dir}")
        return 0
    if argv == ["check"]:
        wrong = wrong_modes(settings.data_dir)
        print("\n".join(wrong) or f"every path under {settings.data_dir} has its mode")
        return 1 if wrong else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
