"""What each command does: `train`, `embed`, `recommend`, `evaluate`, `export`, `generate`, `data` (the
parser in shoevae.cli hands each its parsed arguments)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from . import presets
from .config import METRICS, PHOTO_SIZE, TrainConfig, VAEConfig
from .errors import ShoevaeError
from .outputs import check_output, hold, refuse_existing

RUNS = Path("runs")  # where `train` writes when --out is not given (never weights/, which ships)
FLAG = {"time_limit": "--minutes"}  # config field -> the flag that sets it, where the names differ


class UserError(ShoevaeError):
    """A mistake in the command line, reported as one line on stderr with exit status 2."""


def flag(field: str) -> str:
    """The `train` flag that sets a config field: --latent-dim for latent_dim."""
    return FLAG.get(field, "--" + field.replace("_", "-"))


def _load(args: argparse.Namespace):
    """(catalogue, model, checkpoint dict) for --data and --checkpoint; the checkpoint first (it is quick)."""
    from .catalogue import load_catalogue
    from .checkpoint import load_checkpoint
    model, ckpt = load_checkpoint(args.checkpoint)
    cat = load_catalogue(args.data, PHOTO_SIZE, progress=True)
    _count_skipped(cat)
    return cat, model, ckpt


def _embeddings(model, cat, fingerprint: str | None = None):
    """The catalogue's mean vectors, from the on-disk cache the app uses when they are there."""
    from .cache import default_cache_dir
    from .embedding import cached_embed
    return cached_embed(model, cat.images, cat.ids, default_cache_dir(), fingerprint=fingerprint)


def train_configs(args: argparse.Namespace) -> tuple[VAEConfig, TrainConfig, Path]:
    """(model config, train config, output path) from the flags given (presets.train_configs: the preset's recipe
    under them, or the --resume checkpoint's configs under them, checked here before any photo is read)."""
    from .checkpoint import read_checkpoint
    from .training import check_resume
    given = {name: getattr(args, name, None) for name in presets.MODEL_SETTINGS | presets.TRAIN_SETTINGS}
    given["time_limit"] = args.minutes * 60 if args.minutes is not None else None
    if args.resume is None:
        model_cfg, tc = presets.train_configs(given)
        if tc.init is not None:  # a file that cannot start this network is refused before the photos are read
            from .checkpoint import load_weights
            from .model import VAE
            load_weights(VAE(model_cfg), tc.init)
        return model_cfg, tc, Path(args.out) if args.out else RUNS / f"{model_cfg.preset}.pt"
    ck = read_checkpoint(args.resume)
    model_cfg, tc = presets.train_configs(given, resuming=ck)
    check_resume(ck, model_cfg, tc, source=args.resume, name=flag)
    return model_cfg, tc, Path(args.out) if args.out else Path(args.resume)


def cmd_train(args: argparse.Namespace) -> None:
    from .catalogue import load_catalogue
    from .training import train
    model_cfg, tc, out = train_configs(args)
    resumed = Path(args.resume) if args.resume else None
    same = resumed is not None and out.exists() and resumed.exists() and os.path.samefile(out, resumed)
    check_output(args.out or out, "--out", force=args.force or same, photos=[args.data], training=True)
    with hold(out):  # a second run with this --out is refused until this one ends
        refuse_existing(out, args.force or same)  # made by a run that ended since the check
        cat = load_catalogue(args.data, PHOTO_SIZE, progress=True)
        _report_skipped(cat.skipped)
        ckpt = train(model_cfg, tc, cat, out=out, resume=args.resume, progress_bar=True)
    last = ckpt["history"][-1]
    stopped = " (stopped at the time limit)" if last["epoch"] < tc.epochs else ""
    print(f"epoch {last['epoch']}: bce {last['bce']:.1f}  kl {last['kl']:.1f}  -> {out}{stopped}")


def cmd_embed(args: argparse.Namespace) -> None:
    import numpy as np

    from .atomic import atomic_write
    given = {"force": args.force, "reads": [args.checkpoint], "photos": [args.data]}
    out = check_output(args.out, "--out", **given)
    ids_out = check_output(out.with_suffix(".ids.json"), "--out", **given)
    cat, model, _ = _load(args)
    emb = _embeddings(model, cat)
    with atomic_write(out) as f:
        np.save(f, emb)
    with atomic_write(ids_out, "w") as f:
        json.dump(cat.ids, f)
    print(f"{emb.shape[0]} embeddings of size {emb.shape[1]} -> {out} (+ {ids_out})")


