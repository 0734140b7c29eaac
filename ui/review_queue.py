"""The review of suspected duplicate persons on the Duplicates page: ``review_queue(view)``.

What it draws, under the page's lists:

- the figures: suspected pairs per 1,000 persons (dup.suspected_pairs), the pairs that would
  be cross-programme double enrolment, and the precision estimate from the decisions taken,
  with the number of decisions that would estimate it within ±2 points;
- the queue: the undecided pairs whose two persons the user may see (first person in the
  chosen area), those whose decision would teach the model most first (uncertain, and unlike
  the pairs decided so far: the job's review rank). One pair at a time: the two records side by side,
  the evidence per comparison (agreeing fields highlighted; weights and score unless the
  review is blind), a decision (same person / different persons / unsure) with a note, then
  the next pair. Decisions go to the app store (data_access.linkage_store, kept across
  re-runs of the job) and the audit log;
- every suspected pair in a list, with its decision.

Empty states say what to do: no run yet (the command to run), nothing left to review. A
donor gets no queue. The shaping is in indicators/linkage/review.py; the data comes from
data_access (linkage_store, linkage_records) and ui.queries, ui.list_queries.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import sqlalchemy as sa
import streamlit as st

from core.i18n import format_date, format_number, format_percent, t
from data_access import audit, linkage_store
from data_access.areas import read_area_tree
from data_access.context import UserContext
from data_access.linkage_records import person_records
from data_access.registry import registry_last_loaded
from linkage import review
from ui import language, list_queries, queries, widgets
from views import figure_cards

BLIND_KEY = "review_blind"
RANDOM_KEY = "review_random"
DECISION_KEY = "review_decision"
NOTE_KEY = "review_note"
RECORD_KEY = "review_record"
FLASH_KEY = "_review_flash"
AUDITED_KEY = "_review_audited"
RUN_COMMAND = "python -m linkage"

HIGHLIGHT = "background-color: #e6f4ea"  # agreeing fields (a pale green, readable in print)
PARTLY = "background-color: #fff4d6"


@st.cache_data(ttl=queries.CACHE_TTL, max_entries=16, show_spinner=False)
def _cached_records(_engine: sa.Engine, _store: sa.Engine, url: str,
                    version: dt.datetime | None, run_id: int, role: str,
                    areas: tuple[str, ...]) -> pd.DataFrame:
    """The registry records of the run's persons that the user may see."""
    pairs = linkage_store.suspected_pairs(_store, run_id, include_dismissed=True)
    ids = set(pairs["person_id_a"]) | set(pairs["person_id_b"])
    return person_records(_engine, ids, context=UserContext(role, areas),
                          areas=read_area_tree(_engine))


def _records(view: widgets.View, store: sa.Engine, run_id: int) -> pd.DataFrame:
    url = view.settings.database_url
    engine = queries.registry_engine(url)
    return _cached_records(engine, store, url, registry_last_loaded(engine), run_id,
                           view.context.role, view.context.areas)


def _area_names(view: widgets.View) -> dict[str, str]:
    areas = queries.areas(view.context, view.settings.database_url)
    return dict(zip(areas["area_id"], areas["name"], strict=True))


def _audit_view(view: widgets.View, store: sa.Engine, run_id: int, pairs: int) -> None:
    """Record once per session and run that the user was shown records with personal data."""
    seen = st.session_state.setdefault(AUDITED_KEY, set())
    key = (view.context, run_id)
    if key in seen:
        return
    audit.record(store, view.context, "list_view",
                 f"viewed the review of suspected duplicate pairs ({pairs:,} pairs) with "
                 "personal data", {"list": "suspected_pairs", "run_id": run_id,
                                   "area_id": view.area_id, "rows": int(pairs)})
    seen.add(key)


