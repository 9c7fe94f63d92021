"""The command line. Only this module knows about argv and exit codes.

Exit codes: 0 success; 1 spec errors for compile/check, failed checks for run; 2 usage
errors (and spec errors under run); 3 results left incomplete by errors; 70 an internal
error in evalspec itself.
"""

from __future__ import annotations

import functools
import importlib
import sys
import traceback
from pathlib import Path
from typing import ClassVar

import click

from . import __version__

EXIT_SPEC_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70


class _Group(click.Group):
    """Subcommands live in evalspec.commands.* and are imported only when invoked, so
    `evalspec compile` never pays for the runner's imports."""

    lazy: ClassVar[dict[str, tuple[str, str]]] = {
        "run": ("evalspec.commands.run", "run"),
        "rejudge": ("evalspec.commands.run", "rejudge"),
        "report": ("evalspec.commands.report", "report"),
        "diff": ("evalspec.commands.diff", "diff"),
        "calibrate": ("evalspec.commands.calibrate", "calibrate"),
        "init": ("evalspec.commands.init", "init"),
    }

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy:
            module, attr = self.lazy[name]
            try:
                return getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError):
                return None
        return super().get_command(ctx, name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # a bug in evalspec, never in the user's spec
            internal_error(exc)


def internal_error(exc: BaseException) -> None:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"
    click.echo(
        f"evalspec: internal error: {type(exc).__name__}: {exc} (at {where})\n"
        "This is a bug in evalspec, not in your spec. Please report it with the command you ran;"
        "\nset EVALSPEC_DEBUG=1 for the full traceback.", err=True)
    import os
    if os.environ.get("EVALSPEC_DEBUG"):
        traceback.print_exception(exc)
    sys.exit(EXIT_INTERNAL)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="evalspec")
def main() -> None:
    """Evaluate language models with declarative .eval specs."""


def spec_paths(fn):
    @click.argument("paths", nargs=-1, required=True,
                    type=click.Path(exists=True, path_type=Path))
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return fn(*args, **kwargs)
    return wrapper


def compile_or_exit(paths: tuple[Path, ...], *, quiet: bool = False):
    """Compile, print diagnostics to stderr, and exit 1 on spec errors."""
    from .compiler import compile_paths
    from .diagnostics import render

    result = compile_paths(paths)
    if result.diagnostics:
        click.echo(render(result.diagnostics, result.sources), err=True)
    if not result.ok:
        n_err, n_warn = len(result.errors), len(result.warnings)
        click.echo(f"{n_err} error{'s' if n_err != 1 else ''}"
                   + (f", {n_warn} warning{'s' if n_warn != 1 else ''}" if n_warn else ""),
                   err=True)
        sys.exit(EXIT_SPEC_ERROR)
    if not result.files_checked:
        click.echo("no .eval files found", err=True)
        sys.exit(EXIT_USAGE)
    return result


@main.command("compile")
@spec_paths
@click.option("-o", "--output", "output", type=click.Path(file_okay=False, path_type=Path),
              default=Path("build"), show_default=True, help="Folder for the plans.")
def compile_cmd(paths: tuple[Path, ...], output: Path) -> None:
    """Compile .eval files (or folders of them) into plans."""
    from .compiler import plan_filename

    result = compile_or_exit(paths)
    roots = [p for p in paths if p.is_dir()]
    for plan, entry in zip(result.plans, result.entries, strict=True):
        target = output / plan_filename(entry, roots)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(plan.dumps(), encoding="utf-8")
        click.echo(_summary_line(plan, str(target)))
    libraries = result.files_checked - len(result.plans)
    tail = f" ({libraries} file{'s' if libraries != 1 else ''} without cases checked)" \
        if libraries else ""
    click.echo(f"compiled {len(result.plans)} plan{'s' if len(result.plans) != 1 else ''}{tail}",
               err=True)


@main.command("check")
@spec_paths
def check_cmd(paths: tuple[Path, ...]) -> None:
    """Check .eval files for errors without writing plans."""
    result = compile_or_exit(paths)
    for plan in result.plans:
        click.echo(_summary_line(plan, None))
    click.echo(f"{result.files_checked} file{'s' if result.files_checked != 1 else ''} OK"
               + (f", {len(result.warnings)} warnings" if result.warnings else ""), err=True)


def _summary_line(plan, target: str | None) -> str:
    s = plan.summary()
    judge = s["judge_calls"] + s["pairwise_judge_calls"]
    models = ", ".join(s["models"])
    judged_by = f" (judge: {', '.join(s['judges'])})" if s["judges"] and judge else ""
    out = (f"{plan.source}: {s['cases']} cases × {len(s['models'])} models [{models}] → "
           f"{s['generations']} generations, {judge} judge calls{judged_by}, "
           f"{s['total_calls']} calls in all")
    return out + (f" → {target}" if target else "")


if __name__ == "__main__":
    main()
