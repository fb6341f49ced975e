"""``web:`` (where the dashboard listens, which proxies it trusts) and ``dashboard:`` (sessions, login
throttling, live-view states, reports and the teaching-assistant rules).

Every threshold the assistant uses lives here, so a school tunes the rules in YAML (and from the stored
feedback) without touching code.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Literal

from pydantic import Field, model_validator

from cloud_aggregator.config.section import Section, section_of

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Sequence[str]) -> tuple[Network, ...]:
    """``["10.0.0.5", "fd00::/8"]`` → networks; raises ValueError naming a bad entry."""
    out = []
    for v in values:
        try:
            out.append(ipaddress.ip_network(v.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an IP address or network: {v!r}") from None
    return tuple(out)


class WebConfig(Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    trusted_proxies: list[str] = Field(default_factory=list, description="addresses/networks of our own reverse "
                                       "proxies; X-Forwarded-For is believed only from these (default: from nobody)")

    @model_validator(mode="after")
    def _proxies(self) -> WebConfig:
        parse_networks(self.trusted_proxies)
        return self


class DropRule(Section):
    """Fire when ``metric`` stays below ``ratio`` × the section's usual level for ``windows`` windows in a row."""

    id: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    metric: Literal["attention_share", "engagement", "participation"]
    ratio: float = Field(0.75, gt=0, lt=1, description="fraction of the usual level counted as 'well below'")
    windows: int = Field(4, ge=1, le=60)
    min_usual: float = Field(0.05, ge=0, le=1, description="no rule when the usual level is below this")


class OneSidedTalkRule(Section):
    """Fire when the teacher holds more than ``share`` of the talk for ``minutes`` minutes."""

    id: str = Field("one_sided_talk", pattern=r"^[a-z0-9_]{1,40}$")
    share: float = Field(0.85, gt=0.5, le=1.0)
    minutes: float = Field(8.0, gt=0, le=90)


class AssistantConfig(Section):
    enabled: bool = True
    drop_rules: list[DropRule] = Field(default_factory=lambda: [
        DropRule(id="attention_drop", metric="attention_share", ratio=0.75, windows=4),
        DropRule(id="participation_drop", metric="participation", ratio=0.6, windows=5),
    ])
    one_sided_talk: OneSidedTalkRule | None = Field(default_factory=OneSidedTalkRule)
    min_usual_sessions: int = Field(2, ge=1, description="past sessions needed before 'usual level' means anything")
    cooldown_min: float = Field(10.0, ge=0, description="after a suggestion (or its dismissal), same rule stays quiet")

    @model_validator(mode="after")
    def _unique(self) -> AssistantConfig:
        ids = [r.id for r in self.drop_rules] + ([self.one_sided_talk.id] if self.one_sided_talk else [])
        if len(ids) != len(set(ids)):
            raise ValueError("assistant rule ids must be unique")
        return self


class AuthConfig(Section):
    session_ttl_h: float = Field(12.0, gt=0, le=24 * 30, description="a session ends this long after login")
    idle_timeout_min: float = Field(120.0, gt=0, description="…or after this long without a request")
    login_attempts: int = Field(5, ge=1, le=100, description="failed logins per (user name, client address) before "
                                "each further one waits (see web/throttle.py); also enrolment guesses per address")
    login_window_s: float = Field(300.0, gt=0, description="window of the per-address counters; a (user, address) "
                                  "delay is forgotten after this long without attempts")
    login_delay_s: float = Field(30.0, gt=0, le=3600, description="first delay past login_attempts; doubles each failure")
    login_max_delay_s: float = Field(900.0, gt=0, le=86400, description="longest delay for one (user, address)")
    address_attempts: int = Field(30, ge=1, le=10_000, description="failed logins per address per login_window_s "
                                  "(pairs that logged in before are exempt)")
    user_attempts: int = Field(100, ge=1, le=10_000, description="failed logins per user name per user_window_s "
                               "from addresses it never logged in from (ASVS 2.2.1: ≤ 100 per hour)")
    user_window_s: float = Field(3600.0, gt=0)
    known_days: float = Field(30.0, ge=0, le=365, description="a (user, address) that logged in this recently "
                              "is exempt from the address and user blocks")
    secure_cookies: bool = Field(False, description="set the Secure flag (serve over HTTPS in production)")
    scrypt_n: int = Field(2**14, ge=2**10, le=2**20, description="scrypt cost; 2^14 ≈ 50 ms on a Pi-class CPU")


class DashboardConfig(Section):
    default_language: Literal["en", "zh-CN"] = "zh-CN"
    offline_after_s: float = Field(180.0, gt=0, description="a device unheard-of this long shows as offline")
    live_history_min: float = Field(90.0, gt=0, description="how much of the current lesson the live view loads")
    usual_sessions: int = Field(10, ge=1, le=100, description="past sessions forming a section's usual level")
    zone_k: int = Field(5, ge=2, le=100, description="seat zones with fewer faces stay blank (k-anonymity)")
    assistant: AssistantConfig = Field(default_factory=AssistantConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    report_schedule: Literal["off", "weekly"] = Field("weekly", description="weekly: every Monday 06:00 site time")
    report_dir: str | None = Field(None, description="where scheduled reports are written (default: a 'reports' "
                                   "folder beside the SQLite database, else data/reports)")
    report_fonts: list[str] | None = Field(None, description="CJK font files the PDF reports try in order (default: "
                                           "the Noto Sans CJK paths of Debian's fonts-noto-cjk, which setup.sh "
                                           "installs); none found: an English report in the bundled DejaVu Sans")


def dashboard_config(config: object) -> DashboardConfig:
    """The ``dashboard`` section of an aggregator config, or defaults when it has none."""
    return section_of(config, "dashboard", DashboardConfig)
