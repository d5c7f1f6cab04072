"""The package layout is a contract: one package per pipeline stage, data flowing one way, small
modules, and README's "Project layout" naming every room."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CRAWLER = ROOT / "crawler"
STAGES = ("model", "intake", "web", "judge", "store", "fix", "report", "sim", "cli", "cluster")
# What each stage may import from the others (top-level helpers such as config, text and redact
# are open to every stage). Nothing may import the conductor, the CLI or the benchmarks.
MAY_IMPORT: dict[str, set[str]] = {
    "model": set(),
    "store": {"model"},
    "web": {"model"},
    "intake": {"model", "web"},
    "judge": {"model", "web", "store"},
    # fix derives an AMP cache URL with the judge's one function (crawler/judge/amp.py)
    "fix": {"model", "web", "intake", "judge", "store"},
    "report": {"model", "web", "store", "fix"},
    "sim": {"model", "web"},
    "cli": {"model", "intake", "store", "fix", "report", "crawl", "demo", "cluster"},
    "cluster": {"model", "web", "judge", "store"},
}
MAX_LINES = 420  # "each module under about 400 lines"


def _modules() -> list[Path]:
    return sorted(CRAWLER.rglob("*.py"))


def _stage_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "crawler" else None


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            if node.module == "crawler":
                found.update(f"crawler.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_each_stage_imports_only_the_stages_before_it() -> None:
    wrong = []
    for path in _modules():
        own = _stage_of(".".join(path.relative_to(ROOT).with_suffix("").parts))
        if own not in MAY_IMPORT:
            continue
        for module in _imports(path):
            other = _stage_of(module)
            another_stage = other in (*STAGES, "crawl", "demo") and other != own
            if another_stage and other not in MAY_IMPORT[own]:
                wrong.append(f"{path.relative_to(ROOT)} imports {module}")
    assert wrong == []


def test_production_never_imports_the_benchmarks_or_the_tests() -> None:
    wrong = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in _modules()
        for module in _imports(path)
        if module.split(".")[0] in ("benchmarks", "tests")
    ]
    assert wrong == []


def test_only_the_cli_and_the_demo_drive_a_crawl() -> None:
    drivers = {
        str(path.relative_to(ROOT))
        for path in _modules()
        if any(_stage_of(m) == "crawl" for m in _imports(path))
    }
    assert drivers <= {"crawler/cli/run.py", "crawler/demo.py"}, drivers


def test_every_module_is_small_enough_to_read() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in _modules()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}


def test_readme_names_every_package_and_top_level_module() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Project layout") : readme.index("## Development")]
    named = set(re.findall(r"`(crawler/[\w/]+(?:\.py)?/?)`", layout))
    rooms = {f"crawler/{p.name}/" for p in CRAWLER.iterdir() if (p / "__init__.py").exists()}
    tops = {f"crawler/{p.name}" for p in CRAWLER.glob("*.py") if p.name != "__init__.py"}
    assert rooms | tops <= named, sorted((rooms | tops) - named)


def test_the_wheel_ships_the_crawler_only() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'include = ["crawler*"]' in pyproject
