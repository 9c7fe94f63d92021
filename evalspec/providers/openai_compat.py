"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp's server, LM Studio,
hosted open-model APIs) through the `openai` package's async client.

One client per model, made on first use and reused. The client's own retries are off
(`max_retries=0`): `LimitedModel` retries the same way for every provider. The response body is
read raw and decoded here, so a malformed answer becomes an error with a reason rather than a
validation traceback, and no pydantic model is built on the hot path.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import httpx2
import openai

from ..plan import ModelSpec
from ..response import ModelResponse
from . import ChatRequest, ProviderError, ProviderSetupError, Stopwatch, parse_completion

log = logging.getLogger("evalspec.providers")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
# Used when no key is set: local servers (vLLM, Ollama, llama.cpp) accept any key.
NO_KEY = "sk-none"
# Header names whose values may be credentials: kept out of cache keys and the store.
_SECRET_HEADER_WORDS = ("auth", "key", "token", "secret", "cookie", "password")


def resolve_base_url(spec: ModelSpec) -> str:
    """The variable the spec names wins; `base_url` is its default (`env("X", "https://…")`)."""
    if spec.base_url_env and os.environ.get(spec.base_url_env):
        return os.environ[spec.base_url_env]
    if spec.base_url:
        return spec.base_url
    if spec.base_url_env:
        raise ProviderSetupError(
            f"model {spec.name!r} takes its base URL from ${spec.base_url_env}, which is not "
            f"set: export it, or point the model elsewhere with --model "
            f"{spec.name}=openai:MODEL_ID@BASE_URL (or run everything locally with --local)")
    return DEFAULT_BASE_URL


