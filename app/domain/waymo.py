"""Waymo Open Dataset v2 camera segmentation: classes, columns and naming (pure domain layer).

The v2 release stores each component as one Parquet file per run segment (``<context>.parquet``)
under ``<split>/<component>/``; rows are keyed by ``key.segment_context_name``,
``key.frame_timestamp_micros`` and ``key.camera_name`` (the schema of
``waymo_open_dataset/v2/perception/segmentation.py`` and ``camera_image.py`` of the official
repository). ``camera_segmentation`` holds ``panoptic_label``, a uint16 PNG of the camera image's size
whose values are ``semantic class * panoptic_label_divisor + instance`` (the divisor is a column of
the row); ``camera_image`` holds ``image``, the JPEG bytes. Only some frames carry segmentation labels.

The semantic classes are the ``CameraSegmentation.Type`` enum of ``protos/camera_segmentation.proto``
(values 0..28); :data:`CLASS_NAMES` spells them as label names (lower case, spaces), and
:func:`labels_csv_text` writes them as a ``labels.csv`` in the authors' format, value = enum value.
"""

from __future__ import annotations

import csv
import io
import re

import numpy as np

from app.domain.errors import InvalidInput

KEY_CONTEXT = "key.segment_context_name"
KEY_TIMESTAMP = "key.frame_timestamp_micros"
KEY_CAMERA = "key.camera_name"
KEYS = (KEY_CONTEXT, KEY_TIMESTAMP, KEY_CAMERA)
SEG = "[CameraSegmentationLabelComponent]"
PANOPTIC = f"{SEG}.panoptic_label"
DIVISOR = f"{SEG}.panoptic_label_divisor"
IMAGE = "[CameraImageComponent].image"
SEGMENTATION_DIR = "camera_segmentation"
IMAGE_DIR = "camera_image"
SPLITS = ("training", "validation", "testing")

# CameraSegmentation.Type of protos/camera_segmentation.proto, in enum order (TYPE_ dropped).
CLASS_NAMES: tuple[str, ...] = (
    "undefined",
    "ego vehicle",
    "car",
    "truck",
    "bus",
    "other large vehicle",
    "bicycle",
    "motorcycle",
    "trailer",
    "pedestrian",
    "cyclist",
    "motorcyclist",
    "bird",
    "ground animal",
    "construction cone pole",
    "pole",
    "pedestrian object",
    "sign",
    "traffic light",
    "building",
    "road",
    "lane marker",
    "road marker",
    "sidewalk",
    "vegetation",
    "sky",
    "ground",
    "dynamic",
    "static",
)
UNDEFINED = 0  # "anything that does not fit the other classes or is too ambiguous to label"

_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def labels_csv_text() -> str:
    """The 29 classes as a ``labels.csv`` in the authors' format (value = the enum value; no colours:
    the release publishes none, so an import generates them). ``undefined`` is ignored in evaluation."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["", "name", "id", "trainId", "category", "categoryId", "hasInstances", "ignoreInEval", "color"]
    )
    for value, name in enumerate(CLASS_NAMES):
        writer.writerow([value, name, value, value, "", "", "", value == UNDEFINED, ""])
    return out.getvalue()


def frame_stem(context: str, timestamp: int, camera: int) -> str:
    """The file name (without suffix) of one camera image: ``<context>_<timestamp>_<camera>``.

    Raises:
        InvalidInput: a context name with characters that are unsafe in a file name.
    """
    if not context or _SAFE.search(context):
        raise InvalidInput(f"unexpected segment context name {context!r}", field="label")
    return f"{context}_{int(timestamp)}_{int(camera)}"


def semantic_classes(panoptic: np.ndarray, divisor: int) -> np.ndarray:
    """``(H, W)`` uint8 class ids of a decoded panoptic label: ``value // divisor``.

    Raises:
        InvalidInput: a divisor under 1, or a class outside the 29 of :data:`CLASS_NAMES`.
    """
    if divisor < 1:
        raise InvalidInput(f"panoptic_label_divisor is {divisor}, expected at least 1", field="label")
    classes = np.asarray(panoptic, dtype=np.int64) // int(divisor)
    bad = classes[(classes < 0) | (classes >= len(CLASS_NAMES))]
    if bad.size:
        raise InvalidInput(
            f"panoptic label holds class {int(bad[0])}, outside the {len(CLASS_NAMES)} camera "
            "segmentation classes",
            field="label",
        )
    return classes.astype(np.uint8)
