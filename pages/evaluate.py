"""Evaluate: how often are the recommended shoes of the same category, against two baselines?"""
import streamlit as st

from shoevae.ui import charts, current, guards, judgements, layout, resources

layout.page_header("Evaluate", "Category precision@5: the share of a shoe's five nearest shoes that have its "
                   "category (Boot, Sandal, Shoe). The model never saw the categories; they only judge.")
rec = guards.require_recommender()
loaded, _ = current.current_model()
cat = rec.catalogue

sizes = sorted({min(n, len(cat)) for n in (2000, 5000, len(cat))})
c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
n = c1.segmented_control("Shoes to evaluate on", sizes, default=sizes[-1], key="shoevae.eval.n",
                         format_func=lambda k: "all" if k == len(cat) else f"{k:,} (random sample)") or sizes[-1]
done_key = f"shoevae.eval.done.{loaded.key}.{n}"
if c2.button("Evaluate", type="primary", icon=":material/play_arrow:", width="stretch", key="shoevae.eval.run"):
    st.session_state[done_key] = True
shoes = f"all {n:,} shoes loaded" if n == len(cat) else f"{n:,} of the {len(cat):,} shoes loaded"

if st.session_state.get(done_key):
    results = resources.evaluation(rec, loaded, n)
    if results is None:  # still running (a progress bar) or failed (its error)
        st.stop()
    table = charts.evaluation_table(results)
    st.plotly_chart(charts.precision_figure(results), key="shoevae.eval.chart")
    st.dataframe(charts.readable(table))
    st.caption(f"On {shoes}. Hold-out: queries from the shoes this model never trained on (its own split), "
               "neighbours from the rest. Leave-one-out: every shoe queries all the others. Coverage: share of "
               "shoes that appear in someone's top 5. holdout_bce: reconstruction error per image on the hold-out "
               "shoes." + (" –: cannot be computed here (too few shoes, or no hold-out)." if table.isna().any().any()
                           else ""))
else:
    st.info(f"Press **Evaluate** to score this model and two baselines on {shoes}: at once when the sidebar says "
            "Ready (the warm-up scores all shoes), else a minute or so on 13.5K shoes the first time; the result is "
            "remembered for this checkpoint.", icon=":material/info:")

judgements.triplet_section(rec, loaded.key)
