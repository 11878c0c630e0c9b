"""Plant small bugs in every library module and count how many the fast tests catch (issues 17 and 24).

    .venv/bin/python scripts/mutation.py [--per-module 4] [--seed 0] [--jobs 2] [--target recorder] [--check]

Two kinds of mutant, each changing ONE place of one module:

- mechanical ones, sampled (``--per-module``) from every place the AST
  allows: a comparison flipped, min and max swapped, a cleanup call dropped, a
  constant changed, two arguments swapped, ``x[i]`` made ``x[i + 1]``, an
  ``if flag:`` negated, ...; edits that alter no meaning are never made (the
  argument order of ``max``/``min``, the numbers of a picture's layout: sizes,
  margins, font sizes), because a test catching them would pin appearance;
- meaning-level ones written by hand in HAND_MUTANTS, all of them run: the
  bugs a developer makes while refactoring (swapped branches, a transposed
  mask, a sign flipped, a batch index pinned to 0, a path check weakened).
  Each is an exact snippet of the module and its replacement. A snippet that
  is no longer found exactly once is reported as STALE, loudly, and the run
  exits non-zero: the module changed under it, and the snippet needs updating.

A mutant is written into a private copy of the repository (one per job, in a
temporary folder), never into this checkout, and the module's test selection
from TARGETS runs against it: a failing (or hanging) selection kills the
mutant. The script prints each survivor and a table of the share killed per
module; survivors point at weak tests (or, now and then, at a change that
alters nothing). ``--check`` only verifies that every hand snippet is found.
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Target:
    path: str  # the module to mutate
    tests: list[str]  # pytest arguments: the fast selection that must catch its bugs
    functions: tuple[str, ...] | None = None  # only mutate inside these functions (None: the whole module)


MASKS_AND_BARS = ("_scaled", "colorize", "check_colormap", "mask_image", "overlay", "top_k_channels", "bar_colours",
                  "channel_bar_chart", "_bars", "statistics_rows")  # fmt: skip
LOCALIZATION_METRICS = ("image_side", "tolerance_px", "disk_offsets", "dilate", "pointing_game", "_near_object",
                        "energy_inside", "auroc", "centre_prior", "precise_mask")  # fmt: skip

# Name -> target; add a row to cover another module (the lead adds models/ evaluation metrics here).
TARGETS: dict[str, Target] = {
    "recorder": Target(
        "attention/recorder.py",
        [
            "tests/test_recorder.py",
            "tests/test_attention_modules.py",
            "-k",
            "not memory and not resnet50 and not adaptive and not even and not factory",
        ],
    ),  # fmt: skip
    "render: masks and bars": Target("attention/render.py", ["tests/test_render.py"], MASKS_AND_BARS),
    "render: other figures": Target(
        "attention/render.py",
        ["tests/test_render.py"],
        ("branch_chart", "overlay_grid", "_feature_channels", "feature_maps_image", "summary_figure"),
    ),
    "analysis": Target(
        "attention/analysis.py",
        [
            "tests/test_recorder.py",
            "tests/test_render.py",
            "tests/test_bounded_inputs.py",
            "-k",
            "analyzer or Analyzer or analysis or statistics or spatial_module or thread or batch or non_square"
            " or overflowing_pass",
        ],
    ),  # fmt: skip
    "evaluation: localization metrics": Target(
        "models/evaluation/localization.py",
        [
            "tests/test_evaluate.py",
            "-k",
            "auroc or dilation or tolerance or pointing or saturated or energy or (centre_prior and not baseline)",
        ],
        LOCALIZATION_METRICS,
    ),
    "evaluation: curves": Target(
        "models/evaluation/curves.py",
        ["tests/test_curves.py", "-k", "not shipped"],
        ("pixel_ranks", "step_counts", "curve_auc", "deletion_insertion", "block_of"),
    ),
    "ablation": Target(
        "attention/ablation.py",
        [
            "tests/test_ablation.py",
            "tests/test_recorder.py",
            "tests/test_tokens.py",
            "tests/test_gate_forms.py",
            "-k",
            "ablat or switching or switched or head",
        ],
    ),
    "channel": Target("attention/channel.py", ["tests/test_attention_modules.py", "-k", "cbam or squeeze or other"]),
    "compare": Target(
        "attention/compare.py",
        [
            "tests/test_compare.py",
            "tests/test_tokens.py::test_two_analyses_of_a_transformer_compare_by_their_class_token_attention",
            "tests/test_tokens.py::test_transformers_with_other_patch_grids_compare_on_the_first_ones_grid",
        ],
    ),
    "discovery": Target("attention/discovery.py", ["tests/test_foreign.py", "tests/test_gate_forms.py"]),
    "eca": Target("attention/eca.py", ["tests/test_attention_modules.py", "-k", "eca or adaptive"]),
    "errors": Target("attention/errors.py", ["tests/test_errors.py", "tests/test_images.py", "tests/test_weights.py"]),
    "explain": Target("attention/explain.py", ["tests/test_explain.py"]),
    "factory": Target("attention/factory.py", ["tests/test_attention_modules.py", "-k", "factory"]),
    "files": Target("attention/files.py", ["tests/test_files.py"]),
    "foreign": Target("attention/foreign.py", ["tests/test_foreign.py", "tests/test_gate_forms.py"]),
    "gates": Target("attention/gates.py", ["tests/test_attention_modules.py", "-k", "sigmoid or factory"]),
    "images": Target("attention/images.py", ["tests/test_images.py"]),
    "profile": Target(
        "attention/profile.py",
        [
            "tests/test_profile.py",
            "tests/test_bounded_inputs.py::test_the_profile_heatmap_names_every_class_over_a_colour_bar_of_0_to_1",
        ],
    ),
    "profile counts": Target(
        "attention/profile.py",
        ["tests/test_scale_out.py", "-k", "counts"],
        ("state", "from_state", "merge", "result", "save_counts", "_check_members", "load_counts", "done"),
    ),
    "distributed": Target(
        "attention/distributed.py", ["tests/test_scale_out.py", "-k", "shards or torchrun_environment"]
    ),
    "devices": Target("attention/devices.py", ["tests/test_scale_out.py", "-k", "device or analyzer"]),
    "report": Target("attention/report.py", ["tests/test_batch_report.py"]),
    "fx_gates": Target("attention/fx_gates.py", ["tests/test_fx_gates.py"]),
    "photograph": Target(
        "models/datasets/photograph.py", ["tests/test_camera_sealed.py", "tests/test_datasets.py", "-k", "photograph"]
    ),
    "camera set": Target("models/datasets/shapes_camera.py", ["tests/test_camera_sealed.py"]),
    "photographed drawings": Target(
        "models/datasets/shapes_photographed.py", ["tests/test_datasets.py", "-k", "photographed or surface"]
    ),
    "photographed sizes": Target(
        "models/datasets/shapes_scene.py",
        ["tests/test_datasets.py", "-k", "log_scale or photographed_drawings"],
        ("_photographed", "_draw_extent"),
    ),
    "pattern backgrounds": Target(
        "models/datasets/shapes_backgrounds.py",
        [
            "tests/test_datasets.py",
            "-k",
            "pattern or print or relief or motif or pebbles or cells or coats or rounds or glass or spots or contours"
            " or tiles or weaves or grids or lattice or lozenges",
        ],
        (
            "_square_wave",
            "_rotated_frame",
            "_pattern_weave",
            "_pattern_grid",
            "_pattern_waves",
            "_pattern_marks",
            "_ink_on",
            "_pattern_print",
            "_mottled",
            "_pattern_relief",
            "_disc",
            "_pattern_motif",
            "_two_nearest",
            "_scattered",
            "_lit",
            "_pattern_pebbles",
            "_caustics",
            "_sponge",
            "_pattern_cells",
            "_hex_lattice",
            "_rosettes",
            "_honeycomb",
            "_pattern_coat",
            "_leaning",
            "_round",
            "_pattern_rounds",
            "_edge_cover",
            "_pattern_glass",
            "_pattern_spots",
            "_pattern_contours",
            "_pattern_tiles",
            "_pattern_lozenges",
            "_background_pattern",
        ),
    ),
    "drawn strokes": Target(
        "models/datasets/shapes_strokes.py",
        ["tests/test_camera_sealed.py", "tests/test_datasets.py", "-k", "thin_line or stroke_rule"],
    ),
    "sealed set": Target("models/datasets/shapes_sealed.py", ["tests/test_camera_sealed.py"]),
    "second sealed set": Target("models/datasets/shapes_sealed2.py", ["tests/test_camera_sealed.py", "-k", "second"]),
    "third sealed set": Target(
        "models/datasets/shapes_sealed3.py", ["tests/test_camera_sealed.py", "-k", "third or sealed-3"]
    ),
    "fourth sealed set": Target(
        "models/datasets/shapes_sealed4.py", ["tests/test_camera_sealed.py", "-k", "fourth or sealed-4"]
    ),
    "fifth sealed set": Target(
        "models/datasets/shapes_sealed5.py", ["tests/test_camera_sealed.py", "-k", "fifth or sealed-5"]
    ),
    "sixth sealed set": Target(
        "models/datasets/shapes_sealed6.py", ["tests/test_camera_sealed.py", "-k", "sixth or sealed-6"]
    ),
    "seventh sealed set": Target(
        "models/datasets/shapes_sealed7.py", ["tests/test_camera_sealed.py", "-k", "seventh or sealed-7"]
    ),
    "eighth sealed set": Target(
        "models/datasets/shapes_sealed8.py", ["tests/test_camera_sealed.py", "-k", "eighth or sealed-8"]
    ),
    "ninth sealed set": Target(
        "models/datasets/shapes_sealed9.py", ["tests/test_camera_sealed.py", "-k", "ninth or sealed-9"]
    ),
    "tenth sealed set": Target(
        "models/datasets/shapes_sealed10.py", ["tests/test_camera_sealed.py", "-k", "tenth or sealed-10"]
    ),
    "eleventh sealed set": Target(
        "models/datasets/shapes_sealed11.py", ["tests/test_camera_sealed.py", "-k", "eleventh or sealed-11"]
    ),
    "twelfth sealed set": Target(
        "models/datasets/shapes_sealed12.py", ["tests/test_camera_sealed.py", "-k", "twelfth or sealed-12"]
    ),
    "thirteenth sealed set": Target("models/datasets/shapes_sealed13.py", ["tests/test_sealed13.py"]),
    "fourteenth sealed set": Target("models/datasets/shapes_sealed14.py", ["tests/test_sealed14.py"]),
    "fifteenth sealed set": Target("models/datasets/shapes_sealed15.py", ["tests/test_sealed15.py"]),
    "sixteenth sealed set": Target("models/datasets/shapes_sealed16.py", ["tests/test_sealed16.py"]),
    "seventeenth sealed set": Target("models/datasets/shapes_sealed17.py", ["tests/test_sealed17.py"]),
    "eighteenth sealed set": Target("models/datasets/shapes_sealed18.py", ["tests/test_sealed18.py"]),
    "nineteenth sealed set": Target("models/datasets/shapes_sealed19.py", ["tests/test_sealed19.py"]),
    "dataset names": Target(
        "models/datasets/factory.py", ["tests/test_camera_sealed.py", "-k", "spelling or test_split_only"]
    ),
    "records": Target("attention/records.py", ["tests/test_recorder.py", "-k", "not memory and not thread"]),
    "tokens": Target("attention/tokens.py", ["tests/test_tokens.py", "-k", "not explain and not profile"]),
    "render_tokens": Target("attention/render_tokens.py", ["tests/test_render_tokens.py"]),
    "explain_tokens": Target("attention/explain_tokens.py", ["tests/test_tokens.py", "-k", "explain"]),  # fmt: skip
    "registry": Target("attention/registry.py", ["tests/test_recorder.py", "-k", "not memory and not thread"]),
    "render_debug": Target("attention/render_debug.py", ["tests/test_compare.py"]),
    "render_explain": Target("attention/render_explain.py", ["tests/test_explain.py"]),
    "spatial": Target("attention/spatial.py", ["tests/test_attention_modules.py", "-k", "spatial"]),
    "tap": Target("attention/tap.py", ["tests/test_tap.py", "tests/test_recorder.py", "-k", "tap or forward_order"]),
    "models/weights": Target(
        "models/weights.py",
        [
            "tests/test_weights.py",
            "tests/test_specs.py",
            "tests/test_hostile_files.py",
            "-k",
            "not cli and not offline and not architectures and not command_line",
        ],
    ),
    "models/specs": Target(
        "models/specs.py",
        [
            "tests/test_specs.py",
            "tests/test_weights.py",
            "tests/test_hostile_files.py",
            "-k",
            "not cli and not offline and not architectures and not command_line",
        ],
    ),
    "vit bounds": Target("models/bounds.py", ["tests/test_vit_shapes.py", "-m", "not slow"], ("_vit_cost",)),
    "vit maps": Target(
        "models/evaluation/run.py", ["tests/test_vit_shapes.py", "-m", "not slow"], ("class_token_maps",)
    ),
    "distillation": Target(
        "models/train.py",
        ["tests/test_vit_shapes.py", "-k", "distil or teacher"],
        ("load_teacher", "distillation_loss"),
    ),
    "stray lines": Target("models/transforms.py", ["tests/test_transforms.py", "-m", "not slow"]),
    "webapp/inputs": Target(
        "webapp/inputs.py",
        [
            "tests/test_app_handlers.py",
            "-k",
            "upload or sibling or sketch or example or markdown or control or extensions or never_opened or raw",
        ],
    ),
    "rescore": Target("scripts/rescore.py", ["tests/test_camera_sealed.py", "-k", "rescoring"]),
    "surface pairs": Target(
        "models/train.py", ["tests/test_surface_pairs.py"], ("surface_consistency_loss", "flatten_views")
    ),
    "mask loss": Target(
        "models/train.py",
        ["tests/test_mask_loss.py"],
        ("attention_on_object_loss", "reaching_only", "own_parameters", "_keep", "__enter__", "__exit__"),
    ),
    "masked items": Target(
        "models/transforms.py",
        ["tests/test_mask_loss.py", "tests/test_transforms.py", "-m", "not slow"],
        ("shapes_geometry", "__init__", "__call__"),
    ),
    "surface pair items": Target("models/datasets/shapes.py", ["tests/test_surface_pairs.py"], ("surface_rng_for",)),
    "surface scenes": Target(
        "models/datasets/shapes_scene.py", ["tests/test_surface_pairs.py"], ("render_shape_scene",)
    ),
}


@dataclass(frozen=True)
class HandMutant:
    """A bug of meaning written by hand: ``old`` (found exactly once in the target's module) becomes ``new``."""

    target: str  # a name in TARGETS
    description: str
    old: str
    new: str


# Bugs a developer makes while refactoring. When a module changes, its snippets may stop matching: the run
# reports those as STALE and fails, so someone refreshes the snippet instead of losing the mutant silently.
HAND_MUTANTS: list[HandMutant] = [
    # models: spatial attention trained on where the drawn object is.
    HandMutant(
        "mask loss",
        "the mass off the object counted instead of on it",
        'log_share.masked_fill(~inside, float("-inf"))',
        'log_share.masked_fill(inside, float("-inf"))',
    ),
    HandMutant(
        "mask loss",
        "a coarse cell on the object only when all its pixels are",
        "nn.functional.adaptive_max_pool2d(masks, layer.shape[-2:])",
        "-nn.functional.adaptive_max_pool2d(-masks, layer.shape[-2:])",
    ),
    HandMutant(
        "mask loss",
        "a picture without an object adds minus infinity",
        "torch.where(inside.any(dim=1), on_object, torch.zeros_like(on_object))",
        "on_object",
    ),
    HandMutant(
        "mask loss",
        "the hooks stay on the model after training",
        "            handle.remove()\n",
        "            pass\n",
    ),
    HandMutant(
        "mask loss",
        "the gates kept instead of their logits",
        "self.logits.append(output.logits)",
        "self.logits.append(output.mask)",
    ),
    HandMutant(
        "mask loss",
        "a mask loss asked to reach attention only reaching every weight",
        "    return term.detach() + linear - linear.detach()",
        "    return term",
    ),
    HandMutant(
        "mask loss",
        "the reach kept to attention adds the surrogate's own value to the term's",
        "    return term.detach() + linear - linear.detach()",
        "    return term.detach() + linear",
    ),
    HandMutant(
        "mask loss",
        "the train command keeps the default reach to attention instead of the one asked for",
        'if args.mask_loss_reach == "attention":',
        'if args.mask_loss_reach == "network":',
    ),
    HandMutant(
        "masked items",
        "the mask kept where the scene drew it while the picture is flipped and cropped",
        "picture, moved = self.geometry(image, object_mask)",
        "picture, moved = self.geometry(image), object_mask",
    ),
    # models: one shape on two surfaces, and the consistency loss between them.
    HandMutant(
        "surface pairs",
        "labels tiled instead of kept beside their pictures",
        "labels.repeat_interleave(views)",
        "labels.repeat(views)",
    ),  # fmt: skip
    HandMutant(
        "surface pairs",
        "each view compared with the first view instead of with their mean",
        "probs.mean(dim=1, keepdim=True)",
        "probs[:, :1]",
    ),  # fmt: skip
    HandMutant(
        "surface pairs",
        "--train-size counted in pairs, so a run sees twice the pictures asked",
        'SurfacePairs("train", pictures // 2,',
        'SurfacePairs("train", pictures,',
    ),  # fmt: skip
    HandMutant(
        "surface pair items",
        "every view painted with the same surface",
        "surface=view + 1) for view in range(views)",
        "surface=1) for view in range(views)",
    ),  # fmt: skip
    HandMutant(
        "surface scenes", "the surface generator ignored", "paint = rng if surface is None else surface", "paint = rng"
    ),  # fmt: skip
    HandMutant(
        "surface scenes",
        "the palette drawn with the shape, so both views share the object's colour",
        "obj, c1, c2 = pick_palette(paint)",
        "obj, c1, c2 = pick_palette(rng)",
    ),  # fmt: skip
    HandMutant(
        "surface scenes",
        "the background kind drawn with the shape, so both views are the same kind of surface",
        "BACKGROUND_KINDS[int(paint.choice(",
        "BACKGROUND_KINDS[int(rng.choice(",
    ),  # fmt: skip
    HandMutant(
        "surface scenes",
        "the dataset's surface generator dropped on the way to the scene",
        "degrade=degrade, surface=surface)",
        "degrade=degrade)",
    ),  # fmt: skip
    # models: the fifth sealed renderer and the names of the evaluation sets.
    HandMutant(
        "fifth sealed set",
        "a hand-drawn circle given a ring's band",
        "min(rng.uniform(0.04, 0.1) * radius, thickest_circle_line(radius, fine_side))",
        "rng.uniform(0.3, 0.45) * radius",
    ),  # fmt: skip
    HandMutant(
        "fifth sealed set",
        "a ring's hole left filled",
        "region &= ~(ndimage.binary_fill_holes(lines[1]) & ~lines[1])",
        "region &= True",
    ),  # fmt: skip
    HandMutant(
        "fifth sealed set",
        "the camera's exposure left out, so bright surfaces clip",
        "picture = picture * min(1.0, 245.0 / float(np.percentile(picture, 99)))",
        "picture = picture * 1.0",
    ),  # fmt: skip
    HandMutant(
        "sixth sealed set",
        "a hand-drawn circle given a ring's band",
        "min(rng.uniform(0.04, 0.1) * radius, thickest_circle_line(radius, fine))",
        "rng.uniform(0.3, 0.45) * radius",
    ),  # fmt: skip
    HandMutant(
        "sixth sealed set",
        "the even-odd rule replaced by any crossing, so a ring's hole is filled",
        "crossed ^= spans & (px < x_at)",
        "crossed |= spans & (px < x_at)",
    ),  # fmt: skip
    HandMutant(
        "sixth sealed set",
        "the exposure left out, so bright surfaces clip",
        "np.clip(light * min(1.0, 0.96 / float(np.percentile(light, 99))), 0, 1)",
        "np.clip(light * 1.5, 0, 1)",
    ),  # fmt: skip
    HandMutant(
        "seventh sealed set",
        "a hand-drawn circle given a ring's band",
        "min(max(rng.uniform(0.04, 0.1) * radius, 1.5), thickest_circle_line(radius, side))",
        "rng.uniform(0.3, 0.45) * radius",
    ),  # fmt: skip
    HandMutant(
        "seventh sealed set",
        "a ring's inner loop wound the same way as its outer one, so the non-zero rule fills the hole",
        "np.stack([outer, outer[::-1] * inner])",
        "np.stack([outer, outer * inner])",
    ),  # fmt: skip
    HandMutant(
        "seventh sealed set",
        "the winding's sign kept, so a shape wound the other way round paints nothing",
        "np.minimum(1.0, np.abs(np.cumsum(deposits, axis=1)[:, :side]))",
        "np.clip(np.cumsum(deposits, axis=1)[:, :side], 0.0, 1.0)",
    ),  # fmt: skip
    HandMutant(
        "seventh sealed set",
        "the exposure not metered, so bright surfaces and white ink clip",
        "seen = seen * rng.uniform(0.8, 0.95) / max(brightest, 1e-6)",
        "seen = seen * 1.6",
    ),  # fmt: skip
    HandMutant(
        "eighth sealed set",
        "the top-left rule dropped, so a sample on an edge two triangles share is counted by both",
        "inside &= (value >= 0) if owned[k, edge] else (value > 0)",
        "inside &= value >= 0",
    ),  # fmt: skip
    HandMutant(
        "eighth sealed set",
        "a stitched or neon circle given a ring's band",
        "min(max(rng.uniform(0.04, 0.1) * radius, 1.5), thickest_circle_line(0.9 * radius, side))",
        "rng.uniform(0.3, 0.45) * radius",
    ),  # fmt: skip
    HandMutant(
        "eighth sealed set",
        "the mains flicker's rolling bands made ten times deeper",
        "flicker = 1 + rng.uniform(0.015, 0.05) * np.sin(",
        "flicker = 1 + rng.uniform(0.15, 0.5) * np.sin(",
    ),  # fmt: skip
    HandMutant(
        "dataset names",
        "the short spelling without a hyphen forgotten",
        'short, short.replace("-", "")',
        "short",
    ),  # fmt: skip
    # models: the ViT trained here, its bounds, its pointing-game maps and its distillation.
    HandMutant(
        "vit bounds",
        "the class token and position embeddings left out of the count",
        "tally.parameters += count * dim + dim",
        "tally.parameters += dim",
    ),  # fmt: skip
    HandMutant(
        "vit bounds",
        "a patch that does not divide the side let through",
        "if side % patch:",
        "if side % patch > patch:",
    ),  # fmt: skip
    HandMutant(
        "vit maps",
        "the class token counted as a patch",
        "record.first[:, :, start:]",
        "record.first[:, :, start - 1 : -1]",
    ),  # fmt: skip
    HandMutant(
        "vit maps",
        "the patch grid read column by column",
        ".double().mean(dim=1).reshape(-1, *layout.grid)",
        ".double().mean(dim=1).reshape(-1, *layout.grid).transpose(1, 2)",
    ),  # fmt: skip
    HandMutant(
        "distillation",
        "the teacher's logits taken for its probabilities",
        "target = teacher(images).softmax(dim=1)",
        "target = teacher(images)",
    ),  # fmt: skip
    HandMutant(
        "distillation",
        "a teacher of other classes accepted",
        "if loaded.classes != classes:",
        "if not loaded.classes:",
    ),  # fmt: skip
    HandMutant(
        "stray lines",
        "lines drawn on the dataset's own picture",
        'image = image.convert("RGB")',
        "image = image",
    ),  # fmt: skip
    HandMutant(
        "stray lines",
        "lines that stop inside the picture",
        "reach = (width + height) * scale",
        "reach = 4 * scale",
    ),  # fmt: skip
    HandMutant(
        "stray lines",
        "the probability read the wrong way round",
        "torch.rand(()).item() >= self.p",
        "torch.rand(()).item() < self.p",
    ),  # fmt: skip
    # attention/tokens.py: self-attention probabilities and where the patches are.
    HandMutant(
        "tokens",
        "the scale applied after the product",
        "scores = (q * scale) @ k.transpose(-2, -1)",
        "scores = (q @ k.transpose(-2, -1)) * scale",
    ),  # fmt: skip
    HandMutant(
        "tokens", "the softmax over the queries", "return scores.softmax(dim=-1)", "return scores.softmax(dim=-2)"
    ),
    HandMutant(
        "tokens",
        "the class token's column kept for its row",
        "first=cpu_copy(probabilities[:, :, 0, :]),",
        "first=cpu_copy(probabilities[:, :, :, 0]),",
    ),  # fmt: skip
    HandMutant(
        "tokens",
        "the head mean taken over the queries",
        "mean=cpu_copy(probabilities.mean(dim=1)),",
        "mean=cpu_copy(probabilities.mean(dim=2)),",
    ),  # fmt: skip
    HandMutant(
        "tokens",
        "MultiheadAttention's k taken from the value third",
        "q, k = packed[..., :embed], packed[..., embed : 2 * embed]",
        "q, k = packed[..., :embed], packed[..., 2 * embed :]",
    ),  # fmt: skip
    HandMutant(
        "tokens",
        "register tokens not named",
        'names.extend(f"reg{index}" for index in range(int(registers.shape[1])))',
        "pass",
    ),  # fmt: skip
    HandMutant(
        "tokens",
        "the rollout's residual left out",
        "mixed = (1.0 - residual) * matrix.astype(np.float64) + residual * np.eye(tokens)",
        "mixed = matrix.astype(np.float64)",
    ),  # fmt: skip
    HandMutant("tokens", "the rollout multiplied in reverse order", "flow = mixed @ flow", "flow = flow @ mixed"),
    # attention/render_tokens.py: the colour scale and where a click lands.
    HandMutant(
        "render_tokens",
        "each picture's scale from its own minimum",
        "low = min(float(np.min(values)) for values in maps) if stretch else 0.0",
        "low = min(float(np.min(values)) for values in maps)",
    ),  # fmt: skip
    HandMutant(
        "render_tokens",
        "a click read on the whole image, not the crop",
        "u, v = (x - left) / (right - left), (y - top) / (bottom - top)",
        "u, v = x, y",
    ),  # fmt: skip
    HandMutant(
        "render_tokens",
        "rows and columns swapped for a click",
        "return min(int(v * rows), rows - 1), min(int(u * columns), columns - 1)",
        "return min(int(u * rows), rows - 1), min(int(v * columns), columns - 1)",
    ),  # fmt: skip
    # attention/explain_tokens.py: the steps' numbers.
    HandMutant(
        "explain_tokens",
        "the value weights used for the keys",
        "q_all, k_all, v_all = (_linear(x, weight) for weight in (parts.q, parts.k, parts.v))",
        "q_all, k_all, v_all = (_linear(x, weight) for weight in (parts.q, parts.v, parts.v))",
    ),  # fmt: skip
    HandMutant(
        "explain_tokens",
        "the recorded attention not checked",
        "if float(np.abs(probabilities[:, 0].numpy() - recorded).max()) > MATCH_TOLERANCE:",
        "if False:",
    ),  # fmt: skip
    # attention/ablation.py: one head of a self-attention layer.
    HandMutant(
        "ablation",
        "the next head's slice switched off",
        "part = joined[..., ablation.head * size : (ablation.head + 1) * size]",
        "part = joined[..., (ablation.head + 1) * size : (ablation.head + 2) * size]",
    ),  # fmt: skip
    HandMutant(
        "ablation",
        "a token layer's identity passes its input on",
        "replaced = torch.zeros_like(branch)",
        "replaced = branch",
    ),  # fmt: skip
    # webapp/inputs.py: the upload-folder check and what a request may name.
    HandMutant(
        "webapp/inputs",
        "the folder check weakened to a string prefix (accepts <root>_evil/x.png)",
        "resolved != folder and resolved.is_relative_to(folder)",
        "resolved != folder and str(resolved).startswith(str(folder))",
    ),
    HandMutant(
        "webapp/inputs",
        "the folder check dropped for paths",
        'if "\\0" in path or not roots.contains(path):',
        'if "\\0" in path:',
    ),
    HandMutant(
        "webapp/inputs",
        "the root folder itself accepted as a file",
        "resolved != folder and resolved.is_relative_to(folder)",
        "resolved.is_relative_to(folder)",
    ),
    HandMutant(
        "webapp/inputs",
        "the original file name ignored",
        'name = value.get("orig_name") if isinstance(value, Mapping) else getattr(value, "orig_name", None)',
        "name = None",
    ),
    HandMutant(
        "webapp/inputs",
        "an empty sketch taken for a drawing (test inverted)",
        "if extrema[0] == extrema[1]:",
        "if extrema[0] != extrema[1]:",
    ),
    HandMutant("webapp/inputs", "hidden files offered as examples", ' and not path.name.startswith(".")', ""),
    HandMutant(
        "webapp/inputs",
        "the checkpoint suffix check dropped",
        "if not Path(path).name.lower().endswith(CHECKPOINT_SUFFIXES):",
        "if False:",
    ),
    # models/weights.py: wrapper prefixes, strictness, the file's classifier.
    HandMutant(
        "models/weights",
        "the common prefix stripped inside names too (str.replace)",
        "aligned[key[len(prefix) :]] = value",
        'aligned[key.replace(prefix, "")] = value',
    ),
    HandMutant(
        "models/weights",
        "a loss's or an optimizer's entries kept as model tensors (the file refused)",
        "            ignored.append(key)",
        "            aligned[key] = value",
    ),
    HandMutant(
        "models/weights",
        "every name outside the prefix left out, a bigger network's tensors too",
        "elif _names_a_model_tensor(key, expected, roots, longest):",
        "elif False:",
    ),
    HandMutant(
        "models/weights",
        "--weights-key ignored: the default entry read",
        "value, used = payload[entry], entry",
        "used = entry",
    ),
    HandMutant(
        "models/weights",
        "the shape check skipped and the load made lenient (strict=False)",
        "    mismatch = state_dict_mismatch(model, state_dict)\n",
        "    mismatch = None\n",
    ),
    HandMutant(
        "models/weights",
        "non-finite values never checked in a weights file",
        "    check_finite(state_dict, label)\n    return state_dict",
        "    return state_dict",
    ),
    HandMutant(
        "models/weights",
        "the file's classifier size read from the wrong axis",
        "return int(weight.shape[0]) if weight.shape[0] != module.out_features else None",
        "return int(weight.shape[1]) if weight.shape[1] != module.out_features else None",
    ),
    # models/specs.py: what a spec means and how a library model is built.
    HandMutant(
        "models/specs",
        "the file's class count ignored for a library model",
        "    if num_classes is not None:\n        layout = _on_meta(lambda: make(num_classes)) or make(num_classes)\n",
        "",
    ),
    HandMutant(
        "models/specs",
        "a code spec accepted without allow_code",
        "        if not allow_code:\n            raise InputError(",
        "        if False:\n            raise InputError(",
    ),
    HandMutant(
        "models/specs",
        "the weights never applied to a library model",
        "    load_fitted(model, state_dict, weights.label, spec.text)\n",
        "",
    ),
    HandMutant(
        "models/specs",
        "a class list of the wrong length accepted",
        '    if len(names) != count:\n        raise InputError(f"{where} names',
        '    if len(names) < count:\n        raise InputError(f"{where} names',
    ),
    HandMutant(
        "models/specs",
        "the class-count bound not applied to a weights file",
        "    if num_classes is not None and num_classes > MAX_CLASSES:",
        "    if num_classes is not None and num_classes > 10 * MAX_CLASSES:",
    ),
    HandMutant(
        "models/weights",
        "a zero-stride tensor accepted from a weights file",
        "    state_dict, extras, used = _unwrap(payload, label, entry)\n    check_dense(state_dict, label)\n",
        "    state_dict, extras, used = _unwrap(payload, label, entry)\n",
    ),
    HandMutant(
        "models/weights",
        "a safetensors header read without counting its tensors",
        "    _check_safetensors_header(path, label)\n",
        "",
    ),
    HandMutant(
        "models/specs",
        "the parameter bound compared with the default head",
        "    parameters = _parameter_count(layout)\n",
        "    parameters = _parameter_count(_on_meta(lambda: make(None)) or make(None))\n",
    ),
    HandMutant(
        "analysis",
        "an overflowing pass reported as a prediction",
        "    if not bool(torch.isfinite(logits).all()) or any(",
        "    if False and any(",
    ),
    # attention/analysis.py: one image's values in a batch, sizes, and the document.
    HandMutant(
        "analysis",
        "every image of a batch gets the first image's weights",
        "weights=record.weights[index].float().numpy(),",
        "weights=record.weights[0].float().numpy(),",
    ),
    HandMutant(
        "analysis",
        "every image of a batch gets the first image's feature maps",
        "layer: recorder.features[layer][index].float().numpy()",
        "layer: recorder.features[layer][0].float().numpy()",
    ),
    HandMutant(
        "analysis",
        "every image of a batch gets the first image's mask",
        "record.mask[index].float().numpy()",
        "record.mask[0].float().numpy()",
    ),
    HandMutant(
        "analysis",
        "a mask's size given as width x height",
        "return int(self.mask.shape[0]), int(self.mask.shape[1])",
        "return int(self.mask.shape[1]), int(self.mask.shape[0])",
    ),
    HandMutant(
        "analysis",
        "ablation passes recorded into the analysis",
        "            logits = self.model(batch)\n"
        "        check_finite_pass(logits, recorder.records)\n"
        "        probabilities = torch.softmax(logits.float(), dim=1).cpu()\n"
        "        ablations: list[list[dict[str, Any]]] = [[] for _ in images]\n"
        "        if ablate is not None:\n"
        "            ablations = run_ablations(\n"
        "                self.model,\n"
        "                batch,\n"
        "                self._ablator,\n"
        "                recorder.records,\n"
        "                probabilities,\n"
        "                self.classes,\n"
        "                ablate,\n"
        "                target=target,\n"
        "                heads=ablate_heads,\n"
        "            )\n",
        "            logits = self.model(batch)\n"
        "            check_finite_pass(logits, recorder.records)\n"
        "            probabilities = torch.softmax(logits.float(), dim=1).cpu()\n"
        "            ablations: list[list[dict[str, Any]]] = [[] for _ in images]\n"
        "            if ablate is not None:\n"
        "                ablations = run_ablations(\n"
        "                    self.model,\n"
        "                    batch,\n"
        "                    self._ablator,\n"
        "                    list(recorder.records),\n"
        "                    probabilities,\n"
        "                    self.classes,\n"
        "                    ablate,\n"
        "                    target=target,\n"
        "                    heads=ablate_heads,\n"
        "                )\n",
    ),
    HandMutant(
        "analysis",
        "the top predictions ranked lowest first",
        'order = np.argsort(-self.probabilities, kind="stable")[:k]',
        'order = np.argsort(self.probabilities, kind="stable")[:k]',
    ),
    HandMutant(
        "analysis",
        "the entropy's sign flipped",
        "entropy = float(-(share * np.log(",
        "entropy = float((share * np.log(",
    ),
    HandMutant(
        "analysis",
        "the kept fraction counts the pixels a mask drops",
        "float((mask > 0.5).mean())",
        "float((mask < 0.5).mean())",
    ),
    HandMutant(
        "analysis",
        "the document's checkpoint set to null",
        '"checkpoint": checkpoint,\n        "classes"',
        '"checkpoint": None,\n        "classes"',
    ),
    # attention/ablation.py
    HandMutant(
        "ablation",
        "every layer ablated, not the one asked for",
        "if ablation is None or ablation.layer != name:\n                return None\n"
        "            if branches is not None:",
        "if ablation is None:\n                return None\n            if branches is not None:",
    ),
    HandMutant(
        "ablation",
        "identity ablation returns the gated output",
        'if ablation.mode == "identity":\n                return features',
        'if ablation.mode == "identity":\n                return output',
    ),
    HandMutant(
        "ablation",
        "mean ablation scales by the gate's largest value",
        "mean = record.gate.flatten(1).float().mean(dim=1)",
        "mean = record.gate.flatten(1).float().amax(dim=1)",
    ),
    HandMutant(
        "ablation",
        "delta's sign flipped",
        '"delta": round(float(row[base] - original[index, base]), 6)',
        '"delta": round(float(original[index, base] - row[base]), 6)',
    ),
    HandMutant(
        "ablation",
        "delta measured on the ablated prediction, not the original one",
        "base = int(predicted[index])",
        "base = best",
    ),
    HandMutant(
        "ablation", "every image gets the first image's ablated prediction", "row = ablated[index]", "row = ablated[0]"
    ),
    HandMutant(
        "ablation",
        "a failed pass leaves the thread ablating",
        "        self._active.pop(self._thread, None)\n        self._thread = None",
        "        self._thread = None",
    ),
    # attention/compare.py
    HandMutant(
        "compare",
        "channel difference is B - A",
        "difference = a.weights.astype(np.float64) - b.weights",
        "difference = b.weights.astype(np.float64) - a.weights",
    ),
    HandMutant(
        "compare",
        "mask difference is B - A",
        "LayerDifference(a.name, kind, a.mask.astype(np.float64) - mask_b, partner, note)",
        "LayerDifference(a.name, kind, mask_b - a.mask.astype(np.float64), partner, note)",
    ),
    HandMutant(
        "compare",
        "tied values get the first rank, not their average",
        "result[order[start : end + 1]] = (start + end) / 2 + 1",
        "result[order[start : end + 1]] = start + 1",
    ),
    HandMutant(
        "compare",
        "the summary names the layers that differ least",
        "key=lambda d: d.score, reverse=True",
        "key=lambda d: d.score, reverse=False",
    ),
    HandMutant(
        "compare",
        "layers paired regardless of their kind",
        "        theirs = [layer for layer in second.layers if _kind(layer) == kind and _comparable(layer)]",
        "        theirs = list(second.layers)",
    ),
    HandMutant(
        "compare",
        "the score is the signed mean, not the mean absolute difference",
        "return float(np.abs(self.difference).mean())",
        "return float(self.difference.mean())",
    ),
    # attention/eca.py, spatial.py, channel.py, factory.py, gates.py: the modules themselves.
    HandMutant(
        "eca", "the max branch dropped from the avgmax logits", "logits = avg_part + max_part", "logits = avg_part"
    ),
    HandMutant(
        "eca",
        "avg and max branches swapped in the record",
        "return ChannelWeights(self.gate(logits), avg_part, max_part)",
        "return ChannelWeights(self.gate(logits), max_part, avg_part)",
    ),
    HandMutant(
        "eca",
        "the adaptive kernel made even",
        "return size if size % 2 == 1 else size + 1",
        "return size if size % 2 == 1 else size - 1",
    ),
    HandMutant(
        "spatial",
        "max and mean maps stacked in the other order",
        "pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)",
        "pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)",
    ),
    HandMutant(
        "spatial",
        "the norm between convolution and gate skipped",
        "logits = self.norm(self.conv(pooled))",
        "logits = self.conv(pooled)",
    ),
    HandMutant(
        "spatial",
        "the gated mask recorded as the logits",
        "return SpatialMask(self.gate(logits), logits)",
        "return SpatialMask(self.gate(logits), self.gate(logits))",
    ),
    HandMutant(
        "channel",
        "CBAM's avg and max parts swapped in the record",
        "return ChannelWeights(self.gate(avg_part + max_part), avg_part, max_part)",
        "return ChannelWeights(self.gate(avg_part + max_part), max_part, avg_part)",
    ),
    HandMutant(
        "channel",
        "CBAM's max branch pools by average",
        "max_part = self.mlp(x.amax(dim=(2, 3)))",
        "max_part = self.mlp(x.mean(dim=(2, 3)))",
    ),
    HandMutant(
        "channel",
        "the hidden width's floor taken as a ceiling",
        "hidden = max(min_hidden, channels // reduction)",
        "hidden = min(min_hidden, channels // reduction)",
    ),
    HandMutant(
        "factory",
        "spatial_first ignored (branches swapped)",
        "if spatial_first\n            else",
        "if not spatial_first\n            else",
    ),
    HandMutant(
        "factory",
        "cbam built with an SE channel gate",
        "            CBAMChannelGate(channels, reduction=reduction, gate=gate),",
        "            SqueezeExcite(channels, reduction=reduction, gate=gate),",
    ),
    HandMutant(
        "factory",
        "the caller's ECA options overridden by the shared gate",
        'eca_kwargs = {"gate": gate, **(eca or {})}',
        'eca_kwargs = {**(eca or {}), "gate": gate}',
    ),
    HandMutant(
        "gates", "hard_sigmoid builds a sigmoid", '"hard_sigmoid": nn.Hardsigmoid,', '"hard_sigmoid": nn.Sigmoid,'
    ),
    HandMutant("gates", "gate names no longer normalised", 'key = name.replace("-", "_").lower()', "key = name"),
    # attention/recorder.py, records.py, registry.py, tap.py
    HandMutant(
        "recorder",
        "feature maps kept for every layer, asked or not",
        "if own_features and name in recording.feature_layers:",
        "if own_features:",
    ),
    HandMutant(
        "recorder",
        "a failed pass leaves the thread recording",
        "        self._active.pop(self._thread, None)\n        self._thread = None\n\n\nclass AttentionRecorder",
        "        self._thread = None\n\n\nclass AttentionRecorder",
    ),
    HandMutant(
        "records",
        "a record keeps the model's own tensor",
        'return tensor.detach().to("cpu", copy=True)',
        "return tensor.detach()",
    ),
    HandMutant(
        "records",
        "a mask's size given as width x height",
        "return int(self.mask.shape[1]), int(self.mask.shape[2])",
        "return int(self.mask.shape[2]), int(self.mask.shape[1])",
    ),
    HandMutant(
        "registry",
        "types registered later no longer come first",
        "_REGISTRY.insert(0, (module_type, adapter))",
        "_REGISTRY.append((module_type, adapter))",
    ),
    HandMutant(
        "registry",
        "a spatial record keeps the logits as its mask",
        "        mask=cpu_copy(output.mask[:, 0]),\n        kernel_size=module.kernel_size,",
        "        mask=cpu_copy(output.logits[:, 0]),\n        kernel_size=module.kernel_size,",
    ),
    HandMutant(
        "registry",
        "the tap's source taken from the wrong argument",
        "return inputs[1] if len(inputs) > 1 else None",
        "return inputs[0] if len(inputs) > 1 else None",
    ),
    HandMutant(
        "tap",
        "the tap returns its source, not the value",
        "        return value\n",
        "        return source if source is not None else value\n",
    ),
    # attention/discovery.py and foreign.py
    HandMutant(
        "discovery",
        "the element probe's sample of a 28x28 map is the map itself, and it recurses",
        "step_h, step_w = -(-x.shape[2] // 16), -(-x.shape[3] // 16)",
        "step_h, step_w = max(1, x.shape[2] // 16), max(1, x.shape[3] // 16)",
    ),
    HandMutant(
        "discovery",
        "a gate exactly 1.0 somewhere is out of range",
        "highest > 1 + GATE_ATOL:",
        "highest >= 1:",
    ),
    HandMutant(
        "discovery",
        "a gate exactly 0.0 somewhere is out of range",
        "elif lowest < -GATE_ATOL:",
        "elif lowest <= 0:",
    ),
    HandMutant(
        "discovery",
        "a normalisation taken for attention",
        "        if _normalises(y64, axes):\n",
        "        if False:\n",
    ),
    HandMutant(
        "discovery",
        "a constant scaling taken for attention",
        "elif not bool((between > DIFFERS_RTOL * size).any()):",
        "elif False:",
    ),
    HandMutant(
        "discovery",
        "inner modules kept as well as the outer one",
        "if outer is not None:  # an outer module already scales by the same factors",
        "if False:",
    ),
    HandMutant(
        "discovery",
        "constant-looking modules not run again on unlike input",
        "if reason is not None and reason.startswith(UNCHANGED):",
        "if False:",
    ),
    HandMutant(
        "discovery",
        "a permuted plane drawn as a pixel mask",
        "if kind == SPATIAL and not _image_shaped(x.shape[2:], picture):",
        "if False:",
    ),
    HandMutant(
        "discovery",
        "a gate child never used for the record",
        "elif (recipe is None or verdict.gain != 1.0) and verdict.children:",
        "elif False:",
    ),
    HandMutant(
        "discovery",
        "in-place gates not named",
        "                reason = _in_place_gate(module, x, busy)\n",
        "                reason = None\n",
    ),
    HandMutant(
        "discovery",
        "rejected modules not kept",
        "            if reason:\n                rejected.append(_rejection(name, module, reason))",
        "            if False:\n                rejected.append(_rejection(name, module, reason))",
    ),
    HandMutant(
        "foreign",
        "a spatial mask read at the last channel's ratio without search",
        "        x0, y0 = x[:, 0], y[:, 0]",
        "        x0, y0 = x[:, -1], y[:, -1]",
    ),
    HandMutant(
        "foreign", "unreadable entries no longer searched", "    if not search or not bool(bad.any()):", "    if True:"
    ),
    HandMutant(
        "foreign",
        "timm CBAM's avg and max swapped in the record",
        "weights=cpu_copy(flat[0]), avg=cpu_copy(flat[1]), max=cpu_copy(flat[2])",
        "weights=cpu_copy(flat[0]), avg=cpu_copy(flat[2]), max=cpu_copy(flat[1])",
    ),
    HandMutant(
        "foreign",
        "timm's spatial pooling stacked in the other order",
        "pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)",
        "pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)",
    ),
    # attention/images.py
    HandMutant(
        "images", "EXIF orientation ignored", "image = ImageOps.exif_transpose(image) or image", "image = image"
    ),
    HandMutant(
        "render: masks and bars",
        "what the model never saw is not faded",
        'result = Image.blend(base, Image.new("RGB", base.size, "white"), CUT_FADE)',
        "result = base.copy()",
    ),
    HandMutant(
        "render: masks and bars",
        "the mask stretched over the whole image instead of the crop",
        "seen = base.crop(box) if box != (0, 0, *base.size) else base",
        "seen = base",
    ),
    HandMutant(
        "images", "normalisation adds the mean", "return (batch - mean_t) / std_t", "return (batch + mean_t) / std_t"
    ),
    HandMutant(
        "images",
        "the centre crop taken from the top left",
        "top, left = round((resized[0] - crop_h) / 2), round((resized[1] - crop_w) / 2)",
        "top, left = 0, 0",
    ),
    HandMutant(
        "images",
        "shorter-crop truncates the other way",
        "resized = (short, int(short * width / height))",
        "resized = (short, round(short * width / height))",
    ),
    HandMutant(
        "images",
        "crop_pct ignored",
        "scale_h, scale_w = math.floor(crop_h / crop_pct + 1e-6), math.floor(crop_w / crop_pct + 1e-6)",
        "scale_h, scale_w = crop_h, crop_w",
    ),
    HandMutant(
        "images",
        "interpolation ignored",
        "image = image.resize((width, height), RESAMPLING[interpolation])",
        "image = image.resize((width, height), Image.Resampling.BILINEAR)",
    ),
    HandMutant(
        "images",
        "height and width swapped at resize",
        "image = image.resize((width, height), RESAMPLING[interpolation])",
        "image = image.resize((height, width), RESAMPLING[interpolation])",
    ),
    # attention/compare.py's charts, profile, explain
    HandMutant(
        "profile",
        "activity counts |gate| instead of |1 - gate|",
        "float((1.0 - gate).abs().flatten(1).mean(dim=1).sum())",
        "float(gate.abs().flatten(1).mean(dim=1).sum())",
    ),
    HandMutant(
        "profile",
        "class means divided by the wrong count",
        "class_mean = self.class_sum[name] / np.maximum(self.class_count, 1)[:, None]",
        "class_mean = self.class_sum[name] / max(int(self.class_count.sum()), 1)",
    ),
    HandMutant(
        "explain",
        "the top channels are the least weighted",
        'return [int(c) for c in np.argsort(-weights, kind="stable")[:count]]',
        'return [int(c) for c in np.argsort(weights, kind="stable")[:count]]',
    ),
    HandMutant(
        "explain",
        "the batch norm's shift and scale swapped",
        "return (logits - mean.float()) / torch.sqrt(var.float() + norm.eps) * scale + shift",
        "return (logits - mean.float()) / torch.sqrt(var.float() + norm.eps) * shift + scale",
    ),
    # attention/render.py: the views users see
    HandMutant(
        "render: other figures",
        "grid tiles titled width x height",
        'f"{layer.name} ({height}x{width})"',
        'f"{layer.name} ({width}x{height})"',
    ),
    HandMutant(
        "render: other figures",
        "the summary titles masks width x height",
        'f"{layer.name}\\n{layer.size[0]}x{layer.size[1]}, mean',
        'f"{layer.name}\\n{layer.size[1]}x{layer.size[0]}, mean',
    ),
    HandMutant(
        "render: masks and bars",
        "the raw mask view resized without nearest neighbours",
        "image = image.resize(size, Image.Resampling.NEAREST)",
        "image = image.resize(size, Image.Resampling.BILINEAR)",
    ),
    # attention/files.py, errors.py, render_debug.py
    HandMutant(
        "files", "NaN passed into the document", "return value if math.isfinite(value) else None", "return value"
    ),
    HandMutant(
        "files",
        "a path separator kept in a file name",
        '_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")',
        '_UNSAFE = re.compile(r"[^A-Za-z0-9_./-]+")',
    ),
    HandMutant(
        "errors",
        "a message keeps its line breaks",
        'super().__init__(" ".join(str(message).split()))',
        "super().__init__(str(message))",
    ),
    HandMutant(
        "render_explain",
        "the true-scale mask drawn stretched",
        '_map(axes[1], mask, "mask, true 0-1 scale", 0.0, 1.0)',
        '_map(axes[1], mask, "mask, true 0-1 scale")',
    ),
    HandMutant(
        "render_explain",
        "every gate drawn as a sigmoid curve",
        'if values["gate"] == "hard sigmoid" else',
        'if values["gate"] == "hard_sigmoid" else',
    ),
    HandMutant(
        "render_explain",
        "the hidden numbers drawn on the expand matrix's panel",
        '_bars(axes[1], values["hidden"]',
        '_bars(axes[2], values["hidden"]',
    ),
    HandMutant(
        "render_explain",
        "the last colour bar's numbers run off the page picture's right edge",
        'STEP_SIDES = {"left": 0.1, "right": 0.93, "wspace": 0.4}',
        'STEP_SIDES = {"left": 0.1, "right": 0.95, "wspace": 0.4}',
    ),
    HandMutant(
        "render_explain",
        "keys and values name their rows over the colour bar beside them",
        "if index == 0:  # the three share their rows",
        "if index >= 0:  # the three share their rows",
    ),
    HandMutant(
        "render_explain",
        "the sheet's axis labels run into the next step's heading",
        "subfigure.subplots_adjust(top=0.66, bottom=0.17, **STEP_SIDES)",
        "subfigure.subplots_adjust(top=0.66, bottom=0.1, **STEP_SIDES)",
    ),
    HandMutant(
        "render_debug",
        "ablations listed most helpful first",
        'key=lambda entry: entry["delta"])',
        'key=lambda entry: -entry["delta"])',
    ),
    HandMutant(
        "discovery",
        "an activation counted as a per-element gate",
        "if kind == ELEMENT and not _depends_on_others(module, x, output, busy):",
        "if False:",
    ),
    HandMutant(
        "discovery",
        "BAM's factor of 1 + gate not recognised",
        "for offset in (0.0, 1.0):",
        "for offset in (0.0,):",
    ),
    HandMutant(
        "foreign",
        "coordinate attention's rows and columns swapped",
        "record.rows, record.columns = rows[..., 0].float(), columns[:, :, 0].float()",
        "record.columns, record.rows = rows[..., 0].float(), columns[:, :, 0].float()",
    ),
    HandMutant(
        "foreign",
        "split attention's weights read channel-major",
        "weights = output.reshape(output.shape[0], radix, -1)",
        "weights = output.reshape(output.shape[0], -1, radix).transpose(1, 2)",
    ),
    HandMutant(
        "ablation",
        "branch weights switched off as all ones, not equal shares",
        "return torch.full_like(output, 1.0 / branches)",
        "return torch.ones_like(output)",
    ),
    HandMutant(
        "ablation",
        "a gain outside the module not divided out",
        "return features if outer == 1.0 else features / outer",
        "return features",
    ),
    HandMutant(
        "camera set",
        "the groups name another size band than the one drawn",
        "        band = SIZE_BANDS[int(rng.integers(len(SIZE_BANDS)))][0]\n        rng.integers(1 << 30)",
        "        band = SIZE_BANDS[0][0]\n        rng.integers(1 << 30)",
    ),
    HandMutant(
        "camera set",
        "a circle drawn with any pen, however thick for its size",
        "        pen = min(pen, thickest_circle_line(extent / 2, side))\n",
        "",
    ),
    HandMutant(
        "camera set",
        "a ring's marker loop as thin as its random share of the radius",
        "max(thinnest_ring_band(extent / 2, side), rng.uniform(0.16, 0.26) * extent / 2)",
        "rng.uniform(0.16, 0.26) * extent / 2",
    ),
    HandMutant(
        "photographed drawings",
        "a ring's marker loop drawn through the middle of its outline, not of its band",
        "loops = [outer * (1 - band / (2 * radius))]",
        "loops = [outer]",
    ),
    HandMutant(
        "photographed drawings",
        "every drawing on plain paper: no surface behind any",
        "_ON_A_SURFACE = 0.35",
        "_ON_A_SURFACE = 0.0",
    ),
    HandMutant(
        "photographed drawings",
        "the pen's own ink kept however it vanishes into the surface",
        "    return tuple(int(c) for c in chosen)",
        "    return colour",
    ),
    HandMutant(
        "pattern backgrounds",
        "rounds all one size, as a lattice's cells are",
        "radius = math.exp(rng.uniform(low, high)) * unit",
        "radius = math.exp(high) * unit",
    ),
    HandMutant(
        "pattern backgrounds",
        "a bubble drawn as a filled disc, not a rim",
        "return np.maximum(rim, disc * 0.1), np.zeros_like(d)",
        "return np.maximum(rim, disc), np.zeros_like(d)",
    ),
    HandMutant(
        "pattern backgrounds",
        "stained glass all one pane, so no cell stands apart",
        "picture = panes[owner]",
        "picture = panes[np.zeros_like(owner)]",
    ),
    HandMutant(
        "pattern backgrounds",
        "spots cut so near the top of the field that the surface is all one colour",
        "level = float(np.quantile(field, rng.uniform(0.35, 0.75)))",
        "level = float(np.quantile(field, rng.uniform(0.97, 0.99)))",
    ),
    HandMutant(
        "pattern backgrounds",
        "contour lines as wide as bands, so they merge into blobs",
        "width = rng.uniform(0.3, 1.0) * unit  # a line's half-width in pixels",
        "width = rng.uniform(3.0, 6.0) * unit  # a line's half-width in pixels",
    ),
    HandMutant(
        "pattern backgrounds",
        "contours without knots, so no line closes round a shape-sized ring",
        "for _ in range(int(rng.integers(1, 5))):  # each knot",
        "for _ in range(0):  # each knot",
    ),
    HandMutant(
        "pattern backgrounds",
        "shape-scale surfaces half the patterns, as before the tenth set was opened",
        "_SHAPE_SCALE_SHARE = 0.6",
        "_SHAPE_SCALE_SHARE = 0.5",
    ),
    HandMutant(
        "pattern backgrounds",
        "shape-scale surfaces drawn as rarely as any other pattern",
        "patterns = _SHAPE_SCALE_PATTERNS if rng.random() < _SHAPE_SCALE_SHARE else _FINE_PATTERNS",
        "patterns = _PATTERNS",
    ),
    HandMutant(
        "pattern backgrounds",
        "print's words as tall as the line pitch, so lines of text merge into bars",
        "height = pitch * rng.uniform(0.35, 0.6)",
        "height = pitch * 1.05",
    ),
    HandMutant(
        "pattern backgrounds",
        "motifs as large as a small class shape",
        "reach = pitch * rng.uniform(0.15, 0.25)",
        "reach = pitch * rng.uniform(0.45, 0.55)",
    ),
    HandMutant(
        "pattern backgrounds",
        "relief lit flat, so it paints one tone",
        "shade = np.clip(0.5 + rng.uniform(4.0, 12.0) * slope, 0.0, 1.0)",
        "shade = np.clip(0.5 + 0.0 * slope, 0.0, 1.0)",
    ),
    HandMutant(
        "pattern backgrounds",
        "pebbles and pits lit head-on, so their slopes shade alike on every side",
        "return np.clip(0.5 + strength * (gx * math.cos(light) + gy * math.sin(light)), 0.0, 1.0)",
        "return np.clip(0.5 + strength * np.hypot(gx, gy), 0.0, 1.0)",
    ),
    HandMutant(
        "pattern backgrounds",
        "pebbles as large as the picture, so one bump fills it",
        "cell = rng.uniform(1.5, 8.0) * unit",
        "cell = rng.uniform(60.0, 80.0) * unit",
    ),
    HandMutant(
        "pattern backgrounds",
        "cells far smaller than any shape, so they read as a fine texture",
        "_SHAPE_SIZED = (6.0, 22.0)",
        "_SHAPE_SIZED = (1.5, 3.0)",
    ),
    HandMutant(
        "pattern backgrounds",
        "caustic threads as wide as their cells, so the net becomes a lit sheet",
        "width = min(rng.uniform(0.5, 1.5) * unit, 0.08 * cell)",
        "width = rng.uniform(0.5, 1.5) * cell",
    ),
    HandMutant(
        "pattern backgrounds",
        "rosettes' arcs unbroken, so every rosette is a closed ring like the class",
        "> rng.uniform(-0.5, 0.1)",
        "> -2.0",
    ),
    HandMutant(
        "pattern backgrounds",
        "honeycomb walls as wide as half a cell, so the cells shrink to dots",
        "wall = (second - nearest) * cell / 2 < rng.uniform(0.04, 0.12) * cell",
        "wall = (second - nearest) * cell / 2 < rng.uniform(0.3, 0.4) * cell",
    ),
    HandMutant(
        "pattern backgrounds",
        "lozenges far smaller than any shape, a fine print rather than a rug",
        "wide = rng.uniform(14.0, 40.0) * unit",
        "wide = rng.uniform(3.0, 8.0) * unit",
    ),
    HandMutant(
        "pattern backgrounds",
        "a lattice with neither checks, cores nor lines left as a plain ground",
        "if rng.random() < 0.7 or not (checked or cored):",
        "if rng.random() < 0.7:",
    ),
    HandMutant(
        "pattern backgrounds",
        "harlequin never drawn, every lattice on one ground",
        "checked = rng.random() < 0.5  # harlequin",
        "checked = False  # harlequin",
    ),
    HandMutant(
        "pattern backgrounds",
        "lozenges dropped from the surfaces of a shape's scale",
        "    _pattern_tiles,\n    _pattern_lozenges,\n)",
        "    _pattern_tiles,\n)",
    ),
    HandMutant(
        "pattern backgrounds",
        "tiles never checked, so the grout always takes the second colour",
        "checked = rng.random() < 0.6  # neighbouring tiles",
        "checked = False  # neighbouring tiles",
    ),
    HandMutant(
        "pattern backgrounds",
        "the diamond motif drawn as four petals",
        "elif motif == 2:  # diamond",
        "elif motif == 1:  # diamond",
    ),
    HandMutant(
        "eleventh sealed set",
        "a ring's hole wound the same way as its disc, so the non-zero rule fills it",
        '"ring": _circle(1.0) + " " + _circle(_RING_HOLE, backwards=True),',
        '"ring": _circle(1.0) + " " + _circle(_RING_HOLE),',
    ),
    HandMutant(
        "eleventh sealed set",
        "spans kept by the even-odd rule, so a cross's two bars leave their overlap empty",
        "sign = (after - upward != 0).astype(int) - (after != 0).astype(int)",
        "sign = ((after - upward) % 2 != 0).astype(int) - (after % 2 != 0).astype(int)",
    ),
    HandMutant(
        "eleventh sealed set",
        "the ink always lighter than the surface, so a pale surface hides it",
        "min(level - gap, low - 40) if level > 127.5 else max(level + gap, high + 40)",
        "max(level + gap, high + 40)",
    ),
    HandMutant(
        "eleventh sealed set",
        "the camera zoomed out, so the room beyond the sheet shows at its corners",
        "fit = 0.985 / max(np.abs(u).max(), np.abs(v).max())",
        "fit = 1.1 / max(np.abs(u).max(), np.abs(v).max())",
    ),
    HandMutant(
        "eleventh sealed set",
        "a circle outlined in tape, which reads as a ring",
        'outline = style == "electrical tape" and name != "circle"',
        'outline = style == "electrical tape"',
    ),
    HandMutant(
        "eleventh sealed set",
        "a span's end pixels snapped whole, so coverage across the row is no longer exact",
        "part = x - whole",
        "part = np.round(x - whole)",
    ),
    HandMutant(
        "twelfth sealed set",
        "hatching never cut at the outline, so it colours a ring's hole and a star's notches",
        "spans = crossings.reshape(-1, 2)",
        "spans = np.array([[crossings.min(), crossings.max()]])",
    ),
    HandMutant(
        "twelfth sealed set",
        "a circle drawn as a ballpoint outline only, which reads as a ring",
        'open_ = style == "ballpoint" and name not in ("circle", "ring") and low >= 0.25',
        'open_ = style == "ballpoint" and name != "ring" and low >= 0.25',
    ),
    HandMutant(
        "twelfth sealed set",
        "the shape placed up to the frame's edge, where the camera's blur and a stroke's width cut it off",
        "goal = rng.uniform(_MARGIN * side + reach / 2, side - _MARGIN * side - reach / 2, 2)",
        "goal = rng.uniform(reach / 2, side - reach / 2, 2)",
    ),
    HandMutant(
        "twelfth sealed set",
        "the mask taken before the camera, so it no longer lies on the paint in the photograph",
        "paint = cv2.warpPerspective(cover.astype(np.float32), view, (side, side), **warp)",
        "paint = cover.astype(np.float32)",
    ),
    HandMutant(
        "twelfth sealed set",
        "every picture drawn on the first surface, whatever its group says",
        "picture = _surface(rng, surface, side)",
        "picture = _surface(rng, SURFACES12[0], side)",
    ),
    HandMutant(
        "twelfth sealed set",
        "the ink always lighter than the surface, so a pale surface hides it",
        "target = dark if apart[0] >= apart[1] else light",
        "target = light",
    ),
    HandMutant(
        "sixteenth sealed set",
        "a ring scattered over its whole disc, so its hole fills with all but a thin circle of bare counter",
        'inner = _RING_HOLE if name == "ring" else 0.0',
        "inner = 0.0",
    ),
    HandMutant(
        "sixteenth sealed set",
        "a fan triangle's far half not folded back, so points land outside the polygon and its discs with them",
        "fold = s + t > 1  # a point of the parallelogram beyond the triangle, folded back into it",
        "fold = s + t > 2",
    ),
    HandMutant(
        "sixteenth sealed set",
        "a heap's discs kept wherever their middles fall, so they stick out over the outline",
        "keep = clearance(name, middles) >= radii",
        "keep = clearance(name, middles) >= 0",
    ),
    HandMutant(
        "sixteenth sealed set",
        "a ray counted as a hit only when all its nearest discs reach it",
        "top[near] = np.where(distance < reach, index, -1).max(axis=1)",
        "top[near] = np.where(distance < reach, index, -1).min(axis=1)",
    ),
    HandMutant(
        "sixteenth sealed set",
        "the rays worth asking the tree about boxed by the middles alone, so the outer discs lose their rims",
        "low, high = middles.min(axis=0) - radii.max(), middles.max(axis=0) + radii.max()",
        "low, high = middles.min(axis=0), middles.max(axis=0)",
    ),
    HandMutant(
        "sixteenth sealed set",
        "the fisheye made rectilinear: the angle off the axis as an arctangent of the distance, not the distance",
        "theta = field * rho",
        "theta = np.arctan(field * rho)",
    ),
    HandMutant(
        "sixteenth sealed set",
        "the second field not shaken, so the frame is no longer interlaced",
        "land[1::2, :, :, 0] += view[3]",
        "land[1::2, :, :, 0] += 0.0",
    ),
    HandMutant(
        "sixteenth sealed set",
        "the fit's rescaling dropped, so the object's box misses its band",
        "scale *= extent / longer",
        "scale *= 1.0",
    ),
    HandMutant(
        "sixteenth sealed set",
        "a necklace's corners left without their bead, so a star's points and a square's corners are cut",
        "        beads.append(a)\n",
        "        beads.append((a + b) / 2)\n",
    ),
    HandMutant(
        "sixteenth sealed set",
        "the object always light, so a pale counter hides it",
        "return _tone(rng, dark if crowd_dark <= crowd_light else light)",
        "return _tone(rng, light)",
    ),
    HandMutant(
        "sixteenth sealed set",
        "every picture drawn on the first counter, whatever its group says",
        "colours = counter(rng, surface, flat, side)",
        "colours = counter(rng, SURFACES16[0], flat, side)",
    ),
    HandMutant(
        "sixteenth sealed set",
        "the wavelet's second level skipped, so the codec works on 2 x 2 blocks only",
        "average = _haar(average, step * 1.5, levels - 1)",
        "average = average",
    ),
    HandMutant(
        "seventeenth sealed set",
        "the DC term shrunk by the window as if its frequency were one, so every cover is short of the area by a sixth",
        "    k2[0, 0] = 0.0\n",
        "    k2[0, 0] = 1.0\n",
    ),
    HandMutant(
        "seventeenth sealed set",
        "the outline's normals pointing inwards, so the Fourier sum turns the shape inside out",
        "normals.append(np.c_[edge[which, 1], -edge[which, 0]] * (0.5 / pieces[which])[:, None])",
        "normals.append(np.c_[-edge[which, 1], edge[which, 0]] * (0.5 / pieces[which])[:, None])",
    ),
    HandMutant(
        "seventeenth sealed set",
        "each quadrature point weighted as if it stood for its whole piece, so the outline integral counts twice",
        "* (0.5 / pieces[which])[:, None])",
        "* (1.0 / pieces[which])[:, None])",
    ),
    HandMutant(
        "seventeenth sealed set",
        "a ring's hole wound the same way as its outer loop, so it adds to the cover instead of cutting it out",
        'return [outer, hole * outer[::-1]] if name == "ring" else [outer]',
        'return [outer, hole * outer] if name == "ring" else [outer]',
    ),
    HandMutant(
        "seventeenth sealed set",
        "the shutter's shake not undone on the way back to the ground, so the ground and the object part by a pixel",
        "    still[:, 0] -= shake(view, still[:, 1])\n",
        "    still[:, 0] -= 0.0\n",
    ),
    HandMutant(
        "seventeenth sealed set",
        "the gimbal's pitch dropped, so the camera always looks straight down and nothing is keystoned",
        "tilt = np.eye(3) + math.sin(p) * cross + (1 - math.cos(p)) * cross @ cross  # Rodrigues",
        "tilt = np.eye(3)  # Rodrigues",
    ),
    HandMutant(
        "seventeenth sealed set",
        "the placing's rescaling dropped, so the object's box misses its band",
        "        scale *= extent / float((high - low).max())\n",
        "        scale *= 1.0\n",
    ),
    HandMutant(
        "seventeenth sealed set",
        "a shape whose mask falls short never laid out again, so a star's rounded points leave its box small",
        "        wanted += extent - seen\n",
        "        wanted += 0.0\n",
    ),
    HandMutant(
        "seventeenth sealed set",
        "the object always light, so a pale ground hides it",
        "if np.mean(greys >= 130) >= np.mean(greys <= 125):",
        "if np.mean(greys >= 130) >= 2.0:",
    ),
    HandMutant(
        "seventeenth sealed set",
        "every picture drawn on the first ground, whatever its group says",
        "colours = ground(rng, surface, spots[:, 0], spots[:, 1])",
        "colours = ground(rng, SURFACES17[0], spots[:, 0], spots[:, 1])",
    ),
    HandMutant(
        "seventeenth sealed set",
        "a circle's painted line twice as wide, as wide as a ring's band is thin",
        "return rng.uniform(0.6, 0.95) * CIRCLE_LINE_SHARE / 2",
        "return rng.uniform(0.6, 0.95) * CIRCLE_LINE_SHARE * 2",
    ),
    HandMutant(
        "seventeenth sealed set",
        "the defocus disc's transfer function halved, so half of each point's light stays put",
        "transfer[some] = 2 * special.j1(rk[some]) / rk[some]",
        "transfer[some] = special.j1(rk[some]) / rk[some]",
    ),
    HandMutant(
        "eighteenth sealed set",
        "the saddle rule reversed, so a cell whose corners alternate is joined when its middle is outside",
        "    apart = alternate & (sum(values) >= 0)\n",
        "    apart = alternate & (sum(values) < 0)\n",
    ),
    HandMutant(
        "eighteenth sealed set",
        "a cell's crossing taken from the wrong corner, so every cut edge is mirrored along its edge",
        "t = np.where(cuts, a / np.where(cuts, a - b, 1.0), 0.0)",
        "t = np.where(cuts, b / np.where(cuts, b - a, 1.0), 0.0)",
    ),
    HandMutant(
        "eighteenth sealed set",
        "a corner inside the shape left out of its cell's polygon, so covered cells lose their corners",
        "        keep += [a < 0, cuts]\n",
        "        keep += [a > 0, cuts]\n",
    ),
    HandMutant(
        "eighteenth sealed set",
        "the distance's sign dropped, so the whole window round the object counts as outside",
        "out[first : first + _CHUNK] = np.where(inside, -1.0, 1.0) * np.sqrt(gap2)",
        "out[first : first + _CHUNK] = np.sqrt(gap2)",
    ),
    HandMutant(
        "eighteenth sealed set",
        "a point's nearest place taken on each edge's whole line, not its segment, so distances past a corner shrink",
        "t = np.clip((rel * edge[None]).sum(axis=2) / length2, 0.0, 1.0)",
        "t = (rel * edge[None]).sum(axis=2) / length2",
    ),
    HandMutant(
        "eighteenth sealed set",
        "the band's half width added instead of taken off, so a ring and a rope swell into discs",
        "field = np.abs(outline) - band if band > 0 else outline",
        "field = np.abs(outline) + band if band > 0 else outline",
    ),
    HandMutant(
        "eighteenth sealed set",
        "the window round the object cut tight, so a rope's outer edge falls outside it",
        "low = np.floor(every.min(axis=0) - reach - 2).astype(int)",
        "low = np.floor(every.min(axis=0) - 2).astype(int)",
    ),
    HandMutant(
        "eighteenth sealed set",
        "the frame's fit to the extent dropped, so a tilted object's box misses its band",
        "zoom = extent / float((high - low).max())",
        "zoom = 1.0",
    ),
    HandMutant(
        "eighteenth sealed set",
        "a mask that misses its box never laid out again, so a star's thin points leave it short",
        "        wanted += miss * unit / (unit + 2 * band)\n",
        "        wanted += 0.0\n",
    ),
    HandMutant(
        "eighteenth sealed set",
        "sticks looked for one cell short of their reach, so their far halves are cut off at cell edges",
        "reach = int(math.ceil(length[1] / 2 / cell)) if reach is None else reach",
        "reach = int(math.ceil(length[1] / 2 / cell)) - 1 if reach is None else reach",
    ),
    HandMutant(
        "eighteenth sealed set",
        "every picture drawn on the first ground, whatever its group says",
        "colours = ground(rng, surface, spots[:, 0], spots[:, 1])",
        "colours = ground(rng, SURFACES18[0], spots[:, 0], spots[:, 1])",
    ),
    HandMutant(
        "eighteenth sealed set",
        "the object's ink chosen against the whole frame's ground, not the ground round it",
        "colour = ink(rng, colours[(near & (cover < 0.02)).ravel()])",
        "colour = ink(rng, colours)",
    ),
    HandMutant(
        "eighteenth sealed set",
        "the rope drawn on shapes of any size, where a circle's line is thinner than a pixel at 64 px",
        "styles = STYLES18 if band in _LINE_BANDS else STYLES18[:-1]",
        "styles = STYLES18",
    ),
    HandMutant(
        "eighteenth sealed set",
        "the vignette's focal length from the side's half, so the corners fall off far more than asked",
        "focal = (side / math.sqrt(2)) / math.tan(math.acos((1 - strength) ** 0.25))",
        "focal = (side / 2) / math.tan(math.acos((1 - strength) ** 0.25))",
    ),
    HandMutant(
        "eighteenth sealed set",
        "halation's glow added to blue most and red least, a cold halo no film makes",
        "glow[..., None] * np.array([1.0, 0.35, 0.08])",
        "glow[..., None] * np.array([0.08, 0.35, 1.0])",
    ),
    HandMutant(
        "eighteenth sealed set",
        "grain strongest in the shadows instead of the mid-tones",
        "return picture + amount * 4 * level * (1 - level) * together",
        "return picture + amount * 4 * (1 - level) * together",
    ),
    HandMutant(
        "eighteenth sealed set",
        "aged dyes' black and white swapped, so the picture comes out as a negative",
        "return lift + (top - lift) * level",
        "return top + (lift - top) * level",
    ),
    HandMutant(
        "eighteenth sealed set",
        "the scratches drawn across the strip instead of along it",
        "line = np.c_[drift, np.arange(side + 1)] * 16",
        "line = np.c_[np.arange(side + 1), drift] * 16",
    ),
    HandMutant(
        "nineteenth sealed set",
        "a clipped edge's crossing measured from the wrong end, so every cut lands mirrored along its edge",
        "t = np.where(cuts, was / np.where(cuts, was - here, 1.0), 0.0)",
        "t = np.where(cuts, here / np.where(cuts, here - was, 1.0), 0.0)",
    ),
    HandMutant(
        "nineteenth sealed set",
        "the square's bottom side never clipped against, so a triangle's part below the pixel counts as in it",
        "(1, 1.0, 0.0), (1, -1.0, 1.0)):",
        "(1, 1.0, 0.0)):",
    ),
    HandMutant(
        "nineteenth sealed set",
        "a clipped polygon kept to as many corners as it came with, so the corner a cut adds is lost",
        "[:, : points.shape[1] + 1]",
        "[:, : points.shape[1]]",
    ),
    HandMutant(
        "nineteenth sealed set",
        "each piece's area taken without its sign, so the triangles an edge winds backwards add instead of cancel",
        "return 0.5 * (x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y).sum(axis=1)",
        "return np.abs(0.5 * (x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y).sum(axis=1))",
    ),
    HandMutant(
        "nineteenth sealed set",
        "a row's crossings counted left of the pixel's corner, not its middle",
        "< cols[None, :, None] + 0.5).sum(axis=2)",
        "< cols[None, :, None]).sum(axis=2)",
    ),
    HandMutant(
        "nineteenth sealed set",
        "a ring's hole wound with its outer loop, so its cover adds to the rim's and the hole fills",
        "* (1 if k == 0 else -1) > 0",
        "* 1 > 0",
    ),
    HandMutant(
        "nineteenth sealed set",
        "a mask that misses its box never laid out again, so a star's thin points leave it short",
        "        wanted += miss\n",
        "        wanted += 0.0\n",
    ),
    HandMutant(
        "nineteenth sealed set",
        "a wire's inner edge moved outwards too, so the band between its edges has no width",
        "offset(outline, -half)[::-1]",
        "offset(outline, half)[::-1]",
    ),
    HandMutant(
        "nineteenth sealed set",
        "every picture drawn on the first board, whatever its group says",
        "colours = ground(rng, surface, board[:, 0], board[:, 1])",
        "colours = ground(rng, SURFACES19[0], board[:, 0], board[:, 1])",
    ),
    HandMutant(
        "nineteenth sealed set",
        "the object's ink chosen against the whole frame's board, not the board round it",
        "ink(rng, colours[bare.ravel()])",
        "ink(rng, colours)",
    ),
    HandMutant(
        "nineteenth sealed set",
        "the wire bent round shapes of any size, where a circle's wire is thinner than a pixel at 64 px",
        "wire = band in _WIRE_BANDS",
        "wire = True",
    ),
    HandMutant(
        "nineteenth sealed set",
        "the street's reflection added on top of the view instead of mixed into it, so the picture only brightens",
        "return picture * (1 - strength) + strength * street",
        "return picture + strength * street",
    ),
    HandMutant(
        "fifteenth sealed set",
        "a ring's hole met as it is rather than turned inside out, so the ring draws its hole's small disc",
        'return ("all", (("disc", 0.0, 0.0, 1.0), ("not", ("disc", 0.0, 0.0, _RING_HOLE))))',
        'return ("all", (("disc", 0.0, 0.0, 1.0), ("disc", 0.0, 0.0, _RING_HOLE)))',
    ),
    HandMutant(
        "fifteenth sealed set",
        "a star's wedges stopped short of the middle, so the star has a hole there",
        'wedges.append(("all", (*edges, ("plane", -math.cos(tip), -math.sin(tip), _STAR_FOOT))))',
        'wedges.append(("all", (*edges, ("plane", -math.cos(tip), -math.sin(tip), -_STAR_FOOT))))',
    ),
    HandMutant(
        "fifteenth sealed set",
        "a half-plane's bounds taken at the cell's middle only, so cells the outline crosses are kept or dropped whole",
        "middle, reach = shape[1] * x + shape[2] * y - shape[3], (abs(shape[1]) + abs(shape[2])) * half",
        "middle, reach = shape[1] * x + shape[2] * y - shape[3], 0.0 * half",
    ),
    HandMutant(
        "fifteenth sealed set",
        "a disc's nearest point taken as its middle's distance, so its lower bound is too high and edge cells dropped",
        "near = np.hypot(np.maximum(dx - half, 0), np.maximum(dy - half, 0))",
        "near = np.hypot(dx, dy)",
    ),
    HandMutant(
        "fifteenth sealed set",
        "the last cells that straddle the outline dropped instead of decided by their middle's sign",
        "inside, split = value(shape, x, y) < 0, np.zeros(len(x), bool)",
        "inside, split = high < 0, np.zeros(len(x), bool)",
    ),
    HandMutant(
        "fifteenth sealed set",
        "the object placed up to the frame's edge, where the view cuts it off",
        "goal = rng.uniform(_MARGIN * side + extent / 2, side - _MARGIN * side - extent / 2, 2)",
        "goal = rng.uniform(extent / 2, side - extent / 2, 2)",
    ),
    HandMutant(
        "fifteenth sealed set",
        "the fit's correction dropped, so the object's box in the frame misses its band",
        "scale *= extent / longer",
        "scale *= 1.0",
    ),
    HandMutant(
        "fifteenth sealed set",
        "the mask taken from the desk's cover without the camera's view, so it no longer lies on the object",
        "paint = np.clip(bicubic(share, desk), 0, 1).reshape(side, side)",
        "paint = share",
    ),
    HandMutant(
        "fifteenth sealed set",
        "the lens's barrel turned into a pincushion",
        "q = q * (1 + barrel * (q**2).sum(axis=1, keepdims=True))",
        "q = q * (1 - barrel * (q**2).sum(axis=1, keepdims=True))",
    ),
    HandMutant(
        "fifteenth sealed set",
        "every picture drawn on the first surface, whatever its group says",
        "picture = _surface(rng, surface, side)",
        "picture = _surface(rng, SURFACES15[0], side)",
    ),
    HandMutant(
        "fifteenth sealed set",
        "the object always light, so a pale desk hides it",
        "return _tone(rng, rng.uniform(15, 45) if level >= 128 else rng.uniform(215, 245))",
        "return _tone(rng, rng.uniform(215, 245))",
    ),
    HandMutant(
        "fourteenth sealed set",
        "a ring's hole wound the same way as its rim, so the winding there is two and the ring a disc",
        "return [_round(1.0), _round(_RING_HOLE, clockwise=True)]",
        "return [_round(1.0), _round(_RING_HOLE)]",
    ),
    HandMutant(
        "fourteenth sealed set",
        "the winding's steps summed unwrapped, so a step across the ray behind the point cancels the turn",
        "total += ((step + math.pi) % (2 * math.pi) - math.pi).sum(axis=1)",
        "total += step.sum(axis=1)",
    ),
    HandMutant(
        "fourteenth sealed set",
        "the lattice dropped: an edge pixel tested only at its middle again, so the outline is stair-stepped",
        "points = (pixels[:, None] + (_LATTICE + shift) % 1).reshape(-1, 2)",
        "points = (pixels[:, None] + 0.5 + 0 * _LATTICE).reshape(-1, 2)",
    ),
    HandMutant(
        "fourteenth sealed set",
        "the object placed up to the frame's edge, where the scan cuts it off",
        "goal = rng.uniform(_MARGIN * side + extent / 2, side - _MARGIN * side - extent / 2, 2)",
        "goal = rng.uniform(extent / 2, side - extent / 2, 2)",
    ),
    HandMutant(
        "fourteenth sealed set",
        "the object placed on the glass without the scan's map undone, so its box misses its band and its place",
        "loops = [to_glass(glass, goal + (loop - middle) * extent / span) for loop in loops]",
        "loops = [goal + (loop - middle) * extent / span for loop in loops]",
    ),
    HandMutant(
        "fourteenth sealed set",
        "the mask taken before the scan's turn, so it no longer lies on the object in the frame",
        "paint = cv2.warpAffine(share.astype(np.float32), glass, (side, side), flags=cv2.INTER_LINEAR)",
        "paint = share.astype(np.float32)",
    ),
    HandMutant(
        "fourteenth sealed set",
        "every picture drawn on the first surface, whatever its group says",
        "picture = _surface(rng, surface, side)",
        "picture = _surface(rng, SURFACES14[0], side)",
    ),
    HandMutant(
        "fourteenth sealed set",
        "the object always light, so a pale surface hides it",
        "return _hue(rng, rng.uniform(15, 45) if level >= 128 else rng.uniform(215, 245))",
        "return _hue(rng, rng.uniform(215, 245))",
    ),
    HandMutant(
        "thirteenth sealed set",
        "a ring's hole filled, so it draws a disc",
        "return np.abs(np.hypot(x, y) - (1 + _RING_HOLE) / 2) - (1 - _RING_HOLE) / 2",
        "return np.hypot(x, y) - 1",
    ),
    HandMutant(
        "thirteenth sealed set",
        "a rounded triangle shrunk by the rounding instead of twice it, so its sides bulge past the sharp one's",
        "return _triangle(x, y, 1 - 2 * r) - r",
        "return _triangle(x, y, 1 - r) - r",
    ),
    HandMutant(
        "thirteenth sealed set",
        "the jitter dropped: every pixel sampled at the same regular 4 x 4 points",
        "return pixels + (cells + rng.random((n * n, h, w, 2))) / n",
        "return pixels + (cells + 0.5) / n",
    ),
    HandMutant(
        "thirteenth sealed set",
        "the object placed up to the frame's edge, where the lens and a shadow cut it off",
        "goal = rng.uniform(_MARGIN * side + extent / 2, side - _MARGIN * side - extent / 2, 2)",
        "goal = rng.uniform(extent / 2, side - extent / 2, 2)",
    ),
    HandMutant(
        "thirteenth sealed set",
        "the mask taken before the camera's view and lens, so it no longer lies on the object in the photograph",
        "paint = cv2.remap(cover.astype(np.float32), where[..., 0], where[..., 1], cv2.INTER_LINEAR)",
        "paint = cover.astype(np.float32)",
    ),
    HandMutant(
        "thirteenth sealed set",
        "every picture drawn on the first surface, whatever its group says",
        "picture = _surface(rng, surface, side, light)",
        "picture = _surface(rng, SURFACES13[0], side, light)",
    ),
    HandMutant(
        "thirteenth sealed set",
        "the object always lighter than the surface, so a pale surface hides it",
        "target = dark if min(level - dark, 2 * (low - dark)) >= min(light - level, 2 * (light - high)) else light",
        "target = light",
    ),
    HandMutant(
        "thirteenth sealed set",
        "the lens not scaled to fit its corners, so the frame reads past the scene's edge",
        "bowed = q * (1 + lens.bow * (q * q).sum(axis=1, keepdims=True)) / (1 + 2 * lens.bow)",
        "bowed = q * (1 + lens.bow * (q * q).sum(axis=1, keepdims=True))",
    ),
    HandMutant(
        "tenth sealed set",
        "a ring's hole left filled, so it draws a disc",
        "inside = filled[0] & ~filled[1] if len(filled) == 2 else filled[0]",
        "inside = filled[0]",
    ),
    HandMutant(
        "tenth sealed set",
        "the ink always lighter than the surface, so a pale surface hides it",
        "target = level - rng.uniform(70, 110) if level > 127.5 else level + rng.uniform(70, 110)",
        "target = level + rng.uniform(70, 110)",
    ),
    HandMutant(
        "tenth sealed set",
        "the camera zoomed out, so its barrel reads past the sheet's edge",
        "u, v = u * barrel * 0.96, v * barrel * 0.96",
        "u, v = u * barrel * 1.1, v * barrel * 1.1",
    ),
    HandMutant(
        "ninth sealed set",
        "dark ink left at the hue's HLS lightness, so a bright yellow lands on a pale surface",
        "        return colour * target / luma",
        "        return colour",
    ),
    HandMutant(
        "ninth sealed set",
        "the box placed at the shape's centre, so a triangle or star pokes past the margin",
        "    centre = box - middle * scale",
        "    centre = box",
    ),
    HandMutant(
        "ninth sealed set",
        "a star's notches as deep as its tips, so it draws a decagon",
        "        return _polygon_radius(angle, np.array([1.0 if k % 2 == 0 else 0.38 for k in range(10)]))",
        "        return _polygon_radius(angle, np.array([1.0 if k % 2 == 0 else 0.95 for k in range(10)]))",
    ),
    HandMutant(
        "photographed sizes",
        "sizes drawn evenly, so small shapes and drawings are rare",
        "return math.exp(rng.uniform(math.log(_MIN_EXTENT), math.log(_MAX_EXTENT)))",
        "return rng.uniform(_MIN_EXTENT, _MAX_EXTENT)",
    ),
    HandMutant(
        "photographed drawings",
        "a circle drawn with any pen, however thick for its size",
        "        pen = min(pen, round(thickest_circle_line(radius, side)))\n",
        "",
    ),
    HandMutant(
        "photograph",
        "the hand holds the sheet at the edge nearest the drawing",
        "edge = int(np.argmax([y, side - x, side - y, x]))",
        "edge = int(np.argmin([y, side - x, side - y, x]))",
    ),
    HandMutant(
        "third sealed set",
        "a stroked shape's path keeps its full size, so the pen pushes it past its size band",
        "make = _placed(name, rng, extent - pen if stroked else extent, side)",
        "make = _placed(name, rng, extent, side)",
    ),
    HandMutant(
        "third sealed set",
        "an outlined circle allowed, which reads as a ring",
        '    if name == "circle" and style == "stroked":\n        style = "filled"  # an outlined circle is a ring\n',
        "",
    ),
    HandMutant(
        "third sealed set",
        "a hatched shape's mask leaves out its outline",
        'if style == "edged" or (style == "hatched" and not paint):',
        'if style == "edged":',
    ),
    HandMutant(
        "rescore",
        "a dry run writes the figure",
        "if args.dry_run or before == accuracy:",
        "if before == accuracy:",
    ),
    HandMutant(
        "rescore",
        "each re-score overwrites the figure the model was trained to",
        'metrics.setdefault("trained_generator_test_accuracy", before)',
        'metrics["trained_generator_test_accuracy"] = before',
    ),
    HandMutant(
        "sealed set",
        "the plain surface keeps its pattern",
        "    if plain_surface:\n        picture = np.broadcast_to(",
        "    if False:\n        picture = np.broadcast_to(",
    ),
]

COMPARISONS: dict[type, type] = {
    ast.Lt: ast.GtE,
    ast.GtE: ast.Lt,
    ast.Gt: ast.LtE,
    ast.LtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
OPERATORS: dict[type, type] = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}
SWAPPED_NAMES = {"min": "max", "max": "min", "amax": "amin", "amin": "amax", "argmax": "argmin", "argmin": "argmax"}


@dataclass(frozen=True)
class Mutant:
    module: str
    line: int
    description: str
    source: str  # the whole mutated module


def _is_docstring(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    parent = parents.get(node)
    return isinstance(parent, ast.Expr) and isinstance(node, ast.Constant) and isinstance(node.value, str)


def _mutations(node: ast.AST) -> Iterator[tuple[str, Callable[[ast.AST], ast.AST]]]:
    """(description, change) for every bug this node can carry; each change edits a copy of the node."""
    if isinstance(node, ast.Compare):
        for index, op in enumerate(node.ops):
            if type(op) in COMPARISONS:

                def flip(n: ast.Compare, i: int = index) -> ast.AST:
                    n.ops[i] = COMPARISONS[type(n.ops[i])]()
                    return n

                yield f"comparison {type(op).__name__} -> {COMPARISONS[type(op)].__name__}", flip
    elif isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:

        def swap_op(n: ast.BinOp) -> ast.AST:
            n.op = OPERATORS[type(n.op)]()
            return n

        yield f"operator {type(node.op).__name__} -> {OPERATORS[type(node.op)].__name__}", swap_op
    elif isinstance(node, ast.BoolOp):

        def swap_bool(n: ast.BoolOp) -> ast.AST:
            n.op = ast.Or() if isinstance(n.op, ast.And) else ast.And()
            return n

        yield "and <-> or", swap_bool
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
        yield f"drop unary {type(node.op).__name__}", lambda n: n.operand
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float, bool) and not isinstance(node.value, str):
        value = node.value
        if isinstance(value, bool):
            replacement: object = not value
        elif isinstance(value, float):
            replacement = {0.0: 1.0, 1.0: 0.0, 0.5: 0.25}.get(value, value * 2)
        else:
            replacement = value + 1 if value in (0, 1) else value - 1
        yield f"constant {value!r} -> {replacement!r}", lambda n, r=replacement: ast.Constant(r)
    elif isinstance(node, ast.Name) and node.id in SWAPPED_NAMES and isinstance(node.ctx, ast.Load):
        yield f"{node.id} -> {SWAPPED_NAMES[node.id]}", lambda n: ast.Name(SWAPPED_NAMES[n.id], ast.Load())
    elif isinstance(node, ast.Attribute) and node.attr in SWAPPED_NAMES:

        def swap_attr(n: ast.Attribute) -> ast.AST:
            n.attr = SWAPPED_NAMES[n.attr]
            return n

        yield f".{node.attr} -> .{SWAPPED_NAMES[node.attr]}", swap_attr
    elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Name):
        yield (
            f"[{node.slice.id}] -> [{node.slice.id} + 1]",
            lambda n: ast.Subscript(n.value, ast.BinOp(n.slice, ast.Add(), ast.Constant(1)), n.ctx),
        )
    elif isinstance(node, ast.Call) and len(node.args) >= 2 and not any(isinstance(a, ast.Starred) for a in node.args):

        def swap_args(n: ast.Call) -> ast.AST:
            n.args[0], n.args[1] = n.args[1], n.args[0]
            return n

        yield "swap the first two arguments", swap_args
    elif isinstance(node, ast.If):

        def negate(n: ast.If) -> ast.AST:
            n.test = ast.UnaryOp(ast.Not(), n.test)
            return n

        yield "negate an if", negate
    elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
        yield "drop a call statement", lambda n: ast.Pass()
    elif isinstance(node, ast.Return) and node.value is not None and not isinstance(node.value, ast.Constant):
        yield "return None", lambda n: ast.Return(ast.Constant(None))


