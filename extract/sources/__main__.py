"""`python -m extract.sources dags|env-example|dbt-registry|scaffold NAME`: the registry's
command line, apart from the registry so that the registry imports nothing that reads it."""

from __future__ import annotations

import sys

from extract.sources import SOURCES, dbt_files, env_example


def main(argv: list[str] | None = None) -> int:
    """`python -m extract.sources dags|env-example|dbt-registry|scaffold NAME`: the extract DAG
    ids in run order, or the connection block of `.env.example` (for shell scripts that must not
    repeat the list); rewrite dbt's copy of the registry; or write a source's dbt files from its
    entry (those that do not exist yet) and list them."""
    what = (argv if argv is not None else sys.argv[1:]) or ["dags"]
    if what[0] == "dags":
        print("\n".join(f"extract_{name}" for name in SOURCES))
    elif what[0] == "env-example":
        print(env_example(), end="")
    elif what[0] == "dbt-registry" or (what[0] == "scaffold" and len(what) == 2 and what[1] in SOURCES):
        written = [dbt_files.write_registry()] if what[0] == "dbt-registry" else dbt_files.scaffold(what[1])
        for path in written:
            print(path)
    else:
        print("usage: python -m extract.sources dags|env-example|dbt-registry|scaffold NAME", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