def _decide(store_url: str, context: UserContext, run_id: int, person_id_a: str,
            person_id_b: str, probability: float) -> None:
    """The button's callback: record the decision and its audit row, clear the inputs."""
    language.apply_current()  # a callback runs before the script sets the language
    state = st.session_state
    decision = state.get(DECISION_KEY)
    if decision not in linkage_store.DECISIONS:
        state[FLASH_KEY] = ("warning", t("Choose same person, different persons or unsure "
                                          "first."), None)
        return
    note = (state.get(NOTE_KEY) or "").strip()
    blind = bool(state.get(BLIND_KEY, False))
    store = queries.app_store_engine(store_url)
    linkage_store.record_decision(
        store, person_id_a, person_id_b, decision, decided_by=context.username or context.role,
        note=note, run_id=run_id, match_probability=probability, blind=blind)
    label = linkage_store.DECISION_LABELS[decision]
    audit.record(store, context, "pair_decision",
                 f"decided that {person_id_a} and {person_id_b} are {label}",
                 {"person_id_a": person_id_a, "person_id_b": person_id_b, "decision": decision,
                  "run_id": run_id, "blind": blind, "note": bool(note)})
    state[DECISION_KEY] = None
    state[NOTE_KEY] = ""
    state[FLASH_KEY] = ("success", t("Recorded for {a} and {b}: {label}. The next pair is "
                                     "below.", a=person_id_a, b=person_id_b, label=t(label)),
                        (person_id_a, person_id_b))


def _undo(store_url: str, context: UserContext, person_id_a: str, person_id_b: str) -> None:
    """Forget the decision just taken (a slip): the pair goes back to the queue."""
    language.apply_current()
    store = queries.app_store_engine(store_url)
    linkage_store.clear_decision(store, person_id_a, person_id_b)
    audit.record(store, context, "pair_decision",
                 f"undid the decision on {person_id_a} and {person_id_b}",
                 {"person_id_a": person_id_a, "person_id_b": person_id_b, "decision": None})
    st.session_state[FLASH_KEY] = ("info", t("The decision on {a} and {b} is undone: the pair "
                                             "is back in the queue.", a=person_id_a,
                                             b=person_id_b), None)


def _highlight(frame: pd.DataFrame, column: str):
    """A Styler colouring the rows whose ``column`` says the records agree (a reading code,
    shown in the session's language)."""
    def colour(row: pd.Series) -> list[str]:
        value = row[column]
        style = (HIGHLIGHT if value in (review.SAME, review.AGREES)
                 else PARTLY if value == review.PARTLY else "")
        return [style] * len(row)

    return frame.style.apply(colour, axis=1).format(
        lambda v: t(v) if isinstance(v, str) and v else v, subset=[column])


def _signed(value: float) -> str:
    """"+1.5", "-0.3": the sign always, the number in the session's format."""
    return ("-" if value < 0 else "+") + format_number(abs(value), 1)


def _figures(view: widgets.View, estimate: linkage_store.PrecisionEstimate,
             undismissed: pd.DataFrame) -> None:
    focus = queries.figures(view.context, view.settings, as_of=view.as_of, level=view.level,
                       indicator_ids=("dup.suspected_pairs",))
    card = figure_cards.figure_card(focus, "dup.suspected_pairs", view.area_id)
    columns = st.columns(3)
    with columns[0]:
        widgets.metric(card)
    with columns[1]:
        cross = int(undismissed["cross_programme"].sum()) if len(undismissed) else 0
        st.metric(t("Cross-programme pairs"), format_number(cross), border=True,
                  help=t("Suspected pairs whose two records receive different programmes: "
                         "one person drawing from two programmes under two records "
                         "(cross-programme double enrolment), if the pair is right."))
        st.caption(t("of {pairs} suspected pairs not dismissed you may see",
                     pairs=format_number(len(undismissed))))
    with columns[2]:
        value = format_percent(estimate.reviewed_precision, 0)  # "–" when none
        st.metric(t("Precision of reviewed pairs"), value, border=True,
                  help=t("The share of the pairs decided same or different that officers "
                         "found to be the same person, over every pair of the run."))
        st.caption(t("{reviewed} reviewed of {pairs}", reviewed=format_number(estimate.reviewed),
                     pairs=format_number(estimate.pairs)))
    st.caption(review.precision_text(estimate))
    margin = review.margin_text(estimate)
    if margin:
        st.caption(margin)


