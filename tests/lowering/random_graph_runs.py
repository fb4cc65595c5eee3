"""Export random graphs (random_graphs.py) and judge them in pycaffe as ``pt2caffe check`` does.

Each graph is exported as ``pt2caffe run`` would (trace, lower, shape verification, size probes, files); all
exports then run in one pycaffe child (restarted after the one whose net aborts Caffe), and every mapped
blob is compared with ``pt2caffe.check``'s own maths: max |Δ| ≤ 1e-4 · max |PyTorch|, index blobs tie-aware
with the blobs after a tie flip judged on PyTorch run again on Caffe's indices. A blob that misses 1e-4 passes
within check's pycaffe noise floor (pt2caffe.check.noise: 10× its float32 value against a float64 run of the
graph): a graph of divisions, exponentials and sharp softmaxes can be noisier than 1e-4 in PyTorch itself.

Verdicts: "exact", "refused" (a one-line Pt2CaffeError: pt2caffe declined), and the failures "wrong" (exported,
but a blob differs), "abort" (Caffe refuses the exported net), "crash" (any other exception while exporting,
or an error pt2caffe marks internal).
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from random_graphs import generate
from pt2caffe.check.compare import compare_all
from pt2caffe.check.run import CaffeRun
from pt2caffe.check.subject import caffe_net
from pt2caffe.check.torch_side import TorchSide, reference_arrays
from pt2caffe.console import Progress
from pt2caffe.conversion import convert, write
from pt2caffe.errors import Pt2CaffeError
from pt2caffe.runtimes.launch import worker_environment

RTOL = 1e-4
FAILURES = ("wrong", "abort", "crash")
BATCH = Path(__file__).with_name("pycaffe_batch.py")


@dataclass
class Outcome:
    seed: int
    verdict: str
    detail: str = ""
    graph: str = ""  # the graph as text
    ties: int = 0  # index tie flips that passed
    extra: dict = field(default_factory=dict)  # exported graphs: what the judge needs


class _Tolerances:
    """check's arguments: tolerance relative to max |PyTorch| only."""
    atol, rtol = 0.0, RTOL


def _export(seed: int, directory: Path) -> Outcome:
    model, x = generate(seed)
    outcome = Outcome(seed, "exported", graph=model.describe())
    try:
        conversion = convert(model, [x], capture=True)
        report = write(conversion, str(directory / f"g{seed}"))
    except Pt2CaffeError as error:
        internal = str(error).startswith("internal:") or "could not be converted" in str(error)
        return Outcome(seed, "crash" if internal else "refused", str(error), outcome.graph)
    except Exception as error:  # noqa: BLE001 — a failure of pt2caffe itself, reported as such
        return Outcome(seed, "crash", f"{type(error).__name__}: {error}", outcome.graph)
    np.savez(directory / f"g{seed}.in.npz", **{report["inputs"][0]["name"]: x.numpy()})
    outcome.extra = {"model": model, "x": x, "graph": conversion.graph, "rows": report["blobs"],
                     "prefix": str(directory / f"g{seed}")}
    return outcome


def _run_pycaffe(outcomes: list[Outcome], directory: Path) -> dict[int, dict | str]:
    """{seed: {blob: array}} from one pycaffe child for all exports, or {seed: Caffe's message} where it aborts."""
    jobs = [{"seed": o.seed, "prefix": o.extra["prefix"], "blobs": [row["blob"] for row in o.extra["rows"]]}
            for o in outcomes]
    (directory / "jobs.json").write_text(json.dumps(jobs))
    done: dict[int, dict | str] = {}
    start = 0
    while start < len(jobs):
        proc = subprocess.run([sys.executable, str(BATCH), str(directory / "jobs.json"), str(start)],
                              env=worker_environment("caffe"), capture_output=True, text=True)
        finished = [int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("done ")]
        for position in finished:
            with np.load(jobs[position]["prefix"] + ".out.npz") as arrays:
                done[jobs[position]["seed"]] = {blob: arrays[f"b{i}"] for i, blob in enumerate(jobs[position]["blobs"])}
        start = max(finished, default=start - 1) + 1
        if proc.returncode != 0 and start < len(jobs):  # the net after the last finished one aborted Caffe
            fatal = [line for line in proc.stderr.splitlines() if line.startswith("F")]
            done[jobs[start]["seed"]] = (fatal or proc.stderr.splitlines() or ["no message"])[-1][:300]
            start += 1
    return done


def _judge(outcome: Outcome, blobs: dict | str) -> Outcome:
    if isinstance(blobs, str):
        return Outcome(outcome.seed, "abort", blobs, outcome.graph)
    extra = outcome.extra
    rows = extra["rows"]
    torch_side = TorchSide(rows, reference_arrays(rows, extra["graph"], "the export"), extra["graph"], "",
                           extra["model"], [extra["x"]])
    results = compare_all(torch_side, caffe_net(extra["prefix"] + ".prototxt"), CaffeRun(blobs), _Tolerances,
                          "pycaffe", Progress())
    wrong = [result for result in results if result["verdict"] not in ("ok", "tie")]  # check's noise floor applied
    ties = sum(result["ties"]["positions"] for result in results if result["verdict"] == "tie")
    if wrong:
        detail = "; ".join(f"{r['blob']} ({r['type']}): {r['verdict']}" + (f" rel {r['rel']:.2e}" if r["rel"] else "")
                           for r in wrong[:3])
        return Outcome(outcome.seed, "wrong", detail, outcome.graph, ties)
    return Outcome(outcome.seed, "exact", graph=outcome.graph, ties=ties)


def run_graphs(seeds, directory: Path) -> list[Outcome]:
    """The outcome of every seed's graph, exported into ``directory``. PyTorch runs on one thread: its
    max_unpool is a race between threads where overlapping windows picked one position (ops/unpooling.py)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        outcomes = [_export(seed, directory) for seed in seeds]
        exported = [o for o in outcomes if o.verdict == "exported"]
        arrays = _run_pycaffe(exported, directory) if exported else {}
        judged = {o.seed: _judge(o, arrays.get(o.seed, "no result from pycaffe")) for o in exported}
    finally:
        torch.set_num_threads(threads)
    return [judged.get(o.seed, o) for o in outcomes]