def public_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers safe to hash and store: credential-like values are replaced by a marker."""
    return {k: ("<redacted>" if any(w in k.lower() for w in _SECRET_HEADER_WORDS) else v)
            for k, v in sorted(headers.items())}


def _api_key(spec: ModelSpec) -> str:
    if spec.api_key_env and os.environ.get(spec.api_key_env):
        return os.environ[spec.api_key_env]
    return os.environ.get("OPENAI_API_KEY") or NO_KEY


class OpenAIProvider:
    def __init__(self, spec: ModelSpec, *, transport: str = "auto") -> None:
        self.spec = spec
        self.base_url = resolve_base_url(spec)
        self.transport = transport
        self._client: openai.AsyncOpenAI | None = None
        # Flipped off the first time the endpoint refuses `response_format`, for this run.
        self._structured_ok = spec.structured_output

    def identity(self) -> dict[str, Any]:
        return {"provider": "openai", "base_url": self.base_url, "model_id": self.spec.model_id}

    def request_material(self, request: ChatRequest) -> dict[str, Any]:
        return {
            "messages": list(request.messages),
            "params": dict(request.params),
            "tools": list(request.tools) if request.tools else None,
            "response_schema": request.response_schema,
            "structured_output": self.spec.structured_output,
            "extra_body": dict(self.spec.extra_body),
            "headers": public_headers(self.spec.headers),
        }

    def _make_client(self) -> openai.AsyncOpenAI:
        http_client = None
        if self.transport in ("auto", "aiohttp"):
            try:
                # The aiohttp transport carries about twice the requests per second of httpx
                # on one core (openai's README recommends it for concurrency).
                http_client = openai.DefaultAioHttpClient()
            except RuntimeError:
                if self.transport == "aiohttp":
                    raise
        return openai.AsyncOpenAI(
            api_key=_api_key(self.spec), base_url=self.base_url, max_retries=0,
            timeout=self.spec.timeout_s + 5.0, default_headers=dict(self.spec.headers) or None,
            http_client=http_client)

    async def complete(self, request: ChatRequest) -> ModelResponse:
        if self._client is None:
            self._client = self._make_client()
        structured = (request.response_schema is not None and self._structured_ok)
        try:
            return await self._send(request, structured)
        except openai.BadRequestError as exc:
            if structured and _about_response_format(exc):
                # The endpoint has no structured output: say so once, and stop asking.
                self._structured_ok = False
                log.warning("%s: the endpoint refused response_format (%s); asking without it "
                            "from now on", self.spec.name, self._scrub(_message(exc)))
                try:
                    return await self._send(request, False)
                except openai.OpenAIError as again:
                    raise self._translate(again) from None
            raise self._translate(exc) from None
        except openai.OpenAIError as exc:
            raise self._translate(exc) from None
        except TimeoutError:
            raise ProviderError(f"no answer within {self.spec.timeout_s:g}s (timed out)",
                                retryable=True) from None

    async def _send(self, request: ChatRequest, structured: bool) -> ModelResponse:
        assert self._client is not None
        body: dict[str, Any] = dict(self.spec.extra_body)
        body.update(request.params)
        body["model"] = self.spec.model_id
        body["messages"] = list(request.messages)
        if request.tools:
            body["tools"] = list(request.tools)
        if structured:
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": "response", "schema": dict(request.response_schema or {})}}
        watch = Stopwatch()
        async with asyncio.timeout(self.spec.timeout_s):
            # The client's raw `post` (its documented way to send any body) rather than
            # `chat.completions.create`: the typed method walks every message through its
            # TypedDict transformer, over a millisecond per request that buys nothing here.
            raw = await self._client.post("/chat/completions", cast_to=httpx2.Response,
                                          body=body)
            content = await raw.aread()
        latency = watch.ms
        try:
            data = json.loads(content)
        except ValueError:
            preview = content[:120].decode("utf-8", "replace")
            raise ProviderError(f"the endpoint answered with a body that is not JSON: "
                                f"{preview!r}") from None
        return parse_completion(data, latency_ms=latency, model=self.spec.model_id)

    def _translate(self, exc: openai.OpenAIError) -> ProviderError:
        if isinstance(exc, openai.APIConnectionError):
            # The aiohttp transport reports a dropped connection as a timeout: trust the root
            # cause, not the wrapper, to tell the two apart.
            root = _root_cause(exc)
            if "timeout" in type(root).__name__.lower() or isinstance(root, TimeoutError):
                return ProviderError(f"no answer within {self.spec.timeout_s:g}s (timed out)",
                                     retryable=True)
            detail = str(root) or type(root).__name__
            return ProviderError(f"connection to {self.base_url} failed: {self._scrub(detail)}",
                                 retryable=True)
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            retryable = status in (408, 409, 429) or status >= 500
            retry_after = _retry_after(exc.response.headers) if retryable else None
            what = {429: "rate limited", 401: "not authorised (check the API key variable)",
                    404: "not found (check the base URL and model id)"}.get(status, "error")
            return ProviderError(f"HTTP {status} {what}: {self._scrub(_message(exc))}",
                                 retryable=retryable, retry_after=retry_after, status=status)
        return ProviderError(self._scrub(f"{type(exc).__name__}: {exc}"))

    def _scrub(self, text: str) -> str:
        key = _api_key(self.spec)
        if key != NO_KEY and len(key) >= 6:
            text = text.replace(key, "<api key>")
        return text

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, Mapping):
        err = body.get("error", body)
        if isinstance(err, Mapping) and err.get("message"):
            return str(err["message"])[:300]
        if isinstance(err, str):
            return err[:300]
    return str(exc.message)[:300]


def _root_cause(exc: BaseException) -> BaseException:
    seen = set()
    while (exc.__cause__ or exc.__context__) is not None and id(exc) not in seen:
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return exc


def _about_response_format(exc: openai.BadRequestError) -> bool:
    text = f"{_message(exc)} {getattr(exc, 'param', '') or ''}".lower()
    return any(w in text for w in ("response_format", "json_schema", "structured output"))


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms` or `Retry-After` (seconds or an HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
