"""Execute a plan: every case × model × sample, through limits, cache and store.

The runner is asyncio end to end. Each model gets a small pool of workers pulling its jobs (the
cases of all suites, interleaved); every model call, the generation and any call a check makes
through its context (judges, tool loops), goes through the `Gateway`: per-model concurrency and
rate limits, retries, the response cache, and the store's request log. Results are written as
each completes; rerunning an interrupted run skips what is stored, and the gateway answers from
the run's own request log before it asks the cache or the model, so no completed request is
sent twice.

The runner knows nothing of the terminal: progress goes to a `Reporter`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any, Protocol

from .cache import ResponseCache, cache_key, cache_material
from .checks import run_check
from .outcome import CheckResult, Status, combine_status
from .plan import CaseSpec, Message, ModelSpec, Plan, content_hash
from .providers import (
    ChatRequest,
    LimitedModel,
    ModelCallError,
    ProviderSetupError,
    RetryPolicy,
    make_provider,
)
from .response import ModelResponse
from .store import Store

log = logging.getLogger("evalspec.runner")

GENERATE = "generate"
MAX_REASONS = 100
"""Results whose reason the summary looks up; the rest are in the store and the JSON."""
# Why a stored model answer may not stand in for a new one: anything that changes the request.
_GENERATION_FIELDS = ("messages", "params", "tools", "tool_mode", "tool_steps",
                      "response_schema", "samples")


@dataclass(frozen=True, slots=True)
class RunOptions:
    concurrency: int = 8
    """The per-model limit for models that set none."""
    use_cache: bool = True
    refresh: bool = False
    """Ignore cached answers but store fresh ones."""
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    transport: str = "auto"
    """HTTP transport of the OpenAI client: auto (aiohttp when installed), aiohttp or httpx."""


@dataclass(frozen=True, slots=True)
class ResultEvent:
    case: CaseSpec
    model: str
    sample: int
    status: Status
    error: str | None
    checks: Sequence[CheckResult]


class Reporter(Protocol):
    def started(self, run_id: str, total: int, done: Counter[str], resumed: bool) -> None: ...

    def result(self, event: ResultEvent) -> None: ...

    def finished(self) -> None: ...


class NullReporter:
    def started(self, run_id: str, total: int, done: Counter[str], resumed: bool) -> None:
        pass

    def result(self, event: ResultEvent) -> None:
        pass

    def finished(self) -> None:
        pass


def plan_hash(plan: Plan) -> str:
    """The hash of the plan as it will run (after overrides and filters)."""
    data = plan.to_json()
    data.pop("hash", None)
    return content_hash(data)


def generation_fingerprint(case: Mapping[str, Any]) -> str:
    """What a case's model answer depends on, from the case's JSON."""
    return content_hash({k: case.get(k) for k in _GENERATION_FIELDS})


def concurrency_of(spec: ModelSpec, options: RunOptions) -> int:
    """The model's own limit, else the run's default; an in-process model generates one answer
    at a time whatever the limit, so more would only park threads."""
    if spec.concurrency:
        return spec.concurrency
    return 1 if spec.provider == "local" else options.concurrency


def used_models(plan: Plan) -> list[str]:
    """Models under test, then the judges that the plan's checks will call."""
    names: dict[str, None] = {}
    judged = False
    for case in plan.cases:
        names.update(dict.fromkeys(case.models))
        judged = judged or any(s.kind in ("judge", "pairwise")
                               for spec in case.checks for s in spec.walk())
    if judged:
        if plan.judge:
            names[plan.judge] = None
        names.update(dict.fromkeys(r.judge for r in plan.rubrics.values() if r.judge))
    return [n for n in names if n in plan.models]


