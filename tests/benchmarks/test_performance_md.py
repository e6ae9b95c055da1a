"""docs/performance.md copies speed tables from elsewhere; the copies must match their sources."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PERF = ROOT / "docs" / "performance.md"


def _tables(text: str) -> list[list[str]]:
    """The markdown tables of ``text``, each as its list of lines."""
    out, cur = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            cur.append(line.strip())
        elif cur:
            out.append(cur)
            cur = []
    if cur:
        out.append(cur)
    return out


def _section(text: str, heading: str) -> str:
    assert heading in text, f"no section {heading!r}"
    return text.split(heading, 1)[1].split("\n## ", 1)[0]


@pytest.mark.parametrize(("heading", "source", "source_heading"), [
    ("## Corruption speed vs imagecorruptions", "benchmarks/results/corruptions_speed.md", None),
    ("## CKA speed", "docs/cka.md", "## Speed"),
    ("## CPU speed of the small CNNs", "docs/models.md", "## CPU speed of the small CNNs"),
])
def test_copied_speed_tables_match_their_source(heading, source, source_heading):
    ours = _tables(_section(PERF.read_text(), heading))
    text = (ROOT / source).read_text()
    theirs = _tables(_section(text, source_heading) if source_heading else text)
    assert ours and ours[0] == theirs[0], f"docs/performance.md's table under {heading!r} differs from {source}"


def test_every_section_says_where_and_when():
    text = PERF.read_text()
    for part in text.split("\n## ")[1:]:
        title = part.splitlines()[0]
        if title == "Elsewhere":
            continue
        assert "2026-" in part, f"section {title!r} has no date"
        assert "`" in part and ("python" in part or "birdkit" in part), f"section {title!r} has no command"
