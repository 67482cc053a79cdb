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
from ..config import TrainConfig, VAEConfig
from ..errors import ConfigError
from ..jobs import JobError, TrainingJob, safe_name
from ..presets import PRESETS, train_configs
from .charts import loss_figure
from .current import use_checkpoint
from .resources import job_registry
from .session import JOB, path_source, weights_dir
from .text import duration, plural
from .widgets import card_grid, pairs_grid

DEFAULT_PRESET = "quick"  # the page's first pick: its recipe shows recognisable shoes within a minute

PRESET_HELP = ("quick (default): 64 px, learns shoe shapes and colours in about a minute. paper: the report's "
               "small net at 136 px. style: a wider net. sharp: the style encoder with an upsampling decoder, a "
               "Gaussian likelihood and the feature term. parts: sharp with the feature term led by part-level layers, "
               "which pull twice as hard as the pixels. colour: the shipped default, parts with bilinear upsampling "
               "(no grid) and a colour term (true colours; slowest). Each starts from its "
               "recipe, the run `python -m shoevae train --preset NAME` makes.")


def form_defaults(name: str) -> dict[str, Any]:
    """The form's values for a preset (keys as train_settings returns them): what `train --preset name` would use."""
    model_cfg, tc = train_configs({"preset": name})
    return {"latent_dim": model_cfg.latent_dim, "epochs": tc.epochs, "beta": float(tc.beta), "lr": float(tc.lr),
            "batch_size": tc.batch_size, "limit": tc.limit, "time_limit": tc.time_limit, "cosine": tc.cosine,
            "feature_term": tc.perceptual > 0, "augment": tc.augment}


def form_configs(settings: dict[str, Any]) -> tuple[VAEConfig, TrainConfig]:
    """The form's values as configs, through the resolver `train --preset` uses: the form's fields are what the
    user set, and what it does not show (feature layers, shares, sizes, seed) comes from the preset's recipe.
    The feature term's switch turns the recipe's weight (TrainConfig.perceptual) on or off (1 where the recipe has none)."""
    given = {k: settings[k] for k in ("preset", "latent_dim", "epochs", "beta", "lr", "batch_size", "limit",
                                      "time_limit", "cosine", "augment")}
    weight = train_configs({"preset": settings["preset"]})[1].perceptual or 1.0
    return train_configs({**given, "perceptual": weight if settings["feature_term"] else 0.0})


_KEYS = {"latent_dim": "latent", "batch_size": "batch", "time_limit": "minutes"}  # setting -> widget key, where they differ


def _apply_preset_defaults() -> None:
    """Fill the form with the picked preset's values (form_defaults); 0 stands for none in the number fields."""
    ss = st.session_state
    for setting, value in form_defaults(ss.get("shoevae.train.preset", DEFAULT_PRESET)).items():
        if setting == "time_limit":
            value = round((value or 0) / 60)
        ss[f"shoevae.train.{_KEYS.get(setting, setting)}"] = 0 if value is None else value


def run_size(settings: dict[str, Any], photos: int) -> str:
    """What the run asks for, said before it starts: epochs x photos trained on (the hold-out aside), the feature
    term's cost and the time limit."""
    trained = min(settings["limit"] or photos, round(photos * (1 - TrainConfig.holdout)))
    text = f"**This run:** {plural(settings['epochs'], 'epoch')} × about {trained:,} photos"
    if settings["feature_term"]:
        text += " with the feature term (about 2× slower per photo)"
    if settings["time_limit"]:
        text += f", stopped after {duration(settings['time_limit'])} of training"
    if settings["preset"] != DEFAULT_PRESET:
        text += (f". Unlike {DEFAULT_PRESET}, this preset's recipe is a full run: minutes to tens of minutes on a "
                 "laptop CPU. A time limit or fewer images stop it sooner; every finished epoch is saved")
    return text + "."


def train_settings(cat: Catalogue) -> dict[str, Any]:
    """The training form's values (preset, sizes, rates, name); picking a preset fills in its recipe (form_defaults),
    and a caption says how large the run is for this catalogue."""
    if "shoevae.train.preset" not in st.session_state:
        st.session_state["shoevae.train.preset"] = DEFAULT_PRESET
        _apply_preset_defaults()
    c1, c2 = st.columns(2)
    name = c1.selectbox("Preset", list(PRESETS), key="shoevae.train.preset", on_change=_apply_preset_defaults,
                        help=PRESET_HELP)
    latent = c2.number_input("Latent size", 2, 512, key="shoevae.train.latent")
    epochs = c1.number_input("Epochs", 1, 200, key="shoevae.train.epochs")
    beta = c2.number_input("β (KL weight)", 0.0, 1000.0, step=0.5, key="shoevae.train.beta")
    lr = c1.number_input("Learning rate", 1e-5, 1e-1, format="%.5f", step=1e-4, key="shoevae.train.lr")
    batch = c2.number_input("Batch size", 8, 512, step=8, key="shoevae.train.batch")
    limit = c1.number_input("Images to train on (0 = all)", 0, 200_000, step=500, key="shoevae.train.limit")
    minutes = c2.number_input("Time limit, minutes (0 = none)", 0, 600, key="shoevae.train.minutes",
                              help="No epoch starts that would end after this much training time.")
    # the toggles and the name get whole rows: in half of this column their labels were cut at 1280 px
    cosine = st.toggle("Cosine learning-rate decay", key="shoevae.train.cosine")
    feature_term = st.toggle("Feature term", key="shoevae.train.feature_term",
                           help="Reconstructions must also match the photo in layers of an ImageNet network "
                                "(EfficientNet-Lite0; the preset's layers and weight): sharper details, about 2x "
                                "slower per batch.")
    augment = st.toggle("Shift and scale the photos", key="shoevae.train.augment",
                        help="The encoder sees each photo moved and zoomed a little and must still draw the photo.")
    out = st.text_input("Save as (a name in the weights folder)", f"{name}-{time.strftime('%m%d-%H%M')}",
                        key="shoevae.train.name")
    settings = {"preset": name, "latent_dim": int(latent), "epochs": int(epochs), "beta": float(beta), "lr": float(lr),
                "batch_size": int(batch), "limit": int(limit) or None, "name": out, "cosine": bool(cosine),
                "time_limit": float(minutes) * 60 or None, "feature_term": bool(feature_term), "augment": bool(augment)}
    st.caption(run_size(settings, len(cat)))
    return settings


def start_training(settings: dict[str, Any], cat: Catalogue) -> TrainingJob:
    """Start this session's job; JobError (clear message) if it cannot start."""
    name = safe_name(settings["name"])
    try:
        cfg, tc = form_configs(settings)
    except ConfigError as e:
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
