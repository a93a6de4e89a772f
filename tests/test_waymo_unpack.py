"""``unilabel unpack-waymo``: a miniature Waymo v2 release (Parquet files with the official column
names and types, built here) is unpacked into JPEGs and class-id PNGs checked pixel by pixel, resumed,
then imported and registered with the ``waymo`` preset (variant ``unpacked``); bad input is refused."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from PIL import Image
from typer.testing import CliRunner

from app.cli import app
from app.domain.waymo import CLASS_NAMES, DIVISOR, IMAGE, KEY_CAMERA, KEY_CONTEXT, KEY_TIMESTAMP, PANOPTIC

runner = CliRunner()


def _ml_cli() -> typer.Typer:
    """The ML commands as the ``unilabel`` entry point adds them (``worker.cli.register``)."""
    from worker.cli import register

    cli = typer.Typer()

    @cli.callback()
    def _root() -> None:
        pass

    register(cli)
    return cli


def _unpack(*args: str) -> Any:
    return runner.invoke(_ml_cli(), ["unpack-waymo", *args])


CONTEXT = "10017090168044687777_6380_000_6400_000"
H, W = 6, 8


def _jpeg(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    out = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(out, format="JPEG")
    return out.getvalue()


def _panoptic(classes: np.ndarray, divisor: int = 1000) -> tuple[bytes, np.ndarray]:
    """A uint16 panoptic PNG (class * divisor + instance) and the classes it encodes."""
    instance = np.arange(classes.size, dtype=np.int64).reshape(classes.shape) % 7
    values = (classes.astype(np.int64) * divisor + instance).astype(np.uint16)
    out = io.BytesIO()
    Image.fromarray(values).save(out, format="PNG")
    return out.getvalue(), classes


def _write(path: Path, rows: list[dict[str, Any]], schema: pa.Schema) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = {name: [r[name] for r in rows] for name in schema.names}
    pq.write_table(pa.Table.from_pydict(columns, schema=schema), path)


SEG_SCHEMA = pa.schema(
    [
        (KEY_CONTEXT, pa.string()),
        (KEY_TIMESTAMP, pa.int64()),
        (KEY_CAMERA, pa.int8()),
        (DIVISOR, pa.int32()),
        (PANOPTIC, pa.binary()),
        ("[CameraSegmentationLabelComponent].sequence_id", pa.string()),
    ]
)
IMAGE_SCHEMA = pa.schema(
    [(KEY_CONTEXT, pa.string()), (KEY_TIMESTAMP, pa.int64()), (KEY_CAMERA, pa.int8()), (IMAGE, pa.binary())]
)


def _release(
    root: Path, *, labelled: list[tuple[int, int, np.ndarray]], images: list[tuple[int, int]]
) -> None:
    seg = []
    for ts, cam, classes in labelled:
        png, _ = _panoptic(classes)
        seg.append(
            {KEY_CONTEXT: CONTEXT, KEY_TIMESTAMP: ts, KEY_CAMERA: cam, DIVISOR: 1000, PANOPTIC: png}
            | {"[CameraSegmentationLabelComponent].sequence_id": "s"}
        )
    img = [
        {KEY_CONTEXT: CONTEXT, KEY_TIMESTAMP: ts, KEY_CAMERA: cam, IMAGE: _jpeg(ts + cam)}
        for ts, cam in images
    ]
    _write(root / "training" / "camera_segmentation" / f"{CONTEXT}.parquet", seg, SEG_SCHEMA)
    _write(root / "training" / "camera_image" / f"{CONTEXT}.parquet", img, IMAGE_SCHEMA)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("UNILABEL_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("UNILABEL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("UNILABEL_BROKER_URL", "memory://")
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    return tmp_path


def _classes(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, len(CLASS_NAMES), (H, W)).astype(np.uint8)


def test_unpack_writes_jpegs_and_class_ids_then_registers_with_the_preset(env: Path) -> None:
    root, out = env / "data" / "waymo_v2", env / "data" / "waymo"
    labelled = [(1000, 1, _classes(1)), (1000, 2, _classes(2)), (2000, 1, _classes(3))]
    # camera images of every frame and camera, labelled or not; (2000, 2) has no label
    _release(root, labelled=labelled, images=[(1000, 1), (1000, 2), (2000, 1), (2000, 2)])
    result = _unpack("--root", str(root), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "3 written, 0 already there, 0 failed (pairs per split: training 3)" in result.output
    images = sorted(p.name for p in (out / "training" / "images").iterdir())
    assert images == [f"{CONTEXT}_1000_1.jpg", f"{CONTEXT}_1000_2.jpg", f"{CONTEXT}_2000_1.jpg"]
    for ts, cam, classes in labelled:
        stem = f"{CONTEXT}_{ts}_{cam}"
        assert (out / "training" / "images" / f"{stem}.jpg").read_bytes() == _jpeg(ts + cam)  # as stored
        with Image.open(out / "training" / "labels" / f"{stem}.png") as im:
            assert im.mode == "L"
            np.testing.assert_array_equal(np.asarray(im), classes)  # panoptic // divisor, pixel by pixel
    prov = json.loads((out / "unpack.json").read_text())
    assert prov["written"] == 3 and len(prov["sources_sha256"]) == 2 and prov["problems"] == []

    again = _unpack("--root", str(root), "--out", str(out))
    assert again.exit_code == 0 and "0 written, 3 already there" in again.output  # a re-run resumes

    imported = runner.invoke(app, ["taxonomy", "import", str(out / "labels.csv"), "--name", "waymo"])
    assert imported.exit_code == 0, imported.output
    add = runner.invoke(
        app, ["dataset", "add", "--preset", "waymo", "--root", str(out), "--taxonomy", "waymo"]
    )
    assert add.exit_code == 0, add.output
    assert "(preset waymo, variant unpacked)" in add.output and "3 pairs, 0 problems" in add.output
    assert "split training: 3 images, 3 with labels" in add.output


def test_the_parquet_release_itself_is_refused_naming_the_unpack_command(env: Path) -> None:
    root = env / "data" / "waymo_v2"
    _release(root, labelled=[(1000, 1, _classes(1))], images=[(1000, 1)])
    (env / "labels.csv").write_text(
        "0,name,id,trainId,category,categoryId,hasInstances,ignoreInEval,color\n0,car,0,0,,,,,\n"
    )
    assert (
        runner.invoke(app, ["taxonomy", "import", str(env / "labels.csv"), "--name", "waymo"]).exit_code == 0
    )
    add = runner.invoke(
        app, ["dataset", "add", "--preset", "waymo", "--root", str(root), "--taxonomy", "waymo"]
    )
    assert add.exit_code == 1 and "unilabel unpack-waymo --root" in add.output, add.output


def test_bad_input_is_reported_and_nothing_half_written(env: Path) -> None:
    root, out = env / "data" / "bad", env / "data" / "bad-out"
    classes = _classes(4)
    classes[0, 0] = 0
    png, _ = _panoptic(classes)
    wrong = io.BytesIO()
    Image.fromarray(np.full((H, W), 40 * 1000, dtype=np.uint16)).save(wrong, format="PNG")  # class 40
    seg = [
        {KEY_CONTEXT: CONTEXT, KEY_TIMESTAMP: 1, KEY_CAMERA: 1, DIVISOR: 1000, PANOPTIC: png},
        {KEY_CONTEXT: CONTEXT, KEY_TIMESTAMP: 2, KEY_CAMERA: 1, DIVISOR: 1000, PANOPTIC: wrong.getvalue()},
        {KEY_CONTEXT: CONTEXT, KEY_TIMESTAMP: 3, KEY_CAMERA: 1, DIVISOR: 0, PANOPTIC: png},
        {KEY_CONTEXT: CONTEXT, KEY_TIMESTAMP: 4, KEY_CAMERA: 1, DIVISOR: 1000, PANOPTIC: png},  # no image
    ]
    _write(
        root / "training" / "camera_segmentation" / f"{CONTEXT}.parquet",
        [r | {"[CameraSegmentationLabelComponent].sequence_id": "s"} for r in seg],
        SEG_SCHEMA,
    )
    small = io.BytesIO()
    Image.new("RGB", (4, 4)).save(small, format="JPEG")
    img = [{KEY_CONTEXT: CONTEXT, KEY_TIMESTAMP: t, KEY_CAMERA: 1, IMAGE: _jpeg(t)} for t in (1, 2, 3)] + [
        {KEY_CONTEXT: CONTEXT, KEY_TIMESTAMP: 5, KEY_CAMERA: 1, IMAGE: small.getvalue()}
    ]
    _write(root / "training" / "camera_image" / f"{CONTEXT}.parquet", img, IMAGE_SCHEMA)
    result = _unpack("--root", str(root), "--out", str(out))
    assert result.exit_code == 1, result.output
    assert "1 written, 0 already there, 3 failed" in result.output
    assert "outside the 29 camera segmentation classes" in result.output
    assert "panoptic_label_divisor is 0" in result.output
    assert "labelled, but no row in camera_image" in result.output
    assert sorted(p.name for p in (out / "training" / "labels").iterdir()) == [f"{CONTEXT}_1_1.png"]
    assert sorted(p.name for p in (out / "training" / "images").iterdir()) == [f"{CONTEXT}_1_1.jpg"]

    for args, words in (
        (["--root", str(env / "nothing"), "--out", str(out)], "no <split>/camera_segmentation/*.parquet"),
        (["--root", str(root), "--out", str(root / "inside")], "must not be inside the Waymo root"),
    ):
        refused = _unpack(*args)
        assert refused.exit_code == 1 and words in refused.output, refused.output
    not_waymo = env / "data" / "other"
    _write(
        not_waymo / "training" / "camera_segmentation" / "x.parquet",
        [{"a": 1}],
        pa.schema([("a", pa.int32())]),
    )
    refused = _unpack("--root", str(not_waymo), "--out", str(env / "o3"))
    assert refused.exit_code == 1 and "not a Waymo v2 component file" in refused.output, refused.output
