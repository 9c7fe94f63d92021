"""The compiled plan: the IR between the compiler and the runner.

Everything here is a frozen dataclass that round-trips through JSON. A plan is self-contained:
files the spec referenced (tool implementations, schemas, pytest files, prompt files) are
inlined, so a plan runs the same on any machine and its hashes mean the same everywhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 1


# One encoder for every hash: json.dumps builds a new one per call when given options.
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def canonical_json(value: Any) -> str:
    return _CANONICAL.encode(value)


def _as_dict(value: Mapping[str, Any]) -> dict[str, Any]:
    """A mapping json can write: the dict itself when it is one (the usual case)."""
    return value if type(value) is dict else dict(value)


def content_hash(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    provider: str
    """`openai` (any OpenAI-compatible endpoint) or `local` (llama.cpp in process)."""
    model_id: str
    base_url: str | None = None
    base_url_env: str | None = None
    api_key_env: str | None = None
    """The name of the environment variable holding the key. Never the key."""
    params: Mapping[str, Any] = field(default_factory=dict)
    """Default sampling parameters: temperature, max_tokens, seed, top_p, stop."""
    headers: Mapping[str, str] = field(default_factory=dict)
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    concurrency: int | None = None
    rpm: int | None = None
    timeout_s: float = 120.0
    retries: int = 4
    chat_format: str | None = None
    """llama.cpp chat format for local models (`alpaca` suits base models)."""
    gguf: str | None = None
    """A GGUF file for local models; the embedded Gemma 3 270M when absent."""
    structured_output: bool = True
    """Whether to send `response_format` with a JSON Schema when a caller asks for one."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "provider": self.provider, "model_id": self.model_id,
            "base_url": self.base_url, "base_url_env": self.base_url_env,
            "api_key_env": self.api_key_env, "params": dict(self.params),
            "headers": dict(self.headers), "extra_body": dict(self.extra_body),
            "concurrency": self.concurrency, "rpm": self.rpm, "timeout_s": self.timeout_s,
            "retries": self.retries, "chat_format": self.chat_format, "gguf": self.gguf,
            "structured_output": self.structured_output,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ModelSpec:
        return cls(**d)


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    parameters: Mapping[str, Any]
    """A JSON Schema object describing the arguments."""
    impl_source: str | None = None
    """The Python source of the implementation file, inlined."""
    impl_function: str | None = None
    impl_file: str | None = None
    """Where the implementation came from, for messages only."""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "description": self.description,
            "parameters": dict(self.parameters), "impl_source": self.impl_source,
            "impl_function": self.impl_function, "impl_file": self.impl_file,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ToolSpec:
        return cls(**d)

    def openai_schema(self) -> dict[str, Any]:
        return {"type": "function", "function": {
            "name": self.name, "description": self.description,
            "parameters": dict(self.parameters)}}


@dataclass(frozen=True, slots=True)
class Criterion:
    name: str
    description: str
    weight: float = 1.0
    descriptors: Mapping[str, str] = field(default_factory=dict)
    """Per-score descriptors, keyed by the score as a string ("1", "5", "pass")."""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "weight": self.weight,
                "descriptors": dict(self.descriptors)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Criterion:
        return cls(**d)


@dataclass(frozen=True, slots=True)
class GoldenExample:
    text: str
    score: float
    prompt: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "score": self.score, "prompt": self.prompt}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> GoldenExample:
        return cls(**d)


