"""The embedded llama.cpp model (Gemma 3 270M). Few, short generations (≤ 48 tokens)."""

from __future__ import annotations

import asyncio
import importlib.util
import json

import pytest

from evalspec.plan import ModelSpec
from evalspec.providers import ChatRequest, ProviderSetupError, make_provider
from evalspec.providers.local import MISSING_EXTRA

needs_llama = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None,
    reason="llama-cpp-python is not installed (the 'local' extra: pip install -e '.[local]')")

LOCAL = ModelSpec("local", "local", "gemma-3-270m", chat_format="alpaca")


@pytest.mark.slow
@needs_llama
async def test_the_embedded_model_answers_in_text_and_in_json():
    provider = make_provider(LOCAL)
    answer = await provider.complete(ChatRequest(
        [{"role": "user", "content": "Which is larger, 9.11 or 9.9?"}],
        {"max_tokens": 16, "temperature": 0.0}))
    # Through the alpaca format the base model answers (the default template gives "").
    assert answer.text.strip()
    assert answer.usage.completion_tokens > 0 and answer.model == "gemma-3-270m"
    schema = {"type": "object", "properties": {"score": {"type": "integer"}},
              "required": ["score"], "additionalProperties": False}
    verdict = await provider.complete(ChatRequest(
        [{"role": "user", "content": "Rate the answer '9.9' from 1 to 5."}],
        {"max_tokens": 32, "temperature": 0.0}, response_schema=schema))
    assert isinstance(json.loads(verdict.text)["score"], int)


@pytest.mark.slow
@needs_llama
def test_local_override_runs_a_plan_and_caches_it(tmp_path, make_case, make_model, make_plan):
    from evalspec.cache import ResponseCache
    from evalspec.commands.run import apply_overrides
    from evalspec.runner import Runner
    from evalspec.store import Store

    plan = make_plan([make_case("math/S1", "Which is larger, 9.11 or 9.9?",
                                params={"max_tokens": 12}, models=("llama",))],
                     [make_model("llama", "http://127.0.0.1:9/v1", params={"temperature": 0})])
    plan = apply_overrides(plan, local=True)
    store = Store(tmp_path / ".evalspec")
    cache = ResponseCache(tmp_path / ".evalspec" / "cache")
    first = asyncio.run(Runner(plan, store, cache=cache).run())
    (result,) = store.export_run(first.run_id)["results"]
    assert result["error"] is None
    assert result["response"]["text"].strip()
    second = asyncio.run(Runner(plan, store, cache=cache).run())
    assert second.cached_requests == second.requests == 1
    assert store.export_run(second.run_id)["models"]["llama"]["provider"] == "local"


def test_missing_extra_is_a_clear_setup_error(monkeypatch):
    import evalspec.providers.local as local

    real = importlib.util.find_spec
    monkeypatch.setattr(local.importlib.util, "find_spec",
                        lambda name, *a: None if name == "llama_cpp" else real(name, *a))
    with pytest.raises(ProviderSetupError) as info:
        make_provider(LOCAL)
    assert str(info.value) == MISSING_EXTRA == (
        "the local model needs the 'local' extra: pip install -e '.[local]'")


def test_a_missing_gguf_is_an_error_not_a_crash(tmp_path):
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (the 'local' extra)")
    from evalspec.providers import ProviderError
    provider = make_provider(ModelSpec("x", "local", "x", gguf=str(tmp_path / "nope.gguf")))
    with pytest.raises(ProviderError, match=r"nope\.gguf does not exist"):
        asyncio.run(provider.complete(ChatRequest([{"role": "user", "content": "hi"}])))
