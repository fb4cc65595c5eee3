"""Deploy cost: each model exported by pt2caffe against the same model through torch.onnx.export + onnxsim,
in the same runtime (OpenCV dnn, MNN), one thread, plus PyTorch and pycaffe for reference.

    python scripts/deploy_benchmark.py [--models ViT-tiny,CRNN] [--engines opencv-caffe,opencv-onnx]
        [--target portable] [--rounds 3] [--iters 10] [--out DIR] [--json F]

Needs the benchmark extras (``pip install -e .[benchmark]``: onnxsim beside onnx and onnxruntime). Every
export and every timing runs in a fresh child process; the rounds are interleaved (each round times every
model in every runtime once), and each figure is the median over rounds of the per-process median of
``--iters`` forwards after two warm-ups. Times are the forwards' own process CPU time (steadier than wall
time on a shared machine; both are in the JSON). The ONNX route is opset 17 (``dynamo=False``) simplified by
onnxsim, as a user would do it. MNN runs both nets through its Session API when that can run them, and through
its Module API otherwise (it needs it for the While loop its ONNX converter makes of an LSTM; the table says
so). Peak memory is the child's peak resident set (load + forwards).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ENGINES = ("torch", "pycaffe", "opencv-caffe", "opencv-onnx", "mnn-caffe", "mnn-onnx")


def _prepare(name: str, out: str, target: str) -> dict:
    """Export ``name`` both ways into ``out`` (pt2caffe for ``target``); return what the table reports about
    the files."""
    import numpy as np
    import onnx
    import onnxsim
    import torch

    from deploy_models import build
    from pt2caffe.conversion import convert, write
    from pt2caffe.net.targets import TARGETS

    model, x = build(name)
    np.save(os.path.join(out, f"{name}.npy"), x.numpy())
    report = write(convert(model, [x], name=name, target=TARGETS[target]), os.path.join(out, name))
    path = os.path.join(out, f"{name}.raw.onnx")
    torch.onnx.export(model, (x,), path, opset_version=17, input_names=[report["inputs"][0]["name"]], dynamo=False)
    simplified, ok = onnxsim.simplify(onnx.load(path))
    if not ok:
        raise SystemExit(f"onnxsim could not check the simplified {name}")
    onnx.save(simplified, os.path.join(out, f"{name}.onnx"))
    cost = report["cost"]
    return {"layers": cost["layers"], "onnx_nodes": len(simplified.graph.node),
            "caffemodel_bytes": os.path.getsize(os.path.join(out, f"{name}.caffemodel")),
            "onnx_bytes": os.path.getsize(os.path.join(out, f"{name}.onnx")),
            "parameter_bytes": cost["parameter_bytes"], "weight_bytes": cost["weight_bytes"],
            "blob_bytes": cost["blob_bytes"], "activation_bytes": cost["activation_bytes"],
            "input": report["inputs"][0]["name"]}


def _runner(engine: str, name: str, out: str, input_name: str):
    """(forward function, API used) for ``engine`` on the files of ``name``, one thread."""
    import numpy as np

    x = np.load(os.path.join(out, f"{name}.npy"))
    caffe_files = [os.path.join(out, f"{name}.prototxt"), os.path.join(out, f"{name}.caffemodel")]
    onnx_file = os.path.join(out, f"{name}.onnx")
    if engine == "torch":
        import torch
        from deploy_models import build
        torch.set_num_threads(1)
        model, _ = build(name)
        tensor = torch.from_numpy(x)
        return (lambda: model(tensor)), ""
    if engine == "pycaffe":
        import caffe
        caffe.set_mode_cpu()
        net = caffe.Net(caffe_files[0], caffe.TEST, weights=caffe_files[1])
        net.blobs[input_name].data[...] = x
        return net.forward, ""
    if engine.startswith("opencv"):
        import cv2
        cv2.setNumThreads(1)
        net = cv2.dnn.readNetFromONNX(onnx_file) if engine.endswith("onnx") else cv2.dnn.readNetFromCaffe(*caffe_files)
        outputs = net.getUnconnectedOutLayersNames()

        def forward():
            net.setInput(x)
            return net.forward(outputs)
        return forward, ""
    return _mnn_runner(engine, name, out, x, onnx_file, caffe_files)


def _mnn_runner(engine, name, out, x, onnx_file, caffe_files):
    """MNN's converter (its C++ module, never the console script: that one installs a logging SDK), then the
    Session API, or the Module API when the session cannot run the net."""
    import _tools
    import MNN

    model = os.path.join(out, f"{name}.{engine}.mnn")
    source = ["-f", "ONNX", "--modelFile", onnx_file] if engine.endswith("onnx") else \
        ["-f", "CAFFE", "--modelFile", caffe_files[1], "--prototxt", caffe_files[0]]
    if not os.path.exists(model):
        _tools.mnnconvert(["mnnconvert", *source, "--MNNModel", model, "--bizCode", "pt2caffe"])
    interpreter = MNN.Interpreter(model)
    session = interpreter.createSession({"numThread": 1})
    tensor = interpreter.getSessionInput(session)
    interpreter.resizeTensor(tensor, x.shape)
    interpreter.resizeSession(session)
    tensor.copyFrom(MNN.Tensor(x.shape, MNN.Halide_Type_Float, x, MNN.Tensor_DimensionType_Caffe))
    if interpreter.runSession(session) == 0:
        return (lambda: interpreter.runSession(session)), "session"
    outputs = list(interpreter.getSessionOutputAll(session))
    module = MNN.nn.load_module_from_file(model, [interpreter.getSessionInputAll(session).popitem()[0]], outputs,
                                          thread_num=1)
    feed = [MNN.expr.const(x, list(x.shape), MNN.expr.NCHW)]
    return (lambda: [result.read() for result in module.forward(feed)]), "module"


def _time(engine: str, name: str, out: str, iters: int, input_name: str) -> dict:
    forward, api = _runner(engine, name, out, input_name)
    for _ in range(2):
        forward()
    cpu, wall = [], []
    for _ in range(iters):
        start, start_cpu = time.perf_counter(), time.process_time()
        forward()
        cpu.append((time.process_time() - start_cpu) * 1000)
        wall.append((time.perf_counter() - start) * 1000)
    return {"cpu_ms": statistics.median(cpu), "wall_ms": statistics.median(wall), "api": api,
            "peak_mib": _peak_mib()}


def _peak_mib() -> float:
    """This process's peak resident set (VmHWM in /proc/self/status, proc(5)): not getrusage's ru_maxrss,
    which Linux carries over from the parent through fork and exec (every child then reported the
    benchmark's own 188 MiB)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _child(args: list[str], engine: str = "") -> dict:
    """Run this script in a fresh process (pycaffe's with the reference Caffe on its path); its JSON line."""
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    if engine == "pycaffe":
        from pt2caffe.runtimes.launch import worker_environment
        env.update(worker_environment("caffe"))
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        return {"error": (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]}
    return json.loads(lines[-1])


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _table(results: dict, files: dict) -> str:
    """The README's markdown table: ratios export ÷ ONNX route per runtime, sizes, peak memory."""
    rows = ["| model | PyTorch | pycaffe | OpenCV export / ONNX | ratio | MNN export / ONNX | ratio | layers / ONNX nodes "
            "| caffemodel / parameters | blobs / activations | peak RSS OpenCV export / ONNX |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    ratios = {"opencv": [], "mnn": []}
    for name, times in results.items():
        info, cells = files[name], [name]
        get = lambda engine: times.get(engine, {}).get("cpu_ms")  # noqa: E731
        cells += [f"{get('torch'):.1f} ms" if get("torch") else "—", f"{get('pycaffe'):.1f} ms" if get("pycaffe") else "—"]
        for runtime in ("opencv", "mnn"):
            ours, theirs = get(f"{runtime}-caffe"), get(f"{runtime}-onnx")
            ratio = _ratio(ours, theirs)
            api = times.get(f"{runtime}-onnx", {}).get("api")
            cells += [f"{ours:.1f} / {theirs:.1f} ms" + (" (Module API)" if api == "module" else "")
                      if ours and theirs else "failed", f"**{ratio:.2f}**" if ratio else "—"]
            if ratio:
                ratios[runtime].append(ratio)
        mib = 1 << 20
        cells += [f"{info['layers']:,} / {info['onnx_nodes']:,}",
                  f"{info['caffemodel_bytes'] / mib:.1f} / {info['parameter_bytes'] / mib:.1f} MiB",
                  f"{info['blob_bytes'] / mib:.1f} / {info['activation_bytes'] / mib:.1f} MiB",
                  " / ".join(f"{times.get(e, {}).get('peak_mib', 0):.0f}" for e in ("opencv-caffe", "opencv-onnx"))
                  + " MiB"]
        rows.append("| " + " | ".join(cells) + " |")
    means = {runtime: math.exp(statistics.fmean(math.log(r) for r in values)) if values else None
             for runtime, values in ratios.items()}
    rows.append(f"| geometric mean | | | | **{means['opencv']:.2f}** | | **{means['mnn']:.2f}** | | | | |"
                if all(means.values()) else "| geometric mean | | | | — | | — | | | | |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="")
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--target", default="portable", help="pt2caffe's --target for the exports")
    parser.add_argument("--out", default="")
    parser.add_argument("--json", default="")
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args(argv)
    sys.path[:0] = [HERE, os.path.dirname(HERE)]  # deploy_models, and pt2caffe from this checkout
    if args.child:
        kind, *rest = args.child
        result = _prepare(rest[0], rest[1], rest[2]) if kind == "prepare" else _time(kind, rest[0], rest[1], int(rest[2]), rest[3])
        print(json.dumps(result))
        return 0
    from deploy_models import MODELS
    names = [n for n in args.models.split(",") if n] or list(MODELS)
    engines = [e for e in args.engines.split(",") if e]
    out = args.out or tempfile.mkdtemp(prefix="pt2caffe-deploy-")
    os.makedirs(out, exist_ok=True)
    print(f"files in {out}; load average at the start {os.getloadavg()[0]:.2f}", flush=True)
    files = {name: _child(["prepare", name, out, args.target]) for name in names}
    for name, info in files.items():
        if "error" in info:
            raise SystemExit(f"{name}: the export failed: {info['error']}")
    samples = {name: {engine: [] for engine in engines} for name in names}
    for round_index in range(args.rounds):
        for name in names:
            for engine in engines:
                result = _child([engine, name, out, str(args.iters), files[name]["input"]], engine)
                samples[name][engine].append(result)
                print(f"round {round_index + 1}: {name} {engine}: " + (result.get("error") or
                      f"{result['cpu_ms']:.2f} ms CPU, {result['wall_ms']:.2f} ms wall"), flush=True)
    results = {name: {engine: _summary(runs) for engine, runs in by_engine.items()}
               for name, by_engine in samples.items()}
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    print(_table(results, files))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"files": files, "results": results}, f, indent=1)
    return 0


def _summary(runs: list[dict]) -> dict:
    good = [run for run in runs if "error" not in run]
    if not good:
        return {"error": runs[-1]["error"]}
    return {key: statistics.median(run[key] for run in good) for key in ("cpu_ms", "wall_ms", "peak_mib")} | \
        {"api": good[-1]["api"]}


if __name__ == "__main__":
    sys.exit(main())