class Gateway:
    """Every model call of a run: limits, retries, cache and the store's request log."""

    def __init__(self, plan: Plan, store: Store, run_id: str, cache: ResponseCache | None,
                 options: RunOptions, *, resuming: bool) -> None:
        self.plan = plan
        self.store = store
        self.run_id = run_id
        self.cache = cache
        self.options = options
        self.resuming = resuming
        self.models: dict[str, LimitedModel] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}

    def open(self, names: Iterable[str]) -> None:
        """Build the providers up front so a missing extra is a usage error, not N errors."""
        for name in names:
            self._model(name)

    def _model(self, name: str) -> LimitedModel:
        model = self.models.get(name)
        if model is None:
            spec = self.plan.models.get(name)
            if spec is None:
                raise ModelCallError(name, f"the plan has no model named {name!r}")
            provider = make_provider(spec, **(
                {"transport": self.options.transport} if spec.provider == "openai" else {}))
            model = LimitedModel(provider, concurrency=concurrency_of(spec, self.options),
                                 policy=self.options.retry)
            self.models[name] = model
            self.endpoints[name] = provider.identity()
        return model

    async def call(self, model_name: str, messages: Sequence[Mapping[str, Any]], *,
                   params: Mapping[str, Any] | None = None,
                   tools: Sequence[Mapping[str, Any]] | None = None,
                   response_schema: Mapping[str, Any] | None = None, sample: int = 0,
                   purpose: str = GENERATE, key: str = "",
                   case_id: str | None = None) -> ModelResponse:
        try:
            model = self._model(model_name)
        except ProviderSetupError as exc:
            raise ModelCallError(model_name, str(exc)) from None
        merged = {**model.spec.params, **(params or {})}
        if purpose == GENERATE and sample and isinstance(merged.get("seed"), int):
            # A fixed seed would make every sample the same answer.
            merged["seed"] += sample
        request = ChatRequest(list(messages), merged, tools, response_schema)
        material = cache_material(model.provider.identity(),
                                  model.provider.request_material(request),
                                  sample=sample, purpose=purpose, key=key)
        ckey = cache_key(material)
        response = None
        if self.resuming:
            response = self.store.answered_request(self.run_id, ckey)
        if response is None and self.cache is not None and self.options.use_cache \
                and not self.options.refresh:
            response = self.cache.get(ckey)
        attempts = 0
        if response is None:
            try:
                response, attempts = await model.complete(request)
            except ModelCallError as exc:
                self.store.record_request(
                    self.run_id, case_id=case_id, model=model_name, sample=sample,
                    purpose=purpose, cache_key=ckey, request_json=material, response=None,
                    error=exc.reason, attempts=exc.attempts, cached=False)
                raise
        text = json.dumps(response.to_json(), ensure_ascii=False)
        if attempts and self.cache is not None and (self.options.use_cache
                                                    or self.options.refresh):
            self.cache.put(ckey, response, text)
        self.store.record_request(
            self.run_id, case_id=case_id, model=model_name, sample=sample, purpose=purpose,
            cache_key=ckey, request_json=material, response=response, error=None,
            attempts=attempts, cached=attempts == 0, response_json=text)
        return response

    async def aclose(self) -> None:
        self.store.flush()
        if self.cache is not None:
            self.cache.flush()
        for model in self.models.values():
            try:
                await model.aclose()
            except Exception as exc:  # closing must not hide the run's own outcome
                log.debug("closing %s failed: %s", model.spec.name, exc)


class CaseContext:
    """The `CheckContext` a check receives: the plan, whose answer it judges, and model calls
    through the run's gateway (same limits, cache and store)."""

    __slots__ = ("_gateway", "case_id", "model", "plan", "sample")

    def __init__(self, gateway: Gateway, plan: Plan, case_id: str, model: str,
                 sample: int) -> None:
        self._gateway = gateway
        self.plan = plan
        self.case_id = case_id
        self.model = model
        self.sample = sample

    async def generate(self, model: str, messages: Sequence[Message | Mapping[str, Any]], *,
                       params: Mapping[str, Any] | None = None,
                       response_schema: Mapping[str, Any] | None = None,
                       purpose: str = "judge", key: str = "") -> ModelResponse:
        """Raises `ModelCallError` when the call fails after its retries."""
        payload = [m.to_json() if isinstance(m, Message) else dict(m) for m in messages]
        return await self._gateway.call(
            model, payload, params=params, response_schema=response_schema, sample=self.sample,
            purpose=purpose, key=key, case_id=self.case_id)


