"""Command line: python -m shoevae train|embed|recommend|evaluate|generate|export|data ... (see --help)."""
from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable, NoReturn

from . import commands, config
from .config import DECODERS, LIKELIHOODS, METRIC, METRICS, SHIPPED
from .errors import ShoevaeError

DEFAULT_DATA = os.environ.get("SHOEVAE_DATA", "data")
DEFAULT_CHECKPOINT = f"weights/{SHIPPED[0]}.pt"


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
    t.set_defaults(func=commands.cmd_train)

    e = sub.add_parser("embed", help="write every shoe's mean latent vector to a .npy file")
    data_arg(e), ckpt_arg(e)
    e.add_argument("--out", default="embeddings.npy", help="a .npy file; the ids go beside it in .ids.json "
                   "(default %(default)s)")
    e.add_argument("--force", action="store_true", help="overwrite --out (and its .ids.json) if they exist")
    e.set_defaults(func=commands.cmd_embed)

    r = sub.add_parser("recommend", help="the k shoes most similar to a catalogue item or a photo")
    data_arg(r), ckpt_arg(r)
    r.add_argument("item", nargs="?", help="item id from the catalogue")
    r.add_argument("--image", help="a photo file instead of an item id")
    r.add_argument("-k", type=_number(int, 1), default=5, help="how many shoes (default %(default)s)")
    r.add_argument("--all", action="store_true", help="every shoe's k nearest, written to --out")
    r.add_argument("--out", help="with --all: a .csv (one row per pair) or .json file, replaced atomically")
    r.add_argument("--metric", choices=METRICS, default=METRIC,
                   help="cosine: compare directions of the style vectors (default); euclidean: the report's")
    r.set_defaults(func=commands.cmd_recommend)

    v = sub.add_parser("evaluate", help="category precision@k, coverage and hold-out BCE (both metrics)")
    data_arg(v), ckpt_arg(v)
    v.add_argument("-k", type=_number(int, 1), default=5, help="neighbours per query (default %(default)s)")
    v.add_argument("--baselines", action="store_true", help="also score raw pixels and PCA of pixels")
    v.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    v.add_argument("--triplets", default=None, help="also score agreement with human judgements in this folder "
                   "(triplets.csv + images/, e.g. ../shared/data/human-triplets)")
    v.set_defaults(func=commands.cmd_evaluate)

    x = sub.add_parser("export", help="shrink a checkpoint to ship it (float16, no optimizer state)")
    x.add_argument("checkpoint")
    x.add_argument("out")
    x.add_argument("--force", action="store_true", help="overwrite out if it exists")
    x.set_defaults(func=commands.cmd_export)

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
    g.set_defaults(func=commands.cmd_generate)

    d = sub.add_parser("data", help="fetch the full UT Zappos50K, or check a data folder")
    d.add_argument("action", choices=["fetch", "check"])
    data_arg(d)
    d.add_argument("--dest", default="data/zappos50k", help="fetch: where to unpack (default %(default)s)")
    d.add_argument("--url", default=OFFICIAL_URL, help="fetch: archive URL (default: the dataset's page)")
    d.add_argument("--keep-archive", action="store_true", help="fetch: keep the zip after unpacking")
    d.add_argument("--image-size", type=_number(int, 8, high=config.MAX_IMAGE_SIZE), default=136,
                   help=f"check: decode size, 8 to {config.MAX_IMAGE_SIZE} (default %(default)s)")
    d.set_defaults(func=commands.cmd_data)
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
