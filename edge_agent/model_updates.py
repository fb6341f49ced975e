"""The agent's side of model updates: which manifest to load, and the ``model_update`` command.

``model_update`` args: ``url`` (https or file URL, or an absolute path on the box) of a bundle archive
and its ``sha256`` (as the dashboard's fleet view sends them), or the absolute path of an unpacked bundle
directory; optionally ``model``/``version`` that the bundle must contain;
or ``{"action": "rollback"}``. The archive is fetched into ``models.dir`` (the data partition; it
holds model files, never a frame), checked against the sha256, unpacked, its signature and files
verified, and staged. Every model in it is then self-tested (loaded, input shape and class count
against the manifest, one inference, and its bundled test inputs if it has them) before ``current``
is switched; if the rebuilt stages then lose a model the agent was running, it switches back.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge_agent.config import AgentConfig
from edge_agent.model_bundle import MANIFEST, BundleError, ModelStore, load_public_keys, unpack, verify_bundle

log = logging.getLogger(__name__)
#: What a stage reports for a model it could not load (edge_agent.audio.stage, vision stage).
UNAVAILABLE = "unavailable"


def effective_manifest(cfg: AgentConfig, problems: list[str] | None = None, starting: bool = False) -> Path | None:
    """The manifest the agent should load (None = the models shipped with the agent).

    An installed release is verified again at every start; one that no longer verifies (a file was
    changed on disk, the key was withdrawn) is refused and the previous one, else the shipped models,
    used. Only with ``starting`` (the agent) are the links changed and the start counted against an
    unconfirmed new release; ``check`` reads the same answer without touching the device.
    """
    if cfg.models.manifest is not None or cfg.models.dir is None:
        return cfg.models.manifest
    store = ModelStore(cfg.models.dir)
    if starting and store.current is not None:
        undone = store.count_start(cfg.models.max_unconfirmed_starts)
        if undone:
            log.error("%s", undone)
            if problems is not None:
                problems.append(undone)
    candidates = [p for p in (store.current, store.previous) if p is not None]
    for i, cur in enumerate(candidates):
        try:
            verify_bundle(cur, load_public_keys(cfg.models.trusted_keys))
        except (BundleError, OSError, ValueError) as e:
            log.error("installed model release %s refused: %s", cur.name, e)
            if problems is not None:
                problems.append(f"release {cur.name} refused at start: {e}")
            continue
        if i > 0 and starting:
            store.restore(cur, None)  # the refused one is never switched back to by a later rollback
        return cur / MANIFEST
    if candidates and starting:
        store.restore(None, None)
    return None


class _HttpsOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001, ANN201 - urllib's signature
        if urllib.parse.urlparse(newurl).scheme != "https":
            raise BundleError(f"the bundle server redirected to {newurl}; only https redirects are followed")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch(url: str, dest: Path, max_bytes: int) -> Path:
    """Download (or copy) ``url`` to ``dest`` with a size cap; https and file URLs only.

    The signature, not the transport, makes a bundle trustworthy; https keeps which release a school
    runs private and stops a network attacker feeding endless bytes up to the cap.
    """
    scheme = urllib.parse.urlparse(url).scheme
    if scheme not in ("https", "file"):
        raise BundleError(f"unsupported URL scheme {scheme!r} (https or file)")
    if scheme == "https":  # and only https redirects (urllib would follow one to http)
        opener = urllib.request.build_opener(_HttpsOnlyRedirects)
    else:
        opener = urllib.request.build_opener()
    got = 0
    with opener.open(url, timeout=60) as r, dest.open("wb") as f:
        while chunk := r.read(1 << 16):
            got += len(chunk)
            if got > max_bytes:
                raise BundleError(f"the bundle is larger than {max_bytes // 2**20} MiB")
            f.write(chunk)
    return dest


def model_runner(path: Path) -> tuple[tuple[int, ...], Callable[[Any], Any]]:
    """(input shape, scores-per-class function) of a model file: TFLite, or the plain-array ``.npz`` overlap model."""
    import numpy as np

    if path.suffix == ".npz":  # plain-array model (overlap): loaded against the feature code
        from edge_agent.audio.overlap import OverlapModel

        m = OverlapModel.load(path)

        def scores(x: np.ndarray) -> np.ndarray:
            p = m.predict(x)
            return np.stack([1.0 - p, p], axis=-1)  # classes: single, overlap

        return (1, int(m.mean.shape[0])), scores
    from edge_agent.inference.tflite import TFLiteRunner

    r = TFLiteRunner(path, 1)
    return r.input_shape, r.run


def self_test(manifest: Path) -> None:
    """Load and run every model of ``manifest`` once; a model the stages could not use raises here.

    Checks, per model: it loads in the interpreter; its input shape is the manifest's; one inference
    on a neutral input gives finite scores, one per class; and, when the manifest lists a ``selftest``
    file (``.npz`` with inputs ``x`` and expected class indices ``y``), at least ``min_agreement`` of
    the inputs get their expected class (catches a model that loads but was mis-quantised or swapped).
    """
    import json

    import numpy as np

    from edge_agent.inference.manifest import load_manifest

    raw = json.loads(Path(manifest).read_text(encoding="utf-8"))["models"]
    for name, entry in load_manifest(manifest).items():
        if raw[name].get("kind") == "detector":
            _self_test_detector(name, entry.verified_path(), entry.input)
            continue
        try:
            shape, run = model_runner(entry.verified_path())
        except Exception as e:  # noqa: BLE001 - any interpreter failure means: do not activate
            raise BundleError(f"model {name!r} does not load: {e}") from None
        want = tuple(int(v) for v in entry.input.get("shape", ()))
        if want[1:] != shape[1:]:
            raise BundleError(f"model {name!r} takes input {list(shape)}, the manifest says {list(want)}")
        try:
            y = run(np.zeros((1, *want[1:]), np.float32))
        except Exception as e:  # noqa: BLE001
            raise BundleError(f"model {name!r} fails on a test input: {e}") from None
        if y.shape[-1] != len(entry.classes) or not np.isfinite(y).all():
            raise BundleError(f"model {name!r} gives {y.shape[-1]} scores for {len(entry.classes)} classes")
        st = raw[name].get("selftest")
        if st:
            try:
                with np.load(Path(manifest).parent / st["file"], allow_pickle=False) as data:
                    x, expect = data["x"].astype(np.float32), data["y"].astype(int)
                got = run(x).argmax(axis=-1)
            except (OSError, KeyError, ValueError) as e:
                raise BundleError(f"model {name!r} self-test inputs unusable: {e}") from None
            agree = float((got == expect).mean()) if len(expect) else 0.0
            need = float(st.get("min_agreement", 0.9))
            if agree < need:
                raise BundleError(f"model {name!r} self-test: {agree:.0%} of its test inputs as expected, "
                                  f"needs {need:.0%}")


def _self_test_detector(name: str, path: Path, spec: dict) -> None:
    """A face detector loads, runs at the manifest's input size and at another, and its outputs decode."""
    import numpy as np

    from edge_agent.vision.cpface import OurFaceDetector, decode

    _, h, w, _ = (int(v) for v in spec.get("shape", (1, 640, 640, 3)))
    try:
        det = OurFaceDetector(path, min_score=0.0)
        for hw in ((h, w), (h // 2 + 7, w // 2 + 3)):  # another size, not a multiple of the padding
            raw = det.raw(np.full((*hw, 3), 128, np.uint8))
            if not all(np.isfinite(a).all() for level in raw for a in level):
                raise ValueError("non-finite outputs")
            decode(raw, 0.0)
    except Exception as e:  # noqa: BLE001 - any failure means: do not activate
        raise BundleError(f"model {name!r} does not run: {e}") from None


def apply_model_update(cfg: AgentConfig, args: dict[str, Any], rebuild: Callable[[], None],
                       versions: Callable[[], dict[str, str]] = dict) -> tuple[bool, str]:
    """Handle one ``model_update`` command.

    ``rebuild`` reloads the stages from ``cfg.models.manifest``; ``versions`` says what they run (a model
    a stage could not load shows as ``"unavailable"``), so an update that loses one is rolled back.
    """
    if cfg.models.dir is None:
        return False, "this agent has no models.dir for signed model releases"
    store = ModelStore(cfg.models.dir)
    before = cfg.models.manifest
    if args.get("action") == "rollback":
        cur, prev = store.current, store.previous
        try:
            if prev is None:
                raise BundleError("there is no previous model release to roll back to")
            verify_bundle(prev, load_public_keys(cfg.models.trusted_keys))  # it may have changed since
            store.rollback()
            cfg.models.manifest = prev / MANIFEST
            try:
                rebuild()
            except Exception:
                store.restore(cur, prev)
                cfg.models.manifest = before
                rebuild()
                raise
        except Exception as e:  # noqa: BLE001 - the running release stays; say why
            return False, f"rollback failed: {e}"
        return True, f"rolled back to release {prev.name}"
    url, want_sha = args.get("url"), args.get("sha256")
    if not isinstance(url, str) or not url:
        return False, "model_update needs a bundle url (https://, file://) or an absolute path on the box"
    store.root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".incoming-", dir=store.root))
    try:
        local = Path(url) if url.startswith("/") else None
        if local is not None and local.is_dir():  # an unpacked bundle on the box; stage() copies and re-verifies
            if want_sha is not None:
                raise BundleError("sha256 applies to bundle archives, not to a directory")
            bundle = local
        else:
            archive = fetch(local.as_uri() if local is not None else url, work / "bundle.tar.gz",
                            cfg.models.max_download_mb * 2**20)
            if want_sha is not None and hashlib.sha256(archive.read_bytes()).hexdigest() != want_sha:
                raise BundleError("the downloaded bundle does not match the sha256 in the command")
            bundle = unpack(archive, work / "bundle")
        release_dir, v = store.stage(bundle, load_public_keys(cfg.models.trusted_keys))
        model, version = args.get("model"), args.get("version")
        if model is not None and v.models.get(model) != version:
            shutil.rmtree(release_dir, ignore_errors=True)
            raise BundleError(f"the bundle has {model} {v.models.get(model)!r}, not {version!r}")
        try:
            self_test(release_dir / MANIFEST)
        except BundleError:
            shutil.rmtree(release_dir, ignore_errors=True)
            raise
        running, cur_before, prev_before = versions(), store.current, store.previous
        store.activate(release_dir)
        cfg.models.manifest = release_dir / MANIFEST
        try:
            rebuild()
            lost = sorted(k for k, val in versions().items() if val == UNAVAILABLE and running.get(k) != UNAVAILABLE)
            if lost:
                raise BundleError(f"the stages could not load {', '.join(lost)} from it")
        except Exception as e:  # noqa: BLE001 - any failure to run the new models: go back
            log.error("stages failed on release %s (%s); rolling back", release_dir.name, e)
            store.restore(cur_before, prev_before, failed=release_dir)
            cfg.models.manifest = before
            rebuild()
            return False, f"release {v.release} failed to start ({e}); rolled back"
        store.prune()
        desc = ", ".join(f"{n} {ver}" for n, ver in sorted(v.models.items()))
        return True, f"release {v.release} active (key {v.key_id}): {desc}"
    except (BundleError, OSError, ValueError) as e:
        return False, f"model update refused: {e}"
    finally:
        shutil.rmtree(work, ignore_errors=True)
