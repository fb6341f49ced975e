"""``enrolment:`` section: where devices reach the broker and which files enrolment may write.

The enrolment itself (token → credentials) is ``cloud_aggregator.enrolment``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from cloud_aggregator.config.section import Section


class EnrolmentConfig(Section):
    broker_host: str | None = Field(None, description="broker address devices should use (as they see it)")
    broker_port: int = Field(8883, ge=1, le=65535)
    ca_file: Path | None = Field(None, description="CA certificate sent to devices for TLS (public)")
    password_file: Path | None = Field(None, description="Mosquitto password_file the aggregator may append to; "
                                       "enrolment is off while unset")
    mosquitto_pid_file: Path | None = Field(None, description="SIGHUP this pid so Mosquitto reloads the passwords")
    acl_file: Path | None = Field(None, description="the device listener's acl_file, rewritten from the device "
                                  "registry at start, on every enrolment and room move (each device pinned to its "
                                  "own site/room topics)")
    client_ca_cert: Path | None = Field(None, description="CA that signs device client certificates (the device "
                                        "listener's cafile trusts it); with client_ca_key, every enrolment must "
                                        "send a CSR and gets a certificate back; unset: no certificates issued")
    client_ca_key: Path | None = Field(None, description="that CA's private key (PEM, unencrypted, 0600, "
                                       "readable by the aggregator only)")
    client_cert_days: int = Field(825, ge=1, le=3650, description="validity of a device certificate (never past "
                                  "the CA's own); a box re-enrols (re-key token) before it ends")

    @property
    def client_ca_files(self) -> tuple[Path, Path] | None:
        """(client_ca_cert, client_ca_key) when device certificates are issued (set together, see below)."""
        if self.client_ca_cert is None or self.client_ca_key is None:
            return None
        return self.client_ca_cert, self.client_ca_key

    @model_validator(mode="after")
    def _ca_pair(self) -> EnrolmentConfig:
        if (self.client_ca_cert is None) != (self.client_ca_key is None):
            raise ValueError("client_ca_cert and client_ca_key go together")
        if self.client_ca_cert is not None and self.ca_file is None:
            raise ValueError("client_ca_cert needs ca_file too (the box verifies the broker with it over TLS)")
        return self