@dataclass(frozen=True, slots=True)
class RubricSpec:
    id: str
    """Qualified name, e.g. `rubrics.creative_writing` or `std.creative_writing`."""
    name: str
    description: str
    scale_min: int
    scale_max: int
    pass_fail: bool
    """A pass/fail rubric is the scale 0..1 where 1 means pass."""
    threshold: float
    criteria: tuple[Criterion, ...]
    origin: str
    """Where the rubric was defined: `path/to/file.eval:12` or `package:module`."""
    content_hash: str = ""
    reference: str | None = None
    examples: tuple[GoldenExample, ...] = ()
    judge: str | None = None
    """A model name; None means the plan's default judge."""
    template: str | None = None
    """A jinja2 judge-prompt template overriding the shipped one."""
    samples: int = 1
    aggregate: str = "mean"
    temperature: float = 0.0
    min_agreement: float | None = None
    """Required calibration agreement (within one point) before verdicts may gate the exit code."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "description": self.description,
            "scale_min": self.scale_min, "scale_max": self.scale_max,
            "pass_fail": self.pass_fail, "threshold": self.threshold,
            "criteria": [c.to_json() for c in self.criteria], "origin": self.origin,
            "content_hash": self.content_hash, "reference": self.reference,
            "examples": [e.to_json() for e in self.examples], "judge": self.judge,
            "template": self.template, "samples": self.samples, "aggregate": self.aggregate,
            "temperature": self.temperature, "min_agreement": self.min_agreement,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> RubricSpec:
        d = dict(d)
        d["criteria"] = tuple(Criterion.from_json(c) for c in d["criteria"])
        d["examples"] = tuple(GoldenExample.from_json(e) for e in d["examples"])
        return cls(**d)

    def hash_payload(self) -> dict[str, Any]:
        payload = self.to_json()
        payload.pop("content_hash")
        payload.pop("origin")
        return payload


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """One expectation: a kind, its parameters, and children for all / any / not.

    The parameter shapes per kind are documented in docs/plan.md.
    """

    kind: str
    params: Mapping[str, Any]
    label: str
    location: str = ""
    """`file:line:col` of the expectation in the spec, for messages."""
    children: tuple[CheckSpec, ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "label": self.label,
                               "params": dict(self.params), "location": self.location}
        if self.children:
            out["children"] = [c.to_json() for c in self.children]
        return out

    def content(self) -> dict[str, Any]:
        """What decides the check's verdict, for hashing: its JSON without the location,
        which moves whenever a line is added above it. Not copied: only ever serialised."""
        out: dict[str, Any] = {"kind": self.kind, "label": self.label,
                               "params": _as_dict(self.params)}
        if self.children:
            out["children"] = [c.content() for c in self.children]
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CheckSpec:
        return cls(d["kind"], d["params"], d["label"], d.get("location", ""),
                   tuple(cls.from_json(c) for c in d.get("children", ())))

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    content: str

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "content": self.content}


@dataclass(frozen=True, slots=True)
class CaseSpec:
    id: str
    """Unique within the plan: `suite/case`, with `#n` for expanded data rows."""
    suite: str
    title: str
    tags: tuple[str, ...]
    messages: tuple[Message, ...]
    params: Mapping[str, Any]
    """Per-case sampling parameters; they override the model's defaults."""
    samples: int
    models: tuple[str, ...]
    """The models this case runs against."""
    checks: tuple[CheckSpec, ...]
    tools: tuple[str, ...] = ()
    tool_mode: str = "native"
    """`native` (OpenAI function calling) or `action` (the text protocol); sets how tools are
    offered and how calls are read back."""
    tool_steps: int = 0
    """When > 0, tools are executed and their results fed back for up to this many steps."""
    response_schema: Mapping[str, Any] | None = None
    """Ask the endpoint for structured output with this JSON Schema."""
    reference: str | None = None
    location: str = ""
    vars: Mapping[str, Any] = field(default_factory=dict)
    """The data row (and case variables) the case was rendered with."""
    hash: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "suite": self.suite, "title": self.title, "tags": list(self.tags),
            "messages": [m.to_json() for m in self.messages], "params": dict(self.params),
            "samples": self.samples, "models": list(self.models),
            "checks": [c.to_json() for c in self.checks], "tools": list(self.tools),
            "tool_mode": self.tool_mode, "tool_steps": self.tool_steps,
            "response_schema": self.response_schema, "reference": self.reference,
            "location": self.location, "vars": dict(self.vars), "hash": self.hash,
        }

    def content(self) -> dict[str, Any]:
        """What decides the case's results, for its hash: to_json() without the hash and
        without locations (moving a case leaves it the same case). Only ever serialised, so
        nothing is copied (JSON writes tuples as lists)."""
        return {
            "id": self.id, "suite": self.suite, "title": self.title, "tags": self.tags,
            "messages": [m.to_json() for m in self.messages], "params": _as_dict(self.params),
            "samples": self.samples, "models": self.models,
            "checks": [c.content() for c in self.checks], "tools": self.tools,
            "tool_mode": self.tool_mode, "tool_steps": self.tool_steps,
            "response_schema": self.response_schema, "reference": self.reference,
            "vars": _as_dict(self.vars),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CaseSpec:
        d = dict(d)
        d["tags"] = tuple(d["tags"])
        d["messages"] = tuple(Message(**m) for m in d["messages"])
        d["models"] = tuple(d["models"])
        d["checks"] = tuple(CheckSpec.from_json(c) for c in d["checks"])
        d["tools"] = tuple(d["tools"])
        return cls(**d)


@dataclass(frozen=True, slots=True)
class Plan:
    source: str
    """The spec file the plan was compiled from, relative to where it was compiled."""
    models: Mapping[str, ModelSpec]
    judge: str | None
    """The default judge model's name."""
    rubrics: Mapping[str, RubricSpec]
    tools: Mapping[str, ToolSpec]
    cases: tuple[CaseSpec, ...]
    judge_templates: Mapping[str, str] = field(default_factory=dict)
    """The project's judge prompt templates (judge_templates/*.j2 beside the spec), inlined."""
    schema_version: int = SCHEMA_VERSION
    hash: str = ""

    def summary(self) -> dict[str, Any]:
        generations = sum(c.samples * len(c.models) for c in self.cases)
        judge_calls = 0
        pairwise_calls = 0
        for case in self.cases:
            for spec in case.checks:
                for check in spec.walk():
                    if check.kind == "judge":
                        rubric = self.rubrics[check.params["rubric"]]
                        judge_calls += (case.samples * len(case.models)
                                        * int(check.params.get("samples") or rubric.samples))
                    elif check.kind == "pairwise":
                        n = len(check.params.get("models") or case.models)
                        rubric = self.rubrics[check.params["rubric"]]
                        # Both orders for every pair of models.
                        pairwise_calls += (n * (n - 1) * case.samples
                                           * int(check.params.get("samples") or rubric.samples))
        under_test = sorted({m for c in self.cases for m in c.models})
        judges = sorted({r.judge or self.judge for r in self.rubrics.values()
                         if r.judge or self.judge} - set(under_test))
        return {
            "cases": len(self.cases),
            "models": under_test,
            "judges": judges,
            "generations": generations,
            "judge_calls": judge_calls,
            "pairwise_judge_calls": pairwise_calls,
            "total_calls": generations + judge_calls + pairwise_calls,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "source": self.source,
            "hash": self.hash,
            "summary": self.summary(),
            "judge": self.judge,
            "models": {k: v.to_json() for k, v in sorted(self.models.items())},
            "rubrics": {k: v.to_json() for k, v in sorted(self.rubrics.items())},
            "tools": {k: v.to_json() for k, v in sorted(self.tools.items())},
            "cases": [c.to_json() for c in self.cases],
            "judge_templates": dict(sorted(self.judge_templates.items())),
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Plan:
        if d.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(
                f"plan schema version {d.get('schema_version')!r} is not {SCHEMA_VERSION}; "
                "recompile the spec")
        return cls(
            source=d["source"],
            models={k: ModelSpec.from_json(v) for k, v in d["models"].items()},
            judge=d["judge"],
            rubrics={k: RubricSpec.from_json(v) for k, v in d["rubrics"].items()},
            tools={k: ToolSpec.from_json(v) for k, v in d["tools"].items()},
            cases=tuple(CaseSpec.from_json(c) for c in d["cases"]),
            judge_templates=d.get("judge_templates", {}),
            schema_version=d["schema_version"],
            hash=d.get("hash", ""),
        )

    @classmethod
    def loads(cls, text: str) -> Plan:
        return cls.from_json(json.loads(text))
