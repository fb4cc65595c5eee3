"""Run many random op graphs (tests/lowering/random_graphs.py) through export and pycaffe, as the test suite runs a
few hundred of them, and print the counts and every failure.

    python scripts/random_graphs.py [--first 0] [--count 5000] [--chunk 250] [--keep DIR]

Verdicts (tests/lowering/random_graph_runs.py): exact, refused (pt2caffe declined in one line), and the
failures wrong / abort / crash. Exit status 1 when any graph failed. A chunk of graphs shares one pycaffe
child; its files go to a temporary folder unless --keep names one.
"""
from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "tests" / "lowering")]  # this checkout's pt2caffe

from random_graph_runs import FAILURES, run_graphs  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--chunk", type=int, default=250)
    parser.add_argument("--keep", help="folder for the exports (default: a temporary one per chunk)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")  # PyTorch's warnings about the graphs' odd but valid arguments
    counts, refusals, failed = collections.Counter(), collections.Counter(), 0
    started = time.perf_counter()
    for first in range(args.first, args.first + args.count, args.chunk):
        seeds = range(first, min(first + args.chunk, args.first + args.count))
        with tempfile.TemporaryDirectory(prefix="random-graphs-") as scratch:
            folder = Path(args.keep or scratch) / f"{seeds[0]}"
            folder.mkdir(parents=True, exist_ok=True)
            for outcome in run_graphs(seeds, folder):
                counts[outcome.verdict] += 1
                counts["tie flips"] += outcome.ties
                if outcome.verdict == "refused":
                    refusals[outcome.detail.split(": ", 1)[-1][:90]] += 1
                if outcome.verdict in FAILURES:
                    failed += 1
                    print(f"seed {outcome.seed} {outcome.verdict}: {outcome.detail}\n    {outcome.graph}", flush=True)
        print(f"seeds {args.first}..{seeds[-1]}: {dict(counts)} ({time.perf_counter() - started:.0f} s)", flush=True)
    for reason, count in refusals.most_common():
        print(f"refused {count}×: {reason}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
