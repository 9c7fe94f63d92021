"""pytest plugin: `pytest specs/` runs `.eval` files, one test item per case × model.

Registered as the `pytest11` entry point `evalspec`, so pytest imports this module in every
session of every project where evalspec is installed. It therefore imports nothing heavy at
module level (no compiler, runner, openai or lark): those load in the hooks, and only when a
`.eval` file is actually collected.

Which `.eval` files are collected (so that a plain `pytest` never calls a model by surprise):

- every `.eval` file pytest finds, with `--evalspec`;
- otherwise only files under a path given on the command line: the file itself
  (`pytest specs/seed.eval`), or a directory (`pytest specs/`) that is neither the rootdir nor
  inside one of the `testpaths` folders. So `pytest`, `pytest .` and `pytest tests/...` leave
  `.eval` files alone (test suites keep broken specs as compiler fixtures), while
  `pytest specs/` and `pytest evals/` run them.

All items of one file are run in a single runner pass (the whole plan at once, with the
runner's concurrency, cache and store), on the first item of the file that pytest runs; each
item then reports its own case × model result. A run made by pytest is a normal stored run:
`evalspec report` shows it afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

_OFFLINE_NOTE = ("--evalspec-offline forbids network access: only cached responses can be "
                 "used, and this request had none. Run once without --evalspec-offline (or "
                 "with `evalspec run`) on the same store to fill the cache.")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("evalspec", "evalspec: run .eval specs as tests")
    group.addoption("--evalspec", action="store_true", default=False,
                    help="Collect every .eval file pytest finds (by default only those under "
                         "paths named on the command line, outside testpaths).")
    group.addoption("--evalspec-model", action="append", default=[], dest="evalspec_models",
                    metavar="NAME=openai:MODEL_ID@BASE_URL",
                    help="Replace the spec's model NAME (or add it) with this endpoint; "
                         "repeatable. The key comes from the variable the spec names, else "
                         "OPENAI_API_KEY.")
    group.addoption("--evalspec-judge", default=None, metavar="openai:MODEL_ID@BASE_URL",
                    help="Judge with this endpoint instead of the spec's judge.")
    group.addoption("--evalspec-local", action="store_true", default=False,
                    help="Run every model and the judge on the embedded llama.cpp model.")
    group.addoption("--evalspec-offline", action="store_true", default=False,
                    help="Forbid network access while specs run: answers come from the "
                         "response cache only, and a cache miss fails the item.")
    group.addoption("--evalspec-store", default=None, metavar="DIR",
                    help="Results store and cache (default: the project's setting in "
                         "evalspec.toml, else .evalspec in the rootdir).")
    group.addoption("--evalspec-concurrency", type=int, default=8, metavar="N",
                    help="Requests in flight per model, for models that set no limit.")
    group.addoption("--evalspec-report", action="append", default=[], dest="evalspec_reports",
                    metavar="FORMAT:PATH",
                    help="Write a report of the runs this session made (md, html, json, "
                         "junit, terminal); repeatable. Default: the project's `reports`.")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_RUNS] = []


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".eval" and _wanted(parent.config, file_path):
        return EvalFile.from_parent(parent, path=file_path)
    return None


def _wanted(config: pytest.Config, path: Path) -> bool:
    if config.getoption("evalspec"):
        return True
    if config.args_source is not pytest.Config.ArgsSource.ARGS:
        return False
    path = path.resolve()
    root = config.rootpath.resolve()
    testpaths = [(root / p).resolve() for p in config.getini("testpaths")]
    for arg in config.args:
        target = (config.invocation_params.dir / arg.split("::", 1)[0]).resolve()
        if target == path:
            return True
        if (target.is_dir() and target != root and target in path.parents
                and not any(t == path or t in path.parents for t in testpaths)):
            return True
    return False


_RUNS = pytest.StashKey[list]()
_MARKERS = pytest.StashKey[set]()


class SpecError(Exception):
    """The spec does not compile: the rendered diagnostics."""


class EvalFailure(Exception):
    """A case × model did not pass; carries its results for `repr_failure`."""

    def __init__(self, results: Sequence[Mapping[str, Any]], offline: bool) -> None:
        super().__init__(f"{len(results)} result(s) did not pass")
        self.results = results
        self.offline = offline


class EvalFile(pytest.File):
    """A `.eval` file: compiles to one plan, runs it once, hands each item its result."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plan: Any = None
        self._results: dict[tuple[str, str], list[dict[str, Any]]] | None = None
        self._pairwise: dict[str, list[dict[str, Any]]] = {}
        self._run_error: BaseException | None = None
        self._lock = threading.Lock()

    def collect(self) -> Iterator[EvalItem]:
        self.plan = _compile(self.path, self.config)
        if self.plan is None:
            return
        for case in self.plan.cases:
            for model in case.models:
                yield EvalItem.from_parent(self, name=f"{case.id}[{model}]", case=case,
                                           model=model)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> Any:
        if isinstance(excinfo.value, SpecError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def results_for(self, case_id: str, model: str) -> tuple[list[dict[str, Any]],
                                                             list[dict[str, Any]]]:
        with self._lock:
            if self._results is None and self._run_error is None:
                self._run()
        if self._run_error is not None:
            raise self._run_error
        assert self._results is not None
        return self._results.get((case_id, model), []), self._pairwise.get(case_id, [])

    def _selected(self) -> set[tuple[str, str]]:
        """The (case, model) pairs still selected after -k / deselection."""
        items = getattr(self.session, "items", None) or []
        return {(i.case.id, i.model) for i in items
                if isinstance(i, EvalItem) and i.parent is self}

    def _run(self) -> None:
        from dataclasses import replace

        plan = self.plan
        selected = self._selected()
        if selected:
            cases = []
            for case in plan.cases:
                models = tuple(m for m in case.models if (case.id, m) in selected)
                if models:
                    cases.append(replace(case, models=models))
            plan = replace(plan, cases=tuple(cases))
        try:
            doc = _run_plan(plan, self.config, source=self.path)
        except Exception as exc:
            # A missing extra (llama-cpp-python for --evalspec-local), a store that cannot be
            # opened: every item of the file fails with the same one-line reason.
            self._run_error = SpecError(f"evalspec could not run {self.path.name}: "
                                        f"{type(exc).__name__}: {exc}")
            return
        self.config.stash[_RUNS].append(doc)
        results: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in doc["results"]:
            results.setdefault((r["case_id"], r["model"]), []).append(r)
        for p in doc.get("pairwise") or ():
            self._pairwise.setdefault(p.get("case_id", ""), []).append(p)
        self._results = results


class EvalItem(pytest.Item):
    def __init__(self, *, case: Any, model: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.model = model
        known = self.config.stash.setdefault(_MARKERS, set())
        for tag in case.tags:
            # Tags become markers, so `-m S1` works alongside `-k`.
            if tag.isidentifier():
                if tag not in known:
                    known.add(tag)
                    self.config.addinivalue_line("markers", f"{tag}: an evalspec tag")
                self.add_marker(tag)

    def runtest(self) -> None:
        assert isinstance(self.parent, EvalFile)
        results, pairwise = self.parent.results_for(self.case.id, self.model)
        if not results:
            raise EvalFailure([{"case_id": self.case.id, "model": self.model, "sample": 0,
                                "status": "error", "checks": [],
                                "error": "the run stored no result for this case and model"}],
                              _offline(self.config))
        for p in pairwise:
            if self.model in (p.get("model_a"), p.get("model_b")):
                self.add_report_section("call", "pairwise", _pairwise_line(p))
        if any(r.get("status") != "pass" for r in results):
            raise EvalFailure(results, _offline(self.config))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> Any:
        if isinstance(excinfo.value, EvalFailure):
            return format_failure(excinfo.value.results, offline=excinfo.value.offline)
        if isinstance(excinfo.value, SpecError):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        line: int | None = None
        location = getattr(self.case, "location", "") or ""
        parts = location.rsplit(":", 2)
        if len(parts) == 3 and parts[1].isdigit():
            line = int(parts[1]) - 1
        return self.path, line, f"{self.case.id} [{self.model}]"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    runs = config.stash.get(_RUNS, [])
    if not runs:
        return
    ids = " ".join(r["run_id"] for r in runs)
    terminalreporter.write_sep("-", "evalspec")
    terminalreporter.write_line(f"stored run(s) {ids}; see them with `evalspec report {ids}`")
    specs = config.getoption("evalspec_reports")
    base = None
    if not specs:
        project = _project(config)
        specs, base = list(project.reports), project.root
    if specs:
        from .reports import write_reports
        for path in write_reports(runs, specs, base_dir=base):
            terminalreporter.write_line(f"wrote {path}")


# -- compiling and running --------------------------------------------------------------------

def _compile(path: Path, config: pytest.Config) -> Any:
    from .compiler import compile_paths
    from .diagnostics import render

    result = compile_paths([path])
    if not result.ok:
        raise SpecError(render(result.diagnostics, result.sources))
    if not result.plans:
        return None    # a library of rubrics or tools: nothing to run
    plan = result.plans[0]
    models = config.getoption("evalspec_models")
    judge = config.getoption("evalspec_judge")
    local = config.getoption("evalspec_local")
    if models or judge or local:
        import click

        from .commands.run import apply_overrides
        try:
            plan = apply_overrides(plan, models=models, judge=judge, local=local)
        except click.ClickException as exc:
            raise pytest.UsageError(exc.format_message()) from None
    return plan


def _project(config: pytest.Config) -> Any:
    """The evalspec settings of the project pytest runs in (evalspec.toml / pyproject)."""
    from .config import ConfigError, load_config
    try:
        return load_config(config.rootpath)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None


def _offline(config: pytest.Config) -> bool:
    return bool(config.getoption("evalspec_offline"))


def _run_plan(plan: Any, config: pytest.Config, *, source: Path) -> dict[str, Any]:
    from dataclasses import replace

    from .cache import ResponseCache
    from .runner import Runner, RunOptions
    from .store import Store

    store_opt = config.getoption("evalspec_store")
    directory = Path(store_opt) if store_opt else _project(config).store_dir
    offline = _offline(config)
    if offline:
        # A refused connection is final offline: retrying it only waits.
        plan = replace(plan, models={n: replace(s, retries=0) for n, s in plan.models.items()})
    store = Store(directory)
    try:
        runner = Runner(plan, store, cache=ResponseCache(directory / "cache"),
                        options=RunOptions(concurrency=config.getoption("evalspec_concurrency")))
        record = {"command": "pytest", "paths": [str(source)], "offline": offline,
                  "models": list(config.getoption("evalspec_models")),
                  "judge": config.getoption("evalspec_judge"),
                  "local": config.getoption("evalspec_local")}
        guard = forbid_network() if offline else contextlib.nullcontext()
        with guard:
            report = _run_coroutine(runner.run(None, record))
        return store.export_run(report.run_id)
    finally:
        store.close()


def _run_coroutine(coro: Any) -> Any:
    """asyncio.run, in a thread of its own when this thread already runs a loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="evalspec-run")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


class NetworkForbidden(ConnectionRefusedError):
    pass


@contextlib.contextmanager
def forbid_network() -> Iterator[list[str]]:
    """Refuse every TCP connection and name lookup made in this process while active.

    Yields the list of destinations that were refused. Unix sockets (asyncio's self-pipe) and
    in-process work (the embedded model, the code sandbox's pipes) are unaffected.
    """
    refused: list[str] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            where = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
            refused.append(where)
            message = (f"network access is forbidden (--evalspec-offline): connection to "
                       f"{where} refused")
            # Chained to a fresh error, so that code looking for the root cause finds this
            # message rather than whatever exception its caller was handling at the time.
            raise NetworkForbidden(errno.ECONNREFUSED, message) from ConnectionRefusedError(
                errno.ECONNREFUSED, message)

    def connect(self: socket.socket, address: Any) -> None:
        check(self, address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(self, address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        refused.append(str(host))
        raise socket.gaierror(socket.EAI_NONAME,
                              f"network access is forbidden (--evalspec-offline): "
                              f"no lookup of {host}")

    socket.socket.connect = connect            # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex      # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo           # type: ignore[assignment]
    try:
        yield refused
    finally:
        socket.socket.connect = real_connect        # type: ignore[method-assign]
        socket.socket.connect_ex = real_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = real_getaddrinfo       # type: ignore[assignment]


# -- failure text -----------------------------------------------------------------------------

_MARK = {"pass": "✔", "fail": "✘", "error": "!", "unscored": "?"}


def format_failure(results: Sequence[Mapping[str, Any]], *, offline: bool = False) -> str:
    """Every check's verdict and reason, per sample, then the start of the answer."""
    lines: list[str] = []
    for r in results:
        head = f"{r.get('case_id')} [{r.get('model')}]"
        if len(results) > 1:
            head += f" sample {r.get('sample')}"
        lines.append(f"{head}: {r.get('status')}")
        if r.get("error"):
            lines.append(f"  ! model call failed: {r['error']}")
        for check in r.get("checks") or ():
            _check_lines(check, 1, lines)
        text = ((r.get("response") or {}).get("text") or "").strip()
        if text:
            short = text if len(text) <= 600 else text[:600] + f"… ({len(text):,} characters)"
            lines.append("  answer: " + short.replace("\n", "\n          "))
        lines.append("")
    if offline and any(r.get("status") == "error" or _has_error(r.get("checks") or ())
                       for r in results):
        lines.append(_OFFLINE_NOTE)
    return "\n".join(lines).rstrip()


def _has_error(checks: Sequence[Mapping[str, Any]]) -> bool:
    return any(c.get("status") == "error" or _has_error(c.get("children") or ())
               for c in checks)


def _check_lines(check: Mapping[str, Any], depth: int, out: list[str]) -> None:
    from .reports.model import CheckView

    view = CheckView.from_json(check)
    pad = "  " * depth
    score = f" (score {view.score:g})" if view.score is not None else ""
    out.append(f"{pad}{_MARK.get(view.status.value, '?')} {view.status.value:8} "
               f"{view.title}{score}: {view.reason}")
    if view.status.value != "pass":
        for key, value in view.highlights(4):
            if key != "score" and value not in view.reason:
                out.append(f"{pad}    {key}: {value}")
        if view.reasoning:
            out.append(f"{pad}    judge reasoning: {view.reasoning[:400]}")
    for child in check.get("children") or ():
        _check_lines(child, depth + 1, out)


def _pairwise_line(p: Mapping[str, Any]) -> str:
    winner = p.get("winner")
    verdict = ("unscored" if winner is None else "tie" if winner == "tie"
               else f"{winner} preferred")
    consistent = {True: "both orders agreed", False: "the orders disagreed"}.get(
        p.get("consistent"), "")
    return (f"{p.get('rubric')}: {p.get('model_a')} vs {p.get('model_b')} → {verdict}"
            + (f" ({consistent})" if consistent else "") + (f"; {p.get('reason')}"
                                                           if p.get("reason") else ""))
