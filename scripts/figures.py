"""Render the figures (docs/figures, used by the README and docs/) and metrics table from the shipped checkpoints.

    python scripts/figures.py [--data ../shared/data/zappos] [--sweep weights/sweep]

Needs the package installed (`pip install -e ".[figures]"`, which adds matplotlib and torchvision).

Writes to docs/figures/: loss curves, samples from noise, the latent map, the beta sweep
(samples) and metrics.md. Figures that show catalogue photos (originals beside reconstructions,
a top-five example) go to docs/figures/local/, which git ignores: the dataset's licence keeps its
images, and anything cut from them, out of the repository.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

try:  # the optional extra: pip install -e ".[figures]"
    import matplotlib
    from torchvision.utils import make_grid
except ImportError as e:
    raise SystemExit(f"scripts/figures.py needs matplotlib and torchvision: pip install -e '.[figures]' ({e})") \
        from None

from shoevae.catalogue import load_catalogue
from shoevae.checkpoint import load_checkpoint
from shoevae.config import METRICS, PHOTO_SIZE, TrainConfig
from shoevae.evaluate import HOLDOUT, baselines, evaluate_model
from shoevae.perceptual import feature_layers_text
from shoevae.presets import SHIPPED
from shoevae.projection import project
from shoevae.recommend import Recommender
from shoevae.sampling import PriorSampler
from shoevae.split import SPLIT_SEED, holdout_mask

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the Agg backend)

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "figures"


def grid(images: np.ndarray, nrow: int) -> np.ndarray:
    """uint8 (B,H,W,3) -> one uint8 image grid with white gutters."""
    t = torch.from_numpy(np.asarray(images)).permute(0, 3, 1, 2)
    return make_grid(t, nrow=nrow, padding=4, pad_value=255).permute(1, 2, 0).numpy()


def save_image(arr: np.ndarray, path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(arr.shape[1] / 80, arr.shape[0] / 80 + 0.5), dpi=100)
    ax.imshow(arr)
    ax.set_title(title)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def loss_curves(checkpoints: dict[str, dict], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for name, ck in checkpoints.items():
        h = ck["history"]
        minutes = [r["seconds"] / 60 for r in h]
        axes[0].plot(minutes, [r["bce"] for r in h], label=f"{name} train")
        if "val_bce" in h[0]:
            axes[0].plot(minutes, [r["val_bce"] for r in h], "--", label=f"{name} hold-out")
        axes[1].plot(minutes, [r["kl"] for r in h], label=name)
    axes[0].set(title="reconstruction BCE per image", xlabel="training minutes")
    axes[1].set(title="KL divergence per image", xlabel="training minutes")
    for ax in axes:
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def latent_map(rec: Recommender, path: Path) -> None:
    xy = project(rec.embeddings, "pca")
    cats = np.asarray(rec.catalogue.categories)
    fig, ax = plt.subplots(figsize=(7, 6))
    for c in sorted(set(cats)):
        m = cats == c
        ax.scatter(xy[m, 0], xy[m, 1], s=2, alpha=0.5, label=c)
    ax.set(title="latent space (PCA of mean vectors)", xticks=[], yticks=[])
    ax.legend(markerscale=6)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def metrics_table(rows: dict[str, dict[str, float]]) -> str:
    lines = ["| embedding | hold-out precision@5 | leave-one-out precision@5 | coverage@5 | hold-out BCE |",
             "|---|---|---|---|---|"]
    for name, m in rows.items():
        bce = f"{m['holdout_bce']:.0f}" if "holdout_bce" in m else "–"
        lines.append(f"| {name} | {m['holdout_precision@5']:.3f} | {m['loo_precision@5']:.3f} | "
                     f"{m['coverage@5']:.3f} | {bce} |")
    return "\n".join(lines) + "\n"


# How a shipped file was made, where its own fields do not say it all.
HOW_MADE = {"parts": "trained as `python -m shoevae train --data ../shared/data/zappos --preset parts --feature-weights "
                     "1,1,2,2 --perceptual 6 --minutes 29`, before those shares and that weight became the `parts` "
                     "recipe (until then: equal shares, weight 4), and exported. `--preset parts --minutes 29` now "
                     "trains the same recipe",
            "colour": "in four runs on this 2-core CPU, one thread each beside another run. (1) `python -m shoevae "
                      "train --data ../shared/data/zappos --preset parts --decoder bilinear --colour 1 --epochs 40 "
                      "--minutes 100 --out runs/joint-c1.pt`: the whole network from random weights, 21 epochs in 99 "
                      "min, `--preset colour`'s recipe (about 75 min on both cores: 3.6 min an epoch with run (4)'s "
                      "residual blocks, which the preset now has from the start). "
                      "(2) `python -m shoevae train --data ../shared/data/zappos --preset parts --decoder bilinear "
                      "--colour 1 --init runs/joint-c1.pt --decoder-only --feature-layers 0,2,4,10 --perceptual 1 "
                      "--adversarial 0.5 --adversarial-start 0.1 --lr 1e-3 --cosine --epochs 10 --minutes 75 --out "
                      "runs/joint-gan-edges.pt`: the decoder alone, with the edge layers' feature term and the patch "
                      "critic (7 epochs in 68 min); the encoder, and so every style vector, is run (1)'s. (3) The same "
                      "with `--init runs/joint-gan-edges.pt --adversarial 0.15 --adversarial-start 0.3 --lr 5e-4 "
                      "--epochs 7 --minutes 58 --out runs/more-lo.pt`: the decoder alone again, the critic at a "
                      "third of the weight and joining later (7 epochs in 53 min). (4) The same with `--init "
                      "runs/more-lo.pt --decoder-blocks 2 --adversarial-start 0.5 --epochs 12 --minutes 95 --out "
                      "runs/blk-lo.pt`: the decoder grown by two residual blocks a stage (starting as the identity) "
                      "and trained alone once more, the critic joining halfway (8 epochs in 88 min). Then `python -m "
                      "shoevae export runs/blk-lo.pt weights/colour.pt --preset colour`. The settings, epochs and "
                      "minutes above are run (4)'s: 308 min of training in all"}


def model_card(path: Path, ck: dict, metrics: dict[str, dict[str, float]],
               baseline_rows: dict[str, dict[str, float]], quality: dict | None = None, how: str | None = None,
               fidelity: dict | None = None) -> None:
    """weights/<name>.md beside the checkpoint: data, preset, schedule, time and metrics (and `quality`: its
    row of bench/bench_presets.py's JSON, `fidelity`: its row of bench/bench_fidelity.py's, when given; `how`: a
    line on how it was made)."""
    tc, mc, data, last = ck["train_config"], ck["model_config"], ck["data"], ck["history"][-1]
    layers = feature_layers_text(TrainConfig.from_dict(tc))  # older files: the default layers
    extras = ([f"feature term {tc['perceptual']:g} (EfficientNet-Lite0 blocks {layers}, training only)"]
              if tc.get("perceptual") else [])
    extras += ["shift/scale augmentation"] if tc.get("augment") else []
    extras += [f"colour term {tc['colour']:g}"] if tc.get("colour") else []
    extras += [f"patch critic {tc['adversarial']:g}"] if tc.get("adversarial") else []
    lines = [f"# Model card: `{path.name}`", "",
             f"- preset `{mc['preset']}`: channels {mc['channels']}, latent {mc['latent_dim']}, "
             f"{mc['image_size']}x{mc['image_size']} RGB, batch norm {mc['batch_norm']}, {mc['activation']}, "
             f"{mc.get('decoder', 'transposed')} decoder"
             f"{f' ({d} convolutions a stage)' if (d := mc.get('decoder_depth', 1)) > 1 else ''}"
             f"{f' ({b} residual blocks a stage)' if (b := mc.get('decoder_blocks', 0)) else ''}, "
             f"{mc.get('likelihood', 'bernoulli')} likelihood"
             + "".join(f", {e}" for e in extras),
             f"- data: {data['n_train']} training images, {data['n_holdout']} held out (seeded hash split), "
             f"categories {data['categories']}; fingerprint `{data['fingerprint']}`",
             f"- training: {ck['epoch']} epochs, batch {tc['batch_size']}, Adam lr {tc['lr']:g}"
             f"{' with cosine decay' if tc.get('cosine') else ''}, beta {tc['beta']:g}, seed {tc['seed']}, "
             f"{ck['train_seconds'] / 60:.1f} min on {'a GPU' if torch.cuda.is_available() else 'the 2-core CPU'}",
             f"- last epoch: BCE {last['bce']:.0f}, KL {last['kl']:.1f} per image; "
             f"hold-out BCE {metrics['cosine']['holdout_bce']:.0f}",
             f"- saved {ck['saved_at']}; float16 weights, no optimizer state (`python -m shoevae export`)",
             *([f"- made: {how}"] if how else []), "",
             "## Retrieval metrics on the shared 13.5K catalogue", "",
             "cosine: Euclidean distance between unit-length vectors (the app's default); euclidean: the "
             "report's raw distance. See docs/model.md, Metrics.", "",
             metrics_table({**{f"{path.stem}, {m}": v for m, v in metrics.items()}, **baseline_rows})]
    if quality:
        low, high = quality["triplets_cosine_95"]
        lines += ["## Human agreement, picture quality, cost", "",
                  "From `bench/bench_presets.py` (docs/model.md, *The shipped model: `colour`*, which gives "
                  "each run):", "",
                  f"- human triplet agreement of the mean vectors: {quality['triplets_cosine']:.1%} cosine "
                  f"(95 % interval over the judged photos {low:.1%} to {high:.1%}),"
                  f" {quality['triplets_euclidean']:.1%} Euclidean",
                  f"- KID x 1e-3 to 1,000 hold-out photos (EfficientNet-Lite2 features): reconstructions "
                  f"{quality['kid_recon'] * 1e3:.1f}, samples of N(0, I) {quality['kid_normal'] * 1e3:.1f}, "
                  f"samples of the Gaussian mixture {quality['kid_mixture'] * 1e3:.1f}",
                  f"- embedding speed: {quality['embed_per_s']:.0f} photos/s on the 2-core CPU", ""]
    if fidelity:
        f = fidelity
        lines += ["## Pictures, judged without a neural network", "",
                  "From `bench/bench_fidelity.py` (docs/model.md, *Picture fidelity without a neural network*), 300 "
                  "hold-out photos and 300 samples of each sampler:", "",
                  f"- reconstructions: colour error on the shoe {f['colour_error']:.1f} ΔE00, "
                  f"{f['off_colour_share']:.0%} of shoes off by more than 10 ΔE, SSIM {f['ssim']:.3f}, "
                  f"PSNR {f['psnr']:.1f} dB, detail {f['detail']:.2f} (edge energy against the photo's), "
                  f"grid {f['grid']:.2f} (1 = the photos' own)",
                  *(f"- samples, {label}: {f[k + '_blank']:.0%} blank, colour FD {f[k + '_colour_fd']:.1f}"
                    + (f", KID x 1e-3 {f[k + '_kid']:.1f}" if k + "_kid" in f else "")
                    for k, label in (("mixture", "the catalogue mixture"),
                                     ("normal", "N(0, I) through the second stage"),
                                     ("prior", "N(0, I) straight in"))), ""]
    path.with_suffix(".md").write_text("\n".join(lines))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "zappos"))
    p.add_argument("--weights", default=str(ROOT / "weights"),
                   help="folder of the shipped checkpoints, <name>.pt for presets.SHIPPED (the default first)")
    p.add_argument("--quality", default=None, help="bench/bench_presets.py --json output: adds its rows to the cards")
    p.add_argument("--fidelity", default=None, help="bench/bench_fidelity.py --json output: adds its rows to the cards")
    p.add_argument("--sweep", default=None, help="folder of beta-sweep checkpoints (beta-*.pt)")
    args = p.parse_args()
    (OUT / "local").mkdir(parents=True, exist_ok=True)
    cat = load_catalogue(args.data, PHOTO_SIZE, progress=True)
    paths = {name: Path(args.weights) / f"{name}.pt" for name in SHIPPED}
    models = {name: load_checkpoint(path) for name, path in paths.items() if path.is_file()}
    quality = {Path(r["checkpoint"]).resolve(): r for r in json.loads(Path(args.quality).read_text())} if args.quality else {}
    fidelity = ({Path(k).resolve(): r for k, r in json.loads(Path(args.fidelity).read_text())["results"].items()}
                if args.fidelity else {})
    loss_curves({n: ck for n, (_, ck) in models.items()}, OUT / "loss_curves.png")

    results: dict[str, dict[str, float]] = {}
    own: dict[str, dict[str, dict[str, float]]] = {}  # preset -> metric -> numbers
    held = np.flatnonzero(holdout_mask(cat.ids, HOLDOUT, SPLIT_SEED))
    for name, (model, ck) in models.items():
        rec = Recommender(model, cat)
        own[name] = evaluate_model(model, cat, embeddings=rec.embeddings, metrics=METRICS)
        for metric, row in own[name].items():
            results[f"shoevae `{name}` ({ck['epoch']} epochs, {ck['train_seconds'] / 60:.0f} min), {metric}"] = row
        from_noise = rec.decode(PriorSampler().fit(rec.embeddings).sample(32, seed=0))
        save_image(grid(from_noise, 8), OUT / f"samples_{name}.png", f"{name}: decoded from noise")
        rows = list(held[:8])
        recon, _ = rec.reconstruct(rows)
        save_image(grid(np.concatenate([cat.images[rows], recon]), 8), OUT / "local" / f"reconstructions_{name}.png",
                   f"{name}: hold-out originals (top) and reconstructions (bottom)")
        queries = [int(r) for r in held[[0, 40, 80]]]
        strip = [np.concatenate([cat.images[[q]], cat.images[[m.row for m in rec.similar(cat.ids[q])]]]) for q in queries]
        save_image(grid(np.concatenate(strip), 6), OUT / "local" / f"top5_{name}.png",
                   f"{name}: a query (left) and its five nearest shoes")
        if name == next(iter(models)):  # the default checkpoint
            latent_map(rec, OUT / "latent_map.png")
    base = baselines(cat, 100, metrics=METRICS)
    results.update(base)
    for name, (_, ck) in models.items():
        model_card(paths[name], ck, own[name], base, quality.get(paths[name].resolve()), HOW_MADE.get(name),
                   fidelity.get(paths[name].resolve()))
    (OUT / "metrics.json").write_text(json.dumps(results, indent=2))
    (OUT / "metrics.md").write_text(metrics_table(results))
    print(metrics_table(results))

    if args.sweep:
        sweep = sorted(Path(args.sweep).glob("beta-*.pt"), key=lambda q: float(q.stem[5:]))
        rows, samples, table, betas = list(held[:6]), [], {}, []
        for path in sweep:
            model, ck = load_checkpoint(path)
            betas.append(ck["train_config"]["beta"])
            rec = Recommender(model, cat)
            for metric, row in evaluate_model(model, cat, embeddings=rec.embeddings, metrics=METRICS).items():
                table[f"beta {betas[-1]:g}, {metric}"] = row
            samples.append(rec.decode(PriorSampler().fit(rec.embeddings).sample(6, seed=0)))
            recon, _ = rec.reconstruct(rows)
            samples.append(recon)
        save_image(grid(np.concatenate(samples), 6), OUT / "local" / "beta_sweep.png",
                   "beta sweep: per row pair, samples from noise then hold-out reconstructions")
        save_image(grid(np.concatenate(samples[::2]), 6), OUT / "beta_sweep_samples.png",
                   "beta sweep: samples from noise, one row per beta (" +
                   ", ".join(f"{b:g}" for b in betas) + ")")
        (OUT / "beta_sweep.md").write_text(metrics_table(table))
        print(metrics_table(table))


if __name__ == "__main__":
    main()
