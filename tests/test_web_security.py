"""Security of the dashboard API, driven by its own OpenAPI document.

Every operation must answer 401 without a session, and 403 for roles it is not meant for;
hypothesis then fuzzes every operation (paths, queries, bodies derived from the schema, plus
junk) as each role and requires that nothing answers 5xx.
"""

from __future__ import annotations

import re
import string
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloud_aggregator.config.enrolment import EnrolmentConfig
from cloud_aggregator.store import open_store
from tests._dashboard_helpers import PASSWORDS, agg_config, copy_db, login, make_client, template_db

pytestmark = pytest.mark.security
#: which roles each operation is for; a new route must be added here, so the walk cannot miss it
ALLOWED: dict[str, set[str]] = {
    "POST /api/login": {"*"},
    "POST /api/enrol": {"*"},  # the one-time token is the credential; refused (403/404) without a good one
    "POST /api/logout": {"teacher", "advisor", "counsellor", "it", "admin"},
    "GET /api/me": {"teacher", "advisor", "counsellor", "it", "admin"},
    "PUT /api/me/language": {"teacher", "advisor", "counsellor", "it", "admin"},
    "GET /api/sections": {"teacher", "admin"},
    "GET /api/live": {"teacher"},
    "GET /api/sections/{section_id}/live": {"teacher", "admin"},
    "GET /api/sections/{section_id}/assistant": {"teacher"},
    "POST /api/assistant/feedback": {"teacher"},
    "GET /api/assistant/feedback/summary": {"admin"},
    "GET /api/rooms/latest": {"admin"},
    "GET /api/rooms/{room}/aggregates": {"admin"},
    "GET /api/events": {"teacher", "admin"},
    "GET /api/warnings": {"advisor", "counsellor"},
    "GET /api/warnings/summary": {"advisor", "counsellor", "admin"},
    "GET /api/students/{pseudonym}": {"advisor", "counsellor"},
    "GET /api/students/{pseudonym}/interventions": {"advisor", "counsellor"},
    "POST /api/students/{pseudonym}/interventions": {"advisor", "counsellor"},
    "PUT /api/interventions/{intervention_id}/outcome": {"advisor", "counsellor"},
    "POST /api/warnings/{warning_id}/action": {"teacher", "advisor", "counsellor"},  # teacher: only if routed to them
    "GET /api/warnings/runs": {"advisor", "counsellor", "admin"},
    "GET /api/interventions/effects": {"advisor", "counsellor", "admin"},
    "GET /api/warnings/classes": {"teacher", "admin"},
    "GET /api/audit": {"admin"},
    "GET /api/fleet": {"it"},
    "GET /api/fleet/deadletters": {"it"},
    "GET /api/fleet/commands": {"it"},
    "POST /api/fleet/tokens": {"it"},
    "POST /api/fleet/{device}/model-update": {"it"},
    "PUT /api/fleet/{device}/room": {"it"},
    "GET /api/ops/ingest": {"it", "admin"},
    "GET /api/reports/scopes": {"teacher", "admin"},
    "GET /api/reports/weekly": {"teacher", "admin"},
}
ROLES = ("teacher", "advisor", "counsellor", "it", "admin")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmpl = template_db(tmp_path_factory.getbasetemp() / "dash-template")
    cfg = agg_config(copy_db(tmpl, tmp_path_factory.mktemp("sec") / "a.db"), tmpl["key"])
    store = open_store(cfg.store)
    app, client = make_client(store, cfg)
    clients = {}
    for r in ROLES:
        c = client()
        csrf = login(c, r)
        c.headers["X-CSRF-Token"] = csrf
        clients[r] = c
    yield app, client, clients, tmpl, store
    store.close()


def operations(app: Any) -> list[tuple[str, str, dict[str, Any]]]:  # noqa: ANN401
    doc = app.openapi()
    return [(m.upper(), p, op) for p, item in doc["paths"].items() for m, op in item.items()]


