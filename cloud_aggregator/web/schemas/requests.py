"""Request bodies of the API: strict (unknown fields refused), bounded, one model per operation."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from classpulse_contract import ID_PATTERN
from cloud_aggregator.device_certs import CSR_MAX_CHARS

from ..ranges import Day

#: a path id of the dashboard's own (section, student, intervention, device)
Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@-]+$")]
ContractId = Annotated[str, Field(pattern=ID_PATTERN, description="a wire-contract id (site, room, device)")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoginIn(_In):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class LanguageIn(_In):
    language: Literal["en", "zh-CN"]


class FeedbackIn(_In):
    section_id: Id
    session_id: str = Field(min_length=1, max_length=200)
    suggestion_id: str = Field(min_length=1, max_length=300)
    rule_id: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    verdict: Literal["useful", "dismissed"]
    value: float | None = Field(None, ge=0, le=1)
    usual: float | None = Field(None, ge=0, le=1)


class WarningActionIn(_In):
    action: Literal["acknowledge", "escalate"]
    note: str = Field("", max_length=2000)


class InterventionIn(_In):
    kind: Literal["meeting", "call_home", "tutoring", "referral", "other"]
    note: str = Field("", max_length=4000)
    warning_id: str | None = Field(None, max_length=200)
    at: Day | None = Field(None, description="when it took place, if not now (recorded after the fact); "
                           "never in the future — the effect on risk is measured from this day")


class OutcomeIn(_In):
    outcome: Literal["improved", "no_change", "worse", "closed"]
    note: str = Field("", max_length=4000)


class TokenIn(_In):
    site: ContractId
    room: ContractId
    device: ContractId
    ttl_h: int = Field(24, ge=1, le=24 * 14, strict=True, description="hours the token stays valid")
    rekey: bool = Field(False, strict=True, description="replace the credentials of an already-enrolled device")


class RoomIn(_In):
    site: ContractId
    room: ContractId


class EnrolIn(_In):
    token: str = Field(min_length=16, max_length=128)
    csr_pem: str | None = Field(None, max_length=CSR_MAX_CHARS, description="the box's certificate request "
                                "(PEM, EC P-256, CN = its device id); required when the aggregator signs device "
                                "certificates (enrolment.client_ca_cert), ignored otherwise")


class ModelUpdateIn(_In):
    model: str = Field(pattern=r"^[a-z0-9_-]{1,40}$")
    version: str = Field(pattern=r"^[A-Za-z0-9._-]{1,40}$")
    url: str = Field(pattern=r"^https://[^\s]{1,500}$", description="devices fetch bundles over https only")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
