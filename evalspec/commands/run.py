"""`evalspec run` and `evalspec rejudge`: plans in, stored results and a summary out.

Exit codes (the report decides): 0 everything passed (or `--fail-under` was met), 1 checks
failed, 2 usage or spec errors, 3 errors left results incomplete, 130 interrupted (the run stays
resumable).
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import re
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from ..plan import CaseSpec, ModelSpec, Plan
from ..providers import ProviderSetupError, RetryPolicy
from ..runner import (
    ResultEvent,
    Runner,
    RunOptions,
    RunReport,
    generation_fingerprint,
    plan_hash,
)

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
LOCAL_MODEL_ID = "gemma-3-270m"
LOCAL_MAX_TOKENS = 256
_ENDPOINT = re.compile(r"^(?P<model>[^@]+?)(?:@(?P<url>https?://\S+))?$")


# -- plans ------------------------------------------------------------------------------------

def load_plans(paths: Sequence[Path]) -> list[Plan]:
    """Compiled `.plan.json` files are read; `.eval` files and folders are compiled. Spec
    errors are printed and end the command with exit code 2."""
    plans: list[Plan] = []
    specs: list[Path] = []
    for path in paths:
        if path.is_file() and path.name.endswith(".json"):
            try:
                plans.append(Plan.loads(path.read_text(encoding="utf-8")))
            except (ValueError, KeyError, TypeError) as exc:
                raise click.UsageError(f"{path} is not a plan evalspec can read: {exc}") from None
        else:
            specs.append(path)
    if specs:
        from ..compiler import compile_paths
        from ..diagnostics import render

        result = compile_paths(specs)
        if result.diagnostics:
            click.echo(render(result.diagnostics, result.sources), err=True)
        if not result.ok:
            n = len(result.errors)
            click.echo(f"{n} error{'s' if n != 1 else ''} in the spec; nothing was run", err=True)
            raise click.exceptions.Exit(EXIT_USAGE)
        plans.extend(result.plans)
    if not plans:
        raise click.UsageError("no cases to run: the paths hold no .eval file with cases")
    return plans


def merge_plans(plans: Sequence[Plan]) -> Plan:
    """One plan from several, so one run covers them all; names must not clash."""
    if len(plans) == 1:
        return plans[0]
    models: dict[str, ModelSpec] = {}
    rubrics: dict[str, Any] = {}
    tools: dict[str, Any] = {}
    cases: list[CaseSpec] = []
    seen: dict[str, str] = {}
    judges = {p.judge for p in plans if p.judge}
    if len(judges) > 1:
        raise click.UsageError(f"the specs name different default judges "
                               f"({', '.join(sorted(judges))}); run them separately")
    for plan in plans:
        for what, target, items in (("model", models, plan.models),
                                    ("rubric", rubrics, plan.rubrics),
                                    ("tool", tools, plan.tools)):
            for name, item in items.items():
                if name in target and target[name] != item:
                    raise click.UsageError(f"two specs define the {what} {name!r} differently; "
                                           "run them separately")
                target[name] = item
        for case in plan.cases:
            if case.id in seen:
                raise click.UsageError(f"the case id {case.id!r} is in both {seen[case.id]} "
                                       f"and {plan.source}; run them separately")
            seen[case.id] = plan.source
            cases.append(case)
    return Plan(source=", ".join(p.source for p in plans), models=models,
                judge=next(iter(judges), None), rubrics=rubrics, tools=tools, cases=tuple(cases))


def filter_plan(plan: Plan, terms: Sequence[str]) -> Plan:
    """Keep the cases that match any term: a tag, a suite, a case id or an id glob."""
    words = [w for t in terms for w in re.split(r"[,\s]+", t) if w]
    if not words:
        return plan

    def keep(case: CaseSpec) -> bool:
        return any(w in case.tags or w == case.suite or w == case.id
                   or fnmatch.fnmatchcase(case.id, w) for w in words)

    cases = tuple(c for c in plan.cases if keep(c))
    if not cases:
        raise click.UsageError(f"no case matches -k {' '.join(terms)!r} (tags, suites, case ids "
                               "or id globs such as 'math/*')")
    return replace(plan, cases=cases)


def parse_endpoint(text: str, what: str) -> tuple[str, str, str | None]:
    """`openai:MODEL_ID@BASE_URL` (or `local[:GGUF]`) -> (provider, model id or GGUF, url)."""
    provider, _, rest = text.partition(":")
    if provider == "local":
        return "local", rest, None
    m = _ENDPOINT.match(rest)
    if provider != "openai" or not m:
        raise click.BadParameter(
            f"{text!r} is not of the form openai:MODEL_ID@BASE_URL (for example "
            "openai:gpt-4o@https://api.openai.com/v1), or local[:PATH.gguf]", param_hint=what)
    return "openai", m["model"], m["url"]


def local_spec(name: str, old: ModelSpec | None, gguf: str | None = None) -> ModelSpec:
    params = dict(old.params) if old else {}
    if not gguf:
        params = capped_tokens(params)
    return ModelSpec(name=name, provider="local", model_id=LOCAL_MODEL_ID, params=params,
                     gguf=gguf or None, chat_format=None if gguf else "alpaca")


def capped_tokens(params: Mapping[str, Any]) -> dict[str, Any]:
    """Budgets written for a 405B model (2048 tokens, 4096 for a program) buy the embedded 270M
    base model nothing but minutes of repetition at ~50 tokens/s."""
    out = dict(params)
    out.pop("max_completion_tokens", None)
    asked = params.get("max_tokens") or params.get("max_completion_tokens") or LOCAL_MAX_TOKENS
    out["max_tokens"] = min(int(asked), LOCAL_MAX_TOKENS)
    return out


def endpoint_spec(name: str, text: str, old: ModelSpec | None, what: str) -> ModelSpec:
    provider, model_id, url = parse_endpoint(text, what)
    if provider == "local":
        return local_spec(name, old, model_id)
    # Keep what belongs to the spec (sampling, limits, the key's variable); drop what belonged
    # to the old endpoint (its URL, headers, extra body).
    if old is not None and old.provider == "openai":
        return replace(old, model_id=model_id, base_url=url, base_url_env=None, headers={},
                       extra_body={})
    return ModelSpec(name=name, provider="openai", model_id=model_id, base_url=url,
                     api_key_env=None, params=dict(old.params) if old else {},
                     concurrency=old.concurrency if old else None)


def apply_overrides(plan: Plan, *, models: Sequence[str] = (), judge: str | None = None,
                    local: bool = False) -> Plan:
    """`--local`, then `--model NAME=...`, then `--judge ...`."""
    specs = dict(plan.models)
    cases = plan.cases
    if local:
        specs = {name: local_spec(name, spec) for name, spec in specs.items()}
        if plan.judge and plan.judge not in specs:
            specs[plan.judge] = local_spec(plan.judge, None)
        cases = tuple(replace(c, params=capped_tokens(c.params))
                      if {"max_tokens", "max_completion_tokens"} & set(c.params) else c
                      for c in cases)
    added: list[str] = []
    for item in models:
        name, sep, endpoint = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r} is not NAME=openai:MODEL_ID@BASE_URL",
                                     param_hint="--model")
        name = name.strip()
        if name not in specs:
            added.append(name)
        specs[name] = endpoint_spec(name, endpoint, specs.get(name), "--model")
    if added:
        implicit = [n for n, s in plan.models.items() if n == "local" and s.provider == "local"]
        # A spec without models runs on the implicit local model; naming models replaces it.
        drop = set(implicit) if len(plan.models) == 1 and implicit and \
            len(added) == len(models) else set()
        for n in drop:
            specs.pop(n, None)
        cases = tuple(replace(c, models=tuple(m for m in c.models if m not in drop)
                              + tuple(added)) for c in cases)
    rubrics = plan.rubrics
    judge_name = plan.judge
    if judge is not None:
        tested = {m for c in cases for m in c.models}
        judge_name = "judge" if "judge" not in tested else "judge-cli"
        old = specs.get(plan.judge) if plan.judge else None
        specs[judge_name] = endpoint_spec(judge_name, judge, old, "--judge")
        rubrics = {rid: replace(r, judge=None) for rid, r in plan.rubrics.items()}
    return replace(plan, models=specs, cases=cases, judge=judge_name, rubrics=rubrics)


# -- progress ---------------------------------------------------------------------------------

class PlainReporter:
    """`--quiet`, or stderr is not a terminal: a start line, problems, a line every few
    seconds."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.every_s = every_s
        self.counts: Counter[str] = Counter()
        self.total = 0
        self.last = 0.0

    def started(self, run_id: str, total: int, done: Counter[str], resumed: bool) -> None:
        self.total = total
        self.counts = Counter(done)
        self.last = time.monotonic()
        already = sum(done.values())
        note = f", resuming with {already} already stored" if resumed else ""
        click.echo(f"run {run_id}: {total} results to get{note}", err=True)

    def result(self, event: ResultEvent) -> None:
        self.counts[event.status.value] += 1
        if event.status.value in ("fail", "error"):
            why = event.error or next((f"{c.label or c.kind}: {c.reason}" for c in event.checks
                                       if c.status == event.status), "")
            click.echo(f"{event.status.value.upper():5} {event.case.id} [{event.model}"
                       f"#{event.sample}] {_clip(why)}", err=True)
        now = time.monotonic()
        if now - self.last >= self.every_s:
            self.last = now
            click.echo(f"{self._line()}", err=True)

    def _line(self) -> str:
        c = self.counts
        return (f"{sum(c.values())}/{self.total} done: {c['pass']} passed, {c['fail']} failed, "
                f"{c['error']} errors, {c['unscored']} unscored")

    def finished(self) -> None:
        click.echo(self._line(), err=True)