def concrete(path: str, tmpl: dict[str, Any], store: Any) -> str:  # noqa: ANN401
    """Fill path parameters with values that exist (a real section, student, intervention)."""
    section = next(u["section"] for u in tmpl["users"] if u["username"] == "teacher")
    student = store.db.query("SELECT student_pseudonym AS p FROM advisor_assignments WHERE staff_sourced_id = "
                             "'cou-north' LIMIT 1")[0]["p"]
    vals = {"section_id": section, "pseudonym": student, "intervention_id": "x", "room": "r101",
            "warning_id": f"{student}:attendance:2025-W40", "device": "cp-north-r101"}
    return re.sub(r"\{(\w+)\}", lambda m: vals[m.group(1)], path)


def test_every_operation_is_listed(env):
    app, *_ = env
    ops = {f"{m} {p}" for m, p, _ in operations(app)}
    assert ops == set(ALLOWED), f"unlisted: {ops - set(ALLOWED)}; stale: {set(ALLOWED) - ops}"
    assert all(p.startswith("/api/") for _, p, _ in operations(app))


def test_every_operation_refuses_without_session(env):
    app, client, _, tmpl, store = env
    anon = client()
    for m, p, _ in operations(app):
        if ALLOWED[f"{m} {p}"] == {"*"}:
            continue
        r = anon.request(m, concrete(p, tmpl, store), json={})
        assert r.status_code == 401, f"{m} {p} -> {r.status_code}"
        # a forged or garbage cookie is no session either
        r = anon.request(m, concrete(p, tmpl, store), json={}, cookies={"cp_session": "forged" * 5})
        assert r.status_code == 401, f"{m} {p} with forged cookie -> {r.status_code}"


def test_every_operation_refuses_other_roles(env):
    app, _, clients, tmpl, store = env
    for m, p, _ in operations(app):
        allowed = ALLOWED[f"{m} {p}"]
        if allowed == {"*"} or f"{m} {p}" == "POST /api/logout":
            continue
        for role in set(ROLES) - allowed:
            r = clients[role].request(m, concrete(p, tmpl, store), json={})
            assert r.status_code == 403, f"{role}: {m} {p} -> {r.status_code}"


def test_enrolment_without_a_good_token_gets_nothing(env, tmp_path):
    _, client, _, tmpl, store = env
    assert client().post("/api/enrol", json={"token": "x" * 32}).status_code == 404, "off until configured"
    cfg = agg_config(tmp_path / "unused.db", tmpl["key"]).model_copy(update={"enrolment": EnrolmentConfig(
        broker_host="127.0.0.1", password_file=tmp_path / "passwd")})
    _, enrol_client = make_client(store, cfg)
    anon = enrol_client()
    r = anon.post("/api/enrol", json={"token": "x" * 32})
    assert r.status_code == 403 and "mqtt" not in r.text
    assert anon.post("/api/enrol", json={"token": "short"}).status_code == 422
    codes = [anon.post("/api/enrol", json={"token": f"{i:032d}"}).status_code for i in range(12)]
    assert codes[-1] == 429 and set(codes) <= {403, 429}, "guessing tokens is rate-limited"
    assert not (tmp_path / "passwd").exists(), "no credentials were created"


def test_cross_section_and_cross_student_refused(env):
    _, client, clients, tmpl, store = env
    other = next(u["section"] for u in tmpl["users"] if u["username"] == "teacher2")
    t = clients["teacher"]
    assert t.get(f"/api/sections/{other}/live").status_code == 403
    assert t.post("/api/assistant/feedback", json={"section_id": other, "session_id": "s", "suggestion_id": "x",
                                                   "rule_id": "attention_drop", "verdict": "useful"}).status_code == 403
    # a student no longer assigned to the advisor is out of reach at once
    store.db.execute("DELETE FROM advisor_assignments WHERE staff_sourced_id = (SELECT staff_sourced_id FROM web_users "
                     "WHERE username = 'advisor') AND student_pseudonym = (SELECT MAX(student_pseudonym) FROM "
                     "advisor_assignments)")
    store.db.commit()
    adv_students = {r["p"] for r in store.db.query("SELECT student_pseudonym AS p FROM advisor_assignments WHERE "
                                                   "staff_sourced_id = (SELECT staff_sourced_id FROM web_users WHERE "
                                                   "username = 'advisor')")}
    outsider = next(r["pseudonym"] for r in store.db.query("SELECT pseudonym FROM users WHERE role = 'student'")
                    if r["pseudonym"] not in adv_students)
    assert clients["advisor"].get(f"/api/students/{outsider}").status_code == 403


