"""``edge-agent firstboot``: a freshly flashed box enrols itself from a file on its boot partition.

IT copies one file onto the SD card's boot partition — ``classpulse.yaml`` for one box, or one
site-wide file whose ``boxes`` map each box's serial number or MAC address to its room and token —
and the ``classpulse-firstboot`` oneshot runs this at every boot until it succeeds:

1. wait for a synchronised clock (TLS and the aggregates' UTC times need it);
2. redeem the one-time token at the aggregator (``edge-agent enroll``'s request, with a CSR for a client
   key made here) — unless an earlier boot already did and kept the answer and the key (0600, in
   ``--state-dir``): a redeemed token cannot be redeemed again, so a later failure must not lose them;
3. refuse an answer for another device, site or room than the card names (the card is wrong);
4. write the config and credential into a staging copy and run ``edge-agent check`` on it;
5. only then install them in ``/etc/classpulse``, start the agent, delete the token from the card
   (the file becomes ``classpulse-enrolled.yaml``) and forget the staged answer.

Every run leaves ``classpulse-result.txt`` on the boot partition: its first line says ``OK`` or
``FAIL <why>`` and whether the next boot retries, so IT can read it on any computer. Until step 5
nothing in ``/etc/classpulse`` changes: a box is enrolled or untouched, never half.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import urllib.error
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge_agent.config import Ident
from edge_agent.device_cert import KEY_NAME, csr_pem, load_or_create_key, write_secret
from edge_agent.enroll import EnrolmentRefused, request_enrolment, write_device_files

CARD = "classpulse.yaml"
DONE = "classpulse-enrolled.yaml"
RESULT = "classpulse-result.txt"
#: systemd-timesyncd creates this once it has synchronised the clock (Raspberry Pi OS uses timesyncd; with
#: chrony, point --clock-flag at a file a chrony hook creates).
CLOCK_FLAG = "/run/systemd/timesync/synchronized"


class FirstbootError(Exception):
    """One failed step; ``retry`` says whether the next boot can succeed without IT changing anything."""

    def __init__(self, what: str, retry: bool = True) -> None:
        super().__init__(what)
        self.retry = retry


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Box(_Strict):
    device_id: Ident
    room: Ident
    token: str | None = Field(None, min_length=16, max_length=200)
    site: Ident | None = None


class Card(_Strict):
    """The boot-partition file: one box (``device_id``/``room``/``token``) or a site map (``boxes``)."""

    server: str = Field(pattern=r"^https?://[^\s]+$", description="the aggregator's dashboard URL")
    site: Ident
    ca: str | None = Field(None, description="file on the boot partition with the aggregator's CA (PEM)")
    device_id: Ident | None = None
    room: Ident | None = None
    token: str | None = Field(None, min_length=16, max_length=200)
    boxes: dict[str, Box] | None = Field(None, description="serial number or MAC (aa:bb:…) → this box")
    agent: dict[str, Any] = Field(default_factory=dict, description="agent.yaml settings for these boxes "
                                  "(policy, schedule, ...); device and mqtt come from enrolment")
    clock_wait_s: float = Field(120.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _one_shape(self) -> Card:
        single = self.device_id is not None or self.room is not None
        if single == (self.boxes is not None):
            raise ValueError("give either device_id + room + token (one box) or boxes (a site-wide map)")
        if single and (self.device_id is None or self.room is None):
            raise ValueError("device_id and room go together")
        if {"device", "mqtt"} & set(self.agent):
            raise ValueError("agent: must not set device or mqtt (enrolment writes them)")
        return self

    def this_box(self, ids: list[str]) -> Box:
        """The entry for this box (single-box cards are always for it)."""
        if self.boxes is None:
            return Box(device_id=self.device_id, room=self.room, token=self.token, site=self.site)
        keys = {k.strip().lower(): v for k, v in self.boxes.items()}
        for i in ids:
            if i.lower() in keys:
                b = keys[i.lower()]
                return b if b.site else b.model_copy(update={"site": self.site})
        raise FirstbootError(f"this box ({', '.join(ids) or 'no serial or MAC found'}) is not in the card's "
                             "boxes map: add it", retry=False)


def parse_card(text: str) -> Card:
    """YAML text → Card; any problem is one readable line (it ends up in the result file)."""
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as e:  # ValueError: a date such as 2026-02-30
        raise FirstbootError(f"{CARD} is not valid YAML: {' '.join(str(e).split())[:200]}", retry=False) from None
    if not isinstance(data, dict):
        raise FirstbootError(f"{CARD} must be a mapping of settings", retry=False)
    try:
        return Card.model_validate(data)
    except ValidationError as e:
        probs = "; ".join(f"{'.'.join(map(str, p['loc'])) or '(top)'}: {p['msg']}" for p in e.errors())
        raise FirstbootError(f"{CARD}: {' '.join(probs.split())[:500]}", retry=False) from None


def box_ids(sysroot: Path = Path("/")) -> list[str]:
    """This box's serial number (Raspberry Pi, Jetson) and its network MAC addresses."""
    ids = []
    for p in ("sys/firmware/devicetree/base/serial-number", "proc/device-tree/serial-number"):
        f = sysroot / p
        if f.is_file():
            ids.append(f.read_bytes().strip(b"\0\n ").decode(errors="replace").lower())
    cpu = sysroot / "proc/cpuinfo"
    if cpu.is_file():
        ids += [ln.split(":", 1)[1].strip().lower() for ln in cpu.read_text(errors="replace").splitlines()
                if ln.lower().startswith("serial")]
    net = sysroot / "sys/class/net"
    if net.is_dir():
        for d in sorted(net.iterdir()):
            mac = (d / "address").read_text().strip().lower() if (d / "address").is_file() else ""
            if mac and mac != "00:00:00:00:00:00":
                ids.append(mac)
    return list(dict.fromkeys(i for i in ids if i))


