"""The OpenAI-compatible provider and the limits around it, over real HTTP."""

from __future__ import annotations

import asyncio
import time

import pytest

from evalspec.providers import (
    ChatRequest,
    LimitedModel,
    ModelCallError,
    ProviderError,
    ProviderSetupError,
    RetryPolicy,
    make_provider,
)
from evalspec.providers.openai_compat import _retry_after, public_headers
from evalspec.testing.server import Reply, ScriptedServer

FAST = RetryPolicy(backoff_base=0.01, backoff_max=0.05)
TRANSPORTS = ["aiohttp", "httpx"]


def ask(prompt: str, **kw) -> ChatRequest:
    return ChatRequest([{"role": "user", "content": prompt}], {"max_tokens": 8}, **kw)


@pytest.fixture(params=TRANSPORTS)
def transport(request) -> str:
    return request.param


async def one(server: ScriptedServer, prompt: str, transport: str = "aiohttp", **spec_kw):
    provider = make_provider(_spec(server, **spec_kw), transport=transport)
    try:
        return await provider.complete(ask(prompt))
    finally:
        await provider.aclose()


def _spec(server: ScriptedServer, **kw):
    from evalspec.plan import ModelSpec
    kw.setdefault("timeout_s", 5.0)
    return ModelSpec(name=kw.pop("name", "m"), provider="openai",
                     model_id=kw.pop("model_id", "m-id"), base_url=server.url, **kw)


async def test_text_answer_usage_and_request_body(test_server, transport):
    test_server.script("capital", "Paris")
    response = await one(test_server, "capital?", transport,
                         params={"temperature": 0.5}, headers={"X-Team": "evals"},
                         extra_body={"top_k": 3})
    assert response.text == "Paris"
    assert response.finish_reason == "stop"
    assert response.usage.prompt_tokens == 1 and response.usage.completion_tokens == 1
    assert response.latency_ms > 0
    req = test_server.requests[-1]
    assert req.body["model"] == "m-id"
    assert req.body["max_tokens"] == 8 and req.body["top_k"] == 3
    assert req.headers["X-Team"] == "evals"


async def test_tool_calls_are_parsed_and_bad_arguments_kept(test_server, transport):
    test_server.script("tools", Reply(tool_calls=[
        {"name": "calculate_factorial", "arguments": {"n": 10}},
        {"name": "calculate_factorial", "arguments": "{'n': 8"}]))
    response = await one(test_server, "tools please", transport)
    first, second = response.tool_calls
    assert (first.name, first.arguments, first.parse_error) == (
        "calculate_factorial", {"n": 10}, None)
    assert second.arguments == "{'n': 8" and "not valid JSON" in second.parse_error
    assert response.finish_reason == "tool_calls" and response.text == ""


@pytest.mark.parametrize("fault,retryable,reason", [
    ("429", True, "HTTP 429 rate limited"),
    ("500", True, "HTTP 500 error: scripted fault"),
    ("400", False, "HTTP 400 error: scripted fault"),
    ("malformed", False, "a body that is not JSON"),
    ("reset", True, "failed: Server disconnected"),
    ("empty_choices", False, "no choices (an empty `choices` list)"),
    ("null_content", False, "null content and no tool calls"),
    ("timeout", True, "no answer within 0.3s (timed out)"),
])
async def test_every_fault_is_a_clear_provider_error(test_server, transport, fault, retryable,
                                                     reason):
    test_server.script("fault", Reply(fault=fault, hang_s=3))
    started = time.monotonic()
    with pytest.raises(ProviderError) as info:
        await one(test_server, "fault", transport, timeout_s=0.3)
    assert reason in info.value.reason
    assert info.value.retryable is retryable
    assert time.monotonic() - started < 2.0


def test_retry_after_header_forms():
    assert _retry_after({"retry-after": "2"}) == 2.0
    assert _retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert 0 <= _retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) < 1
    assert _retry_after({"retry-after": "soon"}) is None
    assert _retry_after({}) is None


def test_credential_headers_are_redacted():
    assert public_headers({"Authorization": "Bearer x", "X-Api-Key": "k", "X-Team": "a"}) == {
        "Authorization": "<redacted>", "X-Api-Key": "<redacted>", "X-Team": "a"}


def limited(server: ScriptedServer, *, concurrency: int = 4, **kw) -> LimitedModel:
    provider = make_provider(_spec(server, **kw))
    return LimitedModel(provider, concurrency=concurrency, policy=FAST)


async def test_retries_until_success(test_server):
    test_server.script("flaky", "finally", fail_first=2)
    model = limited(test_server, retries=3)
    response, attempts = await model.complete(ask("flaky"))
    await model.aclose()
    assert (response.text, attempts) == ("finally", 3)
    assert test_server.count("flaky") == 3