class RichReporter:
    """A live progress bar on stderr with pass / fail / error counts and an ETA."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        self.console = Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TextColumn("[green]{task.fields[passed]} pass[/] [red]{task.fields[failed]} fail[/] "
                       "[yellow]{task.fields[errors]} error[/] "
                       "[magenta]{task.fields[unscored]} unscored[/]"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=self.console, transient=False)
        self.counts: Counter[str] = Counter()
        self.task: Any = None

    def started(self, run_id: str, total: int, done: Counter[str], resumed: bool) -> None:
        self.counts = Counter(done)
        already = sum(done.values())
        note = f", resuming with {already} already stored" if resumed else ""
        self.console.print(f"run {run_id}: {total} results to get{note}", highlight=False)
        self.progress.start()
        self.task = self.progress.add_task("resume" if resumed else "run", total=total,
                                           completed=already, **self._fields())

    def _fields(self) -> dict[str, int]:
        c = self.counts
        return {"passed": c["pass"], "failed": c["fail"], "errors": c["error"],
                "unscored": c["unscored"]}

    def result(self, event: ResultEvent) -> None:
        self.counts[event.status.value] += 1
        self.progress.update(self.task, advance=1, **self._fields())

    def finished(self) -> None:
        self.progress.stop()


def _clip(text: str, n: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


# -- summary ----------------------------------------------------------------------------------

def print_summary(report: RunReport, store_path: Path, *, max_problems: int = 20) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout, soft_wrap=False)
    table = Table(title=f"run {report.run_id}  (plan {report.plan_hash})", title_justify="left")
    for col, style in (("suite", ""), ("model", ""), ("passed", "green"), ("failed", "red"),
                       ("errors", "yellow"), ("unscored", "magenta"), ("pass rate", "bold")):
        table.add_column(col, style=style, justify="left" if col in ("suite", "model")
                         else "right")
    for (suite, model), c in sorted(report.counts.items()):
        scored = c["pass"] + c["fail"] + c["unscored"]
        rate = f"{c['pass'] / scored:.0%}" if scored else "-"
        table.add_row(suite, model, str(c["pass"]), str(c["fail"]), str(c["error"]),
                      str(c["unscored"]), rate)
    t = report.totals()
    table.add_section()
    table.add_row("all", "", str(t["pass"]), str(t["fail"]), str(t["error"]),
                  str(t["unscored"]), f"{report.pass_rate():.0%}")
    console.print(table)
    # Plain lines from here: rich would wrap long paths and reasons at 80 columns in a pipe.
    for case_id, model, sample, status, reason in report.problems[:max_problems]:
        click.echo(f"{status.upper():8} {case_id} [{model}#{sample}] {_clip(reason)}")
    if len(report.problems) > max_problems:
        click.echo(f"… and {len(report.problems) - max_problems} more (evalspec report "
                   f"{report.run_id})")
    if report.pairwise:
        wins: Counter[str] = Counter()
        for p in report.pairwise:
            wins[p.get("winner") or ("unscored" if p.get("status") != "error" else "error")] += 1
        click.echo("pairwise: " + ", ".join(f"{k} {v}" for k, v in sorted(wins.items())))
    missing = report.total - report.stored
    state = "complete" if report.complete and not missing else f"incomplete ({missing} missing)"
    click.echo(f"{report.stored} results, {state}; {report.requests} model calls "
               f"({report.cached_requests} answered from the cache or the run's log); "
               f"stored in {store_path}")


# -- the commands -----------------------------------------------------------------------------

def parse_rate(value: str | None) -> float | None:
    if value is None:
        return None
    text = value.strip()
    try:
        rate = float(text.rstrip("%"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a rate (0.8, 80 or 80%)",
                                 param_hint="--fail-under") from None
    if text.endswith("%") or rate > 1:
        rate /= 100
    if not 0 <= rate <= 1:
        raise click.BadParameter(f"{value!r} is not between 0 and 100%",
                                 param_hint="--fail-under")
    return rate


def _settings() -> Any:
    """evalspec.toml (or [tool.evalspec]); command-line options override it."""
    from ..config import ConfigError, load_config
    try:
        return load_config()
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def _open_store(store_dir: Path | None, settings: Any):
    from ..store import Store

    directory = store_dir if store_dir is not None else settings.store_dir
    return Store(directory), directory


def _report_specs(cli_reports: Sequence[str], settings: Any) -> list[tuple[str, Path | None]]:
    """`--report` specs (relative to the working directory), else the configured ones (relative
    to the settings file); checked now, so a typo does not surface after an hour of calls."""
    from ..reports import ReportSpecError, parse_report_spec
    specs = [(s, None) for s in cli_reports] or [(s, settings.root) for s in settings.reports]
    for spec, _ in specs:
        try:
            parse_report_spec(spec)
        except ReportSpecError as exc:
            raise click.UsageError(str(exc)) from None
    return specs


def _setup_logging(reporter: Any) -> None:
    logger = logging.getLogger("evalspec")
    logger.setLevel(logging.INFO)
    if isinstance(reporter, RichReporter):
        from rich.logging import RichHandler
        handler: logging.Handler = RichHandler(console=reporter.console, show_time=False,
                                               show_path=False)
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.handlers[:] = [handler]
    logger.propagate = False


def _reporter(quiet: bool) -> Any:
    if quiet or not sys.stderr.isatty():
        return PlainReporter()
    return RichReporter()


def _execute(runner: Runner, run_id: str | None, options_record: dict[str, Any],
             json_out: str | None, fail_under: float | None,
             reports: Sequence[tuple[str, Path | None]] = ()) -> None:
    try:
        report = asyncio.run(runner.run(run_id, options_record))
    except ProviderSetupError as exc:
        raise click.UsageError(str(exc)) from None
    except KeyboardInterrupt:
        rid = runner.run_id or run_id
        click.echo(f"interrupted: run {rid} is stored as incomplete; run the same command again "
                   "to finish it", err=True)
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    print_summary(report, runner.store.path)
    from ..gating import gated_exit_code, judge_gate

    gate = judge_gate(runner.plan, runner.store.path.parent)
    for warning in gate.warnings:
        click.echo(f"warning: {warning}", err=True)
    exported = None
    if json_out or reports or gate.excluded:
        exported = runner.store.export_run(report.run_id)
    if json_out:
        data = json.dumps(exported, indent=2, ensure_ascii=False)
        if json_out == "-":
            click.echo(data)
        else:
            Path(json_out).write_text(data + "\n", encoding="utf-8")
    if reports:
        from ..reports import write_reports
        for spec, base in reports:
            for path in write_reports([exported], [spec], base_dir=base):
                click.echo(f"report: {path}", err=True)
    if gate.excluded:
        assert exported is not None
        raise click.exceptions.Exit(gated_exit_code(exported, runner.plan, gate, fail_under))
    raise click.exceptions.Exit(report.exit_code(fail_under))


def _options(concurrency: int, no_cache: bool, refresh: bool) -> RunOptions:
    return RunOptions(concurrency=concurrency, use_cache=not no_cache, refresh=refresh,
                      retry=RetryPolicy())


_common = [
    click.option("--concurrency", type=click.IntRange(min=1), default=8, show_default=True,
                 help="Requests in flight per model, for models that set no limit."),
    click.option("--json", "json_out", metavar="FILE",
                 help="Write the run's results as JSON (docs/results.md); '-' for stdout."),
    click.option("--no-cache", is_flag=True, help="Neither read nor write the response cache."),
    click.option("--refresh", is_flag=True,
                 help="Ask the models again and overwrite the cached answers."),
    click.option("--quiet", "-q", is_flag=True, help="Plain log lines instead of a progress bar."),
    click.option("--fail-under", metavar="RATE",
                 help="Exit 0 when the pass rate is at least RATE (0.8, 80 or 80%)."),
    click.option("--store", "store_dir", type=click.Path(file_okay=False, path_type=Path),
                 help="Keep results and the cache in DIR instead of ./.evalspec."),
    click.option("--report", "reports", multiple=True, metavar="FORMAT:PATH",
                 help="Also write a report (md, html, json, junit, terminal); repeatable."),
]


def common_options(fn):
    for option in reversed(_common):
        fn = option(fn)
    return fn


@click.command("run")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--model", "model_overrides", multiple=True,
              metavar="NAME=openai:MODEL_ID@BASE_URL",
              help="Replace the spec's model NAME (or add it) with this endpoint.")
@click.option("--judge", "judge_override", metavar="openai:MODEL_ID@BASE_URL",
              help="Judge with this endpoint instead of the spec's judge.")
@click.option("--local", is_flag=True,
              help="Run every model and the judge on the embedded llama.cpp model.")
@click.option("--resume", "resume", is_flag=False, flag_value="latest", default=None,
              metavar="[RUN]", help="Finish an incomplete run (the latest of this plan, or RUN).")
@click.option("--new", "new_run", is_flag=True,
              help="Start a new run even if an incomplete run of this plan exists.")
@click.option("-k", "--filter", "filters", multiple=True, metavar="TAGS-or-IDS",
              help="Only cases with one of these tags, suites, ids or id globs (comma-separated).")
@common_options
def run(paths: tuple[Path, ...], model_overrides: tuple[str, ...], judge_override: str | None,
        local: bool, resume: str | None, new_run: bool, filters: tuple[str, ...],
        concurrency: int, json_out: str | None, no_cache: bool, refresh: bool, quiet: bool,
        fail_under: str | None, store_dir: Path | None, reports: tuple[str, ...]) -> None:
    """Run .eval specs (or compiled .plan.json files) against their models.

    Results go to .evalspec/results.sqlite as they complete; rerunning the same command after
    an interruption finishes the run without asking the models again.
    """
    rate = parse_rate(fail_under)
    if resume and new_run:
        raise click.UsageError("--resume and --new contradict each other")
    settings = _settings()
    report_specs = _report_specs(reports, settings)
    store, directory = _open_store(store_dir, settings)
    if resume not in (None, "latest") and store.run(resume) is None and Path(resume).exists():
        # `--resume specs/x.eval`: the optional value swallowed the path.
        paths, resume = (Path(resume), *paths), "latest"
    if not paths and resume in (None, "latest"):
        paths = tuple(settings.spec_paths())
        if not paths:
            raise click.UsageError("give the spec to run (PATH...), or --resume RUN_ID; "
                                   f"there is no {', '.join(settings.specs)} to run by default")
    if not paths:
        info = store.run(resume)
        if info is None:
            raise click.UsageError(f"there is no run {resume!r} in {store.path}")
        plan = store.plan(resume)
    else:
        plan = merge_plans(load_plans(paths))
        plan = filter_plan(plan, filters)
        plan = apply_overrides(plan, models=model_overrides, judge=judge_override, local=local)
    digest = plan_hash(plan)
    run_id: str | None = None
    if resume not in (None, "latest"):
        info = store.run(resume)
        if info is None:
            raise click.UsageError(f"there is no run {resume!r} in {store.path}")
        if info.plan_hash != digest:
            raise click.UsageError(f"run {resume} ran another plan ({info.plan_hash}, this one "
                                   f"is {digest}); give the same spec and options, or --new")
        run_id = resume
    elif not new_run:
        run_id = store.resumable_run(digest)
        if resume == "latest" and run_id is None:
            raise click.UsageError("there is no incomplete run of this plan to resume")
    from ..cache import ResponseCache
    cache = None if no_cache else ResponseCache(directory / "cache")
    reporter = _reporter(quiet)
    _setup_logging(reporter)
    record = {"command": "run", "paths": [str(p) for p in paths],
              "models": list(model_overrides), "judge": judge_override, "local": local,
              "filter": list(filters), "concurrency": concurrency, "cache": not no_cache,
              "refresh": refresh}
    runner = Runner(plan, store, options=_options(concurrency, no_cache, refresh), cache=cache,
                    reporter=reporter, plan_hash_=digest)
    _execute(runner, run_id, record, json_out, rate, report_specs)


@click.command("rejudge")
@click.argument("run_ref", metavar="RUN")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--judge", "judge_override", metavar="openai:MODEL_ID@BASE_URL",
              help="Judge with this endpoint instead of the spec's judge.")
@click.option("--local", is_flag=True, help="Judge with the embedded llama.cpp model.")
@click.option("--new", "new_run", is_flag=True,
              help="Start afresh even if an interrupted rejudge of this run exists.")
@common_options
def rejudge(run_ref: str, paths: tuple[Path, ...], judge_override: str | None, local: bool,
            new_run: bool, concurrency: int, json_out: str | None, no_cache: bool,
            refresh: bool, quiet: bool, fail_under: str | None, store_dir: Path | None,
            reports: tuple[str, ...]) -> None:
    """Re-score stored run RUN ('latest' for the newest) without asking its models again.

    With PATH, the checks, rubrics and judge come from the recompiled spec: change a rubric,
    then rejudge. Cases whose prompt changed are reported as errors; run them again.
    """
    rate = parse_rate(fail_under)
    settings = _settings()
    report_specs = _report_specs(reports, settings)
    store, directory = _open_store(store_dir, settings)
    source = store.latest_run(kind="run") if run_ref == "latest" else run_ref
    if source is None or store.run(source) is None:
        raise click.UsageError(f"there is no run {run_ref!r} in {store.path}")
    stored = store.plan(source)
    plan = stored
    if paths:
        plan = rebase_plan(merge_plans(load_plans(paths)), stored)
    tested = {m for c in plan.cases for m in c.models}
    if local:
        judges = {n: local_spec(n, s) for n, s in plan.models.items() if n not in tested}
        if plan.judge and plan.judge not in plan.models:
            judges[plan.judge] = local_spec(plan.judge, None)
        plan = replace(plan, models={**plan.models, **judges})
    if judge_override:
        plan = apply_overrides(plan, judge=judge_override)
    digest = plan_hash(plan)
    digest = _rejudge_hash(digest, source)
    run_id = None if new_run else store.resumable_run(digest, kind="rejudge")
    from ..cache import ResponseCache
    cache = None if no_cache else ResponseCache(directory / "cache")
    reporter = _reporter(quiet)
    _setup_logging(reporter)
    record = {"command": "rejudge", "of": source, "paths": [str(p) for p in paths],
              "judge": judge_override, "local": local, "concurrency": concurrency,
              "cache": not no_cache, "refresh": refresh}
    runner = Runner(plan, store, options=_options(concurrency, no_cache, refresh), cache=cache,
                    reporter=reporter, plan_hash_=digest, responses_from=source)
    _execute(runner, run_id, record, json_out, rate, report_specs)


def rebase_plan(new: Plan, stored: Plan) -> Plan:
    """The recompiled plan, with the stored run's models under test (the run may have been
    made with --model overrides the spec does not name)."""
    old_cases = {c.id: c for c in stored.cases}
    cases = tuple(replace(c, models=old_cases[c.id].models) if c.id in old_cases else c
                  for c in new.cases)
    tested = {m for c in cases for m in c.models}
    models = dict(new.models)
    models.update({n: s for n, s in stored.models.items() if n in tested})
    return replace(new, cases=cases, models=models)


def _rejudge_hash(digest: str, source: str) -> str:
    from ..plan import content_hash
    return content_hash({"plan": digest, "rejudge_of": source})


__all__ = ["apply_overrides", "filter_plan", "generation_fingerprint", "load_plans",
           "merge_plans", "parse_endpoint", "rejudge", "run"]
