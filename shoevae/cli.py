"""Command line: python -m shoevae train|embed|recommend|evaluate|generate|export|data ... (see --help)."""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable, NoReturn

from . import config
from .config import DECODERS, LIKELIHOODS, METRIC, METRICS, SHIPPED, TrainConfig
from .errors import ShoevaeError
from .outputs import check_output, hold, refuse_existing

DEFAULT_DATA = os.environ.get("SHOEVAE_DATA", "data")
DEFAULT_CHECKPOINT = f"weights/{SHIPPED[0]}.pt"
RUNS = Path("runs")  # where `train` writes when --out is not given (never weights/, which ships)
TRAIN_DEFAULTS: dict[str, Any] = {"preset": "paper", "epochs": 10, "beta": 1.0, "lr": 1e-3, "cosine": False,
                                  "batch_size": 64, "limit": None, "holdout": 0.1, "minutes": None, "seed": 0,
                                  "latent_dim": None, "image_size": None, "decoder": None, "likelihood": None,
                                  "perceptual": 0.0, "augment": False, "feature_layers": TrainConfig.feature_layers,
                                  "feature_weights": None}
FLAG = {"time_limit": "--minutes"}  # config field -> the flag that sets it, where the names differ


class UserError(ShoevaeError):
    """A mistake in the command line, reported as one line on stderr with exit status 2."""


def _flag(field: str) -> str:
    return FLAG.get(field, "--" + field.replace("_", "-"))


def _load(args: argparse.Namespace):
    """(catalogue, model, checkpoint dict) for --data and --checkpoint; the checkpoint first (it is quick)."""
    from .catalogue import load_catalogue
    from .checkpoint import load_checkpoint
    model, ckpt = load_checkpoint(args.checkpoint)
    cat = load_catalogue(args.data, max(model.cfg.image_size, 136), progress=True)
    _count_skipped(cat)
    return cat, model, ckpt


def _embeddings(model, cat, fingerprint: str | None = None):
    """The catalogue's mean vectors, from the on-disk cache the app uses when they are there."""
    from .catalogue import default_cache_dir
    from .embedding import cached_embed
    return cached_embed(model, cat.images, cat.ids, default_cache_dir(), fingerprint=fingerprint)


def _train_configs(args: argparse.Namespace):
    """(model config, train config, output path) from the flags given, the checkpoint resumed and the defaults."""
    from dataclasses import replace

    from .checkpoint import read_checkpoint
    from .config import RECIPES, TrainConfig, VAEConfig, preset
    from .training import resume_conflicts, time_left
    given = {k: getattr(args, k) for k in TRAIN_DEFAULTS if getattr(args, k) is not None}
    if "minutes" in given:
        given["time_limit"] = given.pop("minutes") * 60
    model_keys = ("preset", "latent_dim", "image_size", "decoder", "likelihood")
    if args.resume is None:
        name = given.get("preset", TRAIN_DEFAULTS["preset"])
        settings = {**{k: v for k, v in TRAIN_DEFAULTS.items() if k != "minutes"}, **RECIPES.get(name, {}), **given}
        if "feature_layers" in given and "feature_weights" not in given:
            settings["feature_weights"] = None  # the recipe's shares belong to the recipe's layers
        model_cfg = preset(settings["preset"], **{k: settings[k] for k in model_keys[1:] if settings[k] is not None})
        tc = TrainConfig(**{k: v for k, v in settings.items() if k not in model_keys})
        out = Path(args.out) if args.out else RUNS / f"{model_cfg.preset}.pt"
        return model_cfg, tc, out
    ck = read_checkpoint(args.resume)
    if ck.get("optimizer_state") is None:
        raise UserError(f"{args.resume} was exported without optimizer state; resume the full checkpoint it came from")
    old_model, old_tc = VAEConfig.from_dict(ck["model_config"]), TrainConfig.from_dict(ck["train_config"])
    model_cfg = replace(old_model, **{k: v for k, v in given.items() if k in model_keys})
    tc = replace(old_tc, **{k: v for k, v in given.items() if k not in model_keys})
    conflicts = resume_conflicts(ck, model_cfg, tc)
    if conflicts:
        said = ", ".join(f"{_flag(k)} {new} (the checkpoint has {old})" for k, (old, new) in conflicts.items())
        raise UserError(f"cannot change {said} when resuming {args.resume}; only --epochs, --minutes, --lr "
                        "and --cosine can change (train a new model with --out to change the others)")
    done = len(ck["history"])
    if tc.epochs <= done:
        raise UserError(f"{args.resume} already has {done} epochs; --epochs is the new total, pass more than {done}")
    if not time_left(ck["history"], ck["train_seconds"], tc):
        raise UserError(f"{args.resume} has used its time limit ({tc.time_limit / 60:g} min of training); "
                        "pass a larger --minutes to go on")
    return model_cfg, tc, Path(args.out) if args.out else Path(args.resume)


