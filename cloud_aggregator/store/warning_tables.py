"""The warnings engine's tables, created by store migration 4 on SQLite or PostgreSQL alike.

``warning_log`` holds each warning once per id (student: ``<pseudonym>:<type>:<ISO week>``,
class: ``<section>:<type>:<ISO week>``) with its latest level, reasons, tags and routing step;
no names, only pseudonyms. ``warning_deliveries`` is the outbox: one row per (warning, step,
recipient, channel), rendered at send time so no message text with a name is stored.
"""

from __future__ import annotations

from .records_tables import Table


def _t(name: str, cols: str, pk: str, indexes: tuple[tuple[str, ...], ...] = ()) -> Table:
    parsed = tuple((c.split()[0], c.split()[1].upper()) for c in cols.split(","))
    return Table(name, parsed, tuple(pk.split(",")), indexes)


WARNING_RUNS = _t("warning_runs", "run_id text, started_at text, finished_at text, trigger text, version text, "
                  "counts text, freshness text, stale_sources text, error text", "run_id", (("started_at",),))
WARNING_LOG = _t("warning_log", "id text, scope text, subject text, section_id text, type text, level integer, "
                 "level_max integer, reasons text, tags text, intervention text, stale integer, stale_sources text, "
                 "data_as_of text, first_run text, last_run text, first_seen text, last_seen text, active integer, "
                 "step integer, step_role text, routed_at text, state text",
                 "id", (("subject",), ("last_run",), ("state",)))
WARNING_DELIVERIES = _t("warning_deliveries", "id text, warning_id text, step integer, role text, recipient text, "
                        "channel text, status text, attempts integer, next_attempt_at text, last_error text, "
                        "created_at text, sent_at text", "id", (("warning_id",), ("status", "next_attempt_at"),
                                                               ("recipient",)))
WARNING_ESCALATIONS = _t("warning_escalations", "id text, warning_id text, ts text, from_role text, to_role text, "
                         "reason text", "id", (("warning_id",),))
WARNING_TABLES: tuple[Table, ...] = (WARNING_RUNS, WARNING_LOG, WARNING_DELIVERIES, WARNING_ESCALATIONS)
# Store migration 5: the trained risk model (one row per version; the model itself is a file, checked by
# its sha256), the weekly drift checks, and each intervention's risk before and after.
RISK_MODELS = _t("risk_models", "version text, created_at text, kind text, path text, sha256 text, features text, "
                 "window_start text, window_end text, n_rows integer, n_students integer, metrics text, "
                 "fairness text, train_s real, active integer, trigger text", "version", (("created_at",),))
RISK_DRIFT = _t("risk_drift", "id text, ts text, run_id text, model_version text, data_as_of text, psi text, "
                "score_psi real, max_psi real, flagged integer, action text, new_version text", "id", (("ts",),))
INTERVENTION_EFFECTS = _t("intervention_effects", "intervention_id text, student_pseudonym text, kind text, "
                          "model_version text, at_date text, score_before real, score_2w real, score_4w real, "
                          "comparison text, computed_at text", "intervention_id", (("kind",),))
RISK_TABLES: tuple[Table, ...] = (RISK_MODELS, RISK_DRIFT, INTERVENTION_EFFECTS)
