"""Finding and reading .eval files: entry points, imports, and import cycles.

Import targets:
- `"rubrics.eval"`, `"../shared/x.eval"`: a path relative to the importing file;
- `"std:creative_writing"`: evalspec's standard library of rubrics;
- `"acme_rubrics:support"`: `support.eval` inside the installed Python package `acme_rubrics`,
  found with importlib.resources, so any wheel can ship rubrics.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from . import nodes as n
from .diagnostics import Diagnostics
from .parser import parse
from .source import SourceFile, display_path

_PACKAGE_TARGET = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*):([A-Za-z0-9_./-]+)$")


@dataclass
class LoadedModule:
    key: str
    """A stable name: the display path for files, `std:x` or `pkg:x` for packaged modules."""
    namespace: str
    """The default prefix for ids of what it declares (`rubrics`, `std.creative_writing`)."""
    source: SourceFile
    module: n.Module
    imports: list[tuple[n.Import, LoadedModule]] = field(default_factory=list)


@dataclass
class Loader:
    diags: Diagnostics
    sources: dict[str, SourceFile] = field(default_factory=dict)
    _modules: dict[str, LoadedModule | None] = field(default_factory=dict)
    _stack: list[str] = field(default_factory=list)

    def load_entry(self, path: Path) -> LoadedModule | None:
        return self._load(path.resolve(), display_path(path), path.stem, None)

    def _load(self, path: Path, key: str, namespace: str,
              via: n.Import | None) -> LoadedModule | None:
        if key in self._stack:
            cycle = [*self._stack[self._stack.index(key):], key]
            assert via is not None  # an entry point cannot be in the stack already
            self.diags.error(via.target.span, "import cycle: " + " → ".join(cycle),
                             "move what both files need into a third file that both import")
            return None
        if key in self._modules:
            return self._modules[key]
        try:
            source = SourceFile(path, key, path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            if via is not None:
                self.diags.error(via.target.span, f"cannot read `{via.target.value}`: {reason}")
            else:
                from .source import Span
                self.diags.error(Span.point(key, 1, 1), f"cannot read the file: {reason}")
            self._modules[key] = None
            return None
        self.sources[key] = source
        module, errors = parse(source)
        self.diags.extend(errors)
        if module is None:
            self._modules[key] = None
            return None
        loaded = LoadedModule(key, namespace, source, module)
        self._modules[key] = loaded
        self._stack.append(key)
        for stmt in module.statements:
            if isinstance(stmt, n.Import):
                target = self._resolve(stmt, path)
                if target is not None:
                    child = self._load(*target, stmt)
                    if child is not None:
                        loaded.imports.append((stmt, child))
        self._stack.pop()
        return loaded

    def _resolve(self, stmt: n.Import, importer: Path) -> tuple[Path, str, str] | None:
        target = stmt.target.value
        m = _PACKAGE_TARGET.match(target)
        if m:
            package, module = m.group(1), m.group(2)
            if package == "std":
                package = "evalspec.stdlib"
            rel = module if module.endswith(".eval") else module + ".eval"
            try:
                spec = importlib.util.find_spec(package)
            except (ImportError, ValueError):
                spec = None
            if spec is None:
                self.diags.error(stmt.target.span, f"no installed Python package `{package}`",
                                 f"install it (pip install {package.split('.')[0]}) or import "
                                 "a file by its relative path")
                return None
            base = resources.files(package)
            resource = base.joinpath(*rel.split("/"))
            if not resource.is_file():
                available = sorted(p.name.removesuffix(".eval") for p in base.iterdir()
                                   if p.name.endswith(".eval"))
                from .diagnostics import did_you_mean
                hint = did_you_mean(module, available) or (
                    "it has: " + ", ".join(available) if available else
                    f"`{package}` ships no .eval files")
                self.diags.error(stmt.target.span, f"`{package}` has no module `{module}`", hint)
                return None
            stem = rel.removesuffix(".eval").replace("/", ".")
            prefix = "std" if m.group(1) == "std" else m.group(1)
            return Path(str(resource)), f"{m.group(1)}:{module}", f"{prefix}.{stem}"
        path = (importer.parent / target).resolve()
        if not path.is_file():
            from .diagnostics import did_you_mean
            siblings = [p.name for p in path.parent.glob("*.eval")] if path.parent.is_dir() else []
            hint = did_you_mean(Path(target).name, siblings)
            self.diags.error(stmt.target.span, f"no file `{target}` (looked in {path.parent})",
                             hint)
            return None
        return path, display_path(path), path.stem