class _Replace(ast.NodeTransformer):
    def __init__(self, target: ast.AST, change: Callable[[ast.AST], ast.AST]) -> None:
        self.target, self.change = target, change

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if node is self.target:
            return self.change(node)
        return super().generic_visit(node)


def _annotation_nodes(tree: ast.AST) -> set[int]:
    """Ids of every node inside a type annotation (strings at run time here: mutating them changes nothing)."""
    roots: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            roots.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns is not None:
            roots.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            roots.append(node.annotation)
    return {id(inner) for root in roots for inner in ast.walk(root)}


# Mechanical edits that alter no meaning, so a test that caught them would be a change detector: the argument
# order of a commutative call, and the numbers of a picture's layout (figure sizes, margins, font sizes, gaps).
COMMUTATIVE_CALLS = frozenset({"max", "min", "maximum", "minimum"})
LAYOUT_CALLS = frozenset(
    {"new_figure", "subplots_adjust", "set_size_inches", "colorbar", "text", "annotate", "wrap", "fill", "fit_lines"}
)
LAYOUT_KEYWORDS = frozenset(
    {"gridspec_kw", "fontsize", "labelsize", "pad", "fraction", "wspace", "hspace", "linewidth", "width_ratios",
     "height_ratios", "alpha", "markersize", "s", "dpi", "height", "width", "length", "shrink", "aspect", "labelpad"}
)  # fmt: skip
LAYOUT_NAMES = frozenset(
    {
        "gap",
        "margin",
        "margins",
        "pad",
        "line",
        "padding_px",
        "tile_gap",
        "scratch",
        "top",
        "bottom",
        "left",
        "right",
        "columns",
    }
)


