"""Model sources: unilabel folder, HF folder, cached HF id, paper .pth; unsafe pickles refused."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import pytest
import torch

from app.domain.errors import InvalidInput, NotFound
from worker.ml.checkpoints import (
    ChecksumMismatch,
    UnsafeCheckpoint,
    convert_trusted_pth,
    load_model,
    save_checkpoint,
)
from worker.ml.modeling import PAPER_NORMALIZATION, Normalization, build_mask2former, tiny_config

CLASSES = {0: "road", 1: "car", 2: "sky"}


@pytest.fixture(scope="module")
def model():  # type: ignore[no-untyped-def]
    torch.manual_seed(3)
    return build_mask2former(tiny_config(CLASSES)).eval()


def _same_outputs(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    """Bit-identical weights, and outputs equal up to float rounding (a reloaded model's tensors can
    take other kernel paths: differences of ~1e-6 were seen on an AMD EPYC)."""
    sa, sb = a.state_dict(), b.state_dict()
    if sa.keys() != sb.keys() or not all(torch.equal(sa[k], sb[k]) for k in sa):
        return False
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        oa, ob = a(pixel_values=x), b(pixel_values=x)
    close = {"rtol": 1e-4, "atol": 1e-5}
    return torch.allclose(oa.class_queries_logits, ob.class_queries_logits, **close) and torch.allclose(
        oa.masks_queries_logits, ob.masks_queries_logits, **close
    )


def test_unilabel_checkpoint_round_trip(model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    norm = Normalization(mean=(1.0, 2.0, 3.0), std=(4.0, 5.0, 6.0))
    out = save_checkpoint(
        model,
        tmp_path / "ck",
        class_names=["road", "car", "sky"],
        normalization=norm,
        provenance={"trained_on": "synthetic"},
    )
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.safetensors", "unilabel.json"}
    loaded = load_model(out)
    assert loaded.source == "unilabel"
    assert loaded.class_names == ("road", "car", "sky")
    assert loaded.normalization == norm
    assert loaded.provenance["trained_on"] == "synthetic"
    from worker.ml.provenance import package_version

    assert loaded.provenance["unilabel_version"] == package_version()  # the code that wrote it
    assert len(loaded.checksum) == 64
    assert not loaded.model.training
    assert _same_outputs(model, loaded.model)
    # Saving again over the folder replaces it atomically, no temp folders left behind.
    save_checkpoint(model, out, class_names=["road", "car", "sky"], normalization=norm)
    assert [p.name for p in tmp_path.iterdir()] == ["ck"]


def test_save_checkpoint_rejects_wrong_class_count(model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput):
        save_checkpoint(model, tmp_path / "ck", class_names=["a"], normalization=PAPER_NORMALIZATION)


def test_hf_folder_with_preprocessor_config(model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model.save_pretrained(tmp_path / "hf")
    (tmp_path / "hf" / "preprocessor_config.json").write_text(
        json.dumps({"image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25], "do_rescale": True})
    )
    loaded = load_model(tmp_path / "hf")
    assert loaded.source == "hf-folder"
    assert loaded.class_names == ("road", "car", "sky")
    assert loaded.normalization == Normalization((127.5, 127.5, 127.5), (63.75, 63.75, 63.75))
    assert _same_outputs(model, loaded.model)
    override = load_model(tmp_path / "hf", normalization=PAPER_NORMALIZATION)
    assert override.normalization == PAPER_NORMALIZATION


def test_cached_hf_id_loads_offline(model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    cache = tmp_path / "hub"
    repo = cache / "models--acme--tiny-m2f"
    commit = "0123456789abcdef0123456789abcdef01234567"
    model.save_pretrained(repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = load_model("acme/tiny-m2f")
    assert loaded.source == "hf-id" and loaded.spec == "acme/tiny-m2f"
    assert _same_outputs(model, loaded.model)


def test_uncached_hf_id_names_the_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(NotFound) as exc:
        load_model("facebook/mask2former-swin-large-cityscapes-semantic")
    assert "facebook/mask2former-swin-large-cityscapes-semantic" in exc.value.message
    assert "never downloads" in exc.value.message


def test_paper_pth_loads_with_allow_listed_config(model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "paper.pth"
    torch.save({"model_config": model.config, "model_state_dict": model.state_dict(), "epoch": 3}, path)
    loaded = load_model(path)
    assert loaded.source == "paper-pth"
    assert loaded.normalization == PAPER_NORMALIZATION
    assert loaded.class_names == ("road", "car", "sky")
    assert _same_outputs(model, loaded.model)


def test_unsafe_pickle_refused_without_trust_flag(model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "unsafe.pth"
    payload = {
        "model_config": model.config,
        "model_state_dict": model.state_dict(),
        "args": argparse.Namespace(lr=0.1),
    }
    torch.save(payload, path)
    with pytest.raises(UnsafeCheckpoint) as exc:
        load_model(path)
    assert "argparse.Namespace" in exc.value.message and "trust" in exc.value.message
    trusted = load_model(path, trust_pickle=True)
    assert trusted.provenance["trusted_pickle"] is True


def test_pth_with_wrong_structure_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "weights.pth"
    torch.save({"state": torch.zeros(1)}, path)
    with pytest.raises(InvalidInput):
        load_model(path)


def test_missing_path_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        load_model(str(tmp_path / "does" / "not" / "exist"))


def test_safe_only_never_unpickles_a_pth_nor_a_bin_only_folder(model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """What jobs use: safetensors weights only, whatever trust_pickle says."""
    path = tmp_path / "paper.pth"
    torch.save({"model_config": model.config, "model_state_dict": model.state_dict()}, path)
    with pytest.raises(UnsafeCheckpoint, match="jobs load only safetensors"):
        load_model(path, trust_pickle=True, safe_only=True)
    model.config.save_pretrained(tmp_path / "bin")  # an old-style HF folder: config + a pickle
    torch.save(model.state_dict(), tmp_path / "bin" / "pytorch_model.bin")
    assert {p.suffix for p in (tmp_path / "bin").iterdir()} == {".json", ".bin"}
    assert load_model(tmp_path / "bin").class_names == ("road", "car", "sky")  # a local run may
    with pytest.raises(InvalidInput):
        load_model(tmp_path / "bin", safe_only=True)


def test_a_trusted_pth_is_converted_from_the_bytes_whose_hash_matched(model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "paper.pth"
    torch.save(
        {"model_config": model.config, "model_state_dict": model.state_dict(), "args": argparse.Namespace()},
        path,
    )
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ChecksumMismatch):
        convert_trusted_pth(path, tmp_path / "out", expected_sha256="0" * 64)
    assert not (tmp_path / "out").exists()
    convert_trusted_pth(path, tmp_path / "out", expected_sha256=digest)
    loaded = load_model(tmp_path / "out", safe_only=True)
    assert loaded.source == "unilabel" and loaded.normalization == PAPER_NORMALIZATION
    assert loaded.provenance["source_sha256"] == digest and _same_outputs(model, loaded.model)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".trusted-")] == []  # copy removed
