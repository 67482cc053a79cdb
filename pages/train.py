"""Train: a new model in the background, with live progress; use it when it is done."""
import streamlit as st

from shoevae.jobs import JobError
from shoevae.ui import current, guards, layout, resources, training

layout.page_header("Train", "Training runs in the background: leave this page and come back, others can "
                   "keep browsing. Each finished epoch is saved, so Stop never loses finished work.")
cat = guards.require_catalogue()
job = current.session_job()
running = job is not None and job.snapshot().running

settings_col, progress_col = st.columns([2, 3], gap="large")
with settings_col:
    st.subheader("Settings")
    settings = training.train_settings(cat)
    if st.button("Start training", type="primary", icon=":material/play_arrow:", disabled=running,
                 key="shoevae.train.start", width="stretch"):
        try:
            training.start_training(settings, cat)
            st.rerun()  # redraw with Start disabled and the monitor polling
        except JobError as e:
            st.error(str(e), icon=":material/error:")
    for other in resources.job_registry().running():
        if job is None or other.id != job.id:
            s = other.snapshot()
            st.info(f"Someone else is training `{s.name}` (epoch {s.epoch}/{s.epochs}).", icon=":material/group:")

with progress_col:
    st.subheader("Progress")
    if job is None:
        st.info("Press **Start training** and watch: with the `quick` preset, shoe shapes and their main "
                "colours appear within about a minute on a laptop CPU, and the pictures below the loss curves "
                "are redrawn every few seconds. `paper` and `style` are the slower, full-size networks.",
                icon=":material/info:")
    else:
        training.training_monitor(job)