def clock_synced(flag: Path) -> bool:
    """systemd-timesyncd's flag: the one signal that the clock was set from NTP since this boot."""
    return flag.exists()


def wait_clock(flag: Path, wait_s: float) -> None:
    deadline = time.monotonic() + wait_s
    while not clock_synced(flag):
        if time.monotonic() >= deadline:
            raise FirstbootError(f"clock not synchronised after {wait_s:.0f} s (NTP unreachable?): "
                                 f"enrolment needs the right time; the clock says {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
        time.sleep(2)


def deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def write_config(etc: Path, out: Path, card: Card, resp: dict, key_pem: bytes) -> Path:
    """``etc/agent.yaml`` + the card's ``agent`` settings + the enrolment, written under ``out``."""
    base = yaml.safe_load((etc / "agent.yaml").read_text(encoding="utf-8")) if (etc / "agent.yaml").exists() else {}
    out.mkdir(parents=True, exist_ok=True)
    (out / "agent.yaml").write_text(yaml.safe_dump(deep_merge(base or {}, card.agent), sort_keys=False),
                                    encoding="utf-8")
    return write_device_files(resp, out, key_pem)


def redeem(card: Card, box: Box, boot: Path, state: Path) -> tuple[dict, bytes]:
    """The enrolment answer and this box's client key: the ones an earlier boot kept, or a new answer for the
    card's token (with a CSR from the kept or a new key: the key is on disk, 0600, before the request)."""
    staged, key_file = state / "enrolment.json", state / KEY_NAME
    if staged.exists():
        resp = json.loads(staged.read_text(encoding="utf-8"))
        if resp.get("device") == box.device_id and key_file.is_file():
            return resp, key_file.read_bytes()
        staged.unlink()  # a different box's card: start over
        key_file.unlink(missing_ok=True)
    if not box.token:
        raise FirstbootError("no token on the card for this box: issue one in the fleet view", retry=False)
    cafile = str(boot / card.ca) if card.ca else None
    if cafile and not Path(cafile).is_file():
        raise FirstbootError(f"the card names CA file {card.ca}, which is not on the boot partition", retry=False)
    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_pem = load_or_create_key(key_file)
    try:
        resp = request_enrolment(card.server, box.token, timeout=30, cafile=cafile,
                                 csr=csr_pem(key_pem, box.device_id))
    except EnrolmentRefused as e:
        if e.status in (401, 403):
            raise FirstbootError(f"wrong token: the aggregator refused it ({e}); it is unknown, expired or "
                                 "already used: issue a new one in the fleet view", retry=False) from None
        raise FirstbootError(f"the aggregator said no: {e}") from None
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", e)
        raise FirstbootError(f"no network: cannot reach {card.server} ({reason})") from None
    write_secret(staged, json.dumps(resp).encode("utf-8"))  # holds the password: 0600, atomic
    return resp, key_pem


def retire_card(boot: Path) -> None:
    """The card without its tokens becomes classpulse-enrolled.yaml (the one-time secret is gone)."""
    data = yaml.safe_load((boot / CARD).read_text(encoding="utf-8"))
    data.pop("token", None)
    for b in (data.get("boxes") or {}).values():
        b.pop("token", None)
    tmp = boot / (DONE + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write("# enrolled; tokens removed\n" + yaml.safe_dump(data, sort_keys=False))
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(boot / DONE)
    (boot / CARD).unlink()


def firstboot(boot: Path, etc: Path, state: Path, agent: list[str], start: list[str], clock_flag: Path,
              ids: list[str] | None = None) -> str:
    """Run the steps above; returns the OK line or raises FirstbootError (nothing installed then)."""
    card_file = boot / CARD
    if not card_file.exists():
        raise FirstbootError(f"no {CARD} on the boot partition", retry=False)
    card = parse_card(card_file.read_text(encoding="utf-8"))
    box = card.this_box(ids if ids is not None else box_ids())
    wait_clock(clock_flag, card.clock_wait_s)
    resp, key_pem = redeem(card, box, boot, state)
    got, want = (resp["site"], resp["room"], resp["device"]), (box.site, box.room, box.device_id)
    if got != want:
        raise FirstbootError(f"wrong room: the token is for {got[2]} in {got[0]}/{got[1]}, the card says "
                             f"{want[2]} in {want[0]}/{want[1]}; correct the card (the next boot uses the "
                             "answer already received; no new token needed)")
    staging = state / "etc"
    shutil.rmtree(staging, ignore_errors=True)
    cfg = write_config(etc, staging, card, resp, key_pem)
    chk = subprocess.run([*agent, "check", "--config", str(cfg)], capture_output=True, text=True,  # noqa: S603 - our own CLI
                         timeout=900)
    failed = [ln[6:].strip() for ln in chk.stdout.splitlines() if ln.startswith("FAIL")]
    if chk.returncode != 0:
        raise FirstbootError("edge-agent check failed: " + ("; ".join(failed) or chk.stderr.strip()[-300:]))
    write_config(etc, etc, card, resp, key_pem)
    shutil.rmtree(staging, ignore_errors=True)
    started = subprocess.run(start, capture_output=True, text=True, timeout=120)  # noqa: S603 - --start, given by the unit
    if started.returncode != 0:
        raise FirstbootError(f"enrolled, but starting the agent failed: {started.stderr.strip()[-300:]}")
    retire_card(boot)
    (state / "enrolment.json").unlink(missing_ok=True)
    (state / KEY_NAME).unlink(missing_ok=True)  # installed in etc/credentials; no second copy
    return f"OK enrolled {resp['device']} in {resp['site']}/{resp['room']}; edge-agent check passed; agent started"


def write_result(boot: Path, line: str, detail: str = "") -> None:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    tmp = boot / (RESULT + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(f"{line}\n{stamp}\n{detail}")
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(boot / RESULT)


def default_boot() -> Path:
    return next((p for p in (Path("/boot/firmware"), Path("/boot")) if (p / CARD).exists()), Path("/boot/firmware"))


def main(args: argparse.Namespace) -> int:
    boot = Path(args.boot) if args.boot else default_boot()
    agent = shlex.split(args.agent) if args.agent else [sys.executable, "-m", "edge_agent.cli"]
    ids = [i.lower() for i in args.box_id] if args.box_id else None
    try:
        line = firstboot(boot, Path(args.etc), Path(args.state_dir), agent, shlex.split(args.start),
                         Path(args.clock_flag), ids)
        code = 0
    except FirstbootError as e:
        line = f"FAIL {e}; " + ("will retry at next boot" if e.retry else "fix the card, then reboot")
        code = 1
    except Exception as e:  # noqa: BLE001 - the box has no screen: whatever happened goes into the result
        line, code = f"FAIL unexpected {type(e).__name__}: {e}; will retry at next boot", 1
    if boot.is_dir():
        write_result(boot, line, "" if code == 0 else f"box ids: {', '.join(box_ids())}\n")
    print(line, file=sys.stderr if code else sys.stdout)
    return code


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--boot", help=f"boot partition holding {CARD} (default /boot/firmware, else /boot)")
    ap.add_argument("--etc", default="/etc/classpulse", help="config directory to install into")
    ap.add_argument("--state-dir", default="/var/lib/classpulse-firstboot",
                    help="keeps a redeemed enrolment (0600) until the box is fully enrolled")
    ap.add_argument("--agent", help="edge-agent command to run `check` with (default: this Python)")
    ap.add_argument("--start", default="systemctl start --no-block classpulse-agent.service",
                    help="command that starts the agent once enrolled")
    ap.add_argument("--clock-flag", default=CLOCK_FLAG, help="file whose presence means the clock is synchronised")
    ap.add_argument("--box-id", action="append", help="this box's serial/MAC (default: read from the system)")
