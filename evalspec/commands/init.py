"""`evalspec init [DIR]`: scaffold a project that runs at once on the embedded model.

It writes a settings file (`evalspec.toml`) and a first spec (`evals/hello.eval`) with a few
cases, one of them graded by a rubric from the standard library. The spec declares no model,
so it runs on the embedded local model: `evalspec run --local` needs no key and no network.
Existing files are never overwritten: if any target exists, nothing is written.
"""

from __future__ import annotations

from pathlib import Path

import click

CONFIG = '''\
# evalspec project settings (see docs/config.md). Command-line options override them.

# Where `evalspec run` and `evalspec check` look when given no path.
specs = ["evals"]

# The results store and response cache (SQLite); it keeps a .gitignore of its own.
store = ".evalspec"

# Reports written after every run: FORMAT:PATH, FORMAT one of md, html, json, junit, terminal.
reports = ["html:reports/latest.html"]
'''

HELLO = '''\
# A first evalspec spec. Run it with
#
#   evalspec run --local          # the embedded model: no key, no network
#   evalspec report               # the latest run, as tables (or --format html -o report.html)
#
# This spec declares no model, so every case runs on the embedded local model (a small base
# model: expect some failures; that is a finding, not a bug). To test a real endpoint, declare
#
#   model gpt4o {
#     provider = openai
#     id = "gpt-4o"
#     base_url = env("OPENAI_BASE_URL", "https://api.openai.com/v1")
#     api_key = env("OPENAI_API_KEY")
#   }
#
# or keep the spec as it is and run `evalspec run --model local=openai:gpt-4o@https://...`.

# Rubrics from evalspec's standard library, for what no program can decide.
import "std:helpfulness" as std_help

suite hello "First steps" {
  case capital "Capital of France" {
    prompt = "What is the capital of France? Answer in one word."
    expect text contains "Paris" ignore_case
  }

  case arithmetic "Two plus two" {
    prompt = "What is 2 + 2? Reply with the number only."
    expect number == 4
  }

  case greeting "A helpful reply" {
    prompt = "How do I undo my last git commit but keep its changes? Answer briefly."
    expect text words 5..200
    # With no model declared the embedded model also judges (a judge grading its own answers
    # is biased); add `judge = <a stronger model>` at the top once you have one.
    expect judge std_help.helpfulness
  }
}
'''

FILES = {"evalspec.toml": CONFIG, "evals/hello.eval": HELLO}


def scaffold(directory: Path) -> list[Path]:
    """Write the project files into `directory`; refuses (FileExistsError) if any exists."""
    targets = {directory / name: text for name, text in FILES.items()}
    existing = [p for p in targets if p.exists()]
    if existing:
        raise FileExistsError(", ".join(str(p) for p in existing))
    for path, text in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        # "x": never replace a file that appeared since the check above.
        with path.open("x", encoding="utf-8") as f:
            f.write(text)
    return list(targets)


@click.command("init")
@click.argument("directory", required=False, default=".",
                type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Create a new evalspec project in DIRECTORY (default: here): a settings file and a first
    spec that runs on the embedded model with `evalspec run --local`."""
    try:
        written = scaffold(directory)
    except FileExistsError as exc:
        raise click.UsageError(f"not overwriting existing files: {exc}; nothing was written") \
            from None
    for path in written:
        click.echo(f"created {path}", err=True)
    where = "" if directory == Path(".") else f"cd {directory} && "
    click.echo(f"next: {where}evalspec run --local", err=True)
