"""Model providers, and the limits every call goes through.

A provider turns a `ChatRequest` (OpenAI-style message dicts, sampling parameters, tools, a
response schema) into a `ModelResponse`, or raises `ProviderError`. Providers neither retry nor
limit: `LimitedModel` wraps one with the model's concurrency limit, requests-per-minute limit and
retries (exponential backoff with jitter, honouring Retry-After), the same for every provider.
Provider modules are imported only when a plan uses them, so `evalspec compile` never imports
`openai` or `llama_cpp`.

Secrets: a provider reads its API key from the environment when it builds its client and keeps
it nowhere else. `identity()` and `request_material()` (which feed the cache key and the store)
never include it, and error text is scrubbed of it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from ..plan import ModelSpec
from ..response import ModelResponse, ToolCall, Usage

log = logging.getLogger("evalspec.providers")

__all__ = [
    "ChatRequest", "LimitedModel", "ModelCallError", "Provider", "ProviderError",
    "ProviderSetupError", "RetryPolicy", "make_provider", "parse_completion",
]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: Sequence[Mapping[str, Any]]
    """OpenAI chat messages, including assistant tool calls and tool results."""
    params: Mapping[str, Any] = field(default_factory=dict)
    tools: Sequence[Mapping[str, Any]] | None = None
    """OpenAI function-tool schemas (`ToolSpec.openai_schema()`)."""
    response_schema: Mapping[str, Any] | None = None


class ProviderError(Exception):
    """One failed attempt. `retryable` errors (429, 5xx, timeouts, lost connections) are tried
    again; the rest fail the call at once."""

    def __init__(self, reason: str, *, retryable: bool = False, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


class ProviderSetupError(Exception):
    """The provider cannot work at all here (a missing extra, an unknown provider kind)."""


class ModelCallError(Exception):
    """A model call that failed for good, after its retries. Checks that call
    `ctx.generate()` see this; the runner records it as an `error`, never as a `fail`."""

    def __init__(self, model: str, reason: str, attempts: int = 1) -> None:
        super().__init__(f"{model}: {reason}")
        self.model = model
        self.reason = reason
        self.attempts = attempts


class Provider(Protocol):
    spec: ModelSpec

    def identity(self) -> dict[str, Any]:
        """What identifies the endpoint (provider, base URL, model id): for the cache key and
        the results. Never a secret."""
        ...

    def request_material(self, request: ChatRequest) -> dict[str, Any]:
        """Everything about the request that can change the answer, for the cache key and the
        store. Never a secret."""
        ...

    async def complete(self, request: ChatRequest) -> ModelResponse: ...

    async def aclose(self) -> None: ...


def make_provider(spec: ModelSpec, **options: Any) -> Provider:
    """Build the provider for `spec`, importing its module only now."""
    if spec.provider == "openai":
        from .openai_compat import OpenAIProvider
        return OpenAIProvider(spec, **options)
    if spec.provider == "local":
        from .local import LocalProvider
        return LocalProvider(spec)
    raise ProviderSetupError(
        f"model {spec.name!r} has provider {spec.provider!r}; evalspec knows 'openai' (any "
        "OpenAI-compatible endpoint) and 'local' (llama.cpp in process)")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    backoff_base: float = 1.0
    """The first retry waits about this long; each further one twice as long."""
    backoff_max: float = 60.0
    retry_after_max: float = 120.0
    """A server asking for a longer pause than this gets this."""


class LimitedModel:
    """A provider behind its model's limits: concurrency, requests per minute, retries."""

    def __init__(self, provider: Provider, *, concurrency: int, policy: RetryPolicy) -> None:
        self.provider = provider
        self.spec = provider.spec
        self.policy = policy
        self.semaphore = asyncio.Semaphore(max(1, concurrency))
        self.limiter = None
        if self.spec.rpm:
            from aiolimiter import AsyncLimiter
            # One request every 60/rpm seconds rather than bursts of `rpm`: endpoints that
            # count per second (most do, besides per minute) never see a burst.
            self.limiter = AsyncLimiter(1, 60.0 / self.spec.rpm)

    async def complete(self, request: ChatRequest) -> tuple[ModelResponse, int]:
        """The response and the number of attempts it took; `ModelCallError` when it failed."""
        attempts = 0
        retrying = AsyncRetrying(
            stop=stop_after_attempt(max(0, self.spec.retries) + 1),
            wait=self._wait,
            retry=retry_if_exception(lambda e: isinstance(e, ProviderError) and e.retryable),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    async with self.semaphore:
                        if self.limiter is not None:
                            await self.limiter.acquire()
                        return await self.provider.complete(request), attempts
        except ProviderError as exc:
            reason = exc.reason
            if attempts > 1:
                reason = f"{reason} (after {attempts} attempts)"
            raise ModelCallError(self.spec.name, reason, attempts) from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, ProviderError) and exc.retry_after is not None:
            # Honour the server, plus a little jitter so waiting clients do not return in step.
            return min(exc.retry_after, self.policy.retry_after_max) * random.uniform(1.0, 1.1)
        ceiling = min(self.policy.backoff_max,
                      self.policy.backoff_base * 2 ** (state.attempt_number - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning("%s: %s; retrying in %.1fs (attempt %d of %d)", self.spec.name,
                    getattr(exc, "reason", exc), wait, state.attempt_number + 1,
                    self.spec.retries + 1)

    async def aclose(self) -> None:
        await self.provider.aclose()


def _text_of(content: Any) -> str | None:
    if content is None or isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts, as some servers answer
        return "".join(p.get("text") or "" for p in content
                       if isinstance(p, Mapping) and p.get("type", "text") == "text")
    return str(content)


def _tool_calls(raw: Any) -> tuple[ToolCall, ...]:
    if not isinstance(raw, list):
        return ()
    calls = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        fn = item.get("function") if isinstance(item.get("function"), Mapping) else {}
        name = str(fn.get("name") or "")
        args_raw = fn.get("arguments")
        if isinstance(args_raw, Mapping):  # some servers send an object, not a JSON string
            calls.append(ToolCall(name, dict(args_raw), json.dumps(args_raw), item.get("id")))
            continue
        text = args_raw if isinstance(args_raw, str) else ""
        try:
            calls.append(ToolCall(name, json.loads(text) if text.strip() else {}, text,
                                  item.get("id")))
        except ValueError as exc:
            calls.append(ToolCall(name, text, text, item.get("id"),
                                  f"the arguments are not valid JSON: {exc}"))
    return tuple(calls)


def parse_completion(data: Any, *, latency_ms: float, model: str) -> ModelResponse:
    """A chat-completion body (already decoded) as a ModelResponse; `ProviderError` when the
    body does not hold an answer, with a reason that says what was wrong."""
    if not isinstance(data, Mapping):
        raise ProviderError(f"the endpoint answered with JSON that is not an object: "
                            f"{_clip(json.dumps(data))}")
    if "error" in data and not data.get("choices"):
        err = data["error"]
        msg = err.get("message") if isinstance(err, Mapping) else err
        raise ProviderError(f"the endpoint answered with an error: {_clip(str(msg))}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise ProviderError("the endpoint answered with no choices (an empty `choices` list)"
                            if isinstance(choices, list) else
                            "the endpoint's answer has no `choices` list")
    choice = choices[0] if isinstance(choices[0], Mapping) else {}
    message = choice.get("message")
    if not isinstance(message, Mapping):
        raise ProviderError("the endpoint's first choice has no `message`")
    text = _text_of(message.get("content"))
    calls = _tool_calls(message.get("tool_calls"))
    finish = choice.get("finish_reason")
    if text is None and not calls:
        raise ProviderError(f"the endpoint's answer has null content and no tool calls "
                            f"(finish_reason={finish!r})")
    usage = data.get("usage") if isinstance(data.get("usage"), Mapping) else {}
    return ModelResponse(
        text=text or "",
        tool_calls=calls,
        finish_reason=finish if isinstance(finish, str) else None,
        usage=Usage(_int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))),
        latency_ms=round(latency_ms, 3),
        model=str(data.get("model") or model),
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


class Stopwatch:
    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def ms(self) -> float:
        return (time.perf_counter() - self.start) * 1000.0
