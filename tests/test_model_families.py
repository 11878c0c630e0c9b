"""Every library family is one record looked up by key; the Hub family loads timm models from the local cache."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from attention.errors import InputError
from models.families import FAMILIES, family
from tests.commands import run_attention

IMAGE = Path(__file__).resolve().parent.parent / "assets" / "examples" / "shapes_star_11.png"
REVISION = "0123456789abcdef0123456789abcdef01234567"


def test_an_unknown_family_key_is_an_error_not_another_library() -> None:
    with pytest.raises(
        InputError, match=r"^unknown model family 'hf'; choose one of ecanet, timm, torchvision, hf-hub$"
    ):
        family("hf")
    assert all(record.key == key for key, record in FAMILIES.items())


def hub_cache(root: Path, repository: str, labels: list[str], architecture: str = "seresnet18") -> dict[str, str]:
    """A Hugging Face cache holding one timm export at random init, and the environment that reads only it."""
    import timm
    from timm.models import save_for_hf

    torch.manual_seed(0)
    model = timm.create_model(architecture, num_classes=len(labels))
    export = root / "export"
    save_for_hf(model, export, model_config={"label_names": labels})
    organisation, name = repository.split("/")
    folder = root / "hf" / "hub" / f"models--{organisation}--{name}"
    (folder / "snapshots" / REVISION).mkdir(parents=True)
    for path in export.iterdir():
        shutil.copy(path, folder / "snapshots" / REVISION / path.name)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(REVISION)
    return {**os.environ, "HF_HOME": str(root / "hf"), "HF_HUB_OFFLINE": "1"}


@pytest.mark.slow
def test_a_hub_model_loads_offline_from_the_local_cache_with_its_label_names(tmp_path: Path) -> None:
    env = hub_cache(tmp_path, "testorg/tiny-se", ["cat", "dog", "bird"])
    result = run_attention("analyze", IMAGE, "--model", "hf-hub:testorg/tiny-se", "--json", env=env)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["classes"] == ["cat", "dog", "bird"]
    assert [layer["type"] for layer in document["results"][0]["layers"]] == ["se"] * 8

    missing = run_attention("analyze", IMAGE, "--model", "hf-hub:testorg/absent", "--json", env=env)
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        "error: hf-hub:testorg/absent is not in the local Hugging Face cache and could not be downloaded (offline?)"
    )
    malformed = run_attention("analyze", IMAGE, "--model", "hf-hub:../../etc", "--json", env=env)
    assert malformed.returncode == 2 and "is not a Hub repository name" in malformed.stderr