def _print_matches(cat, rows_distances) -> None:
    from .images import safe_name
    for rank, (row, distance) in enumerate(rows_distances, 1):
        print(f"{rank}. {cat.ids[row]}  {cat.categories[row]:<8} distance {distance:.3f}  {safe_name(cat.paths[row])}")


def _recommend_from_cache(args: argparse.Namespace) -> bool:
    """recommend ITEM without torch: if the checkpoint's alias and its embeddings are cached, print the
    same lines as the full path and return True; else False (nothing printed)."""
    from . import cache
    from .catalogue import load_catalogue
    from .neighbours import NearestShoes
    if cache.cached_checkpoint(args.checkpoint) is None:
        return False  # before reading the photos
    cat = load_catalogue(args.data, PHOTO_SIZE, progress=True)
    cat.index_of(args.item)  # UnknownItemError, as on the full path
    _count_skipped(cat)
    emb = cache.cached_vectors(args.checkpoint, cat.ids, cat.images.shape[1:])
    if emb is None:
        return False
    matches = NearestShoes(cat, emb, metric=args.metric).similar(args.item, args.k)
    _print_matches(cat, [(m.row, m.distance) for m in matches])
    return True


def cmd_recommend(args: argparse.Namespace) -> None:
    if args.all:
        return cmd_recommend_all(args)
    if args.item and _recommend_from_cache(args):  # warm caches: no torch import (issue 8, item 15)
        return
    from . import cache
    from .catalogue import load_catalogue
    from .checkpoint import load_checkpoint
    from .embedding import model_fingerprint
    from .images import ImageError, load_image
    from .recommend import Recommender
    model, _ = load_checkpoint(args.checkpoint)
    if args.image:  # check the query before reading and embedding the catalogue
        try:
            load_image(args.image, PHOTO_SIZE)
        except ImageError as e:
            raise UserError(f"--image {args.image}: {e}") from None
    cat = load_catalogue(args.data, PHOTO_SIZE, progress=True)
    if args.item:
        cat.index_of(args.item)  # UnknownItemError before embedding
    _count_skipped(cat)
    fingerprint = model_fingerprint(model)  # once: it keys the embeddings and the alias
    rec = Recommender(model, cat, _embeddings(model, cat, fingerprint), metric=args.metric, cache_dir=cache.default_cache_dir())
    if args.item:
        cache.remember_checkpoint(args.checkpoint, model, fingerprint)
    if args.image:  # prepared as the app prepares photos; the note says what was done, or that it is no shoe
        query = rec.photo_query(args.image, args.k)
        print(query.note)
        matches = query.matches
    else:
        matches = rec.similar(args.item, args.k)
    _print_matches(cat, [(m.row, m.distance) for m in matches])


