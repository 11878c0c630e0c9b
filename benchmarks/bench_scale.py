"""The dataset profile and the folder report at scale: throughput with data loading, processes, devices (issue 30).

It makes its own labelled folder of generated shapes scenes (PNG files, one
subfolder per class) at the model's input size, then measures:

1. ``throughput``: the profile as ``python -m attention profile`` runs it
   (a DataLoader decoding the folder in worker processes, the recorded pass
   and one pass per layer and ablation mode) against the same number of plain
   batched forward passes of the same images, decoded beforehand and not
   timed; alternating rounds, on ``--device``. Target: the profile's
   throughput >= 0.9x the plain passes'.
2. ``recording``: one recorded forward pass against a plain one on the
   device, batch by batch (the records are CPU copies of the gates only).
3. ``processes`` (CPU): the profile command in one process, then under
   ``torchrun --nproc_per_node N``; wall times, speed-up, and whether the
   two JSON documents agree (counts exactly, means to 1e-6).
4. ``report``: ``analyze FOLDER --report`` on ``--report-images`` images:
   wall time, page size, thumbnail files, the command's peak memory.

    .venv/bin/python benchmarks/bench_scale.py                        # shapes, 512 images, CPU
    .venv/bin/python benchmarks/bench_scale.py --parts report --report-images 10000
    .venv/bin/python benchmarks/bench_scale.py --model resnet50 --images 5000 --device cuda --parts throughput recording
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rounds import alternate  # noqa: E402

from attention.ablation import MODES, ablator_for  # noqa: E402
from attention.devices import resolve_device  # noqa: E402
from attention.profile import ProfileCounts, count_batches  # noqa: E402
from attention.recorder import AttentionRecorder, find_attention_layers  # noqa: E402
from cli.profile import FolderImages, _folder_items, collate  # noqa: E402
from models.checkpoint import load_checkpoint  # noqa: E402
from models.datasets import ShapesDataset  # noqa: E402

TARGET = 0.9
PARTS = ("throughput", "recording", "processes", "report")


def make_folder(root: Path, count: int, size: int) -> Path:
    """``count`` shapes scenes at ``size`` px as PNG files, one subfolder per class (made once per size and count)."""
    folder = root / f"shapes-{size}px-{count}"
    if folder.is_dir():
        return folder
    dataset = ShapesDataset("test", length=count, size=size)
    names = dataset.classes
    for index in range(count):
        array, _mask, label = dataset.sample(index)
        target = folder / names[label]
        target.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array).save(target / f"{index:05d}.png")
    return folder


def model_spec(name: str, folder: Path) -> str:
    if name == "resnet50":
        from bench_live import resnet50_checkpoint

        return str(resnet50_checkpoint(folder))
    return name


def throughput(args: argparse.Namespace, spec: str, folder: Path) -> None:
    loaded = load_checkpoint(spec)
    device = resolve_device(args.device)
    model = loaded.model.to(device).eval()
    layers = find_attention_layers(model)
    passes = 1 + len(MODES) * len(layers)
    items = _folder_items(folder, list(loaded.classes), args.images)
    dataset = FolderImages(items, loaded.preprocessing)
    decoded = list(
        torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, num_workers=args.workers, collate_fn=collate)
    )

    def plain() -> None:
        with torch.inference_mode():
            for inputs, _labels, _ in decoded:
                inputs = inputs.to(device, non_blocking=True)
                for _ in range(passes):
                    model(inputs)
        if device.type == "cuda":
            torch.cuda.synchronize()

    def profile() -> None:
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=args.batch_size,
            num_workers=args.workers,
            pin_memory=device.type == "cuda",
            collate_fn=collate,
        )
        recorder = AttentionRecorder(model, layers=layers)
        ablator = ablator_for(layers)
        recorder.attach()
        ablator.attach()
        try:
            counts = ProfileCounts(recorder.layer_names, loaded.classes, MODES)
            count_batches(model, loader, counts, recorder, ablator, progress=False)
        finally:
            recorder.detach()
            ablator.detach()

    times = alternate({"plain": plain, "profile": profile}, args.rounds)
    ratios = [plain / profile for plain, profile in zip(times["plain"], times["profile"])]
    plain_s, profile_s = statistics.median(times["plain"]), statistics.median(times["profile"])
    ratio = statistics.median(ratios)
    print(
        f"throughput: {spec} on {device}, {len(items)} images of {folder.name}, batch {args.batch_size}, "
        f"{args.workers} workers, {len(layers)} layers, {passes} passes per batch, {args.rounds} rounds"
    )
    print(f"  plain passes (images decoded beforehand)  median {plain_s:.2f} s, {len(items) / plain_s:.1f} images/s")
    print(
        f"  profile (decoding the folder as it goes)  median {profile_s:.2f} s, {len(items) / profile_s:.1f} images/s"
    )
    print("  per-round plain/profile  " + ", ".join(f"{value:.3f}" for value in ratios))
    verdict = "met" if ratio >= TARGET else "NOT met"
    print(f"  throughput ratio {ratio:.3f}x of the plain passes; target >= {TARGET}x: {verdict}")


def recording(args: argparse.Namespace, spec: str, folder: Path) -> None:
    loaded = load_checkpoint(spec)
    device = resolve_device(args.device)
    model = loaded.model.to(device).eval()
    items = _folder_items(folder, list(loaded.classes), args.batch_size)
    inputs, _labels, _ = collate([FolderImages(items, loaded.preprocessing)[index] for index in range(len(items))])
    inputs = inputs.to(device)
    recorder = AttentionRecorder(model)
    recorder.attach()

    def plain() -> None:
        with torch.inference_mode():
            model(inputs)
        if device.type == "cuda":
            torch.cuda.synchronize()

    def recorded() -> None:
        with torch.inference_mode(), recorder.recording():
            model(inputs)
        if device.type == "cuda":
            torch.cuda.synchronize()

    for run in (plain, recorded):
        for _ in range(3):
            run()
    times: dict[str, list[float]] = {"plain": [], "recorded": []}
    for _ in range(args.repeats):
        for name, run in random.sample([("plain", plain), ("recorded", recorded)], 2):
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    recorder.detach()
    plain_ms, recorded_ms = (1000 * statistics.median(times[name]) for name in ("plain", "recorded"))
    print(f"recording: {spec} on {device}, batch {len(items)}, {args.repeats} interleaved passes each")
    print(f"  plain {plain_ms:.2f} ms, recorded {recorded_ms:.2f} ms: {recorded_ms / plain_ms:.3f}x")


def _run(command: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return seconds, done


def processes(args: argparse.Namespace, spec: str, folder: Path) -> None:
    common = ["-m", "attention", "profile", "--model", spec, "--data", str(folder), "--limit", str(args.images)]
    common += ["--batch-size", str(args.batch_size), "--device", "cpu", "--json"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    one_s, one = _run([sys.executable, *common], env)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(args.processes)]
    many_s, many = _run([*torchrun, *common], env)
    first, second = json.loads(one.stdout), json.loads(many.stdout)
    counts_equal = (first["images"], first["accuracy"]) == (second["images"], second["accuracy"]) and all(
        a["ablated_accuracy"] == b["ablated_accuracy"] for a, b in zip(first["layers"], second["layers"])
    )
    drift = max(abs(a["activity"] - b["activity"]) for a, b in zip(first["layers"], second["layers"]))
    print(f"processes: the profile command on {first['images']} images of {folder.name}, CPU, {os.cpu_count()} cores")
    threads = torch.get_num_threads()
    print(f"  one process ({threads} threads)   {one_s:.1f} s wall, {first['images'] / one_s:.1f} images/s")
    print(
        f"  torchrun, {args.processes} processes (1 thread each)  {many_s:.1f} s wall, "
        f"{second['images'] / many_s:.1f} images/s: speed-up {one_s / many_s:.2f}x"
    )
    print(f"  counts equal: {counts_equal}; largest activity difference {drift:.1e}")


def report(args: argparse.Namespace, spec: str, folder: Path, out: Path) -> None:
    page = out / "report" / "report.html"
    command = [sys.executable, "-m", "attention", "analyze", str(folder), "--model", spec, "--report", str(page)]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    seconds, _ = _run([*command, "--batch-size", str(args.batch_size)], env)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    files = list((page.parent / "report_files").iterdir())
    images = sum(1 for _ in folder.rglob("*.png"))
    print(f"report: analyze {images} images of {folder.name} --report, {spec}")
    print(f"  {seconds:.1f} s wall, {images / seconds:.1f} images/s")
    print(
        f"  page {page.stat().st_size / 1e6:.1f} MB, {len(files)} thumbnail files, "
        f"{sum(path.stat().st_size for path in files) / 1e6:.1f} MB; peak memory {max(peak, before) / 1024:.0f} MB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="shapes", help="shapes, fashion, or resnet50 (ECA+SA ResNet-50 at 224)")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20, help="passes of each kind for the recording part")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--report-images", type=int, default=1000)
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    parser.add_argument("--keep", type=Path, help="make the folders here and keep them (default: a temporary folder)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as temporary:
        root = args.keep or Path(temporary)
        root.mkdir(parents=True, exist_ok=True)
        spec = model_spec(args.model, root)
        loaded = load_checkpoint(spec)
        size = loaded.preprocessing.input_size[0]
        folder = make_folder(root, args.images, size)
        for part in args.parts:
            if part == "throughput":
                throughput(args, spec, folder)
            elif part == "recording":
                recording(args, spec, folder)
            elif part == "processes":
                processes(args, spec, folder)
            else:
                report(args, spec, make_folder(root, args.report_images, size), root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
