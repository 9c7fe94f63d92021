"""`evalspec calibrate PATH...`: does each rubric's judge agree with its golden examples?

Every golden example is graded the way answers under test are (same prompt, judge, samples and
aggregate), through the runner's gateway: the same limits, cache and store (a run of kind
`calibrate`). The figures are printed per rubric, and the latest calibration of each rubric is
kept in `.evalspec/calibration/<rubric id>.json`, so a run can tell a calibrated judge from an
uncalibrated one.

Exit codes: 0 every rubric that sets `min_agreement` reaches it; 1 one falls short; 2 usage or
spec errors; 3 judge calls failed, so some figures rest on missing verdicts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from ..judge.calibrate import Calibration, calibrate_plan, format_table
from ..plan import ModelSpec, Plan, RubricSpec

EXIT_BELOW = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
CALIBRATION_DIR = "calibration"


@click.command("calibrate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--rubric", "rubric_ids", multiple=True, metavar="ID",
              help="Calibrate only this rubric (repeatable); ids as `evalspec compile` shows.")
@click.option("--judge", "judge_override", metavar="openai:MODEL_ID@BASE_URL",
              help="Judge every rubric with this model (or `local[:PATH.gguf]`).")
@click.option("--local", is_flag=True, help="Run every judge on the embedded local model.")
@click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True,
              help="Requests in flight per judge, for judges that set no limit.")
@click.option("--json", "json_out", metavar="FILE",
              help="Write the figures as JSON; '-' for stdout.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the response cache.")
@click.option("--refresh", is_flag=True, help="Ask the judges again; overwrite cached verdicts.")
@click.option("--store", "store_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Keep results and the cache in DIR instead of ./.evalspec.")
def calibrate(paths: tuple[Path, ...], rubric_ids: tuple[str, ...], judge_override: str | None,
              local: bool, concurrency: int, json_out: str | None, no_cache: bool,
              refresh: bool, store_dir: Path | None) -> None:
    """Grade every rubric's golden examples with its judge and print the agreement:
    exact, within one point, and Spearman's rho."""
    from .run import apply_overrides

    plan = load_rubrics(paths)
    unknown = [r for r in rubric_ids if r not in plan.rubrics]
    if unknown:
        raise click.UsageError(f"no rubric {', '.join(unknown)}; the specs define "
                               f"{', '.join(sorted(plan.rubrics))}")
    if rubric_ids:
        plan = replace(plan, rubrics={r: plan.rubrics[r] for r in rubric_ids})
    if local and not judge_override and any(not r.judge for r in plan.rubrics.values()):
        judge_override = "local"  # rubric libraries name no judge: use the embedded model
    plan = apply_overrides(plan, judge=judge_override, local=local)
    orphans = [rid for rid, r in plan.rubrics.items() if not (r.judge or plan.judge)]
    if orphans:
        raise click.UsageError(f"no judge for {', '.join(orphans)}: declare `judge = …` in the "
                               "spec, or pass --judge openai:MODEL_ID@BASE_URL (or --judge local)")

    results, run_id, directory, endpoints = asyncio.run(
        _calibrate(plan, store_dir, concurrency, no_cache, refresh))
    # With `--json -` stdout carries the JSON alone; the table goes to stderr.
    click.echo(format_table(results), err=json_out == "-")
    data = [c.to_json() for c in results]
    _remember(directory, results, endpoints, run_id)
    if json_out:
        text = json.dumps({"run_id": run_id, "calibrations": data}, indent=2, ensure_ascii=False)
        if json_out == "-":
            click.echo(text)
        else:
            Path(json_out).write_text(text + "\n", encoding="utf-8")
    failed_calls = sum(1 for c in results for e in c.examples if e.status == "error")
    if failed_calls:
        click.echo(f"{failed_calls} golden example{'s' if failed_calls != 1 else ''} got no "
                   "verdict because the judge call failed; the figures are incomplete", err=True)
        raise click.exceptions.Exit(EXIT_INCOMPLETE)
    below = [c.rubric for c in results if c.meets is False]
    if below:
        click.echo(f"below min_agreement: {', '.join(below)}; their judges should not decide "
                   "the exit code", err=True)
        raise click.exceptions.Exit(EXIT_BELOW)


