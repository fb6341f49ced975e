"""Live agent: capture threads → analysis stages → windows → outbox → MQTT.

Video and audio each run in their own thread and drop rather than queue: the
camera source hands out its latest frame at the target rate, so a slow stage
lowers the processed rate (reported in health) instead of building a backlog.
Audio is never starved by vision: each stage has its own lock (a slow frame does
not hold the microphone path), and the vision thread runs at a lower CPU priority
(``video.nice``) so that when the CPU is short it is the frame rate that falls,
which the window's coverage then reports.
The main thread closes windows on wall-clock boundaries once every running stage
has passed the window's end (or ``MAX_CLOSE_GRACE_S`` after it), applies the
timetable and policy gates, and feeds the systemd watchdog only while the stages
make progress.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from datetime import datetime, timezone
from functools import partial

from classpulse_contract import Health
from edge_agent.config import AgentConfig
from edge_agent.health import cpu_temp_c, disk_free_mb, load1, rss_mb
from edge_agent.sdnotify import Watchdog, notify
from edge_agent.stagefactory import load_calibration, make_audio_stage, make_vision_stage
from edge_agent.window import finish_window, window_context
from edge_agent.windowing import Windower

log = logging.getLogger(__name__)
#: Seconds after a window's end before it is closed, so late observations still land in it.
CLOSE_GRACE_S = 1.5
#: ... and at most this long while a stage is still working on an observation from inside the window
#: (a frame that takes longer is dropped as late, counted in ``Windower.late``, never reopens the window).
MAX_CLOSE_GRACE_S = 10.0
#: A live window observed for less than this share of its length (the agent started or stopped inside it)
#: is not published: ``msg_id`` is the window start, so a restarted agent's other part of the same window
#: would otherwise collide with it, and a few seconds say little about a lesson.
MIN_LIVE_COVERAGE = 0.5


class StageWorker(threading.Thread):
    """Runs one source through one stage until stopped; counts processed and dropped items."""

    def __init__(self, name: str, agent: Agent):
        super().__init__(name=name, daemon=True)
        self.agent = agent
        self.processed = 0
        self.dropped = 0
        self.last_progress = time.monotonic()
        self.source_ok: bool | None = None
        #: no observation older than this will still come from this worker (None: nothing handed in yet)
        self.watermark: float | None = None
        self._stop_evt = threading.Event()

    def stop(self) -> None:
        self._stop_evt.set()


class VideoWorker(StageWorker):
    def run(self) -> None:
        from edge_agent.sources.video import open_video_source

        cfg = self.agent.cfg
        src = open_video_source(cfg.video.source or "", cfg.video.width, cfg.video.height, cfg.video.target_fps,
                                cfg.video.loop)
        if cfg.video.nice:  # this thread (and inference that runs in it or threads it starts) yields the CPU to audio
            try:
                tid = threading.get_native_id()
                os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + cfg.video.nice)
            except OSError as e:
                log.warning("could not lower the vision thread's priority: %s", e)
        t_start = time.monotonic()
        try:
            for frame in src.frames():
                if self._stop_evt.is_set():
                    break
                now = time.time() if src.is_live else self.agent.media_t0 + frame.ts
                if not src.is_live:  # a file plays at real time in a live run
                    lag = time.time() - now
                    if lag > 1.0 / cfg.video.target_fps:
                        continue  # behind real time: drop the frame (counted below), never queue
                    time.sleep(max(0.0, -lag))
                if not self.agent.sensing.is_set():
                    continue
                self.source_ok = frame.image is not None
                if frame.image is None:
                    self.agent.flag(now, "no_camera")
                else:
                    self.watermark = now
                    with self.agent.vision_lock:
                        obs = self.agent.vision.process(now, frame.image)
                    frame.image = None  # the frame leaves memory with this iteration
                    self.agent.add_frame(obs)
                    self.processed += 1
                self.watermark = time.time() - 1.0 / cfg.video.target_fps
                self.last_progress = time.monotonic()
                expected = (time.monotonic() - t_start) * cfg.video.target_fps
                self.dropped = max(0, int(expected) - self.processed)
        finally:
            src.close()


class AudioWorker(StageWorker):
    def run(self) -> None:
        from edge_agent.sources.audio import open_audio_source

        cfg = self.agent.cfg
        src = open_audio_source(cfg.audio.source or "", cfg.audio.sample_rate, cfg.audio.chunk_s, cfg.audio.loop)
        try:
            for chunk in src.chunks():
                if self._stop_evt.is_set():
                    break
                now = chunk.ts if src.is_live else self.agent.media_t0 + chunk.ts
                if not src.is_live:
                    time.sleep(max(0.0, now - time.time()))
                if not self.agent.sensing.is_set():
                    continue
                self.source_ok = chunk.samples is not None
                for f in chunk.flags:
                    self.agent.flag(now, f)
                if chunk.samples is None:
                    self.agent.flag(now, "no_mic")
                else:
                    self.watermark = now
                    with self.agent.audio_lock:
                        obs = self.agent.audio.process(now, chunk.samples, chunk.sample_rate)
                    self.agent.add_chunk(obs)
                    chunk.samples = None
                    self.processed += 1
                self.watermark = time.time() - 2 * cfg.audio.chunk_s
                self.last_progress = time.monotonic()
        finally:
            src.close()


class Agent:
    def __init__(self, cfg: AgentConfig):
        from edge_agent.model_updates import effective_manifest
        from edge_agent.mqtt_session import Publisher

        self.cfg = cfg
        # one lock per stage (held while it processes, and to rebuild it): audio never waits for a frame
        self.vision_lock = threading.RLock()
        self.audio_lock = threading.RLock()
        self.vision_level: tuple[int, str] | None = None  # the vision stage's last reported degradation
        self._fps_mark = (0, time.monotonic())  # (frames processed, when) at the last health message
        refused: list[str] = []
        cfg.models.manifest = effective_manifest(cfg, refused, starting=True)  # installed release, verified again
        self._models_since: float | None = time.monotonic()  # when the running release started (None: confirmed)
        #: outcome of the last model update (or of the start-time check), reported in health
        self.last_model_update: str | None = refused[-1] if refused else None
        self.calibration = load_calibration(cfg)
        self.vision = make_vision_stage(cfg, self.calibration, live=True) if cfg.video.source else None
        self.audio = make_audio_stage(cfg, self.calibration) if cfg.audio.source else None
        self.ctx = window_context(cfg, self._versions())
        self.windower = Windower(cfg.window_s)
        self._lock = threading.Lock()
        self.sensing = threading.Event()
        self.media_t0 = time.time()
        self.publisher = Publisher(cfg, on_command=self.handle_command)
        self.config_path: str | None = None
        self.workers: list[StageWorker] = []
        if self.vision is not None:
            self.workers.append(VideoWorker("video", self))
        if self.audio is not None:
            self.workers.append(AudioWorker("audio", self))
        self.windows_sent = 0
        self.started = time.monotonic()

    def add_frame(self, obs) -> None:  # noqa: ANN001
        self.vision_level = (obs.degradation_level, obs.degradation)
        with self._lock:
            self.windower.add_frame(obs)

    def add_chunk(self, obs) -> None:  # noqa: ANN001
        with self._lock:
            self.windower.add_chunk(obs)

    def flag(self, ts: float, flag: str) -> None:
        with self._lock:
            self.windower.add_flag(ts, flag)

    def handle_command(self, cmd) -> tuple[bool, str]:  # noqa: ANN001 - classpulse_contract.Command
        """Authorised commands arrive only on this device's own cmd topic (broker ACL)."""
        if cmd.command == "set_policy":
            policy = cmd.args.get("policy")
            if policy not in ("full", "no-emotion", "off"):
                return False, f"unknown policy {policy!r}"
            self.set_policy(policy)
            return True, f"policy is now {policy}"
        if cmd.command == "reload_config":
            if self.config_path is None:
                return False, "agent was started without a config file"
            from edge_agent.config import load_agent_config

            new = load_agent_config(self.config_path)
            self.cfg.schedule = new.schedule
            self.set_policy(new.policy)
            return True, "schedule and policy reloaded"
        if cmd.command == "model_update":
            from edge_agent.model_updates import apply_model_update

            self._models_since = time.monotonic()  # restart the probation clock before a release can change
            ok, detail = apply_model_update(self.cfg, dict(cmd.args), self.rebuild_stages, self._versions)
            self.last_model_update = f"{'ok' if ok else 'failed'}: {detail}"
            self._models_since = time.monotonic()
            return ok, detail
        return False, f"{cmd.command} is not supported by this agent build"

    def _versions(self) -> dict[str, str]:
        versions: dict[str, str] = {}
        for st in (self.vision, self.audio):
            if st is not None:
                versions.update(st.model_versions())
        return versions

    def set_policy(self, policy: str) -> None:
        """Switch policy; stages are rebuilt so that leaving ``full`` unloads the emotion models."""
        old = self.cfg.policy
        if policy == old:
            return
        log.warning("policy changed from %s to %s", old, policy)
        with self.vision_lock, self.audio_lock:
            self.cfg.policy = policy  # type: ignore[assignment]
            self.rebuild_stages()

    def rebuild_stages(self) -> None:
        """New stages from the current config (policy, models); the old ones are closed first."""
        with self.vision_lock, self.audio_lock:
            for attr, make in (("vision", partial(make_vision_stage, live=True)), ("audio", make_audio_stage)):
                st = getattr(self, attr)
                if st is not None:
                    st.close()
                    setattr(self, attr, make(self.cfg, self.calibration))
            self.ctx = window_context(self.cfg, self._versions())

    def _confirm_release(self, mono: float) -> None:
        """End a new model release's probation once it has run ``probation_s`` with every stage alive."""
        if self._models_since is None or self.cfg.models.dir is None:
            return
        if mono - self._models_since < self.cfg.models.probation_s or not all(w.is_alive() for w in self.workers):
            return
        from edge_agent.model_bundle import ModelStore

        name = ModelStore(self.cfg.models.dir).confirm()
        if name:
            log.info("model release %s confirmed after %.0f s", name, self.cfg.models.probation_s)
        self._models_since = None

    def health(self) -> Health:
        w = {x.name: x for x in self.workers}
        fps = None
        if "video" in w:  # analysed frames/s since the last health message (a lifetime mean hides a slow hour)
            n, t = w["video"].processed, time.monotonic()
            fps = round((n - self._fps_mark[0]) / max(1e-6, t - self._fps_mark[1]), 3)
            self._fps_mark = (n, t)
        level = self.vision_level if "video" in w else None
        return Health(
            device=self.cfg.device.id, ts=datetime.now(timezone.utc),
            uptime_s=round(time.monotonic() - self.started, 1), cpu_load=load1(), cpu_temp_c=cpu_temp_c(),
            mem_mb=rss_mb(), disk_free_mb=disk_free_mb(self.cfg.outbox.path.parent), fps=fps,
            frames_dropped=w["video"].dropped if "video" in w else 0,
            outbox_depth=self.publisher.outbox.depth(), outbox_dropped=self.publisher.outbox.dropped(),
            outbox_oldest_unconfirmed_s=self.publisher.outbox.oldest_age_s(),
            delivery_confirmation=self.publisher.delivery_confirmation,
            camera_ok=w["video"].source_ok if "video" in w else None,
            mic_ok=w["audio"].source_ok if "audio" in w else None,
            sensing=self.sensing.is_set(), policy=self.cfg.policy, model_versions=dict(self.ctx.model_versions),
            last_model_update=self.last_model_update[:64] if self.last_model_update else None,
            target_fps=self.cfg.video.target_fps if "video" in w else None,
            vision_level=level[0] if level else None, vision_level_name=level[1][:64] if level else None,
        )

    def _in_session(self, now: datetime) -> bool:
        from edge_agent.schedule import in_session

        return self.cfg.policy != "off" and in_session(self.cfg.schedule, now)

    def close_windows(self, now: float, final: bool = False) -> int:
        cut = now - CLOSE_GRACE_S
        if self.sensing.is_set():  # wait for stages still working on an observation from before the cut
            marks = [w.watermark for w in self.workers if w.is_alive() and w.watermark is not None]
            cut = max(min([cut, *marks]), now - MAX_CLOSE_GRACE_S)
        with self._lock:
            done = self.windower.close_all() if final else self.windower.close_before(cut)
            late, self.windower.late = self.windower.late, 0
        if late:
            log.debug("%d observations arrived after their window closed (dropped)", late)
        for w in done:
            if not w.frames and not w.chunks and not w.quality:
                continue
            span = (w.last_ts - w.first_ts) if w.first_ts is not None and w.last_ts is not None else 0.0
            if span < MIN_LIVE_COVERAGE * self.cfg.window_s:
                log.info("not publishing window %s: observed %.1f s of %.0f s", w.start, span, self.cfg.window_s)
                continue
            agg = finish_window(self.ctx, w, self.cfg.window_s)
            self.publisher.submit(agg)
            self.windows_sent += 1
        if done:
            for st in (self.vision, self.audio):
                if st is not None:
                    st.reset_window()
        return len(done)

    def run(self, max_windows: int | None = None, stop: threading.Event | None = None) -> int:
        stop = stop or threading.Event()
        self.publisher.start()
        for w in self.workers:
            w.start()
        next_health = 0.0
        # the watchdog is fed only while every running stage makes progress (or sensing is paused by the timetable)
        watchdog = Watchdog(stall_s=max(30.0, 3 * (1 / max(self.cfg.video.target_fps, 0.1))))
        notify("READY=1")
        try:
            while not stop.is_set():
                now = time.time()
                mono = time.monotonic()
                for w in self.workers:
                    paused = not self.sensing.is_set()
                    watchdog.progress(w.name, mono if paused else w.last_progress)
                watchdog.progress("main", mono)
                watchdog.tick(mono)
                if now >= next_health:
                    self.publisher.publish_health(self.health())
                    next_health = now + self.cfg.health_interval_s
                if self._in_session(datetime.fromtimestamp(now, tz=timezone.utc)):
                    self.sensing.set()
                else:
                    self.sensing.clear()
                self.close_windows(now)
                self._confirm_release(mono)
                if max_windows is not None and self.windows_sent >= max_windows:
                    break
                if self.workers and all(not w.is_alive() for w in self.workers):
                    self.close_windows(now, final=True)
                    break
                stop.wait(0.25)
        finally:
            notify("STOPPING=1")
            for w in self.workers:
                w.stop()
            for w in self.workers:
                w.join(timeout=5)
            self.publisher.stop()
            for st in (self.vision, self.audio):
                if st is not None:
                    st.close()
        return 0


def run_agent(cfg: AgentConfig, max_windows: int | None = None, config_path: str | None = None) -> int:
    stop = threading.Event()

    def _sig(signum, frame):  # noqa: ANN001
        log.info("signal %s: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _sig)
    signal.signal(signal.SIGINT, _sig)
    agent = Agent(cfg)
    agent.config_path = config_path
    return agent.run(max_windows=max_windows, stop=stop)
