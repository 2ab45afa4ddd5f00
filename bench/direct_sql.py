"""dbt's own SQL without dbt: run the compiled SQL of a finished build directly in DuckDB.

The manifest of the build (dbt's target dir) holds every model's compiled SQL, its
relation and materialisation, and every test's compiled query. They run here in dependency
order on a copy of the database dbt built — same file name, so the catalog name in the
compiled SQL resolves — models as `create or replace table/view`, tests as a count of the
rows they return. Seeds are already in the copy and are not re-run (the dbt side reports
their time apart).
"""

from __future__ import annotations

import json
import time
from graphlib import TopologicalSorter
from pathlib import Path


def _compiled_nodes(target_dir: Path) -> dict[str, dict]:
    manifest = json.loads((target_dir / "manifest.json").read_text())
    nodes = {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] in ("model", "test")}
    # run_results carries the compiled SQL of what actually ran; prefer it where present
    rr_path = target_dir / "run_results.json"
    if rr_path.exists():
        for r in json.loads(rr_path.read_text()).get("results", []):
            if r.get("unique_id") in nodes and r.get("compiled_code"):
                nodes[r["unique_id"]]["compiled_code"] = r["compiled_code"]
    return nodes


def run_compiled(target_dir: Path, db: Path, settings) -> dict:
    from settings import duck

    nodes = _compiled_nodes(target_dir)
    graph = {uid: [d for d in n["depends_on"]["nodes"] if d in nodes] for uid, n in nodes.items()}
    timings: list[dict] = []
    skipped = []
    with duck.connect(db, settings) as conn:
        for uid in TopologicalSorter(graph).static_order():
            n = nodes[uid]
            sql = n.get("compiled_code")
            materialized = n["config"].get("materialized")
            if not sql or materialized == "ephemeral":
                skipped.append(uid)
                continue
            if n["resource_type"] == "model":
                kind = "view" if materialized == "view" else "table"
                stmt = f"create or replace {kind} {n['relation_name']} as {sql}"
            else:
                stmt = f"select count(*) from ({sql}) _t"
            started = time.perf_counter()
            conn.execute(stmt).fetchall()
            timings.append(
                {"name": n["name"], "type": n["resource_type"], "seconds": round(time.perf_counter() - started, 4)}
            )
    models = [t for t in timings if t["type"] == "model"]
    return {
        "models_seconds": round(sum(t["seconds"] for t in models), 3),
        "tests_seconds": round(sum(t["seconds"] for t in timings if t["type"] == "test"), 3),
        "sql_seconds": round(sum(t["seconds"] for t in timings), 3),
        "models": len(models),
        "tests": len(timings) - len(models),
        "skipped": len(skipped),
        "slowest_models": sorted(models, key=lambda t: -t["seconds"])[:5],
    }