def _pair(view: widgets.View, store: sa.Engine, run: linkage_store.LinkageRun,
          pair: pd.Series, records: pd.DataFrame, left: int, blind: bool,
          drawn: bool = False) -> None:
    """One pair of the queue: records, evidence, decision."""
    a, b = str(pair["person_id_a"]), str(pair["person_id_b"])
    names = queries.programmes(view.settings.database_url)
    area_names = _area_names(view)
    title = t("Pair 1 of {left} to review: {a} and {b}", left=format_number(left), a=a, b=b)
    st.subheader(title)
    order = (t("The pairs come in an order drawn at random: your decisions estimate the "
               "precision of all the pairs.") if drawn else
             t("The queue shows first the pairs whose decision teaches the model most: "
               "uncertain ones, unlike the pairs decided so far."))
    if blind:
        st.caption(t("Blind review: the model's score is hidden, so that your decision is "
                     "your own.") + " " + order)
    else:
        probability = float(pair["match_probability"])
        st.caption(t("Match probability {p}: {words}.", p=format_number(probability, 2),
                     words=t(review.probability_words(probability))) + " " + order + " "
                   + t("The next run of the job learns from your decisions."))
    cross = review.cross_programme_text(pair, names)
    if cross:
        st.warning(cross)

    side = review.side_by_side(pair, records, area_names=area_names, programme_names=names)
    st.markdown(t("**The two records**, side by side (green: written the same)."))
    st.dataframe(_highlight(side, "Same"), hide_index=True, key="review_records",
                 column_config={"Field": st.column_config.TextColumn(t("Field")),
                                "Record A": st.column_config.TextColumn(t("Record A")),
                                "Record B": st.column_config.TextColumn(t("Record B")),
                                "Same": st.column_config.TextColumn(t("Same?"))})

    evidence = linkage_store.pair_evidence(store, run.run_id, a, b)
    table = review.evidence_table(evidence, blind=blind)
    st.markdown(t("**The evidence**: what the model compared and found (green: the records "
                  "agree there)."))
    config = {"Compared": st.column_config.TextColumn(t("Compared")),
              "Found": st.column_config.TextColumn(t("Found")),
              "Reading": st.column_config.TextColumn(t("Reading"))}
    if not blind:
        config["Weight"] = st.column_config.NumberColumn(
            t("Weight"), format="%+.1f",
            help=t("How much this comparison moves the odds: +1 doubles the odds that the two "
                   "records are one person, −1 halves them."))
        config["Points to"] = st.column_config.TextColumn(t("Points to"))
    st.dataframe(_highlight(table, "Reading"), hide_index=True, key="review_evidence",
                 column_config=config)
    st.markdown(review.explanation(evidence))
    if not blind:
        totals = review.evidence_totals(pair, evidence)
        total, fields = round(totals["total"], 1), round(totals["fields"], 1)
        st.caption(t("Score: starting point {prior} (duplicates are rare) + comparisons "
                     "{fields} = {total}, a match probability of {p}.",
                     prior=_signed(total - fields), fields=_signed(fields),
                     total=_signed(total), p=format_number(totals["probability"], 2)))
        learned = review.learned_text(run.model.get("parameters", {}).get("learned"))
        if learned:
            st.caption(learned)

    choices = list(linkage_store.DECISIONS)
    st.radio(t("Your decision"), choices, index=None, key=DECISION_KEY, horizontal=True,
             format_func=lambda d: t(linkage_store.DECISION_LABELS[d]))
    st.text_area(t("Note (optional): what decided it"), key=NOTE_KEY, height=68,
                 placeholder=t("e.g. same father and birth date, id mistyped"))
    st.button(t("Record the decision and show the next pair"), key=RECORD_KEY, type="primary",
              on_click=_decide,
              args=(view.settings.app_store_url, view.context, run.run_id, a, b,
                    float(pair["match_probability"])))


