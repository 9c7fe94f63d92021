"""The results store: one SQLite database per project, in `.evalspec/results.sqlite`.

Tables (documented for readers in docs/results.md):

- `runs`: one row per invocation: id, plan hash, source, the effective plan as JSON, the
  options, started / finished times (finished is NULL while the run is incomplete), and for a
  rejudge the run it re-scored.
- `requests`: every model call, answered or failed: the request (endpoint identity, messages,
  parameters; never a key), the response, status, error, attempts, latency, token usage,
  whether it came from the cache, and the cache key (which is how a resumed run finds the calls
  it already paid for).
- `results`: one row per case × model × sample with its status, error, response and checks.
- `pairwise`: the cross-model comparisons.

Rows are committed as they complete (WAL mode): a request's or result's row is written before
the event loop next waits for I/O, in one transaction with the other rows of that loop turn
(`WriteBehind`). So kill -9 loses at most the calls in flight, and a rerun of the same plan
finishes the run without sending a completed request again.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .outcome import CheckResult
from .plan import Plan, canonical_json
from .response import ModelResponse

STORE_FILE = "results.sqlite"
RESULTS_SCHEMA = "evalspec.results"
RESULTS_SCHEMA_VERSION = 1
_DB_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    plan_hash TEXT NOT NULL,
    source TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'run',
    parent TEXT,
    plan_json TEXT NOT NULL,
    options_json TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_plan ON runs (plan_hash, started_at);
CREATE TABLE IF NOT EXISTS requests (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    case_id TEXT,
    model TEXT NOT NULL,
    sample INTEGER NOT NULL,
    purpose TEXT NOT NULL,
    cache_key TEXT NOT NULL,
    request_json TEXT NOT NULL,
    response_json TEXT,
    status TEXT NOT NULL,
    error TEXT,
    attempts INTEGER NOT NULL,
    latency_ms REAL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    cached INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_by_key ON requests (run_id, cache_key);
CREATE TABLE IF NOT EXISTS results (
    run_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    model TEXT NOT NULL,
    sample INTEGER NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    response_json TEXT,
    checks_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (run_id, case_id, model, sample)
);
CREATE TABLE IF NOT EXISTS pairwise (
    run_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    sample INTEGER NOT NULL,
    check_index INTEGER NOT NULL,
    model_a TEXT NOT NULL,
    model_b TEXT NOT NULL,
    rubric TEXT,
    status TEXT,
    winner TEXT,
    record_json TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (run_id, case_id, sample, check_index, model_a, model_b)
);
"""


class WriteBehind:
    """Rows written as they complete, one transaction per event-loop turn.

    `add` queues a row and, inside a running event loop, schedules a flush with `call_soon`: the
    flush runs before the loop next waits for I/O, so nothing waits on a timer, while the rows
    of every call that completed in the same turn (a wave of answers) share one commit. Outside
    a loop a row is written at once. Readers call `flush` first, so they see every row.
    """

    def __init__(self, db: sqlite3.Connection,
                 on_flush: Callable[[], None] | None = None) -> None:
        self._db = db
        self._rows: list[tuple[str, tuple[Any, ...]]] = []
        self._scheduled = False
        self._on_flush = on_flush

    def add(self, sql: str, params: tuple[Any, ...]) -> None:
        self._rows.append((sql, params))
        if self._scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._scheduled = True
        loop.call_soon(self.flush)

    @property
    def pending(self) -> bool:
        return bool(self._rows)

    def flush(self) -> None:
        self._scheduled = False
        if not self._rows:
            return
        rows, self._rows = self._rows, []
        with self._db:
            self._db.execute("BEGIN")
            for sql, params in rows:
                self._db.execute(sql, params)
        if self._on_flush is not None:
            self._on_flush()


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def new_run_id() -> str:
    """Sortable by start time, unique: `r-20261127-001932-0a3f2c`. The suffix is the
    microsecond in hex (so runs of the same second sort too) and one random digit."""
    now = time.time()
    seconds = int(now)
    micros = min(int((now - seconds) * 1_000_000), 999_999)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(seconds))
    return f"r-{stamp}-{micros:05x}{secrets.token_hex(1)[0]}"