# ---------------------------------------------------------------- fuzzing from the OpenAPI document
_text = st.text(alphabet=string.printable + "中文é\u0000\u202e", max_size=40)


def _from_schema(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> st.SearchStrategy:
    if "$ref" in schema:
        return _from_schema(components[schema["$ref"].rsplit("/", 1)[-1]], components, depth)
    if depth > 3:
        return st.none()
    if "anyOf" in schema:
        return st.one_of(*[_from_schema(s, components, depth + 1) for s in schema["anyOf"]])
    if "enum" in schema:
        return st.one_of(st.sampled_from(schema["enum"]), _text)
    if "const" in schema:
        return st.just(schema["const"])
    t = schema.get("type")
    if t == "string":
        return st.one_of(_text, st.from_regex(schema["pattern"], fullmatch=True).map(lambda s: s[:300])
                         if "pattern" in schema else _text)
    if t == "integer":
        return st.integers(-(2**40), 2**40)
    if t == "number":
        return st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-5, 5))
    if t == "boolean":
        return st.booleans()
    if t == "null":
        return st.none()
    if t == "object":
        props = schema.get("properties", {})
        return st.fixed_dictionaries({}, optional={k: _from_schema(v, components, depth + 1) for k, v in props.items()}
                                     ) | st.dictionaries(_text, _text, max_size=3)
    if t == "array":
        return st.lists(_from_schema(schema.get("items", {}), components, depth + 1), max_size=3)
    return st.one_of(_text, st.integers(), st.none())


def _requests(app: Any, tmpl: dict[str, Any], store: Any) -> st.SearchStrategy:  # noqa: ANN401
    doc = app.openapi()
    comps = doc.get("components", {}).get("schemas", {})
    out = []
    for m, p, op in operations(app):
        if p in ("/api/events", "/api/logout"):
            continue  # an endless stream (covered by the browser tests); logout would end the shared sessions
        params = op.get("parameters", [])
        path_params = {q["name"]: st.one_of(_text.filter(lambda s: "/" not in s and s not in (".", "..") and s),
                                            st.just(None)) for q in params if q["in"] == "path"}
        query = {q["name"]: _from_schema(q.get("schema", {}), comps) for q in params if q["in"] == "query"}
        body = None
        if "requestBody" in op:
            body = _from_schema(op["requestBody"]["content"]["application/json"]["schema"], comps)
        out.append(st.tuples(st.just(m), st.just(p), st.fixed_dictionaries(path_params),
                             st.fixed_dictionaries({}, optional=query), body if body is not None else st.none(),
                             st.sampled_from(sorted(ALLOWED[f"{m} {p}"] - {"*"}) or ROLES) | st.sampled_from(ROLES)))
    return st.one_of(*out)


def test_fuzz_api_never_5xx(env):
    app, _, clients, tmpl, store = env
    base = concrete  # real ids where the fuzzer drew None, so deep code paths run too

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(_requests(app, tmpl, store))
    def run(req: tuple[Any, ...]) -> None:
        m, p, pp, query, body, role = req
        filled = base(p, tmpl, store)
        for name, v in pp.items():
            if v is not None:
                filled = filled.replace(base("{" + name + "}", tmpl, store), quote(v, safe=""), 1)
        q = {k: (v if isinstance(v, (str, int, float)) else str(v)) for k, v in query.items() if v is not None}
        r = clients[role].request(m, filled, params=q, json=body)
        assert r.status_code < 500, f"{role} {m} {filled} {q} {body!r} -> {r.status_code} {r.text[:300]}"

    run()


