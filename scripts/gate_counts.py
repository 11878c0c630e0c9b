"""Gates found over gates present, and whether recording changes the output, for networks with each gate form.

    PYTHONPATH=. .venv/bin/python scripts/gate_counts.py

Every network is at random init with randomised norms and normaliser-free gains
(``tests.networks_zoo``), probed and recorded at 128 px. "Present" counts the
modules of the forms the recorder reads (timm's attention layers, SimAM, BAM, a
doubled SE), so a missed gate shows as a smaller first number.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from attention.discovery import rejected_modules  # noqa: E402
from attention.recorder import AttentionRecorder, find_attention_layers  # noqa: E402
from tests import networks_zoo as zoo  # noqa: E402

FORMS = ("CoordAttn", "EfficientLocalAttn", "SimpleCoordAttn", "StripAttn", "SelectiveKernel", "SplitAttn",
         "simam_module", "BAM", "DoubledSE", "EcaModule", "SEModule", "SqueezeExcite")  # fmt: skip


def _resnet18_with(kind: str) -> Callable[[], nn.Module]:
    return lambda: zoo.timm_model("resnet18", block_args={"attn_layer": kind})


NETWORKS: dict[str, Callable[[], nn.Module]] = {
    **{f"timm {name}": (lambda name=name: zoo.timm_model(name)) for name in (
        "skresnet18", "skresnext50_32x4d", "resnest14d", "resnest50d", "eca_nfnet_l0", "nfnet_f0")},
    **{f"timm resnet18 + {kind}": _resnet18_with(kind) for kind in ("coord", "ela", "scoord", "strip")},
    "SimAM (official code) in resnet18": zoo.simam_resnet18,
    "BAM (official code) after resnet18 stages": zoo.bam_resnet18,
    "2·sigmoid SE in resnet18": zoo.doubled_se_resnet18,
}  # fmt: skip


def main() -> int:
    print("| network | found / present | recorded as | rejected | output unchanged | discovery |")
    print("|---|---|---|---|---|---|")
    for label, build in NETWORKS.items():
        model = build()
        present = sum(type(module).__name__ in FORMS for module in model.modules())
        start = time.perf_counter()
        layers = find_attention_layers(model, (3, 128, 128))
        seconds = time.perf_counter() - start
        x = torch.randn(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
        with torch.inference_mode():
            plain = model(x)
            with AttentionRecorder(model, layers=layers) as recorder:
                recorded = model(x)
        kinds = Counter(
            f"{record.kind} `{record.type}`" + (f" gain {record.gain:g}" if getattr(record, "gain", 1.0) != 1 else "")
            for record in recorder.records
        )
        shown = ", ".join(f"{count} {kind}" for kind, count in kinds.items())
        same = "yes" if torch.equal(plain, recorded) else "NO"
        rejected = len(rejected_modules(model))
        print(f"| {label} | {len(layers)} / {present} | {shown} | {rejected} | {same} | {seconds:.2f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
