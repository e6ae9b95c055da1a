"""Materialised corrupted sets: manifest, checksums, reuse, rebuild, resume, loading.

Uses two small fake corruptions registered for the module (one random, one deterministic),
so these tests do not depend on the real corruption implementations or on disk data.
"""

from __future__ import annotations

import hashlib
import json
import os
import types

import pytest
import torch

from birdkit.corruptions import corrupt
from birdkit.corruptions._base import CORRUPTIONS, FAMILIES, register_corruption
from birdkit.corruptions.materialize import (
    IntegrityError,
    load_corrupted,
    materialize,
    read_manifest,
    set_dir,
)
from birdkit.errors import BirdkitError, DataNotFoundError, UnknownNameError
from birdkit.io import TEMP_PREFIX

NOISE, DIM = "_fake_noise", "_fake_dim"
NAMES = [NOISE, DIM]


def _fake_noise(x, c, rng):
    return x + c * rng.randn(*x.shape[1:])


def _fake_dim(x, c, rng):
    return x * (1.0 - c)


@pytest.fixture(scope="module", autouse=True)
def fake_corruptions():
    table = {f: (0.05, 0.1, 0.2, 0.3, 0.4) for f in FAMILIES}
    added = []
    for name, fn in ((NOISE, _fake_noise), (DIM, _fake_dim)):
        if name not in CORRUPTIONS:
            register_corruption(name, params={k: tuple(v) for k, v in table.items()})(fn)
            added.append(name)
    yield
    for name in added:  # leave the global registry as we found it
        CORRUPTIONS._items.pop(name, None)
        CORRUPTIONS._meta.pop(name, None)


def _dataset(n=40, c=1, h=28, w=28, seed=0, name="fake"):
    g = torch.Generator().manual_seed(seed)
    return types.SimpleNamespace(
        name=name,
        images=torch.randint(0, 256, (n, c, h, w), dtype=torch.uint8, generator=g),
        targets=torch.arange(n) % 10,
    )


def _files(root):
    return sorted(p for p in root.rglob("*.safetensors"))


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(ds, out, **kw):
    kw.setdefault("corruptions", NAMES)
    kw.setdefault("severities", [1, 3])
    kw.setdefault("batch_size", 16)
    events = []
    root = materialize(ds, "test", out, progress=events.append, **kw)
    return root, events


def _status(events):
    return {(e.corruption, e.severity): e.status for e in events if e.kind == "file_done"}


def test_manifest_checksums_and_content(tmp_path):
    ds = _dataset()
    root, events = _run(ds, tmp_path)
    assert root == set_dir(tmp_path, "fake", "test")
    m = read_manifest(tmp_path, "fake", "test")
    assert m["format"] == "birdkit-corrupted-set"
    assert (m["dataset"], m["split"], m["seed"], m["family"]) == ("fake", "test", 0, "mnist")
    assert m["image_shape"] == [1, 28, 28] and m["num_images"] == 40
    assert m["birdkit_version"] and m["created"]
    assert {e["path"] for e in m["files"]} == {f"{n}/s{s}.safetensors" for n in NAMES for s in (1, 3)}
    for e in m["files"]:
        path = root / e["path"]
        assert _digest(path) == e["sha256"] and path.stat().st_size == e["bytes"]
        assert e["shape"] == [40, 1, 28, 28]
    assert set(_status(events).values()) == {"built"}
    assert [e.kind for e in events][0] == "plan"

    images, labels = load_corrupted(tmp_path, "fake", "test", NOISE, 3)
    assert images.dtype == torch.uint8 and images.shape == (40, 1, 28, 28)
    assert labels.dtype == torch.int64 and torch.equal(labels, ds.targets)
    # quantised as round(x * 255) of corrupt() with the dataset indices
    ref = corrupt(ds.images.float() / 255, NOISE, 3, seed=0, indices=range(40), family="mnist")
    assert torch.equal(images, torch.round(ref * 255).to(torch.uint8))


def test_batch_size_and_limit_do_not_change_images(tmp_path):
    ds = _dataset()
    _run(ds, tmp_path / "a", batch_size=40)
    _run(ds, tmp_path / "b", batch_size=7)
    _run(ds, tmp_path / "c", limit=11)
    for name in NAMES:
        a, _ = load_corrupted(tmp_path / "a", "fake", "test", name, 1)
        b, _ = load_corrupted(tmp_path / "b", "fake", "test", name, 1)
        c, lc = load_corrupted(tmp_path / "c", "fake", "test", name, 1)
        assert torch.equal(a, b)
        assert torch.equal(c, a[:11]) and len(lc) == 11