# ---------------------------------------------------------------- throttle against the real aggregator process
@pytest.fixture(scope="module")
def agg(tmp_path_factory, tmpl):
    from tests._aggregator_proc import start_aggregator

    a = start_aggregator(tmp_path_factory.mktemp("sec-proc"), tmpl, address_attempts=8, user_attempts=6)
    yield a
    a.stop()


def _concurrently(n: int, fn: Any) -> list[Any]:  # noqa: ANN401
    import threading

    barrier, out, lock = threading.Barrier(n), [], threading.Lock()

    def run(i: int) -> None:
        barrier.wait()
        r = fn(i)
        with lock:
            out.append(r)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    return out


def test_concurrent_wrong_passwords_are_checked_at_most_the_limit(agg):
    """20 wrong passwords at once for one user from one address: at most 5 are checked, the rest get 429."""
    clients = [agg.client("127.0.0.4") for _ in range(20)]
    codes = _concurrently(20, lambda i: clients[i].post("/api/login", json={"username": "teacher2",
                                                                           "password": f"wrong-{i}"}).status_code)
    assert len(codes) == 20 and set(codes) <= {401, 429}, codes
    assert codes.count(401) <= 5, f"{codes.count(401)} wrong passwords were checked (limit 5)"
    assert codes.count(429) >= 15
    # Refunds race with charges, so a burst may check fewer than 5 (never more). The remaining free tries
    # are still checked one by one; then the pair is delayed and even the right password waits.
    for i in range(5 - codes.count(401)):
        wrong = clients[0].post("/api/login", json={"username": "teacher2", "password": f"late-{i}"})
        assert wrong.status_code == 401, f"free try {codes.count(401) + i + 1} of 5 got {wrong.status_code}"
    r = clients[0].post("/api/login", json={"username": "teacher2", "password": PASSWORDS["teacher2"]})
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 901, "a delay, bounded by login_max_delay_s"


def test_spoofed_forwarded_for_is_ignored_from_untrusted_peers(agg):
    c = agg.client("127.0.0.1")  # the peer uvicorn's own proxy-header handling trusted by default
    codes = [c.post("/api/login", json={"username": f"nobody-{i}", "password": "wrong-password"}).status_code
             for i in range(10)]
    assert codes[-1] == 429, codes  # the address is blocked (address_attempts 8)
    for i in range(5):  # a made-up address in the header changes nothing
        r = c.post("/api/login", json={"username": f"fresh-{i}", "password": "wrong-password"},
                   headers={"X-Forwarded-For": f"203.0.113.{i + 1}"})
        assert r.status_code == 429, f"spoofed X-Forwarded-For got {r.status_code}"
    # enrolment guesses with a new made-up address each time are throttled all the same
    e = agg.client("127.0.0.1")
    codes = [e.post("/api/enrol", json={"token": f"{i:032d}"}, headers={"X-Forwarded-For": f"198.51.100.{i}"}
                    ).status_code for i in range(20)]
    assert set(codes) <= {403, 429} and codes.count(403) <= 5 and codes[-1] == 429, codes
    assert not (agg.tmp / "passwd").exists()


def test_forwarded_for_is_honoured_from_a_trusted_proxy(agg):
    """Through the configured proxy (127.0.0.9) each client address is throttled on its own."""
    proxy = agg.client("127.0.0.9")
    xff = {"X-Forwarded-For": "192.0.2.50, 198.51.100.77"}  # the left entry is the client's own claim
    codes = [proxy.post("/api/login", json={"username": f"spray-{i}", "password": "wrong-password"},
                        headers=xff).status_code for i in range(9)]
    assert codes[-1] == 429, codes
    other = proxy.post("/api/login", json={"username": "spray-x", "password": "wrong-password"},
                       headers={"X-Forwarded-For": "192.0.2.50, 198.51.100.78"})
    assert other.status_code == 401, "another client behind the proxy is not blocked"
    assert agg.client("127.0.0.9").post("/api/login", json={"username": "spray-y", "password": "wrong-password"}
                                        ).status_code == 401, "the proxy itself (no header) is its own address"
