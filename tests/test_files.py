"""What the library writes: file names from user text stay inside their folder, and JSON stays strict."""

from __future__ import annotations

import json
import math

import pytest

from attention.files import dumps, finite_or_none, safe_stem


@pytest.mark.parametrize(
    ("text", "stem"),
    [
        ("../../etc/passwd", "etc_passwd"),
        ("C:\\Users\\me\\cat photo.png", "C_Users_me_cat_photo.png"),
        ("stages.0.0.attention.spatial", "stages.0.0.attention.spatial"),
        (".hidden", "hidden"),
        ("café–menu", "caf_menu"),
        ("/", "image"),
        ("", "image"),
    ],
)
def test_a_stem_from_user_text_has_no_path_parts_and_no_odd_characters(text: str, stem: str) -> None:
    assert safe_stem(text) == stem


def test_a_stem_is_cut_to_sixty_characters_or_the_limit_given() -> None:
    assert safe_stem("a" * 100) == "a" * 60
    assert safe_stem("b" * 100, limit=10) == "b" * 10


def test_only_finite_numbers_reach_the_document() -> None:
    assert finite_or_none(0.25) == 0.25 and finite_or_none(-3.0) == -3.0
    assert finite_or_none(math.nan) is None and finite_or_none(math.inf) is None and finite_or_none(-math.inf) is None
    assert json.loads(dumps({"weights": [0.5, finite_or_none(math.nan)]})) == {"weights": [0.5, None]}
    with pytest.raises(ValueError):
        dumps({"weights": [math.nan]})  # strict parsers reject a bare NaN, so it never leaves
