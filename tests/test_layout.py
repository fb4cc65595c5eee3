"""The package's layout (README: "How the code is laid out"), read from every module's own imports (ast;
imports inside functions count too):

* every import of the package names one of its modules (a lazy import inside a function too);
* every module belongs to a stage of STAGES, and imports only its own stage or stages below it;
* no import cycle between modules;
* no module over MAX_LINES lines, unless its docstring has a line starting with ONE_IDEA saying why it
  is one idea all the same;
* no two test files of one name: the tests mirror the package, and pytest imports a test file without
  __init__.py by its base name, so a second file of that name stops the whole collection.

STAGES lists the stages bottom-up, each as the module prefixes it holds. New work goes into the stage it
belongs to (a front end under pt2caffe.frontends, target rules under pt2caffe.net); a new stage is a new
entry at its place in the pipeline.
"""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "pt2caffe"
STAGES = [  # bottom → top
    ("pt2caffe.version", "pt2caffe.errors", "pt2caffe.console", "pt2caffe.graph"),  # foundation
    ("pt2caffe.net",),  # the Caffe net as data and files
    ("pt2caffe.frontends",),  # a model in its own format → the op graph
    ("pt2caffe.lowering",),  # the op graph → the net
    ("pt2caffe.conversion",),  # the pipeline: trace, lower, settle, probe sizes, write
    ("pt2caffe.runtimes",),  # running nets: pycaffe, OpenCV, MNN, Docker
    ("pt2caffe.ssd",),  # SSD heads
    ("pt2caffe.check",),  # proving an export blob by blob
    ("pt2caffe.importer",),  # Caffe weights into the user's PyTorch definition, proved
    ("pt2caffe.readme",),  # the README's generated tables
    ("pt2caffe.cli", "pt2caffe.__main__"),  # the commands
]
FACE = "pt2caffe"  # the package's __init__: the public API, above every stage
GENERATED = {"pt2caffe.net.caffe_pb2"}  # protoc's output (scripts/gen_proto.sh)
MAX_LINES = 300
ONE_IDEA = "One idea:"


def _modules() -> dict[str, Path]:
    """Module name → file, for every module of the package."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The package's names that module ``name`` imports: P.m for ``from P import m`` when m is a module, else P."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            targets.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                           for alias in node.names)
    return {target for target in targets if target.split(".")[0] == FACE and target != name}


IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def _stage(name: str) -> int | None:
    if name == FACE:
        return len(STAGES)
    return next((index for index, prefixes in enumerate(STAGES)
                 if any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)), None)


def test_every_import_names_a_module():
    assert [f"{name} -> {target}" for name, targets in sorted(IMPORTS.items()) for target in sorted(targets)
            if target not in MODULES] == []


def test_every_module_belongs_to_a_stage():
    assert [name for name in MODULES if _stage(name) is None] == []


def test_imports_point_down_the_pipeline():
    upward = [f"{name} -> {target}" for name, targets in sorted(IMPORTS.items()) for target in sorted(targets)
              if target in MODULES and _stage(target) is not None and _stage(name) is not None
            and _stage(target) > _stage(name)]
    assert upward == []


def test_no_import_cycles():
    """Depth-first search; a back edge to a module on the current path closes a cycle."""
    cycles, state = [], {}  # state: 1 on the path, 2 done

    def visit(name, path):
        state[name] = 1
        for target in sorted(IMPORTS[name] & MODULES.keys()):
            if state.get(target) == 1:
                cycles.append(" -> ".join(path[path.index(target):] + [target]))
            elif target not in state:
                visit(target, path + [target])
        state[name] = 2

    for name in sorted(MODULES):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def test_long_modules_say_why_they_are_one_idea():
    def says_why(path):
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        return any(line.startswith(ONE_IDEA) for line in docstring.splitlines())

    long = [f"{name} ({len(path.read_text(encoding='utf-8').splitlines())} lines)"
            for name, path in sorted(MODULES.items()) if name not in GENERATED
            and len(path.read_text(encoding="utf-8").splitlines()) > MAX_LINES and not says_why(path)]
    assert long == []


def test_test_files_have_unique_names():
    tests = Path(__file__).resolve().parent
    seen = {}
    for path in sorted(tests.rglob("test_*.py")):
        seen.setdefault(path.name, []).append(str(path.relative_to(tests)))
    assert [places for places in seen.values() if len(places) > 1] == []
