"""`make clean`: remove what the pipeline and the demos wrote, and say what was removed.

    python scripts/clean.py [--root DIR]

Removes `data/` (with the demo worlds under `data/demo/`), `incoming/`, `dbt_project/target/`
and `dbt_project/logs/` of the checkout (or of --root), each listed with its size; prints
"nothing to remove" when none exists. The virtualenv stays. A symlink (e.g. `data/demo/latest`,
or `data/` itself) is removed as a link: what it points at is never touched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGETS = ("data", "incoming", "dbt_project/target", "dbt_project/logs")


def size_of(path: Path) -> int:
    """Bytes in files under `path`, symlinks counted as links (never followed)."""
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size
    total = 0
    for folder, _, files in os.walk(path):  # os.walk does not follow symlinked folders
        total += sum(Path(folder, f).lstat().st_size for f in files)
    return total


def human(size: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("not reached")


def _worlds(path: Path) -> str:
    demo = path / "demo"
    if path.is_symlink() or not demo.is_dir():
        return ""
    names = sorted(p.name for p in demo.iterdir() if p.is_dir() and not p.is_symlink())
    return f"; demo worlds: {', '.join(names)}" if names else ""


def clean(root: Path) -> list[str]:
    """Remove the targets under `root`; one line per removed path, or "nothing to remove"."""
    lines = []
    for name in TARGETS:
        path = root / name
        if not path.exists() and not path.is_symlink():
            continue
        what = f"removed {name}{'' if path.is_symlink() or not path.is_dir() else '/'}"
        if path.is_symlink():
            lines.append(f"{what}  (a symlink to {os.readlink(path)}; its target is kept)")
            path.unlink()
            continue
        lines.append(f"{what}  ({human(size_of(path))}{_worlds(path)})")
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    return lines or ["nothing to remove"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/clean.py", description=__doc__.split("\n")[0])
    p.add_argument("--root", type=Path, default=REPO, help="the checkout to clean (default: this one)")
    args = p.parse_args(argv)
    print("\n".join(clean(args.root.resolve())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
