"""The Train page's pieces: the settings form, starting this session's job, and its live monitor.

The job itself runs in a background thread owned by shoevae.jobs; the registry is one cached
resource shared by every session (resources.job_registry), and each session remembers only its own
job id. The monitor is a fragment that polls every 2 s while the job runs, shows progress, loss
curves and reconstructions, and offers Stop and "Use this model".
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import streamlit as st

from ..catalogue import Catalogue
from ..checkpoint import CheckpointError
from ..config import PRESETS, RECIPES, TrainConfig, preset
from ..jobs import PRESET_DEFAULTS, JobError, TrainingJob, safe_name
from .charts import loss_figure
from .current import use_checkpoint
from .resources import job_registry
from .session import JOB, path_source, weights_dir
from .text import duration, plural
from .widgets import card_grid, pairs_grid

DEFAULT_PRESET = "quick"  # see PRESET_DEFAULTS: recognisable shoes within a minute


PRESET_HELP = ("quick (default): 64 px, learns shoe shapes and colours in about a minute. paper: the report's "
               "small net at 136 px. style: a wider net. sharp: the style encoder with an upsampling decoder, a "
               "Gaussian likelihood and the feature term. parts: the shipped default, sharp with the feature term "
               "led by part-level layers, which pull twice as hard as the pixels (slowest).")


def _apply_preset_defaults() -> None:
    """The form's values for the picked preset (its latent size, epochs, rate, batch, images)."""
    ss = st.session_state
    name = ss.get("shoevae.train.preset", DEFAULT_PRESET)
    d = PRESET_DEFAULTS.get(name, PRESET_DEFAULTS["paper"])  # a preset without its own: full-size defaults
    ss["shoevae.train.latent"] = PRESETS[name].latent_dim
    ss["shoevae.train.epochs"] = d["epochs"]
    ss["shoevae.train.lr"] = d["lr"]
    ss["shoevae.train.batch"] = d["batch_size"]
    ss["shoevae.train.limit"] = d["limit"] or 0
    recipe = RECIPES.get(name, {})
    ss["shoevae.train.perceptual"] = recipe.get("perceptual", 0.0) > 0
    ss["shoevae.train.augment"] = recipe.get("augment", False)
    ss["shoevae.train.cosine"] = recipe.get("cosine", False)


def train_settings() -> dict[str, Any]:
    """The training form's values (preset, sizes, rates, name); picking a preset sets its defaults."""
    if "shoevae.train.preset" not in st.session_state:
        st.session_state["shoevae.train.preset"] = DEFAULT_PRESET
        _apply_preset_defaults()
    c1, c2 = st.columns(2)
    name = c1.selectbox("Preset", list(PRESETS), key="shoevae.train.preset", on_change=_apply_preset_defaults,
                        help=PRESET_HELP)
    latent = c2.number_input("Latent size", 2, 512, key="shoevae.train.latent")
    epochs = c1.number_input("Epochs", 1, 200, key="shoevae.train.epochs")
    beta = c2.number_input("β (KL weight)", 0.0, 1000.0, 1.0, step=0.5, key="shoevae.train.beta")
    lr = c1.number_input("Learning rate", 1e-5, 1e-1, format="%.5f", step=1e-4, key="shoevae.train.lr")
    batch = c2.number_input("Batch size", 8, 512, step=8, key="shoevae.train.batch")
    limit = c1.number_input("Images to train on (0 = all)", 0, 200_000, step=500, key="shoevae.train.limit")
    minutes = c2.number_input("Time limit, minutes (0 = none)", 0, 600, 0, key="shoevae.train.minutes",
                              help="No epoch starts that would end after this much training time.")
    # the toggles and the name get whole rows: in half of this column their labels were cut at 1280 px
    cosine = st.toggle("Cosine learning-rate decay", key="shoevae.train.cosine")
    perceptual = st.toggle("Feature term", key="shoevae.train.perceptual",
                           help="Reconstructions must also match the photo in layers of an ImageNet network "
                                "(EfficientNet-Lite0; the preset's layers and weight): sharper details, about 2x "
                                "slower per batch.")
    augment = st.toggle("Shift and scale the photos", key="shoevae.train.augment",
                        help="The encoder sees each photo moved and zoomed a little and must still draw the photo.")
    out = st.text_input("Save as (a name in the weights folder)", f"{name}-{time.strftime('%m%d-%H%M')}",
                        key="shoevae.train.name")
    return {"preset": name, "latent_dim": int(latent), "epochs": int(epochs), "beta": float(beta), "lr": float(lr),
            "batch_size": int(batch), "limit": int(limit) or None, "name": out, "cosine": bool(cosine),
            "time_limit": float(minutes) * 60 or None, "perceptual": bool(perceptual), "augment": bool(augment)}


