"""Presets of the paper's off-road datasets (8 of the 21). Pure domain layer (data only).

Documented, with the source of every layout fact, in ``docs/datasets.md``; keep the two in step.
"""

from __future__ import annotations

from app.domain.dataset_presets import DatasetPreset, PaletteSource, PresetPalette, PresetVariant
from app.domain.label_codec import LabelEncoding
from app.domain.split_lists import SplitList

RGB = LabelEncoding.RGB

OFFROAD_PRESETS: tuple[DatasetPreset, ...] = (
    DatasetPreset(
        key="freiburg-forest",
        title="Freiburg Forest",
        labels_csv="freiburg-forest/labels.csv",
        taxonomy_name="freiburg-forest",
        splits=("train", "test"),
        variants=(
            PresetVariant(
                key="annotated",
                description="freiburg_forest_annotated/<split>/rgb/*_Clipped.jpg + GT_color/*_mask.png",
                image_pattern="{split}/rgb/{frame}_Clipped.jpg",
                label_template="{split}/GT_color/{frame}_mask.png",
                encoding=RGB,
                palette=PresetPalette(
                    PaletteSource.BUILTIN,
                    colors=(
                        ("#000000", "void"),
                        ("#aaaaaa", "road"),
                        ("#00ff00", "grass"),
                        ("#666633", "vegetation"),
                        ("#003c00", "tree"),
                        ("#0078ff", "sky"),
                    ),
                    origin="the DeepScene Freiburg Forest colour legend",
                ),
                other_files=("*/depth*/*", "*/nir*/*", "*/evi*/*", "*/ndvi*/*", "*/nrg/*"),
            ),
        ),
        layout_verified=False,
        sources=("http://deepscene.cs.uni-freiburg.de/",),
        notes=(
            "Black (#000000) is 'Obstacle' in the dataset's legend; the reference list has no obstacle "
            "and the authors count it as void.",
            "The *_mask.png label name is what the archive uses as far as we know; not checked against it.",
        ),
    ),
    DatasetPreset(
        key="god",
        title="GOD",
        labels_csv="god/labels.csv",
        taxonomy_name="god",
        splits=(),
        variants=(),
        layout_verified=False,
        notes=(
            "The folder layout is unknown to unilabel: give image_pattern and label_template. "
            "The reference labels.csv uses RELLIS-3D-style ids (dirt 1, grass 3, ..., rough_trail 36).",
        ),
    ),
    DatasetPreset(
        key="goose",
        title="GOOSE (2D)",
        labels_csv="goose2d/labels.csv",
        taxonomy_name="goose2d",
        splits=("train", "val", "test"),
        variants=(
            PresetVariant(
                key="goose",
                description=(
                    "goose_2d: images/<split>/<scenario>/*_windshield_vis.png + labels/.../*_labelids.png"
                ),
                image_pattern="images/{split}/{scenario}/{frame}_windshield_vis.png",
                label_template="labels/{split}/{scenario}/{frame}_labelids.png",
                other_files=("labels/*_color.png", "labels/*_instanceids.png", "*.csv"),
            ),
            PresetVariant(
                key="goose-ex",
                description=(
                    "GOOSE-Ex: images/<split>/<scenario>/*_camera_left.png + labels/.../*_labelids.png"
                ),
                image_pattern="images/{split}/{scenario}/{frame}_camera_left.png",
                label_template="labels/{split}/{scenario}/{frame}_labelids.png",
                other_files=("labels/*_color.png", "labels/*_instanceids.png", "*.csv"),
            ),
        ),
        sources=(
            "https://goose-dataset.de/docs/dataset-structure/",
            "https://github.com/FraunhoferIOSB/goose_dataset (goosetools)",
        ),
        notes=(
            "The test split has no labels.",
            "GOOSE-Ex also has *_front.png and *_realsense.png cameras; register "
            "those with an explicit pattern.",
        ),
    ),
    DatasetPreset(
        key="rellis-3d",
        title="RELLIS-3D (camera)",
        labels_csv="rellis-3d/labels.csv",
        taxonomy_name="rellis-3d",
        splits=(),
        variants=(
            PresetVariant(
                key="parent",
                description="root holds Rellis-3D/<seq>/pylon_camera_node/ and pylon_camera_node_label_id/",
                image_pattern="Rellis-3D/{seq}/pylon_camera_node/{frame}.jpg",
                label_template="Rellis-3D/{seq}/pylon_camera_node_label_id/{frame}.png",
                other_files=(
                    "*/pylon_camera_node_label_color/*",
                    "*.lst",
                    "*/os1_cloud_node*",
                    "*/vel_cloud_node*",
                ),
            ),
            PresetVariant(
                key="sequences",
                description="root is Rellis-3D/ itself: <seq>/pylon_camera_node/",
                image_pattern="{seq}/pylon_camera_node/{frame}.jpg",
                label_template="{seq}/pylon_camera_node_label_id/{frame}.png",
                other_files=(
                    "*/pylon_camera_node_label_color/*",
                    "*.lst",
                    "*/os1_cloud_node*",
                    "*/vel_cloud_node*",
                ),
            ),
        ),
        sources=("https://github.com/unmannedlab/RELLIS-3D (README, benchmarks/utils/split_data.py)",),
        notes=(
            "Splits come as train.lst/val.lst/test.lst list files (the image split archive): when "
            "they are in the root (any depth), each listed image gets its split; without them, "
            "no split is recorded.",
        ),
        split_lists=(
            SplitList("train", "train.lst"),
            SplitList("val", "val.lst"),
            SplitList("test", "test.lst"),
        ),
    ),
    DatasetPreset(
        key="rugd",
        title="RUGD",
        labels_csv="rugd/labels.csv",
        taxonomy_name="rugd",
        splits=(),
        variants=(
            PresetVariant(
                key="rugd",
                description="RUGD_frames-with-annotations/<scene>/ + RUGD_annotations/<scene>/ (colour PNGs)",
                image_pattern="RUGD_frames-with-annotations/{scene}/{frame}.png",
                label_template="RUGD_annotations/{scene}/{frame}.png",
                encoding=RGB,
                palette=PresetPalette(
                    PaletteSource.TAXONOMY, origin="the colours of rugd/labels.csv (RUGD's colour map)"
                ),
                other_files=("RUGD_annotations/*.txt",),
            ),
        ),
        sources=("http://rugd.vision/",),
        notes=("Train/val/test are scene lists of the RUGD paper, not folders: no split is recorded.",),
    ),
    DatasetPreset(
        key="tas500",
        title="TAS500",
        labels_csv="tas500/labels.csv",
        taxonomy_name="tas500",
        splits=("train", "val", "test"),
        variants=(
            PresetVariant(
                key="v1.1",
                description="tas500v1.1: <split>/*.png + <split>_labels_ids/*.png (as far as we know)",
                image_pattern="{split}/{frame}.png",
                label_template="{split}_labels_ids/{frame}.png",
                other_files=("*_labels_rgb/*",),
            ),
        ),
        layout_verified=False,
        sources=("https://mucar3.de/iros2022-ppniv-tas-nir/ (TAS500 page)",),
        notes=(
            "The folder names are unverified; the scan reports whether they match.",
            "The reference list gives 'puddle' the value 255.",
        ),
    ),
    DatasetPreset(
        key="wildscenes",
        title="WildScenes (2D)",
        labels_csv="WildScenes/labels.csv",
        taxonomy_name="WildScenes",
        splits=(),
        variants=tuple(
            PresetVariant(
                key=key,
                description=description,
                image_pattern=f"{prefix}{{sequence}}/image/{{frame}}.png",
                label_template=f"{prefix}{{sequence}}/indexLabel/{{frame}}.png",
                other_files=("*/label/*", "*.csv"),
            )
            for key, prefix, description in (
                ("parent", "WildScenes2d/", "root holds WildScenes2d/<sequence>/image|indexLabel/"),
                ("sequences", "", "root is WildScenes2d/ itself: <sequence>/image|indexLabel/"),
            )
        ),
        sources=("https://github.com/csiro-robotics/WildScenes (README, data layout)",),
        notes=(
            "Splits are CSV files of the devkit (data/splits/opt2d/train.csv, val.csv, test.csv: "
            "id,im_path,label_path), not folders: copied into the root (any depth), each listed image "
            "gets its split; without them, no split is recorded.",
        ),
        split_lists=(
            SplitList("train", "train.csv", "im_path"),
            SplitList("val", "val.csv", "im_path"),
            SplitList("test", "test.csv", "im_path"),
        ),
    ),
    DatasetPreset(
        key="yamaha",
        title="Yamaha-CMU Off-Road (YCOR)",
        labels_csv="yamaha/labels.csv",
        taxonomy_name="yamaha",
        splits=("train", "valid"),
        variants=tuple(
            PresetVariant(
                key=key,
                description=description,
                image_pattern=f"{prefix}{{split}}/{{sample}}/rgb.jpg",
                label_template=f"{prefix}{{split}}/{{sample}}/labels.png",
                encoding=RGB,
                palette=PresetPalette(
                    PaletteSource.BUILTIN,
                    colors=(
                        ("#ffffff", "background"),
                        ("#285000", "high_vegetation"),
                        ("#80ff00", "traversable_grass"),
                        ("#b2b099", "smooth_trail"),
                        ("#ff0000", "obstacle"),
                        ("#0158ff", "sky"),
                        ("#9c4c1e", "rough_trail"),
                        ("#ff0080", "puddle"),
                        ("#00a000", "non_traversable_low_vegetation"),
                    ),
                    origin="the YCOR colour map (the dataset page links it)",
                ),
            )
            for key, prefix, description in (
                ("parent", "yamaha_v0/", "root holds yamaha_v0/<split>/iidNNNNNN/rgb.jpg + labels.png"),
                ("splits", "", "root is yamaha_v0/ itself: <split>/iidNNNNNN/"),
            )
        ),
        sources=("https://theairlab.org/yamaha-offroad-dataset/",),
        notes=(
            "The colours come from the colour map the dataset page links, not from a file in the archive.",
        ),
    ),
)
