"""How many mixture components? Held-out log-likelihood of the catalogue's mean vectors.

    PYTHONPATH=. SHOEVAE_DATA=../shared/data/zappos flock /tmp/shoevae-bench.lock python bench/bench_mixture.py

Fits shoevae.sampling.MixtureSampler (full covariances) with 5, 10, 20 and 40 components on the mean
vectors of the training split (90 %) of the catalogue under the shipped checkpoint, and prints the mean
log-likelihood per held-out shoe (higher is better: the density that best predicts unseen shoes) and
the fit time. Several minutes on 2 cores.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    from shoevae import load_catalogue, load_checkpoint
    from shoevae.cache import default_cache_dir
    from shoevae.config import PHOTO_SIZE
    from shoevae.embedding import cached_embed
    from shoevae.evaluate import HOLDOUT
    from shoevae.sampling import MixtureSampler
    from shoevae.split import SPLIT_SEED, holdout_mask
    model, _ = load_checkpoint(os.environ.get("SHOEVAE_CHECKPOINT") or ROOT / "weights" / "style.pt")
    cat = load_catalogue(os.environ.get("SHOEVAE_DATA") or "data", PHOTO_SIZE)
    emb = cached_embed(model, cat.images, cat.ids, default_cache_dir())
    held = holdout_mask(cat.ids, HOLDOUT, SPLIT_SEED)
    print(f"{(~held).sum()} training vectors, {held.sum()} held out, {emb.shape[1]} dims")
    print(f"{'components':>10} {'held-out log-lik':>17} {'fit s':>7}")
    for k in [int(a) for a in sys.argv[1:]] or (5, 10, 20, 40):
        t = time.perf_counter()
        s = MixtureSampler(n_components=k).fit(emb[~held])
        took = time.perf_counter() - t
        print(f"{k:>10} {s.gmm_.score(emb[held].astype('float64')):>17.1f} {took:>7.0f}", flush=True)


if __name__ == "__main__":
    main()
