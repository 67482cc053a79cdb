"""Command line: python -m shoevae train|embed|recommend|evaluate|generate|export|data ... (see --help)."""
from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable, NoReturn

from . import commands, config, presets
from .config import DECODERS, LIKELIHOODS, METRIC, METRICS
from .errors import ConfigError, ShoevaeError
from .presets import SHIPPED

DEFAULT_DATA = os.environ.get("SHOEVAE_DATA", "data")
DEFAULT_CHECKPOINT = f"weights/{SHIPPED[0]}.pt"


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as the one line every other mistake gets."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"shoevae: error: {message} (see `{self.prog} --help`)\n")


def _listed(kind: type, check: Callable[[Any], None], example: str) -> Callable[[str], tuple]:
    """An argparse type: comma-separated `kind`s, then config's own `check` says what is wrong with them."""
    def parse(text: str) -> tuple:
        try:
            values = tuple(kind(v) for v in text.split(","))
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a list of {example}") from None
        try:
            check(values)
        except ConfigError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return values
    return parse


def _shown(value: Any, none: str) -> str:
    """A setting's value as a help text writes it: 0.001, on, 0,2,4 (`none` for None)."""
    if value is None:
        return none
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(f"{v:g}" for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def _defaults(setting: str, none: str = "none") -> str:
    """'default 10; quick 3; sharp and parts 15': what `train` uses for `setting` without the flag
    (presets.train_configs), then each preset that differs."""
    values = {name: _shown(v, none) for name, v in presets.preset_defaults(setting).items()}
    base, others = values.pop(presets.DEFAULT), {}
    for name, value in values.items():
        if value != base:
            others.setdefault(value, []).append(name)
    return "; ".join([f"default {base}", *(f"{' and '.join(names)} {v}" for v, names in others.items())])


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
    t.add_argument("--preset", default=None, help=f"model preset: {', '.join(presets.PRESETS)} (default "
                   f"{presets.DEFAULT}); a preset's recipe (presets.RECIPES) sets the training flags not given")
    t.add_argument("--epochs", type=_number(int, 1), default=None,
                   help=f"total epochs ({_defaults('epochs')}; with --resume: the new total)")
    t.add_argument("--beta", type=_number(float, 0), default=None,
                   help=f"KL weight ({_defaults('beta')}; the report's 'KL x 100' is 100)")
    t.add_argument("--latent-dim", type=_number(int, 1, high=config.MAX_LATENT_DIM), default=None,
                   help=f"latent size, 1 to {config.MAX_LATENT_DIM} ({_defaults('latent_dim')})")
    t.add_argument("--image-size", type=_number(int, 8, high=config.MAX_IMAGE_SIZE), default=None,
                   help=f"model input size, 8 to {config.MAX_IMAGE_SIZE} pixels ({_defaults('image_size')}; "
                        f"the photos are {config.PHOTO_SIZE})")
    t.add_argument("--decoder", choices=DECODERS, default=None, help="transposed convolutions (the report's), "
                   f"nearest-neighbour or bilinear upsampling + 3x3 convolution ({_defaults('decoder')})")
    t.add_argument("--decoder-depth", type=_number(int, 1, high=config.MAX_DECODER_DEPTH), default=None,
                   help=f"3x3 convolutions in each stage of an upsampling decoder, 1 to {config.MAX_DECODER_DEPTH} "
                        f"({_defaults('decoder_depth')})")
    t.add_argument("--decoder-blocks", type=_number(int, 0, high=config.MAX_DECODER_BLOCKS), default=None,
                   help=f"residual blocks after each decoder stage below full size, 0 to {config.MAX_DECODER_BLOCKS}; "
                        f"each starts as the identity, so --init can grow a trained decoder ({_defaults('decoder_blocks')})")
    t.add_argument("--full-size-blocks", type=_number(int, 0, high=config.MAX_FULL_SIZE_BLOCKS), default=None,
                   help=f"residual blocks at full size before the convolution to RGB, 0 to {config.MAX_FULL_SIZE_BLOCKS}; "
                        f"each starts as the identity ({_defaults('full_size_blocks')})")
    t.add_argument("--likelihood", choices=LIKELIHOODS, default=None, help="bernoulli: the report's BCE; gaussian: "
                   f"learned shared variance, sigma-VAE ({_defaults('likelihood')})")
    t.add_argument("--perceptual", type=_number(float, 0), default=None,
                   help=f"weight of the EfficientNet-Lite0 feature-consistency term, 0: none ({_defaults('perceptual')})")
    t.add_argument("--feature-layers", type=_listed(int, config.check_feature_layers, "block numbers like 0,2,4,10"),
                   default=None, help="EfficientNet-Lite0 blocks the feature term compares, e.g. 0,2,4,10 "
                   f"({_defaults('feature_layers')})")
    t.add_argument("--feature-weights", type=_listed(float, config.check_feature_weights, "numbers like 1,1,2,2"),
                   default=None, help="each feature layer's share of the feature term, in --feature-layers' order, "
                   f"e.g. 1,1,2,2 ({_defaults('feature_weights', none='equal shares')})")
    t.add_argument("--colour", type=_number(float, 0), default=None,
                   help=f"weight of the colour term (the photo's colours at a quarter of its size), 0: none "
                   f"({_defaults('colour')})")
    t.add_argument("--adversarial", type=_number(float, 0), default=None,
                   help="the patch critic's pull on the decoder, as a share of the likelihood's at its last layer, 0: "
                   f"none ({_defaults('adversarial')})")
    t.add_argument("--adversarial-start", type=_share, default=None,
                   help=f"share of the run before the critic's term joins ({_defaults('adversarial_start')})")
    t.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help=f"encode slightly shifted and scaled copies of the photos ({_defaults('augment')})")
    t.add_argument("--lr", type=_number(float, 0, above=True), default=None, help=f"learning rate ({_defaults('lr')})")
    t.add_argument("--cosine", action=argparse.BooleanOptionalAction, default=None,
                   help=f"decay the learning rate to lr/10 along a cosine ({_defaults('cosine')})")
    t.add_argument("--batch-size", type=_number(int, 1), default=None, help=_defaults("batch_size"))
    t.add_argument("--limit", type=_number(int, 1), default=None,
                   help=f"train on at most this many images ({_defaults('limit', none='all')})")
    t.add_argument("--holdout", type=_share, default=None,
                   help=f"share of images never trained on ({_defaults('holdout')})")
    t.add_argument("--minutes", type=_number(float, 0, above=True), default=None,
                   help="stop before an epoch would end past this much training time (in all, with --resume; "
                        f"{_defaults('time_limit')})")
    t.add_argument("--seed", type=_number(int, 0, high=config.MAX_SEED), default=None,
                   help=f"0 to {config.MAX_SEED} ({_defaults('seed')})")
    t.add_argument("--out", default=None,
                   help="checkpoint path (default: the --resume file, else runs/<preset>.pt)")
    t.add_argument("--force", action="store_true", help="overwrite an existing --out (other than the resumed file)")
    t.add_argument("--init", default=None, help="start from this checkpoint's weights (one of the same network "
                   "shape), with a fresh optimizer and schedule: fine-tuning; stored in the new checkpoint")
    t.add_argument("--decoder-only", action=argparse.BooleanOptionalAction, default=None,
                   help="with --init: train the decoder alone, keeping the encoder and so every style vector "
                        f"(recommendations) as they are ({_defaults('decoder_only')})")
    t.add_argument("--fresh-decoder", action=argparse.BooleanOptionalAction, default=None,
                   help="with --decoder-only: the decoder starts from random weights instead of --init's, so it "
                        f"learns to draw anew for the kept style vectors ({_defaults('fresh_decoder')})")
    t.add_argument("--resume", default=None,
                   help=f"continue from this checkpoint (only {presets.changeable_on_resume(commands.flag)} can change)")
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
    x.add_argument("--preset", choices=list(presets.PRESETS), default=None,
                   help="name the network after this preset (refused unless the network is that preset's): a run "
                        "of a recipe made by flags ships under the recipe's name")
    x.set_defaults(func=commands.cmd_export)

    g = sub.add_parser("generate", help="a grid of new shoes decoded from sampled style vectors")
    data_arg(g), ckpt_arg(g)
    g.add_argument("--n", type=_number(int, 1, high=config.MAX_GENERATE), default=16,
                   help=f"how many shoes, 1 to {config.MAX_GENERATE} (default %(default)s)")
    g.add_argument("--out", default="grid.png", help="image file to write (default %(default)s)")
    g.add_argument("--sampler", choices=config.SAMPLERS, default="mixture",
                   help="mixture: fitted to the catalogue's style vectors (default); normal: noise u ~ N(0, I), as the "
                        "report, through a second stage fitted to them; prior: z ~ N(0, I) straight into the decoder")
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
    d.add_argument("--image-size", type=_number(int, 8, high=config.MAX_IMAGE_SIZE), default=config.PHOTO_SIZE,
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
