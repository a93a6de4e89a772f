"""Miniatures of published dataset layouts for the preset tests: a few tiny generated images each.

Nothing here is real data: images are random 8x6 pixels, labels are small generated masks with the
values or colours a test then checks pixel by pixel. Each builder returns what it wrote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

H, W = 6, 8
LABELS_HEADER = "0,name,id,trainId,category,categoryId,hasInstances,ignoreInEval,color\n"


def labels_csv(rows: list[tuple[str, int, str]]) -> str:
    """A reference-style labels.csv from ``(name, id, colour or "")`` rows."""
    return LABELS_HEADER + "".join(f"{i},{n},{v},{v},,,,,{c}\n" for i, (n, v, c) in enumerate(rows))


def image(path: Path, seed: int = 0, shape: tuple[int, int] = (H, W)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (*shape, 3), dtype=np.uint8)).save(path)


def ids_png(path: Path, values: np.ndarray) -> None:
    """A single-channel label PNG: uint8 (mode L) or uint16 (mode I;16)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(values).save(path)


def rgb_png(path: Path, colors: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(colors.astype(np.uint8), mode="RGB").save(path)


def hex_rgb(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def paint(hex_grid: list[list[str]]) -> np.ndarray:
    """``(H, W, 3)`` uint8 from a grid of ``#rrggbb`` (rows repeated / cut to the image size)."""
    rows = [[hex_rgb(c) for c in row] for row in hex_grid]
    arr = np.array(rows, dtype=np.uint8)
    return np.resize(arr, (H, W, 3)) if arr.shape[:2] != (H, W) else arr


def stripes(colors: list[str]) -> np.ndarray:
    """``(H, W, 3)``: column ``x`` painted ``colors[x % len(colors)]``."""
    return paint([[colors[x % len(colors)] for x in range(W)] for _ in range(H)])


@dataclass
class Layout:
    root: Path
    images: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)


def cityscapes(root: Path, *, polygons_only: bool = False) -> Layout:
    """leftImg8bit/<split>/<city>/*_leftImg8bit.png + gtFine/... (labelIds, or only polygons)."""
    out = Layout(root)
    frames = [
        ("train", "aachen", "aachen_000000_000019"),
        ("train", "bochum", "bochum_000000_000313"),
        ("val", "lindau", "lindau_000000_000019"),
        ("test", "berlin", "berlin_000000_000019"),
    ]
    for i, (split, city, frame) in enumerate(frames):
        img = f"leftImg8bit/{split}/{city}/{frame}_leftImg8bit.png"
        image(root / img, i)
        out.images.append(img)
        gt = root / "gtFine" / split / city
        (gt).mkdir(parents=True, exist_ok=True)
        (gt / f"{frame}_gtFine_polygons.json").write_text('{"objects": []}')
        if polygons_only:
            continue
        values = np.full((H, W), 7, dtype=np.uint8)
        values[:, :2] = 0 if split == "test" else 11
        lab = f"gtFine/{split}/{city}/{frame}_gtFine_labelIds.png"
        ids_png(root / lab, values)
        ids_png(gt / f"{frame}_gtFine_instanceIds.png", values)
        rgb_png(gt / f"{frame}_gtFine_color.png", stripes(["#804080"]))
        out.labels.append(lab)
    (root / "notes").mkdir()
    (root / "notes" / "todo.txt").write_text("not part of Cityscapes")
    return out


CAMVID_CLASS_DICT = "name,r,g,b\nAnimal,64,128,64\nArchway,192,0,128\nBicyclist,0,128,192\nRoad,128,64,128\n"


def camvid(root: Path) -> Layout:
    """<split>/*.png + <split>_labels/*_L.png + class_dict.csv (RGB labels)."""
    out = Layout(root)
    root.mkdir(parents=True)
    (root / "class_dict.csv").write_text(CAMVID_CLASS_DICT)
    grid = [["#408040", "#c00080", "#0080c0", "#804080"] * 2 for _ in range(H)]
    grid[0][0] = "#123456"  # a colour the palette does not have
    for i, split in enumerate(("train", "val", "test")):
        img, lab = f"{split}/0001TP_00{i}.png", f"{split}_labels/0001TP_00{i}_L.png"
        image(root / img, i)
        rgb_png(root / lab, paint(grid))
        out.images.append(img)
        out.labels.append(lab)
    return out


A2D2_CLASS_LIST = {
    "#ff0000": "Car 1",
    "#c80000": "Car 2",
    "#b65906": "Bicycle 1",
    "#cc99ff": "Pedestrian 1",
    "#87ceff": "Sky",
}


def a2d2(root: Path, *, parent: bool = True) -> Layout:
    """camera_lidar_semantic/<scene>/camera|label/cam_front_center/ + class_list.json (RGB labels)."""
    out = Layout(root)
    base = root / "camera_lidar_semantic" if parent else root
    prefix = "camera_lidar_semantic/" if parent else ""
    base.mkdir(parents=True, exist_ok=True)
    (base / "class_list.json").write_text(json.dumps(A2D2_CLASS_LIST))
    grid = [["#ff0000", "#c80000", "#b65906", "#cc99ff", "#87ceff", "#ff0000", "#c80000", "#87ceff"]] * H
    for i, scene in enumerate(("20180807_145028", "20181108_091945")):
        date = scene.replace("_", "")
        img = f"{prefix}{scene}/camera/cam_front_center/{date}_camera_frontcenter_00000{i}.png"
        lab = f"{prefix}{scene}/label/cam_front_center/{date}_label_frontcenter_00000{i}.png"
        image(root / img, i)
        rgb_png(root / lab, paint(grid))
        (root / img.replace(".png", ".json")).write_text("{}")
        out.images.append(img)
        out.labels.append(lab)
    return out


YAMAHA_COLORS = {"background": "#ffffff", "sky": "#0158ff", "puddle": "#ff0080", "obstacle": "#ff0000"}


def yamaha(root: Path) -> Layout:
    """yamaha_v0/<split>/iidNNNNNN/rgb.jpg + labels.png (RGB labels)."""
    out = Layout(root)
    grid = [[YAMAHA_COLORS[n] for n in ("background", "sky", "puddle", "obstacle")] * 2] * H
    for i, split in enumerate(("train", "train", "valid")):
        img, lab = f"yamaha_v0/{split}/iid00000{i}/rgb.jpg", f"yamaha_v0/{split}/iid00000{i}/labels.png"
        image(root / img, i)
        rgb_png(root / lab, paint(grid))
        out.images.append(img)
        out.labels.append(lab)
    return out


def kitti(root: Path) -> Layout:
    """data_semantics: training/image_2 + semantic; testing/image_2 without labels."""
    out = Layout(root)
    for i in range(2):
        img, lab = f"training/image_2/00000{i}_10.png", f"training/semantic/00000{i}_10.png"
        image(root / img, i)
        ids_png(root / lab, np.full((H, W), 7, dtype=np.uint8))
        rgb_png(root / f"training/semantic_rgb/00000{i}_10.png", stripes(["#804080"]))
        out.images.append(img)
        out.labels.append(lab)
    image(root / "testing/image_2/000000_10.png", 9)
    return out


def mapillary_v2_archive(root: Path) -> Layout:
    """The v2.0 archive: <split>/images/*.jpg + <split>/v1.2/labels/*.png + v2.0/labels/*.png."""
    out = Layout(root)
    for i, split in enumerate(("training", "validation")):
        img, lab = f"{split}/images/key{i}.jpg", f"{split}/v1.2/labels/key{i}.png"
        image(root / img, i)
        ids_png(root / lab, np.full((H, W), 2, dtype=np.uint8))
        ids_png(root / f"{split}/v2.0/labels/key{i}.png", np.full((H, W), 99, dtype=np.uint8))
        out.images.append(img)
        out.labels.append(lab)
    return out


def coco_panoptic(root: Path) -> Layout:
    out = Layout(root)
    for split in ("train", "val"):
        img = f"{split}2017/000000000139.jpg"
        image(root / img)
        rgb_png(root / f"annotations/panoptic_{split}2017/000000000139.png", stripes(["#010000"]))
        (root / f"annotations/panoptic_{split}2017.json").write_text("{}")
        out.images.append(img)
    return out


RELLIS_SPLITS = {"train": ["00000", "00001"], "val": ["00002"], "test": ["00003"]}


def rellis(root: Path, *, lists: bool = True, lists_in: str = "", leading_slash: bool = False) -> Layout:
    """Rellis-3D/<seq>/pylon_camera_node/*.jpg + pylon_camera_node_label_id/*.png, one frame per
    sequence of :data:`RELLIS_SPLITS`, and (``lists``) train.lst/val.lst/test.lst written as the
    devkit's split_data.py writes them: ``<seq>/pylon_camera_node/<f>.jpg <seq>/..._label_id/<f>.png``
    per line, relative to Rellis-3D/ (``leading_slash``: a root cut without its trailing slash).
    The lists go to ``root/lists_in`` (default: Rellis-3D/). Sequence 00004 is in no list."""
    out = Layout(root)
    for i, seq in enumerate(["00000", "00001", "00002", "00003", "00004"]):
        frame = f"frame00000{i}-1581624652_750"
        img = f"Rellis-3D/{seq}/pylon_camera_node/{frame}.jpg"
        lab = f"Rellis-3D/{seq}/pylon_camera_node_label_id/{frame}.png"
        image(root / img, i)
        ids_png(root / lab, np.full((H, W), 3, dtype=np.uint8))
        out.images.append(img)
        out.labels.append(lab)
    if lists:
        folder = root / (lists_in or "Rellis-3D")
        folder.mkdir(parents=True, exist_ok=True)
        slash = "/" if leading_slash else ""
        for split, seqs in RELLIS_SPLITS.items():
            lines = [
                f"{slash}{img.removeprefix('Rellis-3D/')} {slash}{lab.removeprefix('Rellis-3D/')}\n"
                for img, lab in zip(out.images, out.labels, strict=True)
                if img.split("/")[1] in seqs
            ]
            (folder / f"{split}.lst").write_text("".join(lines))
    return out


WILDSCENES_SPLITS = {"train": ["V-01"], "val": ["K-01"], "test": ["V-02"]}


def wildscenes(root: Path, *, parent: bool = True) -> Layout:
    """WildScenes2d/<sequence>/image/<id>.png + indexLabel/<id>.png (``parent``: root holds
    WildScenes2d/; else root is WildScenes2d/ itself), one frame per sequence, and the devkit's
    splits/opt2d/{train,val,test}.csv (``id,im_path,label_path``, paths from ``/WildScenes2d``)."""
    out = Layout(root)
    prefix = "WildScenes2d/" if parent else ""
    splits = root / "splits" / "opt2d"
    splits.mkdir(parents=True, exist_ok=True)
    for i, (split, seqs) in enumerate(WILDSCENES_SPLITS.items()):
        rows = ["id,im_path,label_path\n"]
        for seq in seqs:
            frame = f"162432616{i}-277052847"
            img, lab = f"{prefix}{seq}/image/{frame}.png", f"{prefix}{seq}/indexLabel/{frame}.png"
            image(root / img, i)
            ids_png(root / lab, np.full((H, W), 2, dtype=np.uint8))
            out.images.append(img)
            out.labels.append(lab)
            rows.append(
                f"{frame},/WildScenes2d/{seq}/image/{frame}.png,/WildScenes2d/{seq}/indexLabel/{frame}.png\n"
            )
        (splits / f"{split}.csv").write_text("".join(rows))
    return out