def cmd_recommend_all(args: argparse.Namespace) -> None:
    """recommend --all: every shoe's k nearest, written atomically to --out (.csv or .json)."""
    from .export import format_of, write_neighbours
    from .recommend import Recommender
    if args.item or args.image or not args.out:
        raise UserError("--all takes no item id or --image, and needs --out FILE.csv or FILE.json")
    format_of(args.out)  # a wrong suffix or an unwritable place is refused before anything is loaded
    check_output(args.out, "--out", force=True, reads=[args.checkpoint], photos=[args.data])
    cat, model, _ = _load(args)
    rec = Recommender(model, cat, _embeddings(model, cat), metric=args.metric)
    n = write_neighbours(rec, args.out, args.k)
    print(f"{n} shoes, {min(args.k, n - 1)} nearest each ({args.metric}) -> {args.out}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    import math

    from .evaluate import baselines, evaluate_model, why_not
    from .split import Split
    if args.json:
        check_output(args.json, "--json", force=True, reads=[args.checkpoint], photos=[args.data, args.triplets])
    from .triplets import load_triplets, model_table
    judged = load_triplets(args.triplets) if args.triplets else None  # a bad folder fails before the long part
    cat, model, ckpt = _load(args)
    split = Split.of(ckpt)
    name = f"{ckpt['model_config']['preset']} ({args.checkpoint})"
    results = {f"{name}, {m}": r for m, r in evaluate_model(model, cat, args.k, _embeddings(model, cat), METRICS,
                                                          split=split).items()}
    if args.baselines:
        results.update(baselines(cat, model.cfg.latent_dim, args.k, METRICS, split=split))
    reasons = why_not(cat, split, args.k)
    held = len(split.rows(cat.ids)[1])
    print(f"hold-out: the checkpoint's split, {split.holdout:.0%} of photos by a seeded hash of their ids "
          f"({held} of {len(cat)} here)" if split.holdout else "hold-out: none (the model trained on every photo)")
    if judged is not None:
        results.update(model_table(judged, model, name, cat, args.baselines, split=split))
    for name, metrics in results.items():
        print(name)
        for key, value in metrics.items():
            shown = f"{value:.4f}" if not math.isnan(value) else f"cannot be computed: {reasons.get(key, 'too few photos')}"
            print(f"  {key:<22} {shown}")
    if args.json:
        from .atomic import atomic_write
        clean: dict[str, dict[str, Any]] = {}
        for name, metrics in results.items():  # JSON has no NaN: null, and why
            clean[name] = {k: (None if math.isnan(v) else v) for k, v in metrics.items()}
            missing = {k: reasons.get(k, "too few photos") for k, v in metrics.items() if math.isnan(v)}
            if missing:
                clean[name]["cannot_compute"] = missing
        with atomic_write(args.json, "w") as f:
            json.dump(clean, f, indent=2)


def cmd_export(args: argparse.Namespace) -> None:
    from .checkpoint import make_checkpoint, model_from_checkpoint, read_checkpoint, save_checkpoint
    from .config import TrainConfig
    check_output(args.out, "output", force=args.force, reads=[args.checkpoint])
    ck = read_checkpoint(args.checkpoint)
    model = model_from_checkpoint(ck)
    if args.preset:
        from .presets import named_as
        model.cfg = named_as(model.cfg, args.preset)
    slim = make_checkpoint(model, TrainConfig.from_dict(ck["train_config"]), optimizer=None,
                           history=ck["history"], data=ck["data"], train_seconds=ck["train_seconds"], half=True)
    save_checkpoint(slim, args.out)
    print(f"{args.out}: {Path(args.out).stat().st_size / 2**20:.1f} MB (float16 weights, no optimizer state)")


def cmd_generate(args: argparse.Namespace) -> None:
    from .sampling import generate_grid, image_format, save_image
    out = check_output(args.out, "--out", force=args.force, reads=[args.checkpoint],
                       photos=[] if args.sampler == "prior" else [args.data])
    image_format(out)  # the image type and the place, before the model, photos and mixture are loaded
    grid = generate_grid(args.checkpoint, args.n, sampler=args.sampler, temperature=args.temperature,
                         seed=args.seed, data=args.data, progress=True)
    save_image(grid, out, force=args.force)
    print(f"{args.n} shoes from {args.sampler} (temperature {args.temperature:g}, seed {args.seed}) -> {out}")


def cmd_data(args: argparse.Namespace) -> None:
    if args.action == "fetch":
        from .fetch import fetch_dataset
        manifest = fetch_dataset(Path(args.dest), url=args.url, keep_archive=args.keep_archive)
        print(f"dataset ready: {manifest}")
        return
    from .catalogue import load_catalogue
    from .images import odd_names, safe_name
    cat = load_catalogue(args.data, args.image_size, progress=True)
    _report_skipped(cat.skipped)
    for path in odd_names(cat.paths):  # kept: such a photo is read and recommended like any other
        print(f"note: {safe_name(path)}: the name is not valid UTF-8; kept, shown with \\x escapes", file=sys.stderr)
    print(f"{len(cat)} usable images in {safe_name(cat.root)}: " + ", ".join(f"{k} {v}" for k, v in cat.counts().items()))


def _report_skipped(skipped: list[tuple[str, str]]) -> None:
    from .images import safe_name
    for path, reason in skipped:
        print(f"skipped {safe_name(path)}: {reason}", file=sys.stderr)


def _count_skipped(cat) -> None:
    """One line saying how many photos could not be used (`data check` lists them)."""
    if cat.skipped:
        n = len(cat.skipped)
        print(f"skipped {n} photo{'s' * (n != 1)} that cannot be read (`python -m shoevae data check --data "
              f"{cat.root}` lists them)", file=sys.stderr)

