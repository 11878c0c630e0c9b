"""``python -m attention video``: every frame analysed as a still image would be, drawn, and written back.

The clips are made here with PyAV: a star sliding across a green field,
encoded as H.264. The truth for each frame is the shipped model's analysis of
that same decoded frame through the library, done independently of the command.
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw

from attention.analysis import Analyzer
from models.checkpoint import load_checkpoint
from tests.clips import star_then_cross
from tests.commands import one_thread_env, run_attention

pytestmark = pytest.mark.slow  # each test starts the command in a subprocess

FRAMES = 12
SIZE = (96, 64)


def clip(path: Path, frames: int = FRAMES, rate: int = 10) -> Path:
    """A star sliding left to right, ``frames`` long at ``rate`` frames per second."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(rate))
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        for index in range(frames):
            image = Image.new("RGB", SIZE, (30, 120, 40))
            ImageDraw.Draw(image).regular_polygon((12 + index * 6, 32, 16), 5, fill=(240, 220, 20), rotation=index)
            for packet in stream.encode(av.VideoFrame.from_image(image)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def decoded(path: Path) -> list[Image.Image]:
    with av.open(str(path)) as container:
        return [frame.to_image().convert("RGB") for frame in container.decode(video=0)]


def test_each_frame_is_analysed_as_a_still_and_the_annotated_video_has_every_frame(tmp_path: Path) -> None:
    source = clip(tmp_path / "star.mp4")
    out = tmp_path / "star_attention.mp4"
    result = run_attention("video", source, "--out", out, env=one_thread_env())
    assert result.returncode == 0, result.stderr
    assert "12 frames" in result.stdout and "frames/s" in result.stdout
    document = json.loads(out.with_suffix(".json").read_text())
    assert document["layer"] == "stages.3.0.attention.spatial"  # the deepest spatial layer
    assert [entry["frame"] for entry in document["frames"]] == list(range(FRAMES))
    assert document["fps"] == {"input": 10.0, "output": 10.0}
    assert set(document["timings"]) == {"decode", "analyse", "draw", "encode", "total"}
    loaded = load_checkpoint("shapes")
    with Analyzer(loaded.model, loaded.classes, loaded.preprocessing) as analyzer:
        stills = analyzer.analyze(decoded(source))
    for entry, still in zip(document["frames"], stills, strict=True):
        best, probability = still.top(1)[0]
        assert entry["prediction"]["label"] == loaded.classes[best]
        assert entry["prediction"]["probability"] == pytest.approx(probability, abs=1e-5)
        mask = still.layer("stages.3.0.attention.spatial").mask
        row = next(row for row in entry["layers"] if row["layer"] == "stages.3.0.attention.spatial")
        assert row["mean"] == pytest.approx(float(mask.mean()), abs=1e-5)
    written = decoded(out)
    assert len(written) == FRAMES
    # The long side enlarged to 256 px (96x64 -> 256x171), the 40 px time bar under it, cut to even sides for H.264.
    assert written[0].size == (256, 210)


def test_every_nth_frame_makes_a_gif_at_the_matching_rate(tmp_path: Path) -> None:
    source = clip(tmp_path / "star.mp4")
    out = tmp_path / "star.gif"
    result = run_attention("video", source, "--out", out, "--every", 3, "--opacity", 0.7)
    assert result.returncode == 0, result.stderr
    document = json.loads(out.with_suffix(".json").read_text())
    assert [entry["frame"] for entry in document["frames"]] == [0, 3, 6, 9]
    assert document["fps"]["output"] == pytest.approx(10 / 3)
    with Image.open(out) as gif:
        assert gif.n_frames == 4 and gif.info["duration"] == 300


def test_an_animated_gif_is_read_and_each_label_follows_the_shape_drawn(tmp_path: Path) -> None:
    drawn = star_then_cross(12, (96, 64))
    source = tmp_path / "star_then_cross.gif"
    frames = [image for _, image in drawn]
    frames[0].save(source, save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = tmp_path / "annotated.mp4"
    result = run_attention("video", source, "--out", out, env=one_thread_env())
    assert result.returncode == 0, result.stderr
    document = json.loads(out.with_suffix(".json").read_text())
    assert document["fps"]["input"] == 10.0
    assert [entry["seconds"] for entry in document["frames"]] == pytest.approx([i / 10 for i in range(12)])
    loaded = load_checkpoint("shapes")
    with Image.open(source) as gif, Analyzer(loaded.model, loaded.classes, loaded.preprocessing) as analyzer:
        stills = []
        for index in range(gif.n_frames):
            gif.seek(index)
            stills.append(gif.convert("RGB"))
        analyses = analyzer.analyze(stills)
    labels = [entry["prediction"]["label"] for entry in document["frames"]]
    assert labels == [loaded.classes[analysis.top(1)[0][0]] for analysis in analyses]
    assert labels == [shape for shape, _ in drawn]  # star for six frames, then cross
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.frames == 12 and float(stream.duration * stream.time_base) == pytest.approx(1.2, abs=0.05)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        # An MP4 keeps its index at the end: cut short, it cannot be opened at all.
        (lambda data: data[: len(data) // 3], "could not read broken.mp4 as a video (Invalid data"),
        (lambda data: b"not a video at all" * 50, "could not read broken.mp4 as a video"),
    ],
    ids=["truncated", "not a video"],
)
def test_a_damaged_video_gets_one_line(tmp_path: Path, damage, message: str) -> None:  # noqa: ANN001
    source = clip(tmp_path / "star.mp4", frames=40)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(damage(source.read_bytes()))
    result = run_attention("video", broken, "--out", tmp_path / "out.mp4")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0]


def test_an_output_that_is_neither_mp4_nor_gif_is_refused_before_anything_runs(tmp_path: Path) -> None:
    result = run_attention("video", clip(tmp_path / "star.mp4"), "--out", tmp_path / "out.avi")
    assert result.returncode == 2 and "write the video as .mp4 or .gif" in result.stderr
    assert not (tmp_path / "out.avi").exists()


def test_an_unknown_layer_is_refused_in_one_line(tmp_path: Path) -> None:
    result = run_attention("video", clip(tmp_path / "star.mp4"), "--out", tmp_path / "o.mp4", "--layer", "nope")
    assert result.returncode == 2 and "'nope' is not a spatial or self-attention layer of shapes" in result.stderr


def test_frames_larger_than_the_bound_are_refused_before_decoding(tmp_path: Path) -> None:
    from attention.errors import InputError
    from attention.video import MAX_SIDE, probe

    path = tmp_path / "wide.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(5))
        stream.width, stream.height = MAX_SIDE + 16, 16
        stream.pix_fmt = "yuv420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((16, MAX_SIDE + 16, 3), dtype=np.uint8), format="rgb24")
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(InputError, match=f"at most {MAX_SIDE} on a side"):
        probe(path)


def test_a_stream_cut_mid_frame_ends_in_one_line_or_in_the_frames_before_the_cut(tmp_path: Path) -> None:
    """A transport stream has no index to lose: cut short, it decodes up to the cut, or says where it broke."""
    source = tmp_path / "star.ts"
    with av.open(str(source), "w", format="mpegts") as container:
        stream = container.add_stream("mpeg4", rate=Fraction(10))
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        for index in range(30):
            frame = np.random.default_rng(index).integers(0, 255, (SIZE[1], SIZE[0], 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    broken = tmp_path / "cut.ts"
    data = source.read_bytes()
    broken.write_bytes(data[: len(data) // 2 + 101])
    out = tmp_path / "out.mp4"
    result = run_attention("video", broken, "--out", out)
    if result.returncode == 0:
        frames = json.loads(out.with_suffix(".json").read_text())["frames"]
        assert 0 < len(frames) < 30
    else:
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and "damaged or truncated after frame" in lines[0]