def cmd_train(args: argparse.Namespace) -> None:
    from .catalogue import load_catalogue
    from .training import train
    model_cfg, tc, out = _train_configs(args)
    resumed = Path(args.resume) if args.resume else None
    same = resumed is not None and out.exists() and resumed.exists() and os.path.samefile(out, resumed)
    check_output(args.out or out, "--out", force=args.force or same, photos=[args.data], training=True)
    with hold(out):  # a second run with this --out is refused until this one ends
        refuse_existing(out, args.force or same)  # made by a run that ended since the check
        cat = load_catalogue(args.data, 136, progress=True)
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


def _checkpoint_alias(checkpoint: str | os.PathLike):
    """The cache entry naming a checkpoint file's model (its fingerprint): source = the resolved path,
    content = its size and modification time, so a rewritten file never reads a stale alias. None if unreadable."""
    from . import cache
    try:
        path = Path(checkpoint).resolve()
        st = path.stat()
    except OSError:
        return None
    return cache.Entry(cache.default_cache_dir(), "checkpoint-alias", cache.digest(str(path)),
                       cache.digest(str(st.st_size), str(st.st_mtime_ns)))


def _print_matches(cat, rows_distances) -> None:
    from .images import safe_name
    for rank, (row, distance) in enumerate(rows_distances, 1):
        print(f"{rank}. {cat.ids[row]}  {cat.categories[row]:<8} distance {distance:.3f}  {safe_name(cat.paths[row])}")


def _recommend_from_cache(args: argparse.Namespace) -> bool:
    """recommend ITEM without torch: if the checkpoint's alias and its embeddings are cached, print the
    same lines as the full path and return True; else False (nothing printed)."""
    import numpy as np

    from . import cache
    from .catalogue import load_catalogue
    from .neighbours import ShoeIndex
    alias = _checkpoint_alias(args.checkpoint)
    known = cache.read_json(alias) if alias else None
    try:
        fingerprint, image_size, latent_dim = known["fingerprint"], int(known["image_size"]), int(known["latent_dim"])
    except (TypeError, KeyError, ValueError):
        return False
    cat = load_catalogue(args.data, max(image_size, 136), progress=True)
    row = cat.index_of(args.item)  # UnknownItemError, as on the full path
    _count_skipped(cat)
    entry = cache.embeddings_entry(alias.directory, fingerprint, cat.images.shape[1:], cat.ids)  # as cached_embed
    emb = cache.read_array(entry, shape=(len(cat.ids), latent_dim), dtype=np.float32)
    if emb is None:
        return False
    dist, idx = ShoeIndex(metric=args.metric).fit(emb).kneighbors(emb[row], args.k, exclude=np.array([row]))
    _print_matches(cat, zip(idx[0].tolist(), dist[0].tolist()))
    return True


def _remember_checkpoint(checkpoint: str | os.PathLike, model, fingerprint: str) -> None:
    """Write the alias _recommend_from_cache reads: the checkpoint file -> its model's fingerprint."""
    from . import cache
    alias = _checkpoint_alias(checkpoint)
    if alias is None:
        return
    known = {"fingerprint": fingerprint, "image_size": model.cfg.image_size,
             "latent_dim": model.cfg.latent_dim}
    if cache.write(alias, lambda f: json.dump(known, f), ext="json", mode="w"):
        cache.committed(alias)