@dataclass
class RunReport:
    run_id: str
    plan_hash: str
    complete: bool
    total: int
    """Results the plan asks for (case × model × sample)."""
    counts: dict[tuple[str, str], Counter[str]]
    """Per (suite, model): status -> number of results."""
    problems: list[tuple[str, str, int, str, str]]
    """(case id, model, sample, status, reason) of every result that did not pass, in plan
    order; the reason is filled for the first MAX_REASONS."""
    pairwise: list[dict[str, Any]]
    requests: int = 0
    cached_requests: int = 0
    resumed: bool = False

    def totals(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for c in self.counts.values():
            total.update(c)
        return total

    @property
    def stored(self) -> int:
        return sum(self.totals().values())

    def pass_rate(self) -> float:
        t = self.totals()
        scored = t["pass"] + t["fail"] + t["unscored"]
        return t["pass"] / scored if scored else 0.0

    def exit_code(self, fail_under: float | None = None) -> int:
        """0 all passed (or the pass rate meets `fail_under`), 1 checks failed, 3 errors left
        results incomplete."""
        t = self.totals()
        pairwise_errors = sum(1 for p in self.pairwise if p.get("status") == "error")
        if t["error"] or pairwise_errors or self.stored < self.total:
            return 3
        if fail_under is not None:
            return 0 if self.pass_rate() >= fail_under else 1
        return 1 if t["fail"] or t["unscored"] else 0


def summarize(store: Store, run_id: str, plan: Plan, *, resumed: bool = False) -> RunReport:
    info = store.run(run_id)
    assert info is not None
    suites = {c.id: c.suite for c in plan.cases}
    counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    bad: list[tuple[str, str, int, str, str | None]] = []
    for case_id, model, sample, status, error in store.result_statuses(run_id):
        counts[(suites.get(case_id, "?"), model)][status] += 1
        if status != "pass":
            bad.append((case_id, model, sample, status, error))
    order = {c.id: i for i, c in enumerate(plan.cases)}
    bad.sort(key=lambda b: (order.get(b[0], 0), b[1], b[2]))
    problems = []
    for i, (case_id, model, sample, status, error) in enumerate(bad):
        reason = error
        if reason is None and i < MAX_REASONS:
            stored = store.result(run_id, case_id, model, sample)
            reason = _first_reason(stored.checks if stored else [], status)
        problems.append((case_id, model, sample, status, reason or ""))
    total = sum(c.samples * len(c.models) for c in plan.cases)
    return RunReport(run_id, info.plan_hash, info.complete, total, dict(counts), problems,
                     store.pairwise(run_id), store.request_count(run_id),
                     store.request_count(run_id, cached=True), resumed)


def _first_reason(checks: Sequence[Mapping[str, Any]], status: str) -> str:
    for c in checks:
        if c.get("status") == status:
            label = c.get("label") or c.get("kind")
            return f"{label}: {c.get('reason')}"
    return "no checks decided this result" if not checks else status


def interleave(cases: Sequence[CaseSpec]) -> list[CaseSpec]:
    """Round-robin over suites, so early results cover every suite."""
    by_suite: dict[str, list[CaseSpec]] = {}
    for case in cases:
        by_suite.setdefault(case.suite, []).append(case)
    return [c for group in zip_longest(*by_suite.values()) for c in group if c is not None]


class Runner:
    """Runs one plan into one stored run; see the module docstring."""

    def __init__(self, plan: Plan, store: Store, *, options: RunOptions | None = None,
                 cache: ResponseCache | None = None, reporter: Reporter | None = None,
                 plan_hash_: str | None = None, responses_from: str | None = None) -> None:
        """`responses_from`: re-score that stored run's answers instead of calling the models
        under test (rejudge); only checks' own calls (judges) reach a model."""
        self.plan = plan
        self.store = store
        self.options = options or RunOptions()
        self.cache = cache
        self.reporter = reporter or NullReporter()
        self.plan_hash = plan_hash_ or plan_hash(plan)
        self.responses_from = responses_from
        self._source_fingerprints: dict[str, str] = {}
        self._cases = {c.id: c for c in plan.cases}
        # Answers of a case sample waiting for its other models, for the pairwise comparison.
        self._groups: dict[tuple[str, int], dict[str, ModelResponse | None]] = {}
        self._pairwise_done: set[tuple[str, int, int]] = set()
        self.gateway: Gateway | None = None
        self.run_id: str | None = None

    def create_run(self, options_record: Mapping[str, Any] | None = None) -> str:
        return self.store.create_run(
            self.plan, self.plan_hash, dict(options_record or {}),
            kind="rejudge" if self.responses_from else "run", parent=self.responses_from)

    async def run(self, run_id: str | None = None,
                  options_record: Mapping[str, Any] | None = None) -> RunReport:
        """Run (or, given the id of an incomplete run of this plan, finish) and report."""
        resumed = run_id is not None
        gateway = Gateway(self.plan, self.store, run_id or "", self.cache, self.options,
                          resuming=resumed)
        self.gateway = gateway
        names = used_models(self.plan)
        if self.responses_from:
            judges = set(names) - {m for c in self.plan.cases for m in c.models}
            names = [n for n in names if n in judges]
            self._source_fingerprints = {
                c["id"]: generation_fingerprint(c)
                for c in self.store.plan_json(self.responses_from)["cases"]}
        # Before the run exists: a provider that cannot work (a missing extra, an unset base
        # URL) is a usage error, and leaves no empty run behind.
        gateway.open(names)
        if run_id is None:
            run_id = self.create_run(options_record)
        else:
            self.store.reopen_run(run_id)
        self.run_id = gateway.run_id = run_id
        try:
            self._record_endpoints(run_id, gateway, options_record)
            await self._execute(run_id, gateway, resumed)
            self.store.finish_run(run_id)
        finally:
            await gateway.aclose()  # also commits the rows of the last event-loop turn
            self.reporter.finished()
        return summarize(self.store, run_id, self.plan, resumed=resumed)

    def _record_endpoints(self, run_id: str, gateway: Gateway,
                          options_record: Mapping[str, Any] | None) -> None:
        info = self.store.run(run_id)
        assert info is not None
        if info.options.get("endpoints") != gateway.endpoints:
            options = {**info.options, **(options_record or {}), "endpoints": gateway.endpoints}
            self.store.update_run_options(run_id, options)

    async def _execute(self, run_id: str, gateway: Gateway, resumed: bool) -> None:
        done: set[tuple[str, str, int]] = set()
        done_counts: Counter[str] = Counter()
        if resumed:
            for case_id, model, sample, status, error in self.store.result_statuses(run_id):
                # A result whose model call failed is tried again; everything else stands.
                if status == Status.ERROR and error is not None:
                    continue
                done.add((case_id, model, sample))
                done_counts[status] += 1
        pairwise_done = self.store.pairwise_done(run_id) if resumed else set()
        queues: dict[str, deque[tuple[CaseSpec, int]]] = defaultdict(deque)
        groups: dict[tuple[str, int], dict[str, ModelResponse | None]] = {}
        total = 0
        for case in interleave(self.plan.cases):
            pairwise = _pairwise_indexes(case)
            for sample in range(case.samples):
                need_group = any((case.id, sample, i) not in pairwise_done for i in pairwise)
                for model in case.models:
                    total += 1
                    if (case.id, model, sample) in done:
                        if need_group:
                            stored = self.store.result(run_id, case.id, model, sample)
                            groups.setdefault((case.id, sample), {})[model] = (
                                ModelResponse.from_json(stored.response)
                                if stored and stored.response else None)
                        continue
                    queues[model].append((case, sample))
                if need_group:
                    groups.setdefault((case.id, sample), {})
        self._groups = groups
        self._pairwise_done = pairwise_done
        self.reporter.started(run_id, total, done_counts, resumed)
        # Groups complete before this run (all models stored, comparison missing) run now.
        leftovers = [key for key, g in groups.items()
                     if len(g) == len(self._case(key[0]).models)]
        workers = []
        for model, queue in queues.items():
            spec = self.plan.models.get(model)
            limit = concurrency_of(spec, self.options) if spec else self.options.concurrency
            # Twice the limit: while some workers run checks, others keep the endpoint busy.
            for _ in range(min(len(queue), 2 * limit)):
                workers.append(asyncio.create_task(self._worker(run_id, gateway, model, queue)))
        for key in leftovers:
            workers.append(asyncio.create_task(
                self._pairwise(run_id, gateway, self._case(key[0]), key[1],
                               self._groups.pop(key))))
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for task in workers:
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise

    def _case(self, case_id: str) -> CaseSpec:
        return self._cases[case_id]

    async def _worker(self, run_id: str, gateway: Gateway, model: str,
                      queue: deque[tuple[CaseSpec, int]]) -> None:
        while queue:
            case, sample = queue.popleft()
            await self._job(run_id, gateway, case, model, sample)

    async def _job(self, run_id: str, gateway: Gateway, case: CaseSpec, model: str,
                   sample: int) -> None:
        response: ModelResponse | None = None
        error: str | None = None
        checks: list[CheckResult] = []
        try:
            response = await self._answer(gateway, case, model, sample)
        except ModelCallError as exc:
            error = exc.reason
        except Exception as exc:  # a bug in a tool loop must not take the run down
            error = f"internal error while getting the answer: {_one_line(exc)}"
            log.debug("answer failed", exc_info=True)
        if response is not None:
            ctx = CaseContext(gateway, self.plan, case.id, model, sample)
            specs = [s for s in case.checks if s.kind != "pairwise"]
            if len(specs) == 1:  # the common case, without a task per check
                checks = [await run_check(specs[0], case, response, ctx)]
            else:  # judges and sandboxes wait on I/O: let a case's checks overlap
                checks = list(await asyncio.gather(
                    *(run_check(s, case, response, ctx) for s in specs)))
            if checks:
                status = combine_status([c.status for c in checks])
            else:
                # Nothing to decide per model: the comparison is the verdict when there is one.
                status = Status.PASS if _pairwise_indexes(case) else Status.UNSCORED
        else:
            status = Status.ERROR
        self.store.record_result(run_id, case.id, model, sample, status.value, error, response,
                                 checks)
        self.reporter.result(ResultEvent(case, model, sample, status, error, checks))
        key = (case.id, sample)
        group = self._groups.get(key)
        if group is not None:
            group[model] = response
            if len(group) == len(case.models):
                del self._groups[key]
                await self._pairwise(run_id, gateway, case, sample, group)

    async def _answer(self, gateway: Gateway, case: CaseSpec, model: str,
                      sample: int) -> ModelResponse:
        if self.responses_from is not None:
            return self._stored_answer(case, model, sample)
        tools = None
        if case.tool_mode == "native" and case.tools:
            tools = [self.plan.tools[t].openai_schema() for t in case.tools]

        async def generate(messages: list[dict[str, Any]]) -> ModelResponse:
            return await gateway.call(model, messages, params=case.params, tools=tools,
                                      response_schema=case.response_schema, sample=sample,
                                      purpose=GENERATE, case_id=case.id)

        if case.tool_steps > 0:
            try:
                from .toolloop import solve_with_tools
            except ImportError:
                raise ModelCallError(model, "multi-step tool use needs evalspec.toolloop, "
                                     "which this installation lacks") from None
            return await solve_with_tools(case, self.plan, generate)
        return await generate([m.to_json() for m in case.messages])

    def _stored_answer(self, case: CaseSpec, model: str, sample: int) -> ModelResponse:
        source = self.responses_from
        assert source is not None
        fingerprint = self._source_fingerprints.get(case.id)
        if fingerprint is None:
            raise ModelCallError(model, f"run {source} has no case {case.id!r}; run it again")
        if fingerprint != generation_fingerprint(case.to_json()):
            raise ModelCallError(model, f"the prompt of {case.id!r} changed since run {source};"
                                 " run the case again")
        stored = self.store.result(source, case.id, model, sample)
        if stored is None:
            raise ModelCallError(model, f"run {source} has no answer of {model} to {case.id!r} "
                                 f"(sample {sample})")
        if stored.response is None:
            raise ModelCallError(model, stored.error or "no answer was stored")
        return ModelResponse.from_json(stored.response)

    async def _pairwise(self, run_id: str, gateway: Gateway, case: CaseSpec, sample: int,
                        responses: Mapping[str, ModelResponse | None]) -> None:
        answered = {m: r for m, r in responses.items() if r is not None}
        for index in _pairwise_indexes(case):
            if (case.id, sample, index) in self._pairwise_done:
                continue
            spec = case.checks[index]
            ctx = CaseContext(gateway, self.plan, case.id, "", sample)
            try:
                from .judge.pairwise import run_pairwise
                results = await run_pairwise(spec, case, sample, answered, ctx)
                records = [r.to_json() for r in results]
            except Exception as exc:  # the comparison failing is an error record, not a crash
                records = [{
                    "case_id": case.id, "sample": sample, "rubric": spec.params.get("rubric"),
                    "model_a": "", "model_b": "", "winner": None, "consistent": None,
                    "status": "error", "reason": f"the pairwise comparison failed: "
                                                 f"{_one_line(exc)}", "verdicts": []}]
                log.debug("pairwise failed", exc_info=True)
            self.store.record_pairwise(run_id, case.id, sample, index, records)


def _pairwise_indexes(case: CaseSpec) -> list[int]:
    return [i for i, s in enumerate(case.checks) if s.kind == "pairwise"]


def _one_line(exc: BaseException) -> str:
    return traceback.format_exception_only(type(exc), exc)[-1].strip()
