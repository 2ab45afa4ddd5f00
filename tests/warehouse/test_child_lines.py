"""The child-output reader the process tests use (tests/warehouse/child_lines.py): a read of a
child that writes nothing fails at its deadline instead of hanging, and a read past the end of
a child's output fails at once."""

from __future__ import annotations

import sys

import pytest

from tests.warehouse.child_lines import ChildLines

SILENT = (
    "import sys, time; print('first', flush=True); print('on stderr', file=sys.stderr, flush=True); time.sleep(120)"
)


def test_a_read_from_a_child_that_writes_nothing_more_fails_at_its_deadline_and_the_child_is_killed():
    # GIVEN a child that writes one line and then nothing for two minutes
    with ChildLines([sys.executable, "-c", SILENT], "the silent child") as child:
        assert child.next(timeout=60) == "first"
        # WHEN the test waits one second for a second line THEN the wait fails, while the child
        # still runs (the read did not wait for it), naming the child
        with pytest.raises(AssertionError, match=r"no line within 1 s from the silent child"):
            child.next(timeout=1)
        assert child.proc.poll() is None
        with pytest.raises(AssertionError, match="no line within"):
            child.until(lambda line: line == "never", timeout=1)
    # AND leaving the block killed it
    assert child.proc.returncode is not None


def test_a_read_past_the_end_of_a_childs_output_fails_at_once_and_finish_returns_the_rest():
    # GIVEN a child that writes three lines and exits
    code = "print('a'); print('b'); print('c')"
    with ChildLines([sys.executable, "-c", code], "the short child") as child:
        # WHEN the test reads up to 'b', then lets it finish
        assert child.until(lambda line: line == "b", timeout=60) == "b"
        # THEN the rest is 'c', and a further read fails because the output ended
        assert child.finish(timeout=60) == ["c"]
        assert child.lines == ["a", "b", "c"] and child.proc.returncode == 0
        with pytest.raises(AssertionError, match="output ended"):
            child.next(timeout=60)