@dataclass(frozen=True, slots=True)
class RunInfo:
    id: str
    plan_hash: str
    source: str
    kind: str
    parent: str | None
    options: dict[str, Any]
    started_at: str
    finished_at: str | None

    @property
    def complete(self) -> bool:
        return self.finished_at is not None


@dataclass(frozen=True, slots=True)
class StoredResult:
    case_id: str
    model: str
    sample: int
    status: str
    error: str | None
    response: dict[str, Any] | None
    checks: list[dict[str, Any]]


class Store:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        ignore = directory / ".gitignore"
        if not ignore.exists():
            # Results and cached answers are local state, not source.
            ignore.write_text("*\n")
        self.directory = directory
        self.path = directory / STORE_FILE
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0,
                                   check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL: a commit survives the process being killed (not a power cut), without an fsync.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._db.execute("INSERT OR IGNORE INTO meta VALUES ('version', ?)", (str(_DB_VERSION),))
        self._writer = WriteBehind(self._db)

    def _read(self, sql: str, args: Sequence[Any] = ()) -> sqlite3.Cursor:
        self._writer.flush()
        return self._db.execute(sql, args)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.flush()
        self._db.close()

    # -- runs ----------------------------------------------------------------------------------

    def create_run(self, plan: Plan, plan_hash: str, options: Mapping[str, Any], *,
                   kind: str = "run", parent: str | None = None) -> str:
        plan_json = canonical_json(plan.to_json())
        while True:
            run_id = new_run_id()
            try:
                self._db.execute(
                    "INSERT INTO runs (id, plan_hash, source, kind, parent, plan_json, "
                    "options_json, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (run_id, plan_hash, plan.source, kind, parent, plan_json,
                     canonical_json(dict(options)), utc_now()))
                return run_id
            except sqlite3.IntegrityError:  # the same microsecond and digit: draw again
                continue

    def finish_run(self, run_id: str) -> None:
        self._writer.flush()
        self._db.execute("UPDATE runs SET finished_at = ? WHERE id = ?", (utc_now(), run_id))

    def update_run_options(self, run_id: str, options: Mapping[str, Any]) -> None:
        self._db.execute("UPDATE runs SET options_json = ? WHERE id = ?",
                         (canonical_json(dict(options)), run_id))

    def reopen_run(self, run_id: str) -> None:
        self._db.execute("UPDATE runs SET finished_at = NULL WHERE id = ?", (run_id,))

    def run(self, run_id: str) -> RunInfo | None:
        row = self._read(
            "SELECT id, plan_hash, source, kind, parent, options_json, started_at, finished_at "
            "FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _run_info(row) if row else None

    def runs(self) -> list[RunInfo]:
        rows = self._read(
            "SELECT id, plan_hash, source, kind, parent, options_json, started_at, finished_at "
            "FROM runs ORDER BY started_at, id").fetchall()
        return [_run_info(r) for r in rows]

    def latest_run(self, *, kind: str | None = None) -> str | None:
        sql = "SELECT id FROM runs"
        args: tuple[Any, ...] = ()
        if kind:
            sql, args = sql + " WHERE kind = ?", (kind,)
        row = self._read(sql + " ORDER BY started_at DESC, id DESC LIMIT 1", args).fetchone()
        return row[0] if row else None

    def resumable_run(self, plan_hash: str, *, kind: str = "run") -> str | None:
        """The latest incomplete run of this plan, if any."""
        row = self._read(
            "SELECT id FROM runs WHERE plan_hash = ? AND kind = ? AND finished_at IS NULL "
            "ORDER BY started_at DESC, id DESC LIMIT 1", (plan_hash, kind)).fetchone()
        return row[0] if row else None

    def plan(self, run_id: str) -> Plan:
        row = self._read("SELECT plan_json FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(run_id)
        return Plan.from_json(json.loads(row[0]))

    def plan_json(self, run_id: str) -> dict[str, Any]:
        row = self._read("SELECT plan_json FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(run_id)
        return json.loads(row[0])

    # -- requests ------------------------------------------------------------------------------

    def record_request(self, run_id: str, *, case_id: str | None, model: str, sample: int,
                       purpose: str, cache_key: str, request_json: str,
                       response: ModelResponse | None, error: str | None, attempts: int,
                       cached: bool, response_json: str | None = None) -> None:
        usage = response.usage if response is not None else None
        if response_json is None and response is not None:
            response_json = json.dumps(response.to_json(), ensure_ascii=False)
        self._writer.add(
            "INSERT INTO requests (run_id, case_id, model, sample, purpose, cache_key, "
            "request_json, response_json, status, error, attempts, latency_ms, prompt_tokens, "
            "completion_tokens, cached, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (run_id, case_id, model, sample, purpose, cache_key, request_json, response_json,
             "ok" if response is not None else "error", error, attempts,
             response.latency_ms if response else None,
             usage.prompt_tokens if usage else None, usage.completion_tokens if usage else None,
             int(cached), utc_now()))

    def answered_request(self, run_id: str, cache_key: str) -> ModelResponse | None:
        """The answer this run already got for this request (resume), if any."""
        row = self._read(
            "SELECT response_json FROM requests WHERE run_id = ? AND cache_key = ? AND "
            "status = 'ok' LIMIT 1", (run_id, cache_key)).fetchone()
        if row is None:
            return None
        data = json.loads(row[0])
        data["cached"] = True
        return ModelResponse.from_json(data)

    def request_count(self, run_id: str, *, cached: bool | None = None) -> int:
        sql, args = "SELECT count(*) FROM requests WHERE run_id = ?", [run_id]
        if cached is not None:
            sql += " AND cached = ?"
            args.append(int(cached))
        return self._read(sql, args).fetchone()[0]

    # -- results -------------------------------------------------------------------------------

    def record_result(self, run_id: str, case_id: str, model: str, sample: int, status: str,
                      error: str | None, response: ModelResponse | None,
                      checks: Sequence[CheckResult]) -> None:
        self._writer.add(
            "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, case_id, model, sample, status, error,
             json.dumps(response.to_json(), ensure_ascii=False) if response else None,
             json.dumps([c.to_json() for c in checks], ensure_ascii=False), utc_now()))

    def result_statuses(self, run_id: str) -> Iterator[tuple[str, str, int, str, str | None]]:
        """(case_id, model, sample, status, error) of every stored result, without bodies."""
        yield from self._read(
            "SELECT case_id, model, sample, status, error FROM results WHERE run_id = ?",
            (run_id,))

    def result(self, run_id: str, case_id: str, model: str, sample: int) -> StoredResult | None:
        row = self._read(
            "SELECT case_id, model, sample, status, error, response_json, checks_json "
            "FROM results WHERE run_id = ? AND case_id = ? AND model = ? AND sample = ?",
            (run_id, case_id, model, sample)).fetchone()
        return _stored(row) if row else None

    def results(self, run_id: str, *, statuses: Sequence[str] | None = None,
                case_ids: Sequence[str] | None = None) -> Iterator[StoredResult]:
        sql = ("SELECT case_id, model, sample, status, error, response_json, checks_json "
               "FROM results WHERE run_id = ?")
        args: list[Any] = [run_id]
        if statuses:
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            args.extend(statuses)
        for row in self._read(sql, args):
            if case_ids is None or row[0] in case_ids:
                yield _stored(row)

    # -- pairwise ------------------------------------------------------------------------------

    def record_pairwise(self, run_id: str, case_id: str, sample: int, check_index: int,
                        records: Sequence[Mapping[str, Any]]) -> None:
        now = utc_now()
        self._writer.flush()
        # One transaction: a comparison group is stored whole or not at all.
        with self._db:
            self._db.execute("BEGIN")
            for rec in records:
                self._db.execute(
                    "INSERT OR REPLACE INTO pairwise VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (run_id, case_id, sample, check_index, rec.get("model_a", ""),
                     rec.get("model_b", ""), rec.get("rubric"), rec.get("status"),
                     rec.get("winner"), json.dumps(rec, ensure_ascii=False), now))

    def pairwise_done(self, run_id: str) -> set[tuple[str, int, int]]:
        return {(r[0], r[1], r[2]) for r in self._read(
            "SELECT DISTINCT case_id, sample, check_index FROM pairwise WHERE run_id = ?",
            (run_id,))}

    def pairwise(self, run_id: str) -> list[dict[str, Any]]:
        return [json.loads(r[0]) for r in self._read(
            "SELECT record_json FROM pairwise WHERE run_id = ? "
            "ORDER BY case_id, sample, check_index, model_a, model_b", (run_id,))]

    # -- export --------------------------------------------------------------------------------

    def export_run(self, run_id: str) -> dict[str, Any]:
        """The run as the results JSON documented in docs/results.md."""
        info = self.run(run_id)
        if info is None:
            raise KeyError(run_id)
        plan = self.plan_json(run_id)
        endpoints = info.options.get("endpoints", {})
        models = {}
        for name, spec in sorted(plan["models"].items()):
            ident = endpoints.get(name, {})
            models[name] = {"provider": spec["provider"], "model_id": spec["model_id"],
                            "base_url": ident.get("base_url", spec.get("base_url"))}
        rubrics = {rid: {"origin": r["origin"], "content_hash": r["content_hash"],
                         "scale_min": r["scale_min"], "scale_max": r["scale_max"],
                         "threshold": r["threshold"], "pass_fail": r["pass_fail"]}
                   for rid, r in sorted(plan["rubrics"].items())}
        cases = {c["id"]: (i, c) for i, c in enumerate(plan["cases"])}
        stored = {(r.case_id, r.model, r.sample): r for r in self.results(run_id)}
        results = []
        for case_id, model, sample in sorted(
                stored, key=lambda k: (cases.get(k[0], (len(cases), None))[0], k[0],
                                       _model_order(cases, k), k[2])):
            r = stored[(case_id, model, sample)]
            case = cases.get(case_id, (0, {}))[1] or {}
            results.append({
                "case_id": case_id, "case_hash": case.get("hash", ""),
                "suite": case.get("suite", ""), "title": case.get("title", ""),
                "tags": case.get("tags", []), "model": model, "sample": sample,
                "status": r.status, "error": r.error, "response": r.response,
                "checks": r.checks,
            })
        return {
            "schema": RESULTS_SCHEMA, "schema_version": RESULTS_SCHEMA_VERSION,
            "run_id": info.id, "plan_hash": info.plan_hash, "source": info.source,
            "started_at": info.started_at, "finished_at": info.finished_at,
            "complete": info.complete, "models": models, "judge": plan.get("judge"),
            "rubrics": rubrics, "results": results, "pairwise": self.pairwise(run_id),
        }


def _model_order(cases: Mapping[str, tuple[int, Any]], key: tuple[str, str, int]) -> int:
    case = cases.get(key[0], (0, None))[1]
    models = case.get("models", []) if case else []
    return models.index(key[1]) if key[1] in models else len(models)


def _run_info(row: Sequence[Any]) -> RunInfo:
    return RunInfo(row[0], row[1], row[2], row[3], row[4], json.loads(row[5]), row[6], row[7])


def _stored(row: Sequence[Any]) -> StoredResult:
    return StoredResult(row[0], row[1], row[2], row[3], row[4],
                        json.loads(row[5]) if row[5] else None, json.loads(row[6]))
