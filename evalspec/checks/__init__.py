"""Checks: one module per kind, each registering an async callable with `base.register`."""

from .base import CheckContext, lookup, register, run_check, sync_check

__all__ = ["CheckContext", "lookup", "register", "run_check", "sync_check"]