def _call_name(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _meaningless(node: ast.AST, description: str, ancestors: list[ast.AST]) -> bool:
    """Whether this edit of ``node`` only reorders a commutative call or moves a layout number."""
    if description == "swap the first two arguments":
        return isinstance(node, ast.Call) and _call_name(node) in COMMUTATIVE_CALLS and len(node.args) == 2
    if not description.startswith(("constant ", "operator ")):
        return False
    for parent in ancestors:
        if isinstance(parent, ast.keyword) and parent.arg == "slots":
            return True  # __slots__ save memory; they change no result
        if isinstance(parent, ast.keyword) and parent.arg in LAYOUT_KEYWORDS:
            return True
        if isinstance(parent, ast.Call) and _call_name(parent) in LAYOUT_CALLS:
            return True
        if isinstance(parent, ast.Assign):
            names = [t for target in parent.targets for t in ast.walk(target) if isinstance(t, ast.Name)]
            return bool(names) and all(name.id in LAYOUT_NAMES for name in names)
        if isinstance(parent, ast.stmt):
            return False
    return False


def mutants(target: Target) -> list[Mutant]:
    """Every single-place mutant of the target that still compiles and differs from the original."""
    module = target.path
    source = (ROOT / module).read_text()
    tree = ast.parse(source)
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    annotations = _annotation_nodes(tree)
    original = ast.unparse(tree)
    found: list[Mutant] = []
    for position, node in enumerate(ast.walk(tree)):
        if _is_docstring(node, parents) or isinstance(parents.get(node), (ast.JoinedStr, ast.FormattedValue)):
            continue
        ancestors = list(_ancestors(node, parents))
        if id(node) in annotations or any(isinstance(p, (ast.Raise, ast.Import, ast.ImportFrom)) for p in ancestors):
            continue  # annotations, error messages and imports: not the behaviour under test
        if target.functions is not None and not any(
            isinstance(p, ast.FunctionDef) and p.name in target.functions for p in ancestors
        ):
            continue
        for description, change in _mutations(node):
            if _meaningless(node, description, ancestors):
                continue
            mutated_tree = copy.deepcopy(tree)
            site = list(ast.walk(mutated_tree))[position]
            mutated_tree = ast.fix_missing_locations(_Replace(site, change).visit(mutated_tree))
            try:
                mutated = ast.unparse(mutated_tree)
                compile(mutated, module, "exec")
            except (SyntaxError, ValueError, TypeError):
                continue
            if mutated != original:
                found.append(Mutant(module, getattr(node, "lineno", 0), description, mutated))
    return found


def _ancestors(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> Iterator[ast.AST]:
    while node in parents:
        node = parents[node]
        yield node


def _copy_repository(destination: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in files.decode().split("\0"):
        if not name or not (ROOT / name).is_file():
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)


def _run_tests(copy_root: Path, arguments: list[str], timeout: float) -> tuple[bool, float]:
    """(passed, seconds) of the selection in the copy; a hang counts as a failure."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1", GRADIO_ANALYTICS_ENABLED="False")
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *arguments]
    start = time.perf_counter()
    try:
        result = subprocess.run(command, cwd=copy_root, env=env, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, time.perf_counter() - start
    return result.returncode == 0, time.perf_counter() - start


def hand_mutants(name: str) -> tuple[list[Mutant], list[HandMutant]]:
    """(mutants, stale ones) of the hand-written list for one target; stale: the snippet is not found exactly once."""
    target = TARGETS[name]
    source = (ROOT / target.path).read_text()
    found: list[Mutant] = []
    stale: list[HandMutant] = []
    for hand in HAND_MUTANTS:
        if hand.target != name:
            continue
        if source.count(hand.old) != 1:
            stale.append(hand)
            continue
        line = source[: source.index(hand.old)].count("\n") + 1
        found.append(Mutant(target.path, line, f"[hand] {hand.description}", source.replace(hand.old, hand.new)))
    return found, stale


def _report_stale(stale: dict[str, list[HandMutant]]) -> None:
    if not any(stale.values()):
        return
    count = sum(len(hands) for hands in stale.values())
    print(f"\n{'!' * 78}\nSTALE: {count} hand mutant(s) whose snippet is no longer found exactly once; update them:")
    for name, hands in stale.items():
        for hand in hands:
            print(f"  STALE {TARGETS[name].path} ({name}): {hand.description}\n    snippet: {hand.old[:100]!r}")
    print("!" * 78, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--per-module", type=int, default=4, help="mechanical mutants sampled per module")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once, each in its own copy")
    parser.add_argument("--target", action="append", help="only this row of TARGETS (repeatable); default: all")
    parser.add_argument("--check", action="store_true", help="only check that every hand mutant's snippet is found")
    args = parser.parse_args()
    names = args.target or list(TARGETS)
    unknown = [name for name in names if name not in TARGETS]
    if unknown:
        print(f"unknown target(s) {unknown}; choose from {list(TARGETS)}")
        return 2
    stale = {name: hand_mutants(name)[1] for name in names}
    orphans = [hand for hand in HAND_MUTANTS if hand.target not in TARGETS]
    for hand in orphans:
        print(f"STALE: hand mutant for unknown target {hand.target!r}: {hand.description}")
    if args.check:
        _report_stale(stale)
        total = sum(len(hand_mutants(name)[0]) for name in names)
        print(f"{total} hand mutants found in {len(names)} targets")
        return 1 if any(stale.values()) or orphans else 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mutation-") as folder:
        copies = [Path(folder) / f"copy{job}" for job in range(max(1, args.jobs))]
        for copy_root in copies:
            _copy_repository(copy_root)
        free = list(copies)
        scores: dict[str, dict[str, tuple[int, int]]] = {}
        for name in names:
            target = TARGETS[name]
            selection = target.tests
            passed, baseline = _run_tests(copies[0], selection, timeout=600)
            if not passed:
                print(f"{name}: the test selection fails without any mutant; fix that first")
                return 1
            pool = mutants(target)
            chosen = random.Random(f"{args.seed}:{name}").sample(pool, min(args.per_module, len(pool)))
            by_hand, _ = hand_mutants(name)
            print(
                f"{name}: {len(chosen)} of {len(pool)} mechanical and {len(by_hand)} hand mutants, "
                f"tests take {baseline:.1f} s",
                flush=True,
            )

            def test(mutant: Mutant, selection: list[str] = selection, baseline: float = baseline) -> bool:
                copy_root = free.pop()
                path = copy_root / mutant.module
                original = path.read_text()
                try:
                    path.write_text(mutant.source)
                    survived, _ = _run_tests(copy_root, selection, timeout=3 * baseline + 30)
                finally:
                    path.write_text(original)
                    free.append(copy_root)
                if survived:
                    print(f"  SURVIVED {mutant.module}:{mutant.line}: {mutant.description}", flush=True)
                return not survived

            with ThreadPoolExecutor(max_workers=len(copies)) as executor:
                mechanical = sum(executor.map(test, chosen))
                hand = sum(executor.map(test, by_hand))
            scores[name] = {"mechanical": (mechanical, len(chosen)), "hand": (hand, len(by_hand))}
        print(f"\nkilled per module ({time.perf_counter() - started:.0f} s):")
        print(f"  {'module':28s} {'mechanical':>10s} {'hand':>8s} {'all':>8s} {'share':>6s}")
        all_killed = all_total = 0
        for name, parts in scores.items():
            killed = parts["mechanical"][0] + parts["hand"][0]
            total = parts["mechanical"][1] + parts["hand"][1]
            all_killed, all_total = all_killed + killed, all_total + total
            cells = [f"{k}/{t}" for k, t in (parts["mechanical"], parts["hand"], (killed, total))]
            print(f"  {name:28s} {cells[0]:>10s} {cells[1]:>8s} {cells[2]:>8s} {killed / max(total, 1):6.0%}")
        overall = f"{all_killed}/{all_total}"
        print(f"  {'all':28s} {'':>10s} {'':>8s} {overall:>8s} {all_killed / max(all_total, 1):6.0%}")
    _report_stale(stale)
    return 1 if any(stale.values()) or orphans else 0


if __name__ == "__main__":
    sys.exit(main())