@pytest.mark.parametrize("fault", ["500", "reset", "timeout"])
async def test_transient_faults_are_retried(test_server, fault):
    test_server.script("transient", "recovered", fail_first=1,
                       fail_with=Reply(fault=fault, hang_s=3))
    model = limited(test_server, retries=2, timeout_s=0.3)
    response, attempts = await model.complete(ask("transient"))
    await model.aclose()
    assert (response.text, attempts) == ("recovered", 2)


async def test_retry_after_is_honoured(test_server):
    test_server.script("busy", "ok now", fail_first=1,
                       fail_with=Reply(fault="429", retry_after=0.5))
    model = limited(test_server)
    started = time.monotonic()
    response, attempts = await model.complete(ask("busy"))
    await model.aclose()
    assert response.text == "ok now" and attempts == 2
    # The backoff alone would have waited ~10 ms; the server asked for 0.5 s.
    assert time.monotonic() - started >= 0.5


async def test_exhausted_retries_and_permanent_errors(test_server):
    test_server.script("down", Reply(fault="500", message="the GPU caught fire"))
    test_server.script("bad", Reply(fault="400", message="unknown parameter foo"))
    model = limited(test_server, retries=2)
    with pytest.raises(ModelCallError) as info:
        await model.complete(ask("down"))
    assert info.value.reason == "HTTP 500 error: the GPU caught fire (after 3 attempts)"
    with pytest.raises(ModelCallError) as info:
        await model.complete(ask("bad"))
    await model.aclose()
    assert info.value.attempts == 1 and "unknown parameter foo" in info.value.reason
    assert test_server.count("down") == 3 and test_server.count("bad") == 1


async def test_concurrency_limit(test_server):
    test_server.latency = 0.1
    model = limited(test_server, concurrency=3)
    await asyncio.gather(*(model.complete(ask(f"q{i}")) for i in range(10)))
    await model.aclose()
    assert test_server.max_in_flight == 3


async def test_requests_per_minute_paces_requests(test_server):
    model = limited(test_server, concurrency=8, rpm=600)  # one every 0.1 s
    await model.complete(ask("warm up"))  # the client's first connection is slower
    started = time.monotonic()
    await asyncio.gather(*(model.complete(ask(f"q{i}")) for i in range(4)))
    await model.aclose()
    assert time.monotonic() - started >= 0.3
    starts = sorted(r.started for r in test_server.requests[1:])
    assert starts[-1] - starts[0] >= 0.25  # without the limit: all four at once


async def test_structured_output_falls_back_once_per_endpoint():
    schema = {"type": "object", "properties": {"score": {"type": "integer"}}}
    with ScriptedServer(default='{"score": 4}', reject_response_format=True) as server:
        provider = make_provider(_spec(server))
        first = await provider.complete(ask("judge", response_schema=schema))
        second = await provider.complete(ask("judge again", response_schema=schema))
        await provider.aclose()
    assert first.text == second.text == '{"score": 4}'
    sent = [("response_format" in r.body) for r in server.requests]
    # Asked once with the schema, refused, asked without; later calls do not ask again.
    assert sent == [True, False, False]


async def test_structured_output_is_sent_where_supported(test_server):
    schema = {"type": "object"}
    provider = make_provider(_spec(test_server))
    await provider.complete(ask("judge", response_schema=schema))
    off = make_provider(_spec(test_server, structured_output=False))
    await off.complete(ask("judge", response_schema=schema))
    await provider.aclose()
    await off.aclose()
    first, second = test_server.requests
    assert first.body["response_format"]["json_schema"]["schema"] == schema
    assert "response_format" not in second.body


async def test_api_key_from_the_named_variable(test_server, monkeypatch):
    monkeypatch.setenv("MY_EVAL_KEY", "sk-from-named-var")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-fallback")
    await one(test_server, "a", api_key_env="MY_EVAL_KEY")
    await one(test_server, "b", api_key_env="UNSET_EVAL_KEY_VAR")
    monkeypatch.delenv("OPENAI_API_KEY")
    await one(test_server, "c")
    assert [r.headers["Authorization"] for r in test_server.requests] == [
        "Bearer sk-from-named-var", "Bearer sk-fallback", "Bearer sk-none"]


async def test_base_url_from_environment(test_server, monkeypatch):
    from evalspec.plan import ModelSpec
    monkeypatch.setenv("MY_EVAL_URL", test_server.url)
    provider = make_provider(ModelSpec("m", "openai", "m-id", base_url_env="MY_EVAL_URL"))
    assert provider.identity()["base_url"] == test_server.url
    assert (await provider.complete(ask("hi"))).text == "OK"
    await provider.aclose()


def test_unknown_provider_is_a_setup_error():
    from evalspec.plan import ModelSpec
    with pytest.raises(ProviderSetupError, match="evalspec knows 'openai'"):
        make_provider(ModelSpec("m", "anthropic", "claude"))