def train_config(settings: dict[str, Any]) -> TrainConfig:
    """The form's values as a TrainConfig. What the form does not show comes from the preset's recipe, as on
    the command line: the feature term's weight (when its toggle is on) and its layers."""
    recipe = RECIPES.get(settings["preset"], {})
    layers = recipe.get("feature_layers", TrainConfig.feature_layers)
    weight = (recipe.get("perceptual") or 1.0) if settings.get("perceptual") else 0.0
    return TrainConfig(epochs=settings["epochs"], batch_size=settings["batch_size"], lr=settings["lr"],
                       beta=settings["beta"], limit=settings["limit"], cosine=settings.get("cosine", False),
                       time_limit=settings.get("time_limit"), perceptual=weight,
                       augment=settings.get("augment", False), feature_layers=layers,
                       feature_weights=recipe.get("feature_weights"))


def start_training(settings: dict[str, Any], cat: Catalogue) -> TrainingJob:
    """Start this session's job; JobError (clear message) if it cannot start."""
    name = safe_name(settings["name"])
    tc = train_config(settings)
    try:
        cfg = preset(settings["preset"], latent_dim=settings["latent_dim"])
    except ValueError as e:
        raise JobError(str(e)) from None
    job = job_registry().start(name, cfg, tc, cat, weights_dir() / f"{name}.pt")
    st.session_state[JOB] = job.id
    return job


POLL_SECONDS = 2  # the monitor's redraw interval while a job runs (redraws cost the training CPU time)


def training_monitor(job: TrainingJob) -> None:
    """Live progress of a job; polls every POLL_SECONDS while it runs (only this fragment reruns)."""
    polling = job.snapshot().running
    st.fragment(run_every=POLL_SECONDS if polling else None)(_monitor_body)(job, polling)


def _monitor_body(job: TrainingJob, polling: bool) -> None:
    s = job.snapshot()
    if polling and not s.running:
        st.rerun()  # finished: redraw the whole page once (buttons change, polling stops)
    label = {"running": f"Training `{s.name}`: epoch {s.epoch}/{s.epochs}, batch {s.batch}/{s.batches}",
             "done": f"`{s.name}` finished: {plural(len(s.history), 'epoch')} in {duration(s.elapsed)}",
             "stopped": f"`{s.name}` stopped after {plural(len(s.history), 'finished epoch')}",
             "failed": f"`{s.name}` failed"}[s.state]
    st.progress(1.0 if s.state == "done" else s.fraction, text=label)
    if s.error:
        st.error(f"Training failed: {s.error}", icon=":material/error:")
    if s.running and st.button("Stop", key="shoevae.train.stop", icon=":material/stop:", type="primary"):
        job.stop()
        st.toast("Stopping after this batch…")
    if not s.running:
        if s.saved:
            st.success(f"Saved as `{Path(s.out).name}` in the weights folder", icon=":material/save:")
            if st.button("Use this model", key="shoevae.train.use", type="primary", icon=":material/check:"):
                try:
                    use_checkpoint(path_source(s.out))
                except CheckpointError as e:
                    st.error(f"Kept the current model: {e}", icon=":material/error:")
                else:
                    st.rerun()
        elif s.state != "failed":
            st.warning("Stopped before the first epoch finished: nothing was saved.")
    if s.history or s.steps:
        st.plotly_chart(loss_figure(s.history, height=320, steps=s.steps, batches_per_epoch=s.batches),
                        key="shoevae.train.loss")
    if s.originals is not None:
        when = (f"after {s.preview_step:,} batches, {duration(s.preview_seconds)} after Start"
                if s.reconstructions is not None else "once the first batches are trained")
        st.markdown(f"**Fixed shoes** and, under each, their reconstruction {when} (redrawn every few seconds)")
        n = len(s.originals)
        pairs_grid(s.originals, [""] * n, s.reconstructions, [""] * n, columns=4)
    if s.samples is not None:
        st.markdown("**Samples**: the same four draws z ~ N(0, I), decoded by the model as it learns")
        card_grid(list(s.samples), [f"z{i + 1}" for i in range(len(s.samples))], len(s.samples))
