"""Every DuckDB connection of the pipeline is bounded, also after a spill."""

from pathlib import Path

import pytest

from settings import MEMORY_ENV, Settings, duck

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PLAN_METRICS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv(MEMORY_ENV, "64MB")
    return tmp_path


def test_a_second_connection_after_a_spill_opens_with_the_same_bounds(data_dir):
    # GIVEN a connection whose query spilled to the data folder's spill folder
    db = data_dir / "work.duckdb"
    settings = Settings.from_env()
    first = duck.connect(db, settings)
    first.execute("create table t as select range as i, md5(range::varchar) as s from range(2000000)")
    assert first.execute("select count(distinct s) from t").fetchone() == (2_000_000,)
    assert first.execute("select current_setting('temp_directory')").fetchone()[0] == str(settings.duckdb_temp_dir)
    # WHEN the same process opens the file again (DuckDB shares the instance, and refuses to
    # set the spill folder again once it was used, even to the same value)
    second = duck.connect(db, settings)
    # THEN it opens, bounded, spilling under the data folder
    assert second.execute("select current_setting('memory_limit')").fetchone()[0] in ("61.0 MiB", "64.0 MB")
    assert Path(second.execute("select current_setting('temp_directory')").fetchone()[0]).is_relative_to(data_dir)
    second.close()
    first.close()


def test_dbts_connection_does_not_set_the_spill_folder_on_every_cursor():
    # dbt-duckdb applies `settings` to each cursor it opens: a temp_directory there failed every
    # model after the first spill ("Cannot switch temporary directory after the current one has
    # been used", SF300 at a 1 GB limit); dbt spills beside the working database instead
    profile = (REPO / "dbt_project" / "profiles.yml").read_text(encoding="utf-8")
    settings = profile.split("settings:", 1)[1]
    assert "temp_directory" not in settings and "memory_limit" in settings
