"""The HTML report as a document: self-contained, complete, and safe with hostile output.
(What a browser shows and what the filters hide: test_html_browser.py.)"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from evalspec.reports import build_report
from evalspec.reports import html as html_report

from ._data import HOSTILE, result


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(page)
    return parser.tags


def test_structure(seed):
    page = html_report.render(build_report([seed]))
    tags = _tags(page)
    articles = [a for t, a in tags if t == "article"]
    assert [a["data-case"] for a in articles] == [
        "math/S1", "math/S2", "code/S3", "tool_use/S4", "tool_use/S5", "extraction/S6",
        "extraction/S7", "writing/S8"]
    cells = [a for t, a in tags if t == "div" and "data-model" in a]
    assert len(cells) == 16
    assert sorted((c["data-model"], c["data-status"]) for c in cells).count(
        ("llama", "fail")) == 3
    filters = [(a["name"], a["value"]) for t, a in tags if t == "input" and a.get("name")]
    assert filters == [("suite", s) for s in ("math", "code", "tool_use", "extraction",
                                              "writing")] + [
        ("model", "llama"), ("model", "gpt4o"), ("status", "pass"), ("status", "fail")]
    assert sum(1 for t, _ in tags if t == "svg") == 2
    # Every check's evidence is there: schema errors list, code output, trace, reasoning.
    assert "Hello from the pygame community" in page
    assert "calculate_gcd(a=10, b=8) <span" in page
    assert "No KEYDOWN events are handled" in page


def test_self_contained(seed):
    page = html_report.render(build_report([seed]))
    tags = _tags(page)
    assert not [t for t, a in tags if t in ("link", "img", "iframe", "object", "embed")]
    assert not [a for t, a in tags if t == "script" and "src" in a]
    assert "@import" not in page and "url(" not in page
    assert len([t for t, _ in tags if t == "script"]) == 1


def test_hostile_output_is_text(seed):
    r = result(seed, "math/S1", "llama")
    r["response"]["text"] = HOSTILE
    r["checks"][0]["reason"] = HOSTILE
    r["checks"][0]["label"] = HOSTILE
    r["checks"][0]["evidence"] = {"sentence": HOSTILE, "nested": {"x": [HOSTILE]},
                                  "reasoning": HOSTILE}
    r["title"] = HOSTILE
    r["tags"] = [HOSTILE]
    seed["pairwise"][1]["verdicts"][0]["reasoning"] = HOSTILE
    seed["models"]["llama"]["model_id"] = HOSTILE
    page = html_report.render(build_report([seed]))
    tags = _tags(page)
    # Still exactly one script (ours), and no element that came from the payload.
    assert len([t for t, _ in tags if t == "script"]) == 1
    assert not [t for t, _ in tags if t == "img"]
    assert not [a for _, a in tags if "onerror" in a]
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page
    assert len([t for t, _ in tags if t == "article"]) == 8


def test_long_answers_are_cut(seed):
    r = result(seed, "writing/S8", "llama")
    r["response"]["text"] = "word " * 60_000
    page = html_report.render(build_report([seed]))
    assert "[200,000 more characters not shown]" in page
    assert len(page) < 400_000


def test_errors_and_three_models(seed):
    extra = []
    for r in seed["results"]:
        if r["model"] == "gpt4o":
            third = dict(r, model="tiny", status="error", error="timed out after 120 s",
                         response=None, checks=[])
            extra.append(third)
    seed["results"] += extra
    report = build_report([seed])
    page = html_report.render(report)
    assert [m for m in report.models] == ["llama", "gpt4o", "tiny"]
    assert len(report.comparisons) == 3
    assert page.count('data-status="error"') == 8
    assert "model call failed: timed out after 120 s" in page
    assert re.search(r'name="status" value="error"', page)