def cmd_recommend(args: argparse.Namespace) -> None:
    if args.all:
        return cmd_recommend_all(args)
    if args.item and _recommend_from_cache(args):  # warm caches: no torch import (issue 8, item 15)
        return
    from .catalogue import load_catalogue
    from .checkpoint import load_checkpoint
    from .embedding import model_fingerprint
    from .images import ImageError, load_image
    from .recommend import Recommender
    model, _ = load_checkpoint(args.checkpoint)
    size = max(model.cfg.image_size, 136)
    if args.image:  # check the query before reading and embedding the catalogue
        try:
            load_image(args.image, size)
        except ImageError as e:
            raise UserError(f"--image {args.image}: {e}") from None
    cat = load_catalogue(args.data, size, progress=True)
    if args.item:
        cat.index_of(args.item)  # UnknownItemError before embedding
    _count_skipped(cat)
    fingerprint = model_fingerprint(model)  # once: it keys the embeddings and the alias
    rec = Recommender(model, cat, _embeddings(model, cat, fingerprint), metric=args.metric)
    if args.item:
        _remember_checkpoint(args.checkpoint, model, fingerprint)
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
    slim = make_checkpoint(model_from_checkpoint(ck), TrainConfig.from_dict(ck["train_config"]), optimizer=None,
                           history=ck["history"], data=ck["data"], train_seconds=ck["train_seconds"], half=True)
    save_checkpoint(slim, args.out)
    print(f"{args.out}: {Path(args.out).stat().st_size / 2**20:.1f} MB (float16 weights, no optimizer state)")


def cmd_generate(args: argparse.Namespace) -> None:
    from .sampling import generate_grid, image_format, save_image
    out = check_output(args.out, "--out", force=args.force, reads=[args.checkpoint],
                       photos=[args.data] if args.sampler == "mixture" else [])
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


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as the one line every other mistake gets."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"shoevae: error: {message} (see `{self.prog} --help`)\n")


