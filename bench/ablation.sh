#!/usr/bin/env bash
# Issue 9's ablation: each change to `style` alone, then together (with and without augmentation, without
# the pretrained term, with a deeper feature layer), at one short budget (4 epochs, cosine learning rate),
# one run at a time. Scored by bench/bench_presets.py (docs/model.md, The default before: parts).
#   bash bench/ablation.sh ../shared/data/zappos /tmp/ablation
set -euo pipefail
DATA=${1:?catalogue folder}; OUT=${2:?output folder}; EPOCHS=${EPOCHS:-4}
mkdir -p "$OUT"
run() {  # name, flags...
  local name=$1; shift
  [ -f "$OUT/$name.pt" ] && { echo "$name: done already"; return; }
  flock /tmp/shoevae-bench.lock python -m shoevae train --data "$DATA" --epochs "$EPOCHS" --cosine --out "$OUT/$name.pt" "$@"
}
run style              --preset style
run upsample           --preset style --decoder upsample
run gaussian           --preset style --likelihood gaussian
run augment            --preset style --augment
run perceptual         --preset style --perceptual 1
run sharp              --preset sharp --feature-layers 0,2,4
run sharp-augment      --preset sharp --feature-layers 0,2,4 --augment
run sharp-augment-no-pretrained --preset sharp --augment --perceptual 0
run sharp-deep-taps    --preset sharp --feature-layers 0,2,4,10 --augment
