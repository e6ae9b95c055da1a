"""Write a pair's v2 benchmark config from its built-in YAML and its v2 selection (PROTOCOL.md §3-4).

    .venv/bin/python benchmarks/make_v2_configs.py --pair fmnist-split --family mnist \
        --select runs/select-v2/fmnist-split/seed0

Reads ``<select>/best.json`` (or, for a run whose code did not write it yet, the ``overrides:``
line of ``--log``) and ``<select>/hparams.csv``; writes ``benchmarks/protocol-v2/<pair>.yaml``
(the built-in pair with the chosen ``overrides``, the selected BIRD variant under ``variants``
and the v2 evaluation: every test image, no training-corruption evaluation on the test set, the
chosen test-set severity table) and copies the rows to ``benchmarks/results/select-v2/<pair>.csv``.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import yaml

from birdkit.config import PairConfig

ROOT = Path(__file__).resolve().parents[1]
PAIRS_DIR = ROOT / "src" / "birdkit" / "config" / "pairs"
OUT_DIR = ROOT / "benchmarks" / "protocol-v2"
ROWS_DIR = ROOT / "benchmarks" / "results" / "select-v2"
SELECT_COMMAND = ("birdkit select --pair {pair} --seeds 3 --rule mean-se --variants "
                  "--lrs 0.005,0.02,0.1,0.4,1.6 --val-samples 500 --out runs/select-v2")


def best_from_log(log: Path) -> dict:
    """The JSON after ``overrides: `` in a ``birdkit select`` log (rich may have wrapped it)."""
    text = log.read_text()
    return json.loads(text.split("overrides: ", 1)[1].replace("\n", ""))


def v2_config(pair: str, best: dict, family: str) -> dict:
    cfg = yaml.safe_load((PAIRS_DIR / f"{pair}.yaml").read_text())
    cfg["overrides"] = {m: v for m, v in best.items() if m != "variants"}
    # layer pairs in full (the weight's default written out, as in the overrides)
    cfg["variants"] = {name: {**v, **({"layers": [{"weight": 1.0, **p} for p in v["layers"]]} if "layers" in v else {})}
                       for name, v in best.get("variants", {}).items()}
    ev = {k: v for k, v in (cfg.get("eval") or {}).items() if k not in ("max_test_samples", "train_corruption_samples")}
    cfg["eval"] = {**ev, "family": family, "training_corruptions": False}
    PairConfig(**cfg)  # refuse anything the library would refuse
    return cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pair", required=True)
    ap.add_argument("--family", required=True, choices=["mnist", "cifar"])
    ap.add_argument("--select", type=Path, required=True, help="the selection's seed directory")
    ap.add_argument("--log", type=Path, help="the selection's log, if best.json is missing")
    args = ap.parse_args()
    best_json = args.select / "best.json"
    best = json.loads(best_json.read_text()) if best_json.exists() else best_from_log(args.log)
    cfg = v2_config(args.pair, best, args.family)
    header = (f"# v2 benchmark config of {args.pair} (benchmarks/PROTOCOL.md), from benchmarks/make_v2_configs.py\n"
              f"# overrides and variants chosen by `{SELECT_COMMAND.format(pair=args.pair)}`\n"
              "# (validation split, training corruptions only; rows in "
              f"benchmarks/results/select-v2/{args.pair}.csv);\n"
              f"# eval.family {args.family} by the calibration rule of PROTOCOL.md §2.\n")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    out = OUT_DIR / f"{args.pair}.yaml"
    out.write_text(header + yaml.safe_dump(cfg, sort_keys=False, width=110))
    ROWS_DIR.mkdir(parents=True, exist_ok=True)
    shutil.copy(args.select / "hparams.csv", ROWS_DIR / f"{args.pair}.csv")
    print(f"wrote {out} and {ROWS_DIR / f'{args.pair}.csv'}")


if __name__ == "__main__":
    main()