def load_rubrics(paths: Sequence[Path]) -> Plan:
    """A plan holding the rubrics (and judge models) of .eval files, folders or compiled plans.
    Rubric files need no cases. Each rubric takes its file's default judge, so files with
    different defaults can be calibrated together."""
    from ..analysis import analyse
    from ..compiler import find_spec_files
    from ..diagnostics import Diagnostics, render
    from ..loader import Loader

    rubrics: dict[str, RubricSpec] = {}
    models: dict[str, ModelSpec] = {}

    def add(found: dict[str, RubricSpec], found_models: Any, judge: str | None,
            source: str) -> None:
        for rid, r in found.items():
            r = replace(r, judge=r.judge or judge)
            if rid in rubrics and rubrics[rid] != r:
                raise click.UsageError(f"two files define the rubric {rid!r} differently "
                                       f"(again in {source}); calibrate them separately")
            rubrics[rid] = r
        for name, spec in found_models.items():
            if name in models and models[name] != spec:
                raise click.UsageError(f"two files define the model {name!r} differently "
                                       f"(again in {source}); calibrate them separately")
            models[name] = spec

    plan_files = [p for p in paths if p.is_file() and p.name.endswith(".json")]
    for path in plan_files:
        try:
            stored = Plan.loads(path.read_text(encoding="utf-8"))
        except (ValueError, KeyError, TypeError) as exc:
            raise click.UsageError(f"{path} is not a plan evalspec can read: {exc}") from None
        add(dict(stored.rubrics), stored.models, stored.judge, str(path))
    files, _ = find_spec_files(p for p in paths if p not in plan_files)
    diags = Diagnostics()
    loader = Loader(diags)
    for path in files:
        entry = loader.load_entry(path)
        if entry is None:
            continue
        file_diags = Diagnostics()
        analysis = analyse(entry, file_diags)
        diags.extend(file_diags.items)
        if not file_diags.errors:
            add(dict(analysis.rubrics), analysis.models, analysis.judge, str(path))
    if diags.items:
        click.echo(render(diags.sorted(), loader.sources), err=True)
    if diags.errors:
        raise click.exceptions.Exit(EXIT_USAGE)
    if not rubrics:
        raise click.UsageError("no rubrics in " + ", ".join(str(p) for p in paths))
    return Plan(source=", ".join(str(p) for p in paths), models=models, judge=None,
                rubrics=rubrics, tools={}, cases=())


async def _calibrate(plan: Plan, store_dir: Path | None, concurrency: int, no_cache: bool,
                     refresh: bool) -> tuple[list[Calibration], str, Path, dict[str, Any]]:
    from ..cache import ResponseCache
    from ..providers import ProviderSetupError, RetryPolicy
    from ..runner import CaseContext, Gateway, RunOptions, plan_hash
    from ..store import Store

    directory = store_dir if store_dir is not None else Path.cwd() / ".evalspec"
    store = Store(directory)
    cache = None if no_cache else ResponseCache(directory / "cache")
    options = RunOptions(concurrency=concurrency, use_cache=not no_cache, refresh=refresh,
                         retry=RetryPolicy())
    run_id = store.create_run(plan, plan_hash(plan), {"command": "calibrate"}, kind="calibrate")
    gateway = Gateway(plan, store, run_id, cache, options, resuming=False)
    try:
        judges = sorted({r.judge or plan.judge for r in plan.rubrics.values()} - {None})
        try:
            gateway.open(judges)
        except ProviderSetupError as exc:
            raise click.UsageError(str(exc)) from None
        ctx = CaseContext(gateway, plan, "calibrate", "", 0)
        results = await calibrate_plan(plan, ctx)
        store.finish_run(run_id)
        return results, run_id, directory, dict(gateway.endpoints)
    finally:
        await gateway.aclose()
        store.close()


def _remember(directory: Path, results: Sequence[Calibration], endpoints: dict[str, Any],
              run_id: str) -> None:
    folder = directory / CALIBRATION_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for c in results:
        record = {**c.to_json(), "judge_endpoint": endpoints.get(c.judge or ""), "run_id": run_id}
        (folder / f"{c.rubric}.json").write_text(json.dumps(record, indent=2, ensure_ascii=False)
                                                 + "\n", encoding="utf-8")


def calibration_record(directory: Path, rubric: RubricSpec) -> dict[str, Any] | None:
    """The stored calibration of this exact rubric version (matching content hash), if any; for
    a run deciding whether a judge's verdicts may gate the exit code."""
    path = directory / CALIBRATION_DIR / f"{rubric.id}.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if record.get("rubric_hash") == rubric.content_hash else None
