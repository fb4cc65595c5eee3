"""Draw a converted net with graphviz: one box per layer (name, type, torch module, output shape),
an arrow per blob, coloured by ``pt2caffe check``'s verdict when a check ran.

Rendering needs graphviz's ``dot`` binary (Debian package ``graphviz``); without it the graph is
written as plain ``.dot`` text with a one-line hint on stderr.
"""
from __future__ import annotations

import sys
from collections.abc import Iterable

from ..errors import Pt2CaffeError
from ..net.files import write_files

FORMATS = ("svg", "png")
# verdict → (fill colour, border width); layers without a verdict were not compared
STYLES = {
    "ok": ("#c8e6c9", "1"),
    "fail": ("#ffcdd2", "1"),
    "first": ("#ef5350", "3"),
    "shape": ("#ffe0b2", "1"),
    "missing": ("#ffe0b2", "1"),
}
LEGEND = ("green: within tolerance; red: out of tolerance (bold: first divergence); "
          "orange: shape differs or blob missing; white: no PyTorch counterpart")


def parse_formats(formats: str | Iterable[str]) -> list[str]:
    """``"svg,png"`` (or a list) → ["svg", "png"], refusing anything graphviz is not asked for here."""
    names = formats.split(",") if isinstance(formats, str) else list(formats)
    names = [name.strip().lower() for name in names if name.strip()]
    wrong = [name for name in names if name not in FORMATS]
    if wrong or not names:
        raise Pt2CaffeError(f"unknown graph format {', '.join(wrong) or repr(formats)} "
                            f"(choose from {', '.join(FORMATS)})")
    return names


def _shape_text(shape) -> str:
    return "x".join(str(d) for d in shape)


def _label(layer: dict, shapes: dict[str, list]) -> str:
    lines = [layer["name"], layer["type"]]
    module = layer.get("module") or ""
    if module and not layer["name"].startswith(module):
        lines.append(module)
    top = layer["tops"][0] if layer.get("tops") else None
    if top in shapes:
        lines.append(_shape_text(shapes[top]))
    return "\n".join(lines)


def net_graph(report: dict, verdicts: dict[str, str] | None = None):
    """The graphviz.Digraph of the report's layers."""
    try:
        import graphviz
    except ImportError:
        raise Pt2CaffeError("drawing needs the graphviz Python package: pip install graphviz") from None
    shapes = {row["blob"]: row["shape"] for row in report.get("blobs", [])}
    shapes.update({entry["name"]: entry["shape"] for entry in report.get("inputs", [])})
    title = report.get("name", "net") + (f"\n{LEGEND}" if verdicts is not None else "")
    graph = graphviz.Digraph(report.get("name", "net"), graph_attr={"rankdir": "TB", "label": title, "fontsize": "12"},
                             node_attr={"shape": "box", "style": "rounded,filled", "fillcolor": "white",
                                        "fontname": "Helvetica", "fontsize": "10"})
    producer = {}
    for index, layer in enumerate(report["layers"]):
        node = f"L{index}"
        attributes = {"tooltip": " ".join(filter(None, [layer.get("module"), layer.get("source")]))}
        verdict = (verdicts or {}).get(layer["name"])
        if verdict in STYLES:
            attributes["fillcolor"], attributes["penwidth"] = STYLES[verdict]
        graph.node(node, _label(layer, shapes), **attributes)
        for bottom in layer.get("bottoms", []):
            if bottom in producer:
                graph.edge(producer[bottom], node)
        producer.update({top: node for top in layer.get("tops", [])})
    return graph


def draw_report(report: dict, prefix: str, verdicts: dict[str, str] | None = None,
                formats: str | Iterable[str] = ("svg",)) -> list[str]:
    """Write PREFIX.svg (and/or .png) of the net; return the paths written.

    ``verdicts`` maps layer names to "ok", "fail", "first", "shape" or "missing".
    Without graphviz's ``dot`` binary, writes PREFIX.dot instead and says so on stderr.
    """
    names = parse_formats(formats)
    graph = net_graph(report, verdicts)
    import graphviz  # net_graph has said how to install it if missing

    rendered = {}
    try:
        for name in names:
            rendered[name] = graph.pipe(format=name)
    except graphviz.ExecutableNotFound:
        path = f"{prefix}.dot"
        write_files({path: graph.source})
        print(f"pt2caffe: graphviz 'dot' not found, wrote {path} instead "
              f"(apt-get install graphviz, or: dot -Tsvg {path} -o {prefix}.svg)", file=sys.stderr)
        return [path]
    files = {f"{prefix}.{name}": data for name, data in rendered.items()}
    write_files(files)
    return list(files)
