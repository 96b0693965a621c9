"""Layout rules that keep the tree honest: the sample's truth stands apart from the analysis code it checks,
box geometry is written once, and only Dagster's public API is used."""
import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [p for d in ("animproc", "animproc_dagster", "assets", "resources", "partitions", "bench")
           for p in (ROOT / d).rglob("*.py")]


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return names | {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}


def test_the_sample_films_truth_imports_no_analysis_code():
    for name in ("film.py", "voices.py"):
        ours = {m for m in _imported_modules(ROOT / "animproc" / "sample" / name) if m.startswith("animproc")}
        assert ours <= {"animproc.sample.voices"}, name


def test_box_helpers_are_defined_once_in_the_image_boxes_module():
    helpers = ("box_iou", "centre_inside", "figure_box", "inside_share", "overlap_of_smaller", "grown_box")
    defined = {(p.relative_to(ROOT).as_posix(), m) for p in SOURCES
               for m in re.findall(r"^def (\w+)\(", p.read_text(), re.M) if m in helpers}
    assert defined == {("animproc/image/boxes.py", h) for h in helpers}


def test_no_private_dagster_imports():
    private = {p.relative_to(ROOT).as_posix() for p in [*SOURCES, *(ROOT / "tests").rglob("*.py")]
               if any(m.startswith("dagster._") for m in _imported_modules(p))}
    assert private == set()


def test_no_module_of_the_cli_package_is_over_300_lines():
    long = {p.name: n for p in (ROOT / "animproc_dagster" / "cli").glob("*.py")
            if (n := len(p.read_text().splitlines())) > 300}
    assert long == {} and (ROOT / "animproc_dagster" / "cli" / "__init__.py").exists()
