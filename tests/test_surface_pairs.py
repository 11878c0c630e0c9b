"""Rules for drawing one shape on several surfaces and training on the disagreement between them."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from models.datasets import ShapesDataset, SurfacePairs, generate_scene
from models.train import flatten_views, main, parse_args, preprocessing_for, surface_consistency_loss, train
from models.transforms import eval_transform


def _pair(index: int, size: int = 64, degrade: bool = True):
    shape = [7, index]
    return [
        generate_scene(np.random.default_rng(shape), size, degrade=degrade, surface=np.random.default_rng([*shape, v]))
        for v in (1, 2)
    ]


def test_two_surfaces_draw_the_same_shape_in_the_same_place() -> None:
    compared = 0
    for index in range(40):
        first, second = _pair(index, degrade=False)
        assert first.label == second.label
        if "photographed" in (first.background, second.background):
            continue  # a photographed view poses its drawing afresh
        compared += 1
        assert (first.center, first.angle, first.extent) == (second.center, second.angle, second.extent)
        assert (first.filled, first.line_width) == (second.filled, second.line_width)
        assert np.array_equal(first.alpha, second.alpha) and first.mask.any()
    assert compared >= 15


def test_two_surfaces_differ_in_everything_around_the_shape_and_in_its_colour() -> None:
    kinds_differ = colours_differ = 0
    for index in range(40):
        first, second = _pair(index)
        outside = ~(first.mask | second.mask)
        difference = np.abs(first.image.astype(int) - second.image.astype(int))[outside].mean()
        assert difference > 8, f"item {index}: the surroundings barely changed ({difference:.1f} grey levels)"
        kinds_differ += first.background != second.background
        colours_differ += first.object_colour != second.object_colour
    assert kinds_differ >= 20 and colours_differ >= 36


def test_a_surface_generator_changes_nothing_about_which_shape_is_drawn() -> None:
    plain = [generate_scene(np.random.default_rng([3, i]), 48).label for i in range(60)]
    painted = [
        generate_scene(np.random.default_rng([3, i]), 48, surface=np.random.default_rng([3, i, 9])).label
        for i in range(60)
    ]
    assert plain == painted and len(set(plain)) == 6


def test_a_surface_pair_item_stacks_its_views_with_the_class_they_share() -> None:
    prep = preprocessing_for("shapes", 48)
    pairs = SurfacePairs("train", 12, 48, seed=4, transform=eval_transform(prep))
    assert len(pairs) == 12 and pairs.classes[0] == "circle"
    for index in range(12):
        pictures, label = pairs[index]
        assert pictures.shape == (2, 3, 48, 48)
        assert label == pairs.targets[index] == pairs.views[0][index][1] == pairs.views[1][index][1]
        assert not torch.equal(pictures[0], pictures[1])
        first = ShapesDataset("train", 12, 48, seed=4, transform=eval_transform(prep), surface=1)[index][0]
        assert torch.equal(pictures[0], first)


def test_a_surface_view_is_the_degraded_scene_drawn_from_the_items_shape_and_surface_generators() -> None:
    view = ShapesDataset("train", 6, 48, seed=2, surface=2)
    for index in range(6):
        image, mask, label = view.sample(index)
        scene = generate_scene(
            np.random.default_rng([2, 0, index]), 48, surface=np.random.default_rng([2, 0, index, 2])
        )
        assert np.array_equal(image, scene.image) and np.array_equal(mask, scene.mask) and label == scene.label


def test_a_surface_pair_dataset_needs_two_views_and_a_tensor_transform() -> None:
    with pytest.raises(ValueError, match="views must be at least 2"):
        SurfacePairs("train", 4, 32, transform=eval_transform(preprocessing_for("shapes", 32)), views=1)
    with pytest.raises(ValueError, match="needs a transform"):
        SurfacePairs("train", 4, 32)
    with pytest.raises(ValueError, match="surface must be >= 0"):
        ShapesDataset("train", 4, 32, surface=-1)


def test_flattened_views_keep_each_items_pictures_together_with_its_label() -> None:
    images = torch.arange(3 * 2 * 4, dtype=torch.float32).view(3, 2, 1, 2, 2)
    pictures, labels = flatten_views(images, torch.tensor([4, 0, 2]))
    assert pictures.shape == (6, 1, 2, 2) and labels.tolist() == [4, 4, 0, 0, 2, 2]
    for row in range(6):
        assert torch.equal(pictures[row], images[row // 2, row % 2])


def test_the_consistency_loss_is_the_jensen_shannon_divergence_of_each_items_views() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.5], [1.0, 1.0, 1.0], [3.0, -2.0, 0.0]])
    probs = logits.softmax(dim=1).numpy().astype(np.float64)
    expected = []
    for p, q in (probs[0:2], probs[2:4]):
        m = (p + q) / 2
        expected.append(0.5 * np.sum(p * np.log(p / m)) + 0.5 * np.sum(q * np.log(q / m)))
    assert float(surface_consistency_loss(logits, 2)) == pytest.approx(np.mean(expected), rel=1e-5)


def test_the_consistency_loss_is_zero_for_agreeing_views_and_at_most_log_two() -> None:
    agree = torch.randn(5, 6).repeat_interleave(2, dim=0)
    assert float(surface_consistency_loss(agree, 2)) == pytest.approx(0.0, abs=1e-6)
    apart = torch.tensor([[40.0, 0, 0, 0, 0, 0], [0, 40.0, 0, 0, 0, 0]])
    assert float(surface_consistency_loss(apart, 2)) == pytest.approx(math.log(2), rel=1e-4)


def test_one_step_on_the_consistency_loss_brings_the_views_together() -> None:
    torch.manual_seed(0)
    layer = torch.nn.Linear(8, 6)
    pictures = torch.randn(16, 8)
    with torch.no_grad():
        before = float(surface_consistency_loss(layer(pictures), 2))
    surface_consistency_loss(layer(pictures), 2).backward()
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter -= 0.5 * parameter.grad  # type: ignore[operator]
        after = float(surface_consistency_loss(layer(pictures), 2))
    assert 0 < after < before


def test_training_on_surface_pairs_counts_pictures_and_says_so_in_the_checkpoint(tmp_path: Path) -> None:
    args = ["--dataset", "shapes", "--train-size", "32", "--val-size", "16", "--test-size", "16", "--epochs", "1"]
    args += ["--batch-size", "16", "--image-size", "32", "--surface-pairs", "4", "--no-progress"]
    payload = train(parse_args([*args, "--out", str(tmp_path / "model.pt")]))
    assert payload["training"]["surface_pairs"] == 4.0
    assert payload["training"]["train_size"] == 32 and payload["training"]["steps"] == 2
    assert torch.load(tmp_path / "model.pt", weights_only=True)["training"]["surface_pairs"] == 4.0
    single = train(parse_args([*args[:-3], "--no-progress", "--out", str(tmp_path / "single.pt")]))
    assert single["training"]["surface_pairs"] == 0.0 and single["training"]["steps"] == 2


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--surface-pairs", "-1"], "error: --surface-pairs must be a weight from 0 to 100"),
        (["--surface-pairs", "nan"], "error: --surface-pairs must be a weight from 0 to 100"),
        (["--surface-pairs", "2", "--batch-size", "15"], "error: --surface-pairs needs --dataset shapes"),
    ],
)
def test_the_train_command_refuses_a_bad_surface_pairs_request_in_one_line(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["--dataset", "shapes", *extra, "--max-steps", "1", "--out", str(tmp_path / "x.pt")])
    text = str(refused.value.code)
    assert text.startswith(message) and "\n" not in text
    assert not (tmp_path / "x.pt").exists()


def test_surface_pairs_refuse_a_dataset_other_than_shapes(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as refused:
        main(["--dataset", "imagefolder", "--data-root", str(tmp_path), "--surface-pairs", "2", "--out", "x.pt"])
    assert str(refused.value.code).startswith("error: --surface-pairs needs --dataset shapes")