def review_queue(view: widgets.View) -> None:
    """The review section of the Duplicates page (see the module's notes)."""
    st.header(t("Suspected duplicate persons"))
    context = view.context
    if not context.sees_lists:
        st.info(t("Suspected duplicate pairs are reviewed by officers. The {role} role sees "
                  "aggregate figures only: the records behind the pairs are not shown.",
                  role=t(context.role)))
        return
    store = queries.app_store_engine(view.settings.app_store_url)
    run = linkage_store.latest_run(store)
    if run is None:
        st.info(t("The record-linkage job has not run yet, so there are no suspected duplicate "
                  "pairs to review. An administrator runs it on the server (it takes about a "
                  "minute per 100,000 persons), then this page shows the pairs:"))
        st.code(RUN_COMMAND, language="bash")
        return
    st.caption(t("Found by the record-linkage job (run {run} on {day}, {persons} persons): "
                 "pairs of records that may be one person registered twice, with a match "
                 "probability of {threshold} or more.", run=run.run_id,
                 day=format_date(run.finished_at.date()), persons=format_number(run.persons),
                 threshold=format_number(run.threshold, None)))
    records = _records(view, store, run.run_id)
    focus = list_queries.focus_area_ids(context, view.settings, view.area_id)
    everything = review.visible_pairs(
        linkage_store.suspected_pairs(store, run.run_id, include_dismissed=True), records,
        focus)
    undismissed = everything[everything["decision"] != "different"]
    estimate = linkage_store.precision_estimate(store, run.run_id)
    if len(everything):
        _audit_view(view, store, run.run_id, len(everything))
    _figures(view, estimate, undismissed)

    blind = st.toggle(t("Blind review (hide the model's score)"), key=BLIND_KEY,
                      help=t("Hides the match probability and the weights, so that the "
                             "decisions measure the model fairly."))
    drawn = st.toggle(t("Random order (to estimate the precision)"), key=RANDOM_KEY,
                      help=t("Pairs drawn at random instead of those that teach the model "
                             "most: decisions taken in this order estimate the precision "
                             "of all the pairs."))
    flash = st.session_state.pop(FLASH_KEY, None)
    if flash is not None:
        kind, text, decided = flash
        {"success": st.success, "info": st.info}.get(kind, st.warning)(text)
        if decided is not None:
            st.button(t("Undo this decision"), key="review_undo", on_click=_undo,
                      args=(view.settings.app_store_url, context, *decided))

    queue = review.visible_pairs(linkage_store.review_queue(store, run.run_id), records, focus)
    if drawn:
        queue = review.in_random_order(queue, run.run_id)
    if queue.empty:
        st.success(t("No pairs left to review in {area}: every suspected pair you may see has "
                     "a decision.", area=view.area_name) if len(everything) else
                   t("No suspected pairs in {area} that you may see.", area=view.area_name))
    else:
        _pair(view, store, run, queue.iloc[0], records, len(queue), blind, drawn)

    with st.expander(t("Every suspected pair ({n})", n=format_number(len(everything)))):
        table = review.pairs_table(
            everything, records, area_names=_area_names(view),
            programme_names=queries.programmes(view.settings.database_url), decision_labels=linkage_store.DECISION_LABELS, blind=blind)
        st.dataframe(table, hide_index=True, key="review_pairs", column_config={
            "person_id_a": st.column_config.TextColumn(t("Person A")),
            "name_a": st.column_config.TextColumn(t("Name A")),
            "person_id_b": st.column_config.TextColumn(t("Person B")),
            "name_b": st.column_config.TextColumn(t("Name B")),
            "area": st.column_config.TextColumn(t("Area of A")),
            "match_probability": st.column_config.NumberColumn(t("Match probability"),
                                                                format="%.2f"),
            "programmes_a": st.column_config.TextColumn(t("A receives")),
            "programmes_b": st.column_config.TextColumn(t("B receives")),
            "cross_programme": st.column_config.CheckboxColumn(
                t("Cross-programme"), help=t("The two records receive different programmes.")),
            "cluster_id": st.column_config.TextColumn(t("Group")),
            "decision": st.column_config.TextColumn(t("Decision")),
            "note": st.column_config.TextColumn(t("Note")),
        })
        st.caption(t("Pairs decided different persons stay dismissed when the job runs again; "
                     "they are not counted in the figure above."))
