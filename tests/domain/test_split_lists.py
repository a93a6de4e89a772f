"""Split list files (app.domain.split_lists): finding the lists, reading their lines, resolving
listed images relative to the list's folder, the root, or a unique path ending."""

from __future__ import annotations

from app.domain.pairing import Pair, PairingResult
from app.domain.split_lists import SplitList, apply_assignment, assign_splits, find_split_lists, listed_images

LISTS = (SplitList("train", "train.lst"), SplitList("val", "val.lst"))


def test_the_shallowest_list_of_each_name_is_found() -> None:
    files = ["a/b/train.lst", "z/train.lst", "x.lst", "deep/er/val.lst", "img.jpg"]
    assert find_split_lists(LISTS, files) == [("train", "z/train.lst"), ("val", "deep/er/val.lst")]
    assert find_split_lists(LISTS, ["img.jpg"]) == []


def test_lines_give_their_first_field_without_leading_slash_or_dot() -> None:
    text = "# comment\n\n/00000/a.jpg 00000/a.png\n./00001/b.jpg\r\n  c\\d.jpg\tlabel.png\n/\n"
    assert listed_images(text) == ["00000/a.jpg", "00001/b.jpg", "c/d.jpg"]


def test_listed_paths_resolve_by_folder_then_root_then_a_unique_ending() -> None:
    images = ["R/00000/a.jpg", "00000/a.jpg", "x/s1/b.jpg", "y/s1/b.jpg", "q/c.jpg"]
    lists = [
        ("train", "R/train.lst", "00000/a.jpg\ns1/b.jpg\n"),  # joined with R/; s1/b.jpg ends two images
        ("val", "val.lst", "00000/a.jpg\nc.jpg\nnone.jpg\n"),  # the root's own 00000/a.jpg; c.jpg by ending
    ]
    a = assign_splits(images, lists)
    assert dict(a.splits) == {"R/00000/a.jpg": "train", "00000/a.jpg": "val", "q/c.jpg": "val"}
    train, val = a.uses
    assert (train.listed, train.matched, train.missing_examples) == (2, 1, ("s1/b.jpg",))
    assert (val.listed, val.matched, val.missing) == (3, 2, 1)


def test_an_image_in_two_lists_keeps_the_first_and_is_named() -> None:
    a = assign_splits(["s/a.jpg"], [("train", "train.lst", "s/a.jpg\n"), ("val", "val.lst", "s/a.jpg\n")])
    assert dict(a.splits) == {"s/a.jpg": "train"} and a.twice == ("s/a.jpg",)
    result = PairingResult((Pair("s/a.jpg", "l.png"), Pair("t/b.jpg", None, "own")), ())
    assert [p.split for p in apply_assignment(result, a).pairs] == ["train", "own"]


def test_a_csv_list_reads_its_image_column_and_drops_leading_folders_the_root_lacks() -> None:
    text = "id,im_path,label_path\n1,/WildScenes2d/K-01/image/1.png,/WildScenes2d/K-01/indexLabel/1.png\n"
    assert listed_images(text, "im_path") == ["WildScenes2d/K-01/image/1.png"]
    assert listed_images(text, "image") == []  # no such column: nothing listed
    a = assign_splits(
        ["K-01/image/1.png", "K-01/indexLabel/1.png"], [("val", "s/val.csv", text)], {"val": "im_path"}
    )
    assert dict(a.splits) == {"K-01/image/1.png": "val"}


def test_tab_separated_lines_keep_spaces_and_a_split_may_have_several_lists() -> None:
    text = "road01_ins/ColorImage/R1/Camera 5/a.jpg\troad01_ins/Label/R1/Camera 5/a_bin.png\n"
    assert listed_images(text) == ["road01_ins/ColorImage/R1/Camera 5/a.jpg"]
    lists = (SplitList("train", "road01_ins_train.lst"), SplitList("train", "road02_ins_train.lst"))
    files = ["road02_ins_train.lst", "road01_ins_train.lst", "x/road01_ins_train.lst"]
    assert find_split_lists(lists, files) == [
        ("train", "road01_ins_train.lst"),
        ("train", "road02_ins_train.lst"),
    ]
    images = ["road01_ins/ColorImage/R1/Camera 5/a.jpg", "road02_ins/ColorImage/R2/Camera_5/b.jpg"]
    a = assign_splits(
        images,
        [
            ("train", "road01_ins_train.lst", text),
            ("train", "road02_ins_train.lst", "road02_ins/ColorImage/R2/Camera 5/b.jpg\tl.png\n"),
        ],
    )
    assert dict(a.splits) == dict.fromkeys(images, "train")  # 'Camera 5' listed, 'Camera_5' on disk
