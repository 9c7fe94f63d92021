"""A loopback OpenAI-compatible chat server for tests and benchmarks (real HTTP, no mocks).

Quick start::

    from evalspec.testing.server import ScriptedServer, Reply

    with ScriptedServer(default="OK") as server:        # 127.0.0.1, a free port, own thread
        server.script("Which is larger", "9.11 is larger")
        server.script(r"factorial of (\\d+)", Reply(tool_calls=[
            {"name": "calculate_factorial", "arguments": {"n": 10}}]), match="regex")
        ...  # point a ModelSpec at server.url ("http://127.0.0.1:PORT/v1")
        assert server.count("Which is larger") == 1

The pytest fixture `test_server` (tests/conftest.py) yields a started server and stops it.

Endpoints: `POST /v1/chat/completions` (also without the `/v1` prefix), `GET /v1/models`, and
a small admin API for out-of-process use (`python -m evalspec.testing.server`):
`GET /_admin/stats` ({count, in_flight, max_in_flight}), `GET /_admin/requests` (the log),
`POST /_admin/config` ({"latency": s, "default": text}), `POST /_admin/reset`.

Rules: `server.script(pattern, *replies, match=, field=, fail_first=, fail_with=, latency=,
respond=)` adds a rule; rules are tried in the order they were added and the first that matches
answers. The request's text that a rule looks at is chosen by `field`:

- `"user"` (default): the last user message;
- `"system"`: the first system message;
- `"last"`: the last message of any role (a tool result, say);
- `"all"`: every message's content joined by newlines (long judge prompts).

`match` is `"substring"` (default), `"exact"` or `"regex"` (`re.search`, DOTALL). A rule
answers its Nth matching request with its Nth reply and repeats the last one afterwards, so a
multi-turn tool conversation scripts as a sequence (the tool result arrives in a later request
whose last *user* message is still the original prompt). `fail_first=N` answers the first N
matches with `fail_with` (default a 500) before the scripted replies: retry tests.
`respond=fn` computes the reply from the request body instead (`fn(body) -> Reply | str`).

A `Reply` is a text answer, a list of tool calls (`{"name": ..., "arguments": dict | str}`; a
string is sent verbatim, so malformed arguments can be scripted), or a fault:

- `"429"`: rate limited, with a `Retry-After` header of `retry_after` seconds (default 1);
- `"500"` (or any `status`): a server error with a JSON error body;
- `"400"`: a bad request, `message` says why;
- `"timeout"`: sleep `hang_s` (default 30 s) before answering, past any sane client timeout;
- `"malformed"`: status 200 with a body that is not JSON;
- `"reset"`: abort the TCP connection without an answer;
- `"empty_choices"`: a well-formed completion whose `choices` list is empty;
- `"null_content"`: one choice whose message content is null and that has no tool calls.

Server options: `default` (the reply when no rule matches), `latency` (seconds before every
answer; a rule's or reply's own latency wins), `reject_response_format` (answer 400 "response_format
is not supported" to any request carrying `response_format`, like endpoints without structured
output), `log_bodies` (keep request bodies in the log; off for big benchmarks).

The log (`server.requests`) holds a `LoggedRequest` per chat request: body, headers, the reply
kind, start and finish times, and whether the answer was sent completely. `count(pattern)`,
`in_flight` and `max_in_flight` answer the usual assertions; `reset()` clears the log and
counters (and rule progress), `clear_rules()` the rules.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

FAULTS = ("429", "500", "400", "timeout", "malformed", "reset", "empty_choices", "null_content")


@dataclass(frozen=True)
class Reply:
    """One scripted answer: text, tool calls, or a fault (see the module docstring)."""

    text: str | None = None
    tool_calls: Sequence[Mapping[str, Any]] | None = None
    fault: str | None = None
    latency: float | None = None
    retry_after: float | None = 1.0
    """Seconds in the `Retry-After` header of a 429; None sends no header."""
    status: int | None = None
    """The HTTP status of a `"500"`-style fault when it should be another 5xx."""
    message: str = "scripted fault"
    hang_s: float = 30.0
    finish_reason: str | None = None

    def __post_init__(self) -> None:
        if self.fault is not None and self.fault not in FAULTS:
            raise ValueError(f"unknown fault {self.fault!r}; one of {', '.join(FAULTS)}")

    @property
    def kind(self) -> str:
        if self.fault:
            return self.fault
        return "tool_calls" if self.tool_calls else "text"


def _as_reply(value: Reply | str) -> Reply:
    return value if isinstance(value, Reply) else Reply(text=value)


@dataclass
class Rule:
    pattern: str
    replies: list[Reply]
    match: str = "substring"
    field: str = "user"
    fail_first: int = 0
    fail_with: Reply = dataclasses.field(default_factory=lambda: Reply(fault="500"))
    latency: float | None = None
    respond: Callable[[dict[str, Any]], Reply | str] | None = None
    calls: int = 0
    _regex: re.Pattern[str] | None = None

    def __post_init__(self) -> None:
        if self.match not in ("substring", "exact", "regex"):
            raise ValueError(f"match must be substring, exact or regex, not {self.match!r}")
        if self.field not in ("user", "system", "last", "all"):
            raise ValueError(f"field must be user, system, last or all, not {self.field!r}")
        if self.match == "regex":
            self._regex = re.compile(self.pattern, re.DOTALL)

    def matches(self, body: Mapping[str, Any]) -> bool:
        text = _field_text(body, self.field)
        if text is None:
            return False
        if self._regex is not None:
            return self._regex.search(text) is not None
        if self.match == "exact":
            return text == self.pattern
        return self.pattern in text

    def next_reply(self, body: dict[str, Any]) -> Reply:
        n = self.calls
        self.calls += 1
        if n < self.fail_first:
            return self.fail_with
        if self.respond is not None:
            return _as_reply(self.respond(body))
        return self.replies[min(n - self.fail_first, len(self.replies) - 1)]


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return ""


def _field_text(body: Mapping[str, Any], which: str) -> str | None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return None
    if which == "last":
        return _content_text(messages[-1].get("content"))
    if which == "all":
        return "\n".join(_content_text(m.get("content")) for m in messages)
    role = "user" if which == "user" else "system"
    picked = [m for m in messages if m.get("role") == role]
    if not picked:
        return None
    return _content_text((picked[-1] if which == "user" else picked[0]).get("content"))


@dataclass
class LoggedRequest:
    path: str
    body: dict[str, Any] | None
    headers: Mapping[str, str]
    """Case-insensitive, as HTTP headers are."""
    started: float
    kind: str = ""
    finished: float | None = None
    completed: bool = False
    """True once a whole answer was written (not for resets, nor for hangs the client left)."""
    user: str = ""
    """The last user message, kept even when bodies are not logged."""


class ScriptedServer:
    """See the module docstring."""

    def __init__(self, *, default: Reply | str = "OK", latency: float = 0.0,
                 reject_response_format: bool = False, log_bodies: bool = True,
                 host: str = "127.0.0.1", port: int = 0) -> None:
        self.default = _as_reply(default)
        self.latency = latency
        self.reject_response_format = reject_response_format
        self.log_bodies = log_bodies
        self.host = host
        self.port = port
        self.rules: list[Rule] = []
        self._log: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.in_flight = 0
        self.max_in_flight = 0
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- scripting -----------------------------------------------------------------------------

    def script(self, pattern: str, *replies: Reply | str, match: str = "substring",
               field: str = "user", fail_first: int = 0, fail_with: Reply | str | None = None,
               latency: float | None = None,
               respond: Callable[[dict[str, Any]], Reply | str] | None = None) -> Rule:
        if not replies and respond is None:
            raise ValueError("script() needs at least one reply or a respond function")
        rule = Rule(pattern, [_as_reply(r) for r in replies], match, field, fail_first,
                    _as_reply(fail_with) if fail_with is not None else Reply(fault="500"),
                    latency, respond)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear_rules(self) -> None:
        with self._lock:
            self.rules.clear()

    def reset(self) -> None:
        with self._lock:
            self._log.clear()
            self.max_in_flight = self.in_flight
            for rule in self.rules:
                rule.calls = 0

    # -- assertions ------------------------------------------------------------------------------

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def count(self, pattern: str | None = None) -> int:
        """Chat requests received whose last user message contains `pattern` (all if None)."""
        with self._lock:
            return sum(1 for r in self._log if pattern is None or pattern in r.user)

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {"count": len(self._log), "in_flight": self.in_flight,
                    "max_in_flight": self.max_in_flight}

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    # -- HTTP --------------------------------------------------------------------------------------

    def _pick(self, body: dict[str, Any]) -> tuple[Reply, float]:
        with self._lock:
            for rule in self.rules:
                if rule.matches(body):
                    reply = rule.next_reply(body)
                    latency = reply.latency if reply.latency is not None else rule.latency
                    return reply, self.latency if latency is None else latency
        latency = self.default.latency
        return self.default, self.latency if latency is None else latency

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        entry = LoggedRequest(request.path, None, CIMultiDict(request.headers), time.monotonic())
        with self._lock:
            self._log.append(entry)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            try:
                body = await request.json()
            except ValueError:
                entry.kind = "bad_json"
                return _error(400, "the request body is not JSON")
            if self.log_bodies:
                entry.body = body
            entry.user = _field_text(body, "user") or ""
            if self.reject_response_format and "response_format" in body:
                entry.kind = "400"
                response = _error(400, "response_format is not supported by this server",
                                  param="response_format")
            else:
                reply, latency = self._pick(body)
                entry.kind = reply.kind
                if latency > 0:
                    await asyncio.sleep(latency)
                response = await self._answer(request, body, reply)
            if response is not None:
                entry.completed = True
            return response if response is not None else web.Response()
        finally:
            entry.finished = time.monotonic()
            with self._lock:
                self.in_flight -= 1

    async def _answer(self, request: web.Request, body: dict[str, Any],
                      reply: Reply) -> web.StreamResponse | None:
        fault = reply.fault
        if fault == "429":
            headers = {} if reply.retry_after is None else {"Retry-After": f"{reply.retry_after:g}"}
            return _error(429, "rate limited (scripted)", headers=headers)
        if fault == "500":
            return _error(reply.status or 500, reply.message)
        if fault == "400":
            return _error(400, reply.message)
        if fault == "reset":
            if request.transport is not None:
                request.transport.abort()
            return None
        if fault == "malformed":
            return web.Response(text='{"id": "chatcmpl-x", "choices": [{"message": ',
                                content_type="application/json")
        if fault == "timeout":
            await asyncio.sleep(reply.hang_s)
            reply = Reply(text="too late")
        n = next(self._ids)
        payload: dict[str, Any] = {
            "id": f"chatcmpl-{n}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", "scripted"), "choices": [],
            "usage": {"prompt_tokens": _words(body), "completion_tokens": 0, "total_tokens": 0},
        }
        if fault != "empty_choices":
            message: dict[str, Any] = {"role": "assistant", "content": reply.text}
            finish = reply.finish_reason or "stop"
            if reply.tool_calls:
                message["tool_calls"] = [_tool_call(n, i, c)
                                         for i, c in enumerate(reply.tool_calls)]
                finish = reply.finish_reason or "tool_calls"
            elif fault == "null_content":
                message["content"] = None
            completion = len(reply.text.split()) if reply.text else 0
            payload["usage"]["completion_tokens"] = completion
            payload["usage"]["total_tokens"] = payload["usage"]["prompt_tokens"] + completion
            payload["choices"] = [{"index": 0, "message": message, "finish_reason": finish}]
        return web.json_response(payload)

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [
            {"id": "scripted", "object": "model", "owned_by": "evalspec"}]})

    async def _admin_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _admin_requests(self, request: web.Request) -> web.Response:
        return web.json_response([{
            "path": r.path, "body": r.body, "user": r.user, "kind": r.kind,
            "completed": r.completed, "started": r.started, "finished": r.finished,
        } for r in self.requests])

    async def _admin_config(self, request: web.Request) -> web.Response:
        data = await request.json()
        if "latency" in data:
            self.latency = float(data["latency"])
        if "default" in data:
            self.default = Reply(text=str(data["default"]))
        return web.json_response({"latency": self.latency, "default": self.default.text})

    async def _admin_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response({"ok": True})

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        for prefix in ("/v1", ""):
            app.router.add_post(f"{prefix}/chat/completions", self._chat)
            app.router.add_get(f"{prefix}/models", self._models)
        app.router.add_get("/_admin/stats", self._admin_stats)
        app.router.add_get("/_admin/requests", self._admin_requests)
        app.router.add_post("/_admin/config", self._admin_config)
        app.router.add_post("/_admin/reset", self._admin_reset)
        return app

    async def start_async(self) -> None:
        """Serve on the running loop (the caller owns the loop)."""
        # handler_cancellation: a hung handler ends when the client gives up, so stop() is quick.
        self._runner = web.AppRunner(self.app(), handler_cancellation=True, shutdown_timeout=0.5,
                                     access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=1024)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop_async(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start(self) -> ScriptedServer:
        """Serve from a background thread with its own event loop; returns once listening."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop_async())
            loop.close()

        self._thread = threading.Thread(target=serve, name="scripted-openai-server", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None
            self._loop = None

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _error(status: int, message: str, *, param: str | None = None,
           headers: Mapping[str, str] | None = None) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": "scripted_error", "param": param,
                   "code": str(status)}}, status=status, headers=dict(headers or {}))


def _tool_call(n: int, i: int, call: Mapping[str, Any]) -> dict[str, Any]:
    args = call.get("arguments", {})
    return {"id": call.get("id") or f"call_{n}_{i}", "type": "function",
            "function": {"name": call["name"],
                         "arguments": args if isinstance(args, str) else json.dumps(args)}}


def _words(body: Mapping[str, Any]) -> int:
    return sum(len(_content_text(m.get("content")).split()) for m in body.get("messages") or ()
               if isinstance(m, Mapping))


def main(argv: Sequence[str] | None = None) -> None:
    """Serve in the foreground; prints one JSON line with the URL once listening."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--default", default="OK")
    parser.add_argument("--no-log-bodies", action="store_true")
    args = parser.parse_args(argv)
    server = ScriptedServer(default=args.default, latency=args.latency, host=args.host,
                            port=args.port, log_bodies=not args.no_log_bodies)

    async def serve() -> None:
        await server.start_async()
        print(json.dumps({"url": server.url, "port": server.port}), flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop_async()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