def test_second_run_reuses_files_untouched(tmp_path):
    ds = _dataset()
    root, _ = _run(ds, tmp_path)
    before = {p: p.stat().st_mtime_ns for p in [*_files(root), root / "manifest.json"]}
    _, events = _run(ds, tmp_path)
    assert set(_status(events).values()) == {"reused"}
    assert not any(e.kind == "batch" for e in events)
    after = {p: p.stat().st_mtime_ns for p in before}
    assert before == after


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_damaged_file_is_detected_and_rebuilt(tmp_path, damage):
    ds = _dataset()
    root, _ = _run(ds, tmp_path)
    victim = root / NOISE / "s3.safetensors"
    good = victim.read_bytes()
    if damage == "truncate":
        victim.write_bytes(good[: len(good) // 2])
    elif damage == "flip":  # same size, one byte changed: only the checksum catches it
        victim.write_bytes(good[:-100] + bytes([good[-100] ^ 0xFF]) + good[-99:])
    else:
        victim.unlink()
    if damage != "delete":
        with pytest.raises(IntegrityError, match="does not match its manifest"):
            load_corrupted(tmp_path, "fake", "test", NOISE, 3)
    else:
        with pytest.raises(IntegrityError, match="missing"):
            load_corrupted(tmp_path, "fake", "test", NOISE, 3)
    _, events = _run(ds, tmp_path)
    status = _status(events)
    assert status.pop((NOISE, 3)) == "built"
    assert set(status.values()) == {"reused"}
    assert victim.read_bytes() == good
    load_corrupted(tmp_path, "fake", "test", NOISE, 3)


def test_interrupted_run_resumes_to_identical_outputs(tmp_path):
    ds = _dataset()
    ref_root, _ = _run(ds, tmp_path / "ref", severities=[1, 2, 3])

    class Boom(RuntimeError):
        pass

    def stop_after(k):
        def cb(ev):
            if ev.kind == "file_done" and ev.files_done == k:
                raise Boom
        return cb

    out = tmp_path / "run"
    with pytest.raises(Boom):
        materialize(ds, "test", out, corruptions=NAMES, severities=[1, 2, 3], batch_size=16, progress=stop_after(4))
    root = set_dir(out, "fake", "test")
    assert len(read_manifest(out, "fake", "test")["files"]) == 4
    # a crash in the middle of a write leaves a temporary file; the next run removes it
    (root / DIM / f".s3.safetensors.{TEMP_PREFIX}123-abcdef12").write_bytes(b"partial")

    _, events = _run(ds, out, severities=[1, 2, 3])
    statuses = [e.status for e in events if e.kind == "file_done"]
    assert statuses == ["reused"] * 4 + ["built"] * 2
    assert not list(root.rglob(f".*.{TEMP_PREFIX}*"))
    ref_files = {p.relative_to(ref_root): p.read_bytes() for p in _files(ref_root)}
    new_files = {p.relative_to(root): p.read_bytes() for p in _files(root)}
    assert ref_files == new_files
    strip = lambda m: [{k: v for k, v in e.items() if k not in ("seconds", "created")} for e in m["files"]]  # noqa: E731
    assert strip(read_manifest(out, "fake", "test")) == strip(read_manifest(tmp_path / "ref", "fake", "test"))


def test_changed_severity_table_rebuilds_only_that_file(tmp_path):
    ds = _dataset()
    _run(ds, tmp_path)
    tables = CORRUPTIONS.meta(DIM)["params"]
    saved = dict(tables)
    try:
        tables["mnist"] = (0.05, 0.1, 0.25, 0.3, 0.4)  # severity 3 changes
        _, events = _run(ds, tmp_path)
    finally:
        tables.clear()
        tables.update(saved)
    status = _status(events)
    assert status.pop((DIM, 3)) == "built" and set(status.values()) == {"reused"}


def test_other_set_parameters_need_overwrite(tmp_path):
    ds = _dataset()
    _run(ds, tmp_path)
    with pytest.raises(BirdkitError, match=r"seed: 0 -> 1.*overwrite"):
        _run(ds, tmp_path, seed=1)
    with pytest.raises(BirdkitError, match="source images differ"):
        _run(_dataset(seed=5), tmp_path)
    _, events = _run(ds, tmp_path, seed=1, overwrite=True)
    assert set(_status(events).values()) == {"built"}
    assert read_manifest(tmp_path, "fake", "test")["seed"] == 1


def test_rgb_pair_input_and_floor_rounding(tmp_path):
    ds = _dataset(n=8, c=3, h=32, w=32)
    materialize((ds.images, ds.targets), "val", tmp_path, corruptions=[DIM], severities=[2],
                dataset_name="pairs", rounding="floor")
    images, _ = load_corrupted(tmp_path, "pairs", "val", DIM, 2)
    m = read_manifest(tmp_path, "pairs", "val")
    assert m["family"] == "cifar" and m["rounding"] == "floor"
    assert torch.equal(images, torch.floor(ds.images.float() * 0.9).to(torch.uint8))


def test_errors_name_the_fix(tmp_path):
    ds = _dataset(n=4)
    with pytest.raises(UnknownNameError, match="Did you mean"):
        materialize(ds, "test", tmp_path, corruptions=["_fake_nose"])
    with pytest.raises(BirdkitError, match="Severity 0 is the clean data"):
        materialize(ds, "test", tmp_path, corruptions=[DIM], severities=[0, 1])
    with pytest.raises(DataNotFoundError, match="birdkit corrupt --dataset fake --split test"):
        load_corrupted(tmp_path, "fake", "test", DIM, 1)
    materialize(ds, "test", tmp_path, corruptions=[DIM], severities=[1])
    with pytest.raises(DataNotFoundError, match="--corruptions _fake_dim --severities 2"):
        load_corrupted(tmp_path, "fake", "test", DIM, 2)
    (set_dir(tmp_path, "fake", "test") / "manifest.json").write_text("{not json")
    with pytest.raises(IntegrityError, match="not valid JSON"):
        load_corrupted(tmp_path, "fake", "test", DIM, 1)
    # an unreadable manifest vouches for nothing: the next run rebuilds and rewrites it
    _, events = _run(ds, tmp_path, corruptions=[DIM], severities=[1])
    assert _status(events) == {(DIM, 1): "built"}
    assert json.loads((set_dir(tmp_path, "fake", "test") / "manifest.json").read_text())["files"]


def test_num_threads_is_restored(tmp_path):
    before = torch.get_num_threads()
    _run(_dataset(n=4), tmp_path, corruptions=[DIM], severities=[1], num_threads=1)
    assert torch.get_num_threads() == before
    assert os.path.isdir(set_dir(tmp_path, "fake", "test"))
