"""Export speed and memory, measured side by side with torch.save.

    python scripts/benchmark.py [--rounds N] [--out DIR] [--skip-vgg] [--skip-large]

Every measurement runs in a fresh child process (imports, model build and a warm-up forward are
not timed); each case is repeated ``--rounds`` times, the pairs interleaved, and the medians are
printed. Times are wall clock and the child's CPU time (the latter is steadier on a shared machine).

1. VGG-16 (138 M parameters, 224×224): ``torch.save(state_dict)`` vs ``pt2caffe.export`` (trace +
   lower + write prototxt/caffemodel/json), with the peak resident memory above the process's
   baseline (taken after the model is built, before the warm-up forward).
2. A DenseNet-style net of 500 traced ops: trace + emit + write.
3. Large graphs: 1,000 and 4,000 blocks of conv3×3 → ReLU → ×0.5 → +residual on an 8×16×16 input
   (4,000 and 16,000 traced ops, written as a loop in one module, as an unrolled recurrent net would
   be): export time, one plain forward of the same model, the overhead (export − forward), ops per
   second, and how the overhead grows from 1,000 to 4,000 blocks (linear would be 4×).
4. With ``--check``: ``pt2caffe check NAME.json`` (whole command, pycaffe) on a full-width ResNet-50
   and on the 4,000-block graph (16,000 compared blobs), against one plain torch forward plus one
   pycaffe forward of the same net.

Cases 2 and 3 run with one torch thread: their convolutions are tiny, and idle OpenMP threads
spinning on a loaded machine only add noise to what is measured there, pt2caffe's own cost.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from torch import nn

VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
LARGE_BLOCKS = (1000, 4000)


def vgg16() -> nn.Module:
    layers, channels = [], 3
    for item in VGG16:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(channels, item, 3, padding=1), nn.ReLU(inplace=True)]
            channels = item
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
                         nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(), nn.Linear(4096, 1000))


class DenseLayer(nn.Module):
    def __init__(self, channels: int, growth: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.conv = nn.Conv2d(channels, growth, 3, padding=1, bias=False)

    def forward(self, x):
        return torch.cat([x, self.conv(torch.relu(self.bn(x)))], 1)


def dense_net(layers: int = 125) -> nn.Module:
    """``layers`` dense layers of 4 ops each (BN, ReLU, conv, cat): 500 traced ops."""
    blocks, channels = [], 8
    for _ in range(layers):
        blocks.append(DenseLayer(channels, 2))
        channels += 2
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), *blocks)


class ResidualStack(nn.Module):
    """``blocks`` × (conv3×3 → ReLU → ×0.5 → +residual): 4 traced ops per block, all ReLU/mul/add ops of
    one module (so their Caffe names share a hint: relu, relu_1, …)."""

    def __init__(self, blocks: int, channels: int = 8):
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in range(blocks))
        for conv in self.convs:  # small weights: each block grows x by < 0.1 %, so 4,000 stay finite
            nn.init.normal_(conv.weight, std=3e-4)
            nn.init.zeros_(conv.bias)

    def forward(self, x):
        for conv in self.convs:
            x = x + torch.relu(conv(x)) * 0.5
        return x


class Bottleneck(nn.Module):
    """ResNet-50's block (v1.5: stride on the 3×3), expansion 4."""

    def __init__(self, cin: int, planes: int, stride: int):
        super().__init__()
        cout = planes * 4
        self.conv1, self.bn1 = nn.Conv2d(cin, planes, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False), nn.BatchNorm2d(planes)
        self.conv3, self.bn3 = nn.Conv2d(planes, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


def resnet50() -> nn.Module:
    """ResNet-50 at full width (25.6 M parameters, 224×224), for ``pt2caffe check --entry resnet50``."""
    layers, cin = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)], 64
    for planes, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
        for index in range(blocks):
            layers.append(Bottleneck(cin, planes, stride if index == 0 else 1))
            cin = planes * 4
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000))


def residual_stack_4000() -> nn.Module:
    """The 4,000-block graph as a MODEL.py entry (for the ``check`` case)."""
    return ResidualStack(4000)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _model_and_input(kind: str) -> tuple[nn.Module, torch.Tensor]:
    if kind.startswith("vgg"):
        return vgg16(), torch.rand(1, 3, 224, 224)
    torch.set_num_threads(1)
    if kind.startswith("densenet"):
        return dense_net(), torch.rand(1, 3, 16, 16)
    return ResidualStack(int(kind.split("_")[1])), torch.rand(1, 8, 16, 16)


