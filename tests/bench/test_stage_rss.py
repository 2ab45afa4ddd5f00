"""A stage's peak RSS is its own, not the bench process's that started it."""

import subprocess
import sys

CHILD = "from bench.stage import _peak_rss_mb; print(_peak_rss_mb())"


def test_a_stage_started_by_a_large_process_reports_its_own_peak_rss():
    # GIVEN a parent holding 300 MB, touched so it is resident
    held = bytearray(300 * 2**20)
    for i in range(0, len(held), 4096):
        held[i] = 1
    # WHEN it starts a stage process (as the bench does, through subprocess)
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True).stdout
    # THEN the stage reports its own few tens of MB (getrusage's ru_maxrss said 310 here)
    assert float(out) < 150, out
    assert held[0] == 1
