"""`evalspec report [RUN...]`: render stored runs (the latest by default) in any format.

A RUN is a run id from the store (`evalspec run` prints it), a unique part of one (its random
suffix, say), `latest`, or the path of a results JSON file (`evalspec run --json FILE`).
Several runs are combined into one comparison; a model that appears in more than one run is
shown once per run (`name@suffix`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ..reports import FORMATS, GROUP_BY_HELP, ReportSpecError, build_report, render
from ..reports import write_reports as write_reports

__all__ = ["load_results_file", "load_runs", "report", "write_reports"]


def load_results_file(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.UsageError(f"{path}: not a results JSON file evalspec can read ({exc})") \
            from None
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        raise click.UsageError(f"{path}: not an evalspec results file (no \"results\" list; "
                               "write one with `evalspec run --json FILE`)")
    if doc.get("schema") == "evalspec.report":
        raise click.UsageError(f"{path} is a report (evalspec.report), not results; give the "
                               "results JSON it was made from")
    return doc


def _store_path(store_dir: Path | None) -> Path:
    """--store, else the project's setting (evalspec.toml), else ./.evalspec."""
    if store_dir is not None:
        return store_dir
    from ..config import ConfigError, load_config
    try:
        return load_config().store_dir
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def _resolve(ref: str, ids: Sequence[str]) -> str:
    if ref == "latest":
        if not ids:
            raise click.UsageError("the store holds no runs yet")
        return ids[-1]
    if ref in ids:
        return ref
    matches = [i for i in ids if ref in i]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise click.UsageError(f"there is no run {ref!r} in the store (`evalspec report --list` "
                               "shows the stored runs)")
    raise click.UsageError(f"{ref!r} matches {len(matches)} runs ({', '.join(matches[:5])}); "
                           "give more of the id")


def load_runs(refs: Sequence[str], *, store_dir: Path | None = None,
              results_files: Sequence[Path] = (), default_latest: bool = True
              ) -> list[dict[str, Any]]:
    """Results documents for run references (ids, `latest`, JSON paths) in the order given,
    then the results files. With neither, the latest stored run (when `default_latest`)."""
    refs = list(refs)
    if not refs and not results_files and default_latest:
        refs = ["latest"]
    store = None
    docs: list[dict[str, Any]] = []
    try:
        for ref in refs:
            path = Path(ref)
            if ref.endswith(".json") and path.is_file():
                docs.append(load_results_file(path))
                continue
            if store is None:
                store = _open_store(store_dir)
            docs.append(store.export_run(_resolve(ref, [r.id for r in store.runs()])))
    finally:
        if store is not None:
            store.close()
    docs.extend(load_results_file(p) for p in results_files)
    return docs


def _open_store(store_dir: Path | None) -> Any:
    from ..store import STORE_FILE, Store

    directory = _store_path(store_dir)
    if not (directory / STORE_FILE).is_file():
        raise click.UsageError(f"no results store at {directory} (run `evalspec run` first, "
                               "pass --store DIR, or give results JSON files)")
    return Store(directory)


def _list_runs(store_dir: Path | None) -> None:
    from ..store import STORE_FILE, Store

    directory = _store_path(store_dir)
    if not (directory / STORE_FILE).is_file():
        click.echo(f"no results store at {directory}", err=True)
        return
    store = Store(directory)
    try:
        for info in store.runs():
            state = "complete" if info.complete else "incomplete"
            extra = f" (rejudge of {info.parent})" if info.parent else ""
            click.echo(f"{info.id}  {info.started_at}  {state:10}  {info.source}{extra}")
    finally:
        store.close()


@click.command("report")
@click.argument("runs", nargs=-1, metavar="[RUN...]")
@click.option("-f", "--format", "fmt", type=click.Choice(sorted(FORMATS)), default="terminal",
              show_default=True, help="Output format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file instead of standard output.")
@click.option("--results", "results_files", multiple=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path), metavar="FILE",
              help="A results JSON file (from `evalspec run --json`); repeatable.")
@click.option("--store", "store_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Read runs from DIR instead of ./.evalspec.")
@click.option("--by", "group_by", default="suite", show_default=True, metavar="GROUPING",
              help=f"Summarise by {GROUP_BY_HELP}.")
@click.option("--alpha", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.05, show_default=True, help="Significance level of the paired tests.")
@click.option("--list", "list_runs", is_flag=True, help="List the stored runs and exit.")
def report(runs: tuple[str, ...], fmt: str, output: Path | None,
           results_files: tuple[Path, ...], store_dir: Path | None, group_by: str,
           alpha: float, list_runs: bool) -> None:
    """Render stored runs (the latest by default) as terminal tables, Markdown, JSON, JUnit
    XML or a self-contained HTML page."""
    if list_runs:
        _list_runs(store_dir)
        return
    docs = load_runs(runs, store_dir=store_dir, results_files=results_files)
    try:
        built = build_report(docs, group_by=group_by, alpha=alpha)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        if output is None and FORMATS[fmt] == "terminal":
            from rich.console import Console

            from ..reports.terminal import print_report
            print_report(built, Console(file=sys.stdout))
            return
        text = render(built, fmt)
    except ReportSpecError as exc:
        raise click.UsageError(str(exc)) from None
    if output is None:
        click.echo(text, nl=not text.endswith("\n"))
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