def _layers(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated EfficientNet-Lite0 block numbers 0..15."""
    try:
        blocks = tuple(int(b) for b in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of block numbers like 0,2,4,10") from None
    if not blocks or not all(0 <= b <= 15 for b in blocks):
        raise argparse.ArgumentTypeError(f"block numbers run from 0 to 15, not {text}")
    return blocks


def _shares(text: str) -> tuple[float, ...]:
    """An argparse type: comma-separated weights >= 0, one per feature layer."""
    try:
        shares = tuple(float(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of numbers like 1,1,2,2") from None
    if not all(w >= 0 and w < float("inf") for w in shares) or sum(shares) <= 0:
        raise argparse.ArgumentTypeError(f"weights are numbers >= 0, not all 0, not {text}")
    return shares


def _number(kind: type, low: float, *, above: bool = False, high: float | None = None) -> Callable[[str], Any]:
    """An argparse type: `kind` (int or float) >= low (> low with `above`) and <= high if given; floats finite."""
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole number' if kind is int else 'number'}") from None
        if kind is float and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, not {text}")
        if not (value > low if above else value >= low):
            raise argparse.ArgumentTypeError(f"must be {'>' if above else '>='} {low:g}, not {text}")
        if high is not None and value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g}, not {text}" if kind is float
                                             else f"must be at most {high}, not {text}")
        return value
    return parse


def _share(text: str) -> float:
    value = _number(float, 0)(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be a share in [0, 1), not {text}")
    return value


def program_name(argv0: str | None = None) -> str:
    """How the user started us, for usage lines: the installed script (`shoevae`), else `python -m shoevae`
    (also when main() runs inside another program: a test, the app)."""
    name = Path(sys.argv[0] if argv0 is None else argv0).name
    return name if name.removesuffix(".exe") == "shoevae" else "python -m shoevae"


def build_parser() -> argparse.ArgumentParser:
    from .fetch import OFFICIAL_URL
    p = _Parser(prog=program_name(), description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def data_arg(q: argparse.ArgumentParser) -> None:
        q.add_argument("--data", default=DEFAULT_DATA,
                       help="image folder or manifest CSV (env SHOEVAE_DATA; default %(default)s)")

    def ckpt_arg(q: argparse.ArgumentParser) -> None:
        q.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help="checkpoint file (default %(default)s)")

    t = sub.add_parser("train", help="train a VAE on a catalogue")
    data_arg(t)
    t.add_argument("--preset", default=None, help="model preset: paper, style, quick, sharp or parts (default paper); "
                   "a preset's recipe (config.RECIPES) sets the training flags not given")
    t.add_argument("--epochs", type=_number(int, 1), default=None,
                   help="total epochs (default 10; with --resume: the new total)")
    t.add_argument("--beta", type=_number(float, 0), default=None, help="KL weight (default 1; the report's 'KL x 100' is 100)")
    t.add_argument("--latent-dim", type=_number(int, 1, high=config.MAX_LATENT_DIM), default=None,
                   help=f"latent size, 1 to {config.MAX_LATENT_DIM} (preset's default: 100)")
    t.add_argument("--image-size", type=_number(int, 8, high=config.MAX_IMAGE_SIZE), default=None,
                   help=f"model input size, 8 to {config.MAX_IMAGE_SIZE} pixels (preset's default; the photos are 136)")
    t.add_argument("--decoder", choices=DECODERS, default=None,
                   help="transposed convolutions (the report's) or nearest-neighbour upsampling + 3x3 convolution")
    t.add_argument("--likelihood", choices=LIKELIHOODS, default=None,
                   help="bernoulli: the report's BCE; gaussian: learned shared variance (sigma-VAE)")
    t.add_argument("--perceptual", type=_number(float, 0), default=None,
                   help="weight of the EfficientNet-Lite0 feature-consistency term (default 0: none; sharp 1, parts 6)")
    t.add_argument("--feature-layers", type=_layers, default=None,
                   help="EfficientNet-Lite0 blocks the feature term compares, e.g. 0,2,4,10 "
                        "(default 0,2,4; sharp: 0,2,4,10; parts: 0,4,10,12)")
    t.add_argument("--feature-weights", type=_shares, default=None,
                   help="each feature layer's share of the feature term, in --feature-layers' order, e.g. 1,1,2,2 "
                        "(default equal shares; parts: 1,1,2,2)")
    t.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="encode slightly shifted and scaled copies of the photos (default off)")
    t.add_argument("--lr", type=_number(float, 0, above=True), default=None, help="learning rate (default 0.001)")
    t.add_argument("--cosine", action=argparse.BooleanOptionalAction, default=None,
                   help="decay the learning rate to lr/10 along a cosine")
    t.add_argument("--batch-size", type=_number(int, 1), default=None, help="default 64")
    t.add_argument("--limit", type=_number(int, 1), default=None, help="train on at most this many images")
    t.add_argument("--holdout", type=_share, default=None, help="share of images never trained on (default 0.1)")
    t.add_argument("--minutes", type=_number(float, 0, above=True), default=None,
                   help="stop before an epoch would end past this much training time (in all, with --resume)")
    t.add_argument("--seed", type=_number(int, 0, high=config.MAX_SEED), default=None, help=f"0 to {config.MAX_SEED} (default 0)")
    t.add_argument("--out", default=None,
                   help="checkpoint path (default: the --resume file, else runs/<preset>.pt)")
    t.add_argument("--force", action="store_true", help="overwrite an existing --out (other than the resumed file)")
    t.add_argument("--resume", default=None,
                   help="continue from this checkpoint (only --epochs, --minutes, --lr and --cosine can change)")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("embed", help="write every shoe's mean latent vector to a .npy file")
    data_arg(e), ckpt_arg(e)
    e.add_argument("--out", default="embeddings.npy", help="a .npy file; the ids go beside it in .ids.json "
                   "(default %(default)s)")
    e.add_argument("--force", action="store_true", help="overwrite --out (and its .ids.json) if they exist")
    e.set_defaults(func=cmd_embed)

    r = sub.add_parser("recommend", help="the k shoes most similar to a catalogue item or a photo")
    data_arg(r), ckpt_arg(r)
    r.add_argument("item", nargs="?", help="item id from the catalogue")
    r.add_argument("--image", help="a photo file instead of an item id")
    r.add_argument("-k", type=_number(int, 1), default=5, help="how many shoes (default %(default)s)")
    r.add_argument("--all", action="store_true", help="every shoe's k nearest, written to --out")
    r.add_argument("--out", help="with --all: a .csv (one row per pair) or .json file, replaced atomically")
    r.add_argument("--metric", choices=METRICS, default=METRIC,
                   help="cosine: compare directions of the style vectors (default); euclidean: the report's")
    r.set_defaults(func=cmd_recommend)

    v = sub.add_parser("evaluate", help="category precision@k, coverage and hold-out BCE (both metrics)")
    data_arg(v), ckpt_arg(v)
    v.add_argument("-k", type=_number(int, 1), default=5, help="neighbours per query (default %(default)s)")
    v.add_argument("--baselines", action="store_true", help="also score raw pixels and PCA of pixels")
    v.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    v.add_argument("--triplets", default=None, help="also score agreement with human judgements in this folder "
                   "(triplets.csv + images/, e.g. ../shared/data/human-triplets)")
    v.set_defaults(func=cmd_evaluate)

    x = sub.add_parser("export", help="shrink a checkpoint to ship it (float16, no optimizer state)")
    x.add_argument("checkpoint")
    x.add_argument("out")
    x.add_argument("--force", action="store_true", help="overwrite out if it exists")
    x.set_defaults(func=cmd_export)

    g = sub.add_parser("generate", help="a grid of new shoes decoded from sampled style vectors")
    data_arg(g), ckpt_arg(g)
    g.add_argument("--n", type=_number(int, 1, high=config.MAX_GENERATE), default=16,
                   help=f"how many shoes, 1 to {config.MAX_GENERATE} (default %(default)s)")
    g.add_argument("--out", default="grid.png", help="image file to write (default %(default)s)")
    g.add_argument("--sampler", choices=["mixture", "normal"], default="mixture",
                   help="mixture: fitted to the catalogue's style vectors (default); normal: N(0, I), as the report")
    g.add_argument("--temperature", type=_number(float, 0, high=config.MAX_TEMPERATURE), default=1.0,
                   help=f"spread around the centre, 0 to {config.MAX_TEMPERATURE:g} (default %(default)s)")
    g.add_argument("--seed", type=_number(int, 0, high=config.MAX_SEED), default=0, help=f"0 to {config.MAX_SEED} (default 0)")
    g.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    g.set_defaults(func=cmd_generate)

    d = sub.add_parser("data", help="fetch the full UT Zappos50K, or check a data folder")
    d.add_argument("action", choices=["fetch", "check"])
    data_arg(d)
    d.add_argument("--dest", default="data/zappos50k", help="fetch: where to unpack (default %(default)s)")
    d.add_argument("--url", default=OFFICIAL_URL, help="fetch: archive URL (default: the dataset's page)")
    d.add_argument("--keep-archive", action="store_true", help="fetch: keep the zip after unpacking")
    d.add_argument("--image-size", type=_number(int, 8, high=config.MAX_IMAGE_SIZE), default=136,
                   help=f"check: decode size, 8 to {config.MAX_IMAGE_SIZE} (default %(default)s)")
    d.set_defaults(func=cmd_data)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "recommend" and not args.all and bool(args.item) == bool(args.image):
        parser.error("give an item id, --image PATH or --all" + (", not both" if args.item else ""))
    if args.command == "recommend" and args.out and not args.all:
        parser.error("--out goes with --all (one shoe's neighbours are printed)")
    try:
        args.func(args)
    except ShoevaeError as e:  # the project's own errors are the user's mistakes; anything else is a bug
        print(f"shoevae: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # training says which epoch it kept (TrainingInterrupted)
        print(f"shoevae: {e.message() if hasattr(e, 'message') else 'interrupted'}", file=sys.stderr)
        return 130
    return 0
