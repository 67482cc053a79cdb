"""Command line: python -m shoevae train|embed|recommend|evaluate|generate|export|data ... (see --help)."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .config import METRIC, METRICS

DEFAULT_DATA = os.environ.get("SHOEVAE_DATA", "data")
DEFAULT_CHECKPOINT = "weights/style.pt"


class UserError(Exception):
    """Reported as one line on stderr with exit status 2."""


def _load(args: argparse.Namespace, with_model: bool = True):
    from .catalogue import load_catalogue
    from .checkpoint import load_checkpoint
    model = ckpt = None
    if with_model:
        model, ckpt = load_checkpoint(args.checkpoint)
    size = model.cfg.image_size if model is not None else 136
    return load_catalogue(args.data, max(size, 136) if with_model else size, progress=True), model, ckpt


def cmd_train(args: argparse.Namespace) -> None:
    from .catalogue import load_catalogue
    from .config import TrainConfig, preset
    from .training import train
    overrides = {"latent_dim": args.latent_dim} if args.latent_dim else {}
    if args.image_size:
        overrides["image_size"] = args.image_size
    model_cfg = preset(args.preset, **overrides)
    tc = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, beta=args.beta,
                     seed=args.seed, limit=args.limit, cosine=args.cosine, holdout=args.holdout,
                     time_limit=args.minutes * 60 if args.minutes else None)
    cat = load_catalogue(args.data, 136, progress=True)
    _report_skipped(cat.skipped)
    out = Path(args.out or f"weights/{args.preset}.pt")
    ckpt = train(model_cfg, tc, cat, out=out, resume=args.resume, progress_bar=True)
    if not ckpt["history"]:
        print("stopped before the first epoch finished: nothing saved", file=sys.stderr)
        return
    last = ckpt["history"][-1]
    print(f"epoch {last['epoch']}: bce {last['bce']:.1f}  kl {last['kl']:.1f}  -> {out}")


def cmd_embed(args: argparse.Namespace) -> None:
    from .atomic import atomic_write
    from .embedding import embed
    import numpy as np
    cat, model, _ = _load(args)
    emb = embed(model, cat.images)
    out = Path(args.out)
    with atomic_write(out) as f:
        np.save(f, emb)
    with atomic_write(out.with_suffix(".ids.json"), "w") as f:
        json.dump(cat.ids, f)
    print(f"{emb.shape[0]} embeddings of size {emb.shape[1]} -> {out} (+ {out.with_suffix('.ids.json')})")


def cmd_recommend(args: argparse.Namespace) -> None:
    from .recommend import Recommender
    cat, model, _ = _load(args)
    rec = Recommender(model, cat, metric=args.metric)
    if args.image:
        matches = rec.similar_to_image(args.image, args.k)
    elif args.item:
        matches = rec.similar(args.item, args.k)
    else:
        raise UserError("give an item id or --image PATH")
    for rank, m in enumerate(matches, 1):
        print(f"{rank}. {m.item_id}  {m.category:<8} distance {m.distance:.3f}  {cat.paths[m.row]}")


def cmd_evaluate(args: argparse.Namespace) -> None:
    from .evaluate import baselines, evaluate_model
    cat, model, ckpt = _load(args)
    name = f"{ckpt['model_config']['preset']} ({args.checkpoint})"
    results = {f"{name}, {m}": r for m, r in evaluate_model(model, cat, args.k, metrics=METRICS).items()}
    if args.baselines:
        results.update(baselines(cat, model.cfg.latent_dim, args.k, METRICS))
    for name, metrics in results.items():
        print(name)
        for key, value in metrics.items():
            print(f"  {key:<22} {value:.4f}")
    if args.json:
        from .atomic import atomic_write
        with atomic_write(args.json, "w") as f:
            json.dump(results, f, indent=2)


def cmd_export(args: argparse.Namespace) -> None:
    from .checkpoint import make_checkpoint, model_from_checkpoint, read_checkpoint, save_checkpoint
    from .config import TrainConfig
    ck = read_checkpoint(args.checkpoint)
    slim = make_checkpoint(model_from_checkpoint(ck), TrainConfig.from_dict(ck["train_config"]), optimizer=None,
                           history=ck["history"], data=ck["data"], train_seconds=ck["train_seconds"], half=True)
    save_checkpoint(slim, args.out)
    print(f"{args.out}: {Path(args.out).stat().st_size / 2**20:.1f} MB (float16 weights, no optimizer state)")


def cmd_generate(args: argparse.Namespace) -> None:
    from .sampling import generate_grid, save_image
    out = Path(args.out)
    if out.exists() and not args.force:
        raise UserError(f"{out} exists: choose another --out, or add --force to overwrite it")
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
    cat = load_catalogue(args.data, args.image_size, progress=True)
    _report_skipped(cat.skipped)
    print(f"{len(cat)} usable images in {cat.root}: " + ", ".join(f"{k} {v}" for k, v in cat.counts().items()))


def _report_skipped(skipped: list[tuple[str, str]]) -> None:
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    from .fetch import OFFICIAL_URL
    p = argparse.ArgumentParser(prog="python -m shoevae", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def data_arg(q: argparse.ArgumentParser) -> None:
        q.add_argument("--data", default=DEFAULT_DATA, help="image folder or manifest CSV (env SHOEVAE_DATA; default %(default)s)")

    def ckpt_arg(q: argparse.ArgumentParser) -> None:
        q.add_argument("--checkpoint", default=DEFAULT_CHECKPOINT, help="checkpoint file (default %(default)s)")

    t = sub.add_parser("train", help="train a VAE on a catalogue")
    data_arg(t)
    t.add_argument("--preset", default="paper", help="model preset: paper or style (default %(default)s)")
    t.add_argument("--epochs", type=int, default=10, help="total epochs (with --resume: the new total)")
    t.add_argument("--beta", type=float, default=1.0, help="KL weight (the report's 'KL x 100' is 100)")
    t.add_argument("--latent-dim", type=int, default=None, help="latent size (preset's default: 100)")
    t.add_argument("--image-size", type=int, default=None, help="model input size (preset's default)")
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--cosine", action="store_true", help="decay the learning rate to lr/10 along a cosine")
    t.add_argument("--batch-size", type=int, default=64)
    t.add_argument("--limit", type=int, default=None, help="train on at most this many images")
    t.add_argument("--holdout", type=float, default=0.1, help="share of images never trained on (default %(default)s)")
    t.add_argument("--minutes", type=float, default=None, help="stop before an epoch would end past this training time")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", default=None, help="checkpoint path (default weights/<preset>.pt)")
    t.add_argument("--resume", default=None, help="continue from this checkpoint")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("embed", help="write every shoe's mean latent vector to a .npy file")
    data_arg(e), ckpt_arg(e)
    e.add_argument("--out", default="embeddings.npy")
    e.set_defaults(func=cmd_embed)

    r = sub.add_parser("recommend", help="the k shoes most similar to a catalogue item or a photo")
    data_arg(r), ckpt_arg(r)
    r.add_argument("item", nargs="?", help="item id from the catalogue")
    r.add_argument("--image", help="a photo file instead of an item id")
    r.add_argument("-k", type=int, default=5)
    r.add_argument("--metric", choices=METRICS, default=METRIC,
                   help="cosine: compare directions of the style vectors (default); euclidean: the report's")
    r.set_defaults(func=cmd_recommend)

    v = sub.add_parser("evaluate", help="category precision@k, coverage and hold-out BCE (both metrics)")
    data_arg(v), ckpt_arg(v)
    v.add_argument("-k", type=int, default=5)
    v.add_argument("--baselines", action="store_true", help="also score raw pixels and PCA of pixels")
    v.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    v.set_defaults(func=cmd_evaluate)

    x = sub.add_parser("export", help="shrink a checkpoint to ship it (float16, no optimizer state)")
    x.add_argument("checkpoint")
    x.add_argument("out")
    x.set_defaults(func=cmd_export)

    g = sub.add_parser("generate", help="a grid of new shoes decoded from sampled style vectors")
    data_arg(g), ckpt_arg(g)
    g.add_argument("--n", type=int, default=16, help="how many shoes (default %(default)s)")
    g.add_argument("--out", default="grid.png", help="image file to write (default %(default)s)")
    g.add_argument("--sampler", choices=["mixture", "normal"], default="mixture",
                   help="mixture: fitted to the catalogue's style vectors (default); normal: N(0, I), as the report")
    g.add_argument("--temperature", type=float, default=1.0, help="spread around the centre (default %(default)s)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    g.set_defaults(func=cmd_generate)

    d = sub.add_parser("data", help="fetch the full UT Zappos50K, or check a data folder")
    d.add_argument("action", choices=["fetch", "check"])
    data_arg(d)
    d.add_argument("--dest", default="data/zappos50k", help="fetch: where to unpack (default %(default)s)")
    d.add_argument("--url", default=OFFICIAL_URL, help="fetch: archive URL (default: the dataset's page)")
    d.add_argument("--keep-archive", action="store_true", help="fetch: keep the zip after unpacking")
    d.add_argument("--image-size", type=int, default=136, help="check: decode size")
    d.set_defaults(func=cmd_data)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .catalogue import CatalogueError, ImageError
    from .checkpoint import CheckpointError
    from .fetch import FetchError
    try:
        args.func(args)
    except (UserError, CatalogueError, CheckpointError, ImageError, FetchError, ValueError) as e:
        print(f"shoevae: error: {e}", file=sys.stderr)
        return 2
    except KeyError as e:
        print(f"shoevae: error: {e.args[0] if e.args else e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("shoevae: interrupted", file=sys.stderr)
        return 130
    return 0
