"""Every relative link in the documentation points to a file (and heading) that exists.

README.md, docs/*.md and bench/README.md link to each other, to screenshots and to headings;
a moved file or a renamed heading fails here instead of leaving a dead link.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

pytestmark = pytest.mark.sqlite_only

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def prose(text: str) -> str:
    """The text without fenced code blocks and code spans (their brackets are not links)."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    found: set[str] = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text())):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").strip().lower()).replace(" ", "-")
        base, n = slug, 1
        while slug in found:
            slug, n = f"{base}-{n}", n + 1
        found.add(slug)
    return found


def broken_links(document: Path) -> list[str]:
    problems = []
    for target in LINK.findall(prose(document.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        path_part, _, fragment = target.partition("#")
        linked = (document.parent / unquote(path_part)).resolve() if path_part else document
        if not linked.exists():
            problems.append(f"{target}: no such file")
        elif fragment and linked.suffix == ".md" and fragment not in anchors(linked):
            problems.append(f"{target}: no heading #{fragment} in {linked.name}")
    return problems


def test_the_documents_exist_and_link_somewhere():
    assert all(document.exists() for document in DOCUMENTS)
    assert len(DOCUMENTS) >= 3
    assert any(LINK.search(prose(document.read_text())) for document in DOCUMENTS)


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_relative_link_resolves(document):
    problems = broken_links(document)
    assert not problems, f"{document.relative_to(ROOT)}:\n" + "\n".join(problems)


def test_a_dead_link_is_noticed(tmp_path):
    (tmp_path / "other.md").write_text("# Other page\n\n## A `code` heading, with punctuation\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md) [ok](other.md#a-code-heading-with-punctuation) [ok](#here) "
        "[web](https://example.org/x) ![missing](pics/none.png) [gone](gone.md) [bad](other.md#nowhere)\n"
        "```\n[not a link](inside-code.md)\n```\n`[not a link](span.md)`\n\n## Here\n"
    )
    assert broken_links(page) == [
        "pics/none.png: no such file",
        "gone.md: no such file",
        "other.md#nowhere: no heading #nowhere in other.md",
    ]
