"""The README is a quick start, and every link in it and in docs/ leads somewhere."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIRST_SCREEN = 45  # lines: one terminal or browser window
LINK = re.compile(r"\[[^\]]+\]\(([^)\s]+)\)")


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {_slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", text, flags=re.M)}


def _documents() -> list[Path]:
    return [REPO / "README.md", REPO / "DEVELOPERS.md", *sorted((REPO / "docs").glob("*.md"))]


def test_the_readme_first_screen_holds_the_two_commands_what_you_see_and_where_to_look_next():
    # GIVEN the README's first screen
    first = "\n".join((REPO / "README.md").read_text(encoding="utf-8").splitlines()[:FIRST_SCREEN])
    # THEN it says what the project is, gives the two commands and where to look next
    assert "CAST" in first and "Hubei" in first
    assert re.search(r"^make run\b", first, flags=re.M) and re.search(r"^make test\b", first, flags=re.M)
    for next_step in (
        "published/plan_metrics.duckdb",  # the published file
        "make airflow",  # the Airflow UI
        "quality/<run>/index.html",  # the quality report
        "make dashboard",  # the dashboard
    ):
        assert next_step in first, f"the README's first screen does not mention {next_step}"


def test_every_relative_link_in_the_readme_and_docs_points_at_a_file_and_heading_that_exist():
    broken = []
    for doc in _documents():
        for target in LINK.findall(doc.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+://", target) or target.startswith("mailto:"):
                continue
            file_part, _, anchor = target.partition("#")
            linked = (doc.parent / file_part).resolve() if file_part else doc
            if not linked.exists():
                broken.append(f"{doc.relative_to(REPO)} -> {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{doc.relative_to(REPO)} -> {target} (no such heading)")
    assert not broken, "\n".join(broken)


def test_every_page_in_docs_is_linked_from_the_readme():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    unlinked = [p.name for p in (REPO / "docs").glob("*.md") if f"(docs/{p.name}" not in readme]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"
