"""Project settings: `evalspec.toml`, or a `[tool.evalspec]` table in `pyproject.toml`.

Looked up from the working directory upwards; the first `evalspec.toml`, or `pyproject.toml`
with a `[tool.evalspec]` table, wins. Paths in it are relative to the file's folder.
Command-line options override every setting. Documented in docs/config.md.

    specs = ["evals"]                     # where commands look when given no path
    store = ".evalspec"                   # results store and response cache
    reports = ["html:reports/latest.html"]   # written after every run (FORMAT:PATH)
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_FILE = "evalspec.toml"
_KEYS = {"specs": list, "store": str, "reports": list}


class ConfigError(ValueError):
    """A settings file evalspec cannot use; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class ProjectConfig:
    root: Path
    """The folder of the settings file (the working directory when there is none)."""
    file: Path | None = None
    specs: tuple[str, ...] = ("evals",)
    store: str = ".evalspec"
    reports: tuple[str, ...] = ()

    @property
    def store_dir(self) -> Path:
        return self.root / self.store

    def spec_paths(self) -> list[Path]:
        """The configured spec folders and files that exist."""
        return [p for p in (self.root / s for s in self.specs) if p.exists()]


def _settings(path: Path) -> Mapping[str, Any] | None:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read it ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    if path.name == "pyproject.toml":
        tool = data.get("tool")
        section = tool.get("evalspec") if isinstance(tool, dict) else None
        return section if isinstance(section, dict) else None
    return data


def parse_config(data: Mapping[str, Any], root: Path, file: Path | None) -> ProjectConfig:
    where = str(file) if file else "settings"
    values: dict[str, Any] = {}
    for key, value in data.items():
        kind = _KEYS.get(key)
        if kind is None:
            raise ConfigError(f"{where}: unknown setting {key!r}; evalspec knows "
                              f"{', '.join(sorted(_KEYS))}")
        if not isinstance(value, kind) or (kind is list and not all(
                isinstance(v, str) for v in value)):
            shape = "a list of strings" if kind is list else "a string"
            raise ConfigError(f"{where}: {key} must be {shape}, not {value!r}")
        values[key] = tuple(value) if kind is list else value
    if "reports" in values:
        from .reports import ReportSpecError, parse_report_spec
        for spec in values["reports"]:
            try:
                parse_report_spec(spec)
            except ReportSpecError as exc:
                raise ConfigError(f"{where}: reports: {exc}") from None
    return ProjectConfig(root=root, file=file, **values)


def load_config(start: Path | None = None) -> ProjectConfig:
    """The settings that apply in `start` (default: the working directory)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        for name in (CONFIG_FILE, "pyproject.toml"):
            path = folder / name
            if path.is_file():
                data = _settings(path)
                if data is not None:
                    return parse_config(data, folder, path)
    return ProjectConfig(root=here)