def _timed(work) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def _child(kind: str, out: str) -> dict:
    """One measurement in this (fresh) process."""
    from pt2caffe.conversion import convert, write

    torch.manual_seed(0)
    model, example = _model_and_input(kind)
    model.eval()
    baseline = peak_rss_mib()  # before the warm-up, so the activations of the trace count too
    with torch.no_grad():
        model(example)  # warm up torch's kernels (first calls are slow), so only the export is timed
        forward = _timed(lambda: model(example))
    traced = {}
    if kind == "vgg_torch_save":
        seconds = _timed(lambda: torch.save(model.state_dict(), os.path.join(out, "vgg16.pth")))
    else:
        def export():
            conversion = convert(model, [example])
            traced["ops"] = len(conversion.graph.ops)
            write(conversion, os.path.join(out, kind))
        seconds = _timed(export)
    weights_mib = sum(p.numel() * 4 for p in model.state_dict().values()) / 2 ** 20
    return {"kind": kind, "seconds": seconds[0], "cpu_seconds": seconds[1], "forward_seconds": forward[0],
            "forward_cpu_seconds": forward[1], "ops": traced.get("ops"),
            "peak_above_baseline_mib": peak_rss_mib() - baseline, "weights_mib": weights_mib}


def measure(kind: str, out: str) -> dict:
    result = subprocess.run([sys.executable, __file__, "--child", kind, "--out", out],
                            capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def rounds(kinds: list[str], count: int, out: str) -> dict[str, dict]:
    """Each kind ``count`` times, interleaved (so that a burst of load hits all kinds alike); the median
    of every number per kind."""
    runs = {kind: [] for kind in kinds}
    for _ in range(count):
        for kind in kinds:
            runs[kind].append(measure(kind, out))
    return {kind: {key: statistics.median(run[key] for run in results) if isinstance(results[0][key], float)
                   else results[0][key] for key in results[0]}
            for kind, results in runs.items()}


def _large_graphs(count: int, out: str) -> None:
    kinds = [f"blocks_{blocks}" for blocks in LARGE_BLOCKS]
    results = rounds(kinds, count, out)
    overheads = {}
    for kind in kinds:
        r = results[kind]
        overheads[kind] = (r["seconds"] - r["forward_seconds"], r["cpu_seconds"] - r["forward_cpu_seconds"])
        print(f"{kind.split('_')[1]} residual blocks, {r['ops']:,} traced ops: export {r['seconds']:.2f} s "
              f"(cpu {r['cpu_seconds']:.2f} s), plain forward {r['forward_seconds']:.2f} s, overhead "
              f"{overheads[kind][0]:.2f} s (cpu {overheads[kind][1]:.2f} s), {r['ops'] / r['seconds']:,.0f} ops/s, "
              f"peak +{r['peak_above_baseline_mib']:.0f} MiB")
    small, large = (overheads[kind] for kind in kinds)
    print(f"  overhead growth {LARGE_BLOCKS[0]} → {LARGE_BLOCKS[1]} blocks: {large[0] / small[0]:.2f}× "
          f"(cpu {large[1] / small[1]:.2f}×; linear is {LARGE_BLOCKS[1] / LARGE_BLOCKS[0]:.0f}×)")


def _vgg(count: int, out: str) -> None:
    results = rounds(["vgg_torch_save", "vgg_export"], count, out)
    saved, exported = results["vgg_torch_save"], results["vgg_export"]
    print(f"VGG-16 ({saved['weights_mib']:.0f} MiB of weights)")
    for label, r in (("torch.save(state_dict):", saved), ("pt2caffe export:       ", exported)):
        print(f"  {label} {r['seconds']:.2f} s (cpu {r['cpu_seconds']:.2f} s), "
              f"peak +{r['peak_above_baseline_mib']:.0f} MiB")
    print(f"  ratio {exported['seconds'] / saved['seconds']:.2f}× (cpu "
          f"{exported['cpu_seconds'] / saved['cpu_seconds']:.2f}×)")


CHECKED = {"resnet50": "1,3,224,224", "residual_stack_4000": "1,8,16,16"}


def _pycaffe_forward_seconds(prototxt: str, caffemodel: str, extra_env: dict) -> float:
    """One pycaffe forward of the net (after a warm-up one), in a child process as check runs it."""
    from pt2caffe.runtimes.launch import worker_environment

    code = ("import sys, time, caffe; caffe.set_mode_cpu(); net = caffe.Net(sys.argv[1], caffe.TEST, "
            "weights=sys.argv[2]); net.forward(); t = time.perf_counter(); net.forward(); "
            "print(time.perf_counter() - t)")
    result = subprocess.run([sys.executable, "-c", code, prototxt, caffemodel],
                            env=dict(worker_environment("caffe"), **extra_env), capture_output=True, text=True,
                            check=True)
    return float(result.stdout.split()[-1])


def _torch_forward_seconds(entry: str, shape: str, threads: int) -> float:
    model = globals()[entry]().eval()
    example = torch.rand(*map(int, shape.split(",")))
    default = torch.get_num_threads()
    torch.set_num_threads(threads or default)
    try:
        with torch.no_grad():
            model(example)
            return _timed(lambda: model(example))[0]
    finally:
        torch.set_num_threads(default)


def _check_case(entry: str, count: int, out: str) -> None:
    """``pt2caffe check NAME.json`` (pycaffe): its total time against one torch and one Caffe forward.

    The 4,000-block graph runs with one thread (OMP_NUM_THREADS=1) on both sides, as in case 3."""
    threads = 1 if entry.startswith("residual") else 0
    one_thread = {"OMP_NUM_THREADS": "1"} if threads else {}
    torch.manual_seed(0)
    weights = os.path.join(out, f"{entry}.pth")
    torch.save(globals()[entry]().state_dict(), weights)
    pt2caffe = [sys.executable, "-m", "pt2caffe"]
    subprocess.run([*pt2caffe, "run", __file__, weights, "--entry", entry, "--input-shape", CHECKED[entry],
                    "-o", out, "--name", entry], check=True, capture_output=True)
    prefix = os.path.join(out, entry)
    totals, timings = [], []
    for _ in range(count):
        started = time.perf_counter()
        result = subprocess.run([*pt2caffe, "check", prefix + ".json"], check=True, capture_output=True, text=True,
                                env=dict(os.environ, **one_thread))
        totals.append(time.perf_counter() - started)
        timings.append(next(line for line in result.stdout.splitlines() if line.startswith("time: ")))
    forwards = statistics.median(_torch_forward_seconds(entry, CHECKED[entry], threads) for _ in range(count)) + \
        statistics.median(_pycaffe_forward_seconds(prefix + ".prototxt", prefix + ".caffemodel", one_thread)
                          for _ in range(count))
    blobs = len(json.load(open(prefix + ".json"))["blobs"])
    total = statistics.median(totals)
    print(f"check {entry} ({blobs:,} compared blobs): {total:.2f} s for the command, of which one torch + one "
          f"Caffe forward {forwards:.2f} s: {total - forwards:.2f} s beyond the two forwards")
    print(f"  its own split (last run): {timings[-1][6:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="directory for the files (default: a temporary one)")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions of each case (medians are shown)")
    parser.add_argument("--skip-vgg", action="store_true", help="leave out the VGG-16 comparison")
    parser.add_argument("--skip-large", action="store_true", help="leave out the 1,000/4,000-block graphs")
    parser.add_argument("--check", action="store_true",
                        help="also time `pt2caffe check` on ResNet-50 and the 4,000-block graph (needs pycaffe)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.out)))
        return
    with tempfile.TemporaryDirectory() as scratch:
        out = args.out or scratch
        os.makedirs(out, exist_ok=True)
        print(f"medians of {args.rounds} rounds, each run in a fresh process; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the start")
        dense = rounds(["densenet_500_ops"], args.rounds, out)["densenet_500_ops"]
        print(f"DenseNet-style, {dense['ops']} traced ops: trace + emit + write {dense['seconds']:.2f} s "
              f"(cpu {dense['cpu_seconds']:.2f} s), {dense['ops'] / dense['seconds']:,.0f} ops/s")
        if not args.skip_large:
            _large_graphs(args.rounds, out)
        if not args.skip_vgg:
            _vgg(args.rounds, out)
        if args.check:
            for entry in CHECKED:
                _check_case(entry, args.rounds, out)
        print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
