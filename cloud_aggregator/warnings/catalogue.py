"""Recommended interventions per warning type and level: a built-in catalogue a school overrides in config."""

from __future__ import annotations

from cloud_aggregator.config.warnings import Intervention, WarningsConfig


def _i(id_: str, text: str) -> Intervention:
    return Intervention(id=id_, text=text)


DEFAULT_CATALOGUE: dict[str, dict[int, Intervention]] = {
    "attendance": {
        1: _i("attendance_checkin", "Short check-in with the student about missed lessons."),
        2: _i("attendance_contact_home", "Class advisor contacts home about the attendance pattern."),
        3: _i("attendance_plan", "Attendance plan meeting with student, family and counsellor."),
    },
    "submissions": {
        1: _i("work_reminder", "Remind the student of missing work and agree new dates."),
        2: _i("homework_support", "Offer supervised homework time; advisor follows up weekly."),
        3: _i("workload_review", "Review workload with the counsellor; agree a catch-up plan."),
    },
    "academic": {
        1: _i("feedback_conversation", "Go through recent results with the student; identify gaps."),
        2: _i("tutoring", "Offer subject tutoring or peer support for the weak topics."),
        3: _i("learning_support_referral", "Refer to learning support; meet with family."),
    },
    "lms": {
        1: _i("lms_checkin", "Ask whether the student can reach the online materials."),
        2: _i("lms_access_check", "Check device and internet access at home; show study resources."),
        3: _i("lms_plan", "Agree a weekly online-learning plan with the advisor."),
    },
    "risk": {
        1: _i("risk_watch", "Keep an eye on the reasons listed; check in with the student informally."),
        2: _i("risk_advisor_meeting", "Advisor meets the student about the listed reasons and agrees next steps."),
        3: _i("risk_support_plan", "Counsellor and advisor draw up a support plan with the student and family."),
    },
    "class_attention": {
        1: _i("lesson_variety", "Vary activities (short tasks, pair work) in the next lessons."),
        2: _i("peer_observation", "Invite a colleague to observe a lesson; review pacing."),
        3: _i("class_review", "Review the class with the year lead (timing, workload, room)."),
    },
    "class_participation": {
        1: _i("questioning", "Use think-pair-share or cold-calling to widen participation."),
        2: _i("participation_routines", "Introduce routines for structured discussion."),
        3: _i("class_review", "Review the class with the year lead (timing, workload, room)."),
    },
    "class_tone": {
        1: _i("climate_checkin", "Check in with the class about how lessons feel."),
        2: _i("climate_support", "Talk with the class advisor about the class climate."),
        3: _i("climate_counsellor", "Ask the counsellor to support the class."),
    },
}


def recommend(cfg: WarningsConfig, wtype: str, level: int) -> Intervention:
    """The configured intervention for (type, level), else the built-in one (nearest lower level)."""
    for cat in (cfg.catalogue.get(wtype, {}), DEFAULT_CATALOGUE[wtype]):  # type: ignore[call-overload]
        for lv in range(level, 0, -1):
            if lv in cat:
                return cat[lv]
    raise KeyError(wtype)
