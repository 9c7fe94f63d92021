"""Subcommands of the `evalspec` CLI, one module each, imported by `evalspec.cli` only when the
subcommand is invoked (so `evalspec compile` never pays for the runner's imports)."""
