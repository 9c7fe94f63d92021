"""A model's answer as checks see it, whatever endpoint produced it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    arguments: Any
    """Parsed arguments (usually a dict); the raw string when they were not valid JSON."""
    raw_arguments: str = ""
    id: str | None = None
    parse_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "arguments": self.arguments,
            "raw_arguments": self.raw_arguments,
            "parse_error": self.parse_error,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ToolCall:
        return cls(d["name"], d.get("arguments"), d.get("raw_arguments", ""), d.get("id"),
                   d.get("parse_error"))


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True, slots=True)
class ToolStep:
    """One executed tool call in a multi-step run: what the model asked and what the tool said."""

    call: ToolCall
    output: str
    ok: bool

    def to_json(self) -> dict[str, Any]:
        return {"call": self.call.to_json(), "output": self.output, "ok": self.ok}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ToolStep:
        return cls(ToolCall.from_json(d["call"]), d["output"], d["ok"])


@dataclass(frozen=True, slots=True)
class ModelResponse:
    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    latency_ms: float = 0.0
    model: str = ""
    cached: bool = False
    steps: tuple[ToolStep, ...] = ()
    """Tools executed during a multi-step run, in order. Empty for a single turn."""
    turns: tuple[str, ...] = ()
    """Every assistant text of a multi-step run, the final one last."""

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "tool_calls": [c.to_json() for c in self.tool_calls],
            "finish_reason": self.finish_reason,
            "usage": {"prompt_tokens": self.usage.prompt_tokens,
                      "completion_tokens": self.usage.completion_tokens},
            "latency_ms": self.latency_ms,
            "model": self.model,
            "cached": self.cached,
            "steps": [s.to_json() for s in self.steps],
            "turns": list(self.turns),
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ModelResponse:
        return cls(
            text=d["text"],
            tool_calls=tuple(ToolCall.from_json(c) for c in d.get("tool_calls", ())),
            finish_reason=d.get("finish_reason"),
            usage=Usage(**d.get("usage", {})),
            latency_ms=d.get("latency_ms", 0.0),
            model=d.get("model", ""),
            cached=d.get("cached", False),
            steps=tuple(ToolStep.from_json(s) for s in d.get("steps", ())),
            turns=tuple(d.get("turns", ())),
        )
