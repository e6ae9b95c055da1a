"""``birdkit corrupt``: materialise corrupted copies of a dataset split, optionally with a preview.

Semantics of the preview flags:

* ``--preview PATH``: first write a PNG grid (rows = corruptions, columns = clean + the chosen
  severities) of ``--preview-images`` images of the split (the first image of each of the first
  classes), then materialise. The grid uses the same seed, family and dataset indices as the
  set, so it shows exactly what the set holds for those images.
* ``--preview PATH --preview-only``: only the grid; nothing is materialised.

Re-running the same command reuses every file whose checksum and parameters still match; an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import fnmatch
import time
from pathlib import Path

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from birdkit.cli.main import app, console

_GROUPS = ("all", "train", "heldout", "mnistc")


def parse_corruptions(spec: str) -> list[str]:
    """Comma-separated names, shell wildcards (``*_noise``) or groups (``all``: the 19 ImageNet-C
    ones, ``train``, ``heldout``, ``mnistc``) -> registered names, in the canonical order
    (training ones, then held-out, then MNIST-C)."""
    from birdkit.corruptions import (
        ALL_CORRUPTIONS,
        CORRUPTIONS,
        HELDOUT_CORRUPTIONS,
        MNISTC_CORRUPTIONS,
        TRAIN_CORRUPTIONS,
    )
    from birdkit.errors import BirdkitError

    groups = {"all": ALL_CORRUPTIONS, "train": TRAIN_CORRUPTIONS, "heldout": HELDOUT_CORRUPTIONS,
              "mnistc": MNISTC_CORRUPTIONS}
    chosen: list[str] = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        if item in groups:
            chosen += list(groups[item])
        elif any(ch in item for ch in "*?["):
            hits = [n for n in CORRUPTIONS.names() if fnmatch.fnmatchcase(n, item)]
            if not hits:
                raise BirdkitError(f"No corruption matches {item!r}; list them with `birdkit.list_corruptions()`")
            chosen += hits
        else:
            CORRUPTIONS.get(item)  # UnknownNameError with close matches
            chosen.append(item)
    if not chosen:
        raise BirdkitError(f"Expected corruption names, wildcards or one of {_GROUPS}, got {spec!r}")
    for name in chosen:
        CORRUPTIONS.get(name)
    order = {n: i for i, n in enumerate(ALL_CORRUPTIONS + MNISTC_CORRUPTIONS)}
    return sorted(dict.fromkeys(chosen), key=lambda n: (order.get(n, len(order)), n))


def parse_severities(spec: str) -> list[int]:
    """``"1,3"``, ``"2-4"`` or a mix -> sorted severities in 1..5."""
    from birdkit.errors import BirdkitError

    out: set[int] = set()
    try:
        for item in (s.strip() for s in spec.split(",")):
            if not item:
                continue
            if "-" in item:
                lo, hi = (int(v) for v in item.split("-", 1))
                out.update(range(lo, hi + 1))
            else:
                out.add(int(item))
    except ValueError:
        raise BirdkitError(f"Expected severities like '1,2' or '1-5', got {spec!r}") from None
    if not out or not out <= {1, 2, 3, 4, 5}:
        raise BirdkitError(
            f"Expected severities in 1..5, got {spec!r} (severity 0 is the clean split; it is not written)"
        )
    return sorted(out)


def _fmt_severities(sevs: list[int]) -> str:
    if len(sevs) > 2 and sevs == list(range(sevs[0], sevs[-1] + 1)):
        return f"{sevs[0]}-{sevs[-1]}"
    return ",".join(map(str, sevs))


def _preview_indices(labels, k: int) -> list[int]:
    """The first image of each of the first ``k`` classes met (then the next images if fewer)."""
    seen: dict[int, int] = {}
    for i, y in enumerate(labels.tolist()):
        if y not in seen:
            seen[y] = i
            if len(seen) == k:
                break
    idx = list(seen.values())
    idx += [i for i in range(len(labels)) if i not in seen.values()][: k - len(idx)]
    return sorted(idx)


@app.command("corrupt")
def corrupt_cmd(
    dataset: str = typer.Option(..., "--dataset", "-d", help="Dataset name (see birdkit.list_datasets())."),
    split: str = typer.Option("test", "--split", help="train, val, train_full or test."),
    out: Path = typer.Option(Path("data/corrupted"), "--out", "-o",
                             help="Output root; the set goes to OUT/<dataset>/<split>/."),
    root: Path | None = typer.Option(None, "--root", help="Data root for the dataset (default: its usual place)."),
    corruptions: str = typer.Option("all", "--corruptions", "-c",
                                    help="Comma-separated names, wildcards ('*_blur') or all/train/heldout/mnistc."),
    severities: str = typer.Option("1-5", "--severities", "-s", help="Severities, e.g. '1,2' or '1-5'."),
    seed: int = typer.Option(0, "--seed", help="Corruption seed (with the image index it fixes each image)."),
    family: str | None = typer.Option(None, "--family",
                               help="Severity table: imagenet, cifar, tinyimagenet, mnist (default: from image size)."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Only the first N images (a quick subset)."),
    batch_size: int = typer.Option(512, "--batch-size", min=1, help="Images corrupted at once."),
    threads: int = typer.Option(0, "--threads", min=0, help="torch threads (0: leave the default)."),
    preview: Path | None = typer.Option(None, "--preview", help="Also write a PNG grid of a few corrupted images."),
    preview_only: bool = typer.Option(False, "--preview-only", help="With --preview: only the grid, no set."),
    preview_images: int = typer.Option(4, "--preview-images", min=1, max=16, help="Images per preview cell."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Replace an existing set built with another seed/family/size/source."),
) -> None:
    """Write corrupted copies of a dataset split: one safetensors file per corruption and severity,
    plus manifest.json with checksums. Finished files are reused; interrupted runs resume."""
    from birdkit.corruptions.materialize import load_source, materialize, set_dir
    from birdkit.corruptions.preview import preview_grid

    names = parse_corruptions(corruptions)
    sevs = parse_severities(severities)
    if preview_only and preview is None:
        raise typer.BadParameter("--preview-only needs --preview PATH", param_hint="--preview-only")

    t_load = time.perf_counter()
    ds_name, images, labels = load_source(dataset, split, root=root, limit=limit)
    console.log(f"{ds_name}/{split}: {len(images)} images {tuple(images.shape[1:])} "
                f"loaded in {time.perf_counter() - t_load:.1f} s")

    if preview is not None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        idx = _preview_indices(labels, min(preview_images, len(images)))
        path = preview_grid(images[idx], preview, corruptions=names, severities=[0, *sevs], seed=seed,
                            family=family, indices=idx)
        console.print(f"preview: [bold]{path}[/] ({len(names)} corruptions x {len(sevs) + 1} columns, "
                      f"images {idx})")
        if preview_only:
            return

    stats: dict[str, dict] = {n: {"built": 0, "reused": 0, "images": 0, "built_images": 0, "seconds": 0.0}
                              for n in names}
    t0 = time.perf_counter()
    n_img = len(images)
    columns = (TextColumn("{task.description:<28}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn())
    live = console.is_terminal  # otherwise one plain line per finished file, as it happens
    with Progress(*columns, console=console, transient=False, disable=not live) as bar:
        task = bar.add_task("corrupting", total=len(names) * len(sevs) * n_img, rate="")
        base = 0  # images of finished files

        def on_event(ev) -> None:
            nonlocal base
            if ev.kind == "file_start":
                bar.update(task, description=f"{ev.corruption} s{ev.severity}")
            elif ev.kind == "batch":
                rate = ev.images_done / ev.seconds if ev.seconds > 0 else 0.0
                bar.update(task, completed=base + ev.images_done, rate=f"{rate:,.0f} img/s")
            elif ev.kind == "file_done":
                base += ev.num_images
                bar.update(task, completed=base)
                st = stats[ev.corruption]
                st[ev.status] += 1
                st["images"] += ev.num_images
                if ev.status == "built":
                    st["built_images"] += ev.num_images
                    st["seconds"] += ev.seconds
                if not live:
                    console.print(f"[{time.perf_counter() - t0:7.1f} s] {ev.corruption} s{ev.severity}: {ev.status} "
                                  f"({ev.num_images} images)", highlight=False)

        materialize((images, labels), split, out, corruptions=names, severities=sevs, seed=seed, family=family,
                    batch_size=batch_size, dataset_name=ds_name, num_threads=threads or None,
                    overwrite=overwrite, progress=on_event)
    wall = time.perf_counter() - t0

    from birdkit.corruptions import HELDOUT_CORRUPTIONS

    table = Table(title=f"birdkit corrupt: {ds_name}/{split}, {n_img} images, seed {seed}")
    for col, just in (("corruption", "left"), ("severities", "left"), ("images", "right"),
                      ("images/s", "right"), ("status", "left")):
        table.add_column(col, justify=just)
    for name in names:
        st = stats[name]
        rate = f"{st['built_images'] / st['seconds']:,.0f}" if st["built"] and st["seconds"] > 0 else "-"
        if st["built"] and st["reused"]:
            status = f"built {st['built']}, reused {st['reused']}"
        else:
            status = "built" if st["built"] else "reused"
        table.add_row(name + (" *" if name in HELDOUT_CORRUPTIONS else ""), _fmt_severities(sevs),
                      f"{st['images']:,}", rate, status)
    console.print(table)
    built = sum(s["built"] for s in stats.values())
    reused = sum(s["reused"] for s in stats.values())
    console.print(f"{built} files built, {reused} reused in {wall:.1f} s -> [bold]{set_dir(out, ds_name, split)}[/]"
                  f" (manifest.json){'   * held-out' if any(n in HELDOUT_CORRUPTIONS for n in names) else ''}")
