"""Signed model bundles: signature, files, downgrade, archive safety, atomic switch and rollback."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_agent.audio.features import N_FEATURES
from edge_agent.model_bundle import (
    MANIFEST,
    BundleError,
    ModelStore,
    generate_keypair,
    load_public_keys,
    load_signing_key,
    pack,
    sign_manifest,
    unpack,
    verify_bundle,
)

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.security


def make_bundle(dest: Path, release: int, key: Path | None, version: str = "1.1.0",
                tone_bytes: bytes | None = None, drop: str | None = None, selftest: str | None = None) -> Path:
    """A bundle of the shipped models with a new release number.

    ``tone_bytes`` replaces the tone model's file, ``drop`` leaves a model out, ``selftest`` ("right" or
    "wrong") adds test inputs for the tone model whose expected classes are its real outputs (or shifted).
    """
    import hashlib

    import numpy as np

    dest.mkdir(parents=True)
    data = json.loads((REPO / "models/manifest.json").read_text())
    for m in data["models"].values():  # every shipped model file (expression, voice tone, overlap, ...)
        (dest / m["file"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "models" / m["file"], dest / m["file"])
    tone = dest / "voice/voice_tone.tflite"
    if tone_bytes is not None:
        tone.write_bytes(tone_bytes)
    data["release"] = release
    for m in data["models"].values():
        m["version"] = version
    data["models"]["voice_tone"]["sha256"] = hashlib.sha256(tone.read_bytes()).hexdigest()
    if selftest is not None:
        from edge_agent.inference.tflite import TFLiteRunner

        x = np.random.default_rng(0).normal(size=(16, N_FEATURES)).astype(np.float32)
        y = TFLiteRunner(tone).run(x).argmax(axis=-1)
        st = dest / "voice/selftest.npz"
        np.savez(st, x=x, y=y if selftest == "right" else (y + 1) % 7)
        data["models"]["voice_tone"]["selftest"] = {"file": "voice/selftest.npz", "min_agreement": 0.9,
                                                   "sha256": hashlib.sha256(st.read_bytes()).hexdigest()}
    if drop is not None:
        f = dest / data["models"].pop(drop)["file"]
        f.unlink()
    (dest / MANIFEST).write_text(json.dumps(data, indent=1))
    if key is not None:
        sign_manifest(dest, load_signing_key(key))
    return dest


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    priv, pub = generate_keypair(d / "release")
    other_priv, _ = generate_keypair(d / "other")
    assert (priv.stat().st_mode & 0o777) == 0o600
    return {"priv": priv, "pub": pub, "other": other_priv, "trusted": load_public_keys([pub])}


def test_signed_bundle_verifies_and_survives_pack_unpack(tmp_path, keys):
    b = make_bundle(tmp_path / "b", 2, keys["priv"])
    v = verify_bundle(b, keys["trusted"])
    assert v.release == 2 and v.models == {name: "1.1.0" for name in json.loads((REPO / "models/manifest.json").read_text())["models"]}
    out = unpack(pack(b, tmp_path / "b.tar.gz"), tmp_path / "u")
    assert verify_bundle(out, keys["trusted"]).manifest_sha256 == v.manifest_sha256
    assert verify_bundle(b, keys["trusted"], newer_than=1).release == 2
    for installed in (2, 3):
        with pytest.raises(BundleError, match=f"release 2 is not newer than the installed release {installed}"):
            verify_bundle(b, keys["trusted"], newer_than=installed)


@pytest.mark.parametrize("case", ["unsigned", "other_key", "no_keys", "changed_file", "extra_file", "missing_file",
                                  "bad_sig_json"])
def test_bad_bundles_are_refused_with_a_reason(tmp_path, keys, case):
    b = make_bundle(tmp_path / "b", 2, None if case == "unsigned" else keys["other" if case == "other_key" else "priv"])
    trusted = {} if case == "no_keys" else keys["trusted"]
    if case == "changed_file":
        with (b / "voice/voice_tone.tflite").open("ab") as f:
            f.write(b"\0")
    elif case == "extra_file":
        (b / "expression/extra.tflite").write_bytes(b"x")
    elif case == "missing_file":
        (b / "voice/voice_tone.tflite").unlink()
    elif case == "bad_sig_json":
        (b / "manifest.json.sig").write_text("{not json")
    reasons = {"unsigned": "not signed", "other_key": "does not trust", "no_keys": "no trusted",
               "changed_file": "does not match its sha256", "extra_file": "not in the manifest",
               "missing_file": "is missing", "bad_sig_json": "malformed"}
    with pytest.raises(BundleError, match=reasons[case]):
        verify_bundle(b, trusted)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_change_to_the_signed_manifest_is_refused(tmp_path_factory, keys, data):
    b = make_bundle(tmp_path_factory.mktemp("h") / "b", 2, keys["priv"])
    raw = bytearray((b / MANIFEST).read_bytes())
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] = data.draw(st.integers(0, 255).filter(lambda x: x != raw[i]))
    (b / MANIFEST).write_bytes(bytes(raw))
    with pytest.raises(BundleError):
        verify_bundle(b, keys["trusted"])


def _tar_with(tmp_path: Path, name: str, kind: bytes = tarfile.REGTYPE) -> Path:
    p = tmp_path / "evil.tar.gz"
    with tarfile.open(p, "w:gz") as t:
        info = tarfile.TarInfo(name)
        info.type = kind
        if kind == tarfile.SYMTYPE:
            info.linkname = "/etc/passwd"
        data = b"x"
        info.size = len(data) if kind == tarfile.REGTYPE else 0
        t.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    return p


@pytest.mark.parametrize("name,kind", [("../escape", tarfile.REGTYPE), ("/abs", tarfile.REGTYPE),
                                       ("link", tarfile.SYMTYPE), ("dev", tarfile.CHRTYPE)])
def test_hostile_archives_are_refused(tmp_path, name, kind):
    with pytest.raises(BundleError, match="not a plain file"):
        unpack(_tar_with(tmp_path, name, kind), tmp_path / "out")
    assert not (tmp_path / "escape").exists()
    (tmp_path / "junk.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(BundleError, match="cannot be read"):
        unpack(tmp_path / "junk.tar.gz", tmp_path / "out2")


def test_store_stages_activates_refuses_downgrade_and_rolls_back(tmp_path, keys):
    store = ModelStore(tmp_path / "models")
    r2, v2 = store.stage(make_bundle(tmp_path / "b2", 2, keys["priv"]), keys["trusted"])
    assert store.current is None, "staging does not activate"
    store.activate(r2)
    assert store.current == r2.resolve() and store.installed_release() == 2
    with pytest.raises(BundleError, match="not newer"):
        store.stage(make_bundle(tmp_path / "b1", 1, keys["priv"]), keys["trusted"])
    with pytest.raises(BundleError, match="not newer"):  # replaying the same release
        store.stage(make_bundle(tmp_path / "b2again", 2, keys["priv"]), keys["trusted"])
    r5, _ = store.stage(make_bundle(tmp_path / "b5", 5, keys["priv"], version="1.2.0"), keys["trusted"])
    store.activate(r5)
    assert store.previous == r2.resolve() and (store.root / "current").is_symlink()
    assert store.rollback() == r2.resolve()
    assert store.current == r2.resolve() and store.previous == r5.resolve()
    assert not list(store.root.glob(".*.tmp")), "no temporary links left behind"
    r6, _ = store.stage(make_bundle(tmp_path / "b6", 6, keys["priv"]), keys["trusted"])
    store.activate(r6)
    assert store.prune() == [r5.name] and sorted(p.name for p in store.releases.iterdir()) == sorted([r2.name, r6.name])


def test_agent_reverifies_the_installed_release_at_start(tmp_path, keys):
    from edge_agent.config import AgentConfig
    from edge_agent.model_updates import effective_manifest

    store = ModelStore(tmp_path / "models")
    for rel in (2, 3):
        d, _ = store.stage(make_bundle(tmp_path / f"b{rel}", rel, keys["priv"]), keys["trusted"])
        store.activate(d)
    cfg = AgentConfig(models={"dir": str(store.root), "trusted_keys": [str(keys["pub"])]})
    assert effective_manifest(cfg) == store.current / MANIFEST
    with (store.current / "voice/voice_tone.tflite").open("ab") as f:  # altered on disk after install
        f.write(b"\0")
    links = (store.current, store.previous)
    refused: list[str] = []
    m = effective_manifest(cfg, refused)  # as `check` asks: the same answer, nothing changed
    assert m is not None and m.parent.name.startswith("2-") and (store.current, store.previous) == links
    assert len(refused) == 1 and "3-" in refused[0] and "does not match its sha256" in refused[0], refused
    m = effective_manifest(cfg, [], starting=True)
    assert m is not None and m.parent.name.startswith("2-"), "a release that no longer verifies is rolled back"
    assert store.current == m.parent and store.previous is None, "a refused release is never a rollback target"
    assert len(list(store.releases.iterdir())) == 2, "but it stays on disk for whoever investigates"
    assert effective_manifest(AgentConfig()) is None, "no models.dir: the shipped models"


def test_rollback_command_verifies_the_release_it_returns_to(tmp_path, keys):
    from edge_agent.config import AgentConfig
    from edge_agent.model_updates import apply_model_update

    store = ModelStore(tmp_path / "models")
    for rel in (2, 3):
        d, _ = store.stage(make_bundle(tmp_path / f"b{rel}", rel, keys["priv"]), keys["trusted"])
        store.activate(d)
    cur, prev = store.current, store.previous
    cfg = AgentConfig(models={"dir": str(store.root), "trusted_keys": [str(keys["pub"])]})
    loaded = []
    with (prev / "voice/voice_tone.tflite").open("ab") as f:  # the previous release was altered on disk
        f.write(b"\0")
    ok, detail = apply_model_update(cfg, {"action": "rollback"}, lambda: loaded.append(cfg.models.manifest))
    assert not ok and "rollback failed" in detail and "sha256" in detail and not loaded
    assert (store.current, store.previous) == (cur, prev), "the running release stays"
    with (prev / "voice/voice_tone.tflite").open("r+b") as f:
        f.truncate(f.seek(0, 2) - 1)
    ok, detail = apply_model_update(cfg, {"action": "rollback"}, lambda: loaded.append(cfg.models.manifest))
    assert ok and loaded == [prev / MANIFEST] and (store.current, store.previous) == (prev, cur), detail


def test_self_test_runs_every_model_on_its_bundled_inputs(tmp_path, keys):
    from edge_agent.model_updates import self_test

    good = make_bundle(tmp_path / "good", 2, keys["priv"], selftest="right")
    verify_bundle(good, keys["trusted"])
    self_test(good / MANIFEST)
    wrong = make_bundle(tmp_path / "wrong", 3, keys["priv"], selftest="wrong")
    verify_bundle(wrong, keys["trusted"])  # signed and intact, but the model does not do what its tests say
    with pytest.raises(BundleError, match="self-test: 0% of its test inputs"):
        self_test(wrong / MANIFEST)
    (good / "voice/selftest.npz").write_bytes(b"x")
    with pytest.raises(BundleError, match="voice/selftest.npz does not match its sha256"):
        verify_bundle(good, keys["trusted"])  # the test inputs are signed with the manifest
    swapped = make_bundle(tmp_path / "swapped", 4, keys["priv"],
                          tone_bytes=(REPO / "models/expression/expression_int8.tflite").read_bytes())
    verify_bundle(swapped, keys["trusted"])
    with pytest.raises(BundleError, match=rf"takes input \[1, 48, 48, 1\], the manifest says \[1, {N_FEATURES}\]"):
        self_test(swapped / MANIFEST)


def test_failed_activation_is_undone_completely(tmp_path, keys):
    store = ModelStore(tmp_path / "models")
    first, _ = store.stage(make_bundle(tmp_path / "b2", 2, keys["priv"]), keys["trusted"])
    store.activate(first)
    store.restore(None, None, failed=first)  # the very first release failed: back to the shipped models
    assert store.current is None and not (store.root / "current").is_symlink() and not first.exists()
    r2, _ = store.stage(make_bundle(tmp_path / "c2", 2, keys["priv"]), keys["trusted"])
    store.activate(r2)
    r3, _ = store.stage(make_bundle(tmp_path / "c3", 3, keys["priv"]), keys["trusted"])
    store.activate(r3)
    r4, _ = store.stage(make_bundle(tmp_path / "c4", 4, keys["priv"]), keys["trusted"])
    cur, prev = store.current, store.previous
    store.activate(r4)
    store.restore(cur, prev, failed=r4)
    assert (store.current, store.previous) == (r3.resolve(), r2.resolve()) and not r4.exists()


def test_a_release_that_keeps_crashing_is_undone_at_start(tmp_path, keys):
    """Probation: starts of an unconfirmed release are counted; past the limit the agent returns to the previous."""
    from edge_agent.config import AgentConfig
    from edge_agent.model_updates import effective_manifest

    store = ModelStore(tmp_path / "models")
    r2, _ = store.stage(make_bundle(tmp_path / "b2", 2, keys["priv"]), keys["trusted"])
    store.activate(r2)
    assert store.confirm() == r2.name and store.on_probation() is None
    r3, _ = store.stage(make_bundle(tmp_path / "b3", 3, keys["priv"]), keys["trusted"])
    store.activate(r3)
    cfg = AgentConfig(models={"dir": str(store.root), "trusted_keys": [str(keys["pub"])], "max_unconfirmed_starts": 2})
    assert effective_manifest(cfg) == r3 / MANIFEST and store.on_probation() == r3.name, "check does not count"
    for _ in range(2):  # two starts that crash before probation_s
        problems: list[str] = []
        assert effective_manifest(cfg, problems, starting=True) == r3 / MANIFEST and not problems
    problems = []
    assert effective_manifest(cfg, problems, starting=True) == r2.resolve() / MANIFEST
    assert "release " + r3.name in problems[0] and "back to " + r2.name in problems[0], problems
    assert not r3.exists() and store.previous is None and store.on_probation() is None
    assert effective_manifest(cfg, [], starting=True) == r2.resolve() / MANIFEST, "the confirmed release stays"


def test_fetch_over_https_with_size_cap_and_no_downgrading_redirect(tmp_path, monkeypatch, keys):
    """A real https server (throw-away CA): the bundle downloads; too big, or redirected to http, is refused."""
    import http.server
    import ssl
    import threading

    from edge_agent.model_updates import fetch
    from tests._ops_pki import make_pki

    pki = make_pki(tmp_path / "pki", [])
    archive = pack(make_bundle(tmp_path / "b", 2, keys["priv"]), tmp_path / "b.tar.gz")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", f"http://127.0.0.1:{port}/b.tar.gz")
                self.end_headers()
                return
            body = archive.read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a) -> None:  # noqa: ANN002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / "broker.crt", pki / "broker.key")
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("SSL_CERT_FILE", str(pki / "ca.crt"))  # the device's trust store, here
    try:
        got = fetch(f"https://127.0.0.1:{port}/b.tar.gz", tmp_path / "got.tar.gz", 2**20)
        assert got.read_bytes() == archive.read_bytes()
        with pytest.raises(BundleError, match="larger than"):
            fetch(f"https://127.0.0.1:{port}/b.tar.gz", tmp_path / "big.tar.gz", archive.stat().st_size - 1)
        with pytest.raises(BundleError, match="only https redirects"):
            fetch(f"https://127.0.0.1:{port}/redirect", tmp_path / "r.tar.gz", 2**20)
    finally:
        server.shutdown()


def test_release_manager_cli_init_selftest_sign_pack_verify(tmp_path):
    """``edge-agent models …`` as processes, the way docs/provisioning.md tells the release manager to run them."""
    import subprocess
    import sys

    import numpy as np

    def models(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "edge_agent.cli", "models", *args],
                              capture_output=True, text=True, timeout=60)

    def last_json(r: subprocess.CompletedProcess) -> dict:
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout.strip().splitlines()[-1])

    keys = last_json(models("keygen", "--out", str(tmp_path / "rel")))
    _, other_pub = generate_keypair(tmp_path / "other")
    b = tmp_path / "release-3"
    last_json(models("init", "--manifest", str(REPO / "models/manifest.json"), "--release", "3", "--out", str(b)))
    shipped = json.loads((REPO / "models/manifest.json").read_text())["models"]
    assert sorted(p.relative_to(b).as_posix() for p in b.rglob("*") if p.is_file()) == sorted(
        [m["file"] for m in shipped.values()] + ["manifest.json"]), "only the listed files, no cards or scripts"
    np.save(tmp_path / "x.npy", np.random.default_rng(1).normal(size=(12, N_FEATURES)).astype(np.float32))
    st = last_json(models("selftest", "--bundle", str(b), "--model", "voice_tone", "--inputs", str(tmp_path / "x.npy")))
    assert st["inputs"] == 12 and sum(st["classes"].values()) == 12
    last_json(models("sign", "--bundle", str(b), "--key", keys["private_key"]))
    archive = last_json(models("pack", "--bundle", str(b), "--out", str(tmp_path / "release-3.tar.gz")))
    v = last_json(models("verify", "--bundle", archive["archive"], "--pubkey", keys["public_key"]))
    assert v["ok"] and v["release"] == 3 and v["models"] == {n: m["version"] for n, m in shipped.items()}
    from edge_agent.model_updates import self_test

    self_test(b / MANIFEST)  # what the device runs before switching
    r = models("verify", "--bundle", archive["archive"], "--pubkey", str(other_pub))
    assert r.returncode == 2 and "does not trust" in r.stderr
    (b / "voice/voice_tone-selftest.npz").write_bytes(b"changed")
    r = models("verify", "--bundle", str(b), "--pubkey", keys["public_key"])
    assert r.returncode == 2 and "voice_tone-selftest.npz does not match its sha256" in r.stderr
    r = models("selftest", "--bundle", str(b), "--model", "nope", "--inputs", str(tmp_path / "x.npy"))
    assert r.returncode == 2 and "no model 'nope'" in r.stderr


def test_declared_size_is_refused_before_inflating(tmp_path):
    """A ~1 MiB archive whose entry declares 1 GiB (zeros, concatenated gzip members) is refused at its header."""
    import gzip

    info = tarfile.TarInfo("models/expression.tflite")
    info.size = 2**30
    header = info.tobuf(format=tarfile.USTAR_FORMAT)
    zeros = gzip.compress(b"\0" * 2**20, compresslevel=9)
    p = tmp_path / "bomb.tar.gz"
    p.write_bytes(gzip.compress(header) + zeros * 1024)
    assert p.stat().st_size < 2 * 2**20
    with pytest.raises(BundleError, match="declares 1073741824 bytes"):
        unpack(p, tmp_path / "out")
    assert not (tmp_path / "out" / "models" / "expression.tflite").exists(), "nothing was written"
