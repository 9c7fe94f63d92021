"""The scripted test server: what it answers, and what it records."""

from __future__ import annotations

import http.client
import json
import threading
from typing import Any
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from evalspec.testing.server import Reply, ScriptedServer


def chat(server: ScriptedServer, *messages: tuple[str, str], timeout: float = 5.0,
         **extra: Any) -> tuple[int, dict[str, str], bytes]:
    body = {"model": "x", "messages": [{"role": r, "content": c} for r, c in messages], **extra}
    req = Request(f"{server.url}/chat/completions", json.dumps(body).encode(),
                  {"Content-Type": "application/json", "Authorization": "Bearer sk-test"})
    try:
        with urlopen(req, timeout=timeout) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except HTTPError as err:
        return err.code, dict(err.headers), err.read()


def answer(server: ScriptedServer, prompt: str, **kw: Any) -> dict[str, Any]:
    status, _, body = chat(server, ("user", prompt), **kw)
    assert status == 200, body
    return json.loads(body)["choices"][0]["message"]


def test_matching_modes_and_fields(test_server):
    test_server.script("exactly this", "exact", match="exact")
    test_server.script(r"^\d+ \+ \d+$", "regex", match="regex")
    test_server.script("be a judge", "system rule", field="system")
    test_server.script("TOOL OUTPUT", "after the tool", field="last")
    test_server.script("substring", "sub")
    assert answer(test_server, "exactly this")["content"] == "exact"
    assert answer(test_server, "not exactly this")["content"] == "OK"  # default
    assert answer(test_server, "12 + 30")["content"] == "regex"
    assert answer(test_server, "has a substring inside")["content"] == "sub"
    _, _, body = chat(test_server, ("system", "you must be a judge"), ("user", "hello"))
    assert json.loads(body)["choices"][0]["message"]["content"] == "system rule"
    _, _, body = chat(test_server, ("user", "hi"), ("tool", "TOOL OUTPUT: 3"))
    assert json.loads(body)["choices"][0]["message"]["content"] == "after the tool"


def test_sequences_repeat_the_last_reply_and_fail_first(test_server):
    test_server.script("multi", "first", "second")
    assert [answer(test_server, "multi")["content"] for _ in range(3)] == [
        "first", "second", "second"]
    test_server.script("flaky", "finally", fail_first=2)
    assert chat(test_server, ("user", "flaky"))[0] == 500
    assert chat(test_server, ("user", "flaky"))[0] == 500
    assert answer(test_server, "flaky")["content"] == "finally"
    test_server.reset()  # rule progress starts over
    assert answer(test_server, "multi")["content"] == "first"


def test_tool_calls_and_respond_function(test_server):
    test_server.script("tools", Reply(tool_calls=[{"name": "f", "arguments": {"n": 10}},
                                                  {"name": "g", "arguments": "{broken"}]))
    test_server.script("echo", respond=lambda body: body["messages"][-1]["content"].upper())
    msg = answer(test_server, "use tools")
    assert msg["content"] is None
    assert [c["function"]["name"] for c in msg["tool_calls"]] == ["f", "g"]
    assert json.loads(msg["tool_calls"][0]["function"]["arguments"]) == {"n": 10}
    assert msg["tool_calls"][1]["function"]["arguments"] == "{broken"
    assert answer(test_server, "echo me")["content"] == "ECHO ME"


@pytest.mark.parametrize("fault,status", [("429", 429), ("500", 500), ("400", 400)])
def test_status_faults(test_server, fault, status):
    test_server.script("boom", Reply(fault=fault, retry_after=3))
    code, headers, body = chat(test_server, ("user", "boom"))
    assert code == status
    assert "error" in json.loads(body)
    assert (headers.get("Retry-After") == "3") is (fault == "429")


def test_body_faults(test_server):
    test_server.script("malformed", Reply(fault="malformed"))
    test_server.script("empty", Reply(fault="empty_choices"))
    test_server.script("null", Reply(fault="null_content"))
    code, _, body = chat(test_server, ("user", "malformed"))
    assert code == 200
    with pytest.raises(ValueError):
        json.loads(body)
    assert json.loads(chat(test_server, ("user", "empty"))[2])["choices"] == []
    assert answer(test_server, "null") == {"role": "assistant", "content": None}


def test_reset_and_timeout_faults(test_server):
    test_server.script("reset", Reply(fault="reset"))
    test_server.script("hang", Reply(fault="timeout", hang_s=5))
    host, port = "127.0.0.1", test_server.port
    conn = http.client.HTTPConnection(host, port, timeout=5)
    body = json.dumps({"model": "x", "messages": [{"role": "user", "content": "reset"}]})
    conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
    with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
        conn.getresponse()
    with pytest.raises(TimeoutError):
        chat(test_server, ("user", "hang"), timeout=0.3)
    log = test_server.requests
    assert [r.kind for r in log] == ["reset", "timeout"]
    assert not log[0].completed


def test_request_log_latency_and_in_flight(test_server):
    test_server.latency = 0.2
    test_server.script("slow", "done")
    threads = [threading.Thread(target=answer, args=(test_server, "slow")) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert test_server.max_in_flight == 4
    assert test_server.count("slow") == 4
    assert test_server.count("nothing like it") == 0
    entry = test_server.requests[0]
    assert entry.completed and entry.finished - entry.started >= 0.2
    assert entry.headers["Authorization"] == "Bearer sk-test"
    assert entry.body["messages"][0]["content"] == "slow"


def test_response_format_rejection(tmp_path):
    with ScriptedServer(reject_response_format=True) as server:
        code, _, body = chat(server, ("user", "x"), response_format={"type": "json_object"})
        assert code == 400 and b"response_format" in body
        assert chat(server, ("user", "x"))[0] == 200


def test_admin_api_and_models(test_server):
    answer(test_server, "one")
    base = test_server.url.removesuffix("/v1")
    with urlopen(f"{base}/_admin/stats") as r:
        assert json.loads(r.read())["count"] == 1
    req = Request(f"{base}/_admin/config", json.dumps({"latency": 0.0, "default": "hey"}).encode(),
                  {"Content-Type": "application/json"})
    with urlopen(req) as r:
        assert json.loads(r.read())["default"] == "hey"
    assert answer(test_server, "two")["content"] == "hey"
    with urlopen(f"{test_server.url}/models") as r:
        assert json.loads(r.read())["data"][0]["id"] == "scripted"
    with pytest.raises(ValueError, match="unknown fault"):
        Reply(fault="explode")
