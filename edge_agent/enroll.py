"""``edge-agent enroll``: trade the one-time token from the fleet view for this box's identity and broker login.

    edge-agent enroll --server https://aggregator.school.example --token <token> --out /etc/classpulse

Writes (creating or updating) ``<out>/agent.yaml`` (device id, site, room, broker host/port/user, TLS CA)
and ``<out>/credentials/mqtt-password`` (mode 0600; systemd hands it to the service with
``LoadCredential=``), and ``<out>/ca.crt`` when the aggregator sends a CA. Everything else in an
existing agent.yaml is kept. The token works once; a second try is refused by the aggregator.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from edge_agent.config import AgentConfig


def request_enrolment(server: str, token: str, timeout: float = 30.0) -> dict:
    """POST the token to ``<server>/api/enrol``; a refusal raises with the server's reason."""
    url = server.rstrip("/") + "/api/enrol"
    if urllib.parse.urlparse(url).scheme not in ("https", "http"):
        raise ValueError("--server must be an https:// (or, on a lab network, http://) URL")
    req = urllib.request.Request(url, data=json.dumps({"token": token}).encode(),  # noqa: S310 - scheme checked
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:  # noqa: S310
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        try:
            detail = json.loads(e.read()).get("detail", "")
        except (ValueError, AttributeError):
            detail = ""
        raise OSError(f"enrolment refused ({e.code}): {detail or e.reason}") from None


def write_device_files(resp: dict, out: Path) -> Path:
    """Merge the enrolment into ``out/agent.yaml`` and write the credential files; returns the config path."""
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "agent.yaml"
    data = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) if cfg_path.exists() else {}
    data = data or {}
    data["device"] = {**(data.get("device") or {}), "id": resp["device"], "site": resp["site"], "room": resp["room"]}
    creds = out / "credentials"
    creds.mkdir(mode=0o700, exist_ok=True)
    pw = creds / "mqtt-password"
    fd = os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(resp["mqtt"]["password"])
    mqtt = {**(data.get("mqtt") or {}), "host": resp["mqtt"]["host"], "port": resp["mqtt"]["port"],
            "username": resp["mqtt"]["username"], "password_file": str(pw)}
    if resp["mqtt"].get("ca_pem"):
        (out / "ca.crt").write_text(resp["mqtt"]["ca_pem"], encoding="utf-8")
        mqtt["tls"] = {**(mqtt.get("tls") or {}), "ca_file": str(out / "ca.crt")}
    data["mqtt"] = mqtt
    AgentConfig.model_validate(data)  # never leave a config the agent would refuse
    tmp = cfg_path.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    tmp.replace(cfg_path)
    return cfg_path


def main(args: argparse.Namespace) -> int:
    token = args.token or sys.stdin.readline().strip()
    try:
        resp = request_enrolment(args.server, token)
        cfg_path = write_device_files(resp, Path(args.out))
    except (OSError, ValueError) as e:
        print(f"enrolment failed: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"ok": True, "device": resp["device"], "site": resp["site"], "room": resp["room"],
                      "config": str(cfg_path), "broker": f"{resp['mqtt']['host']}:{resp['mqtt']['port']}",
                      "broker_reloaded": resp.get("broker_reloaded")}))
    return 0


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--server", required=True, help="the aggregator's dashboard URL")
    ap.add_argument("--token", help="one-time enrolment token (read from stdin when left out)")
    ap.add_argument("--out", default="/etc/classpulse", help="config directory (default /etc/classpulse)")
