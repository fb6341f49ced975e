"""ClassPulse wire contract (pydantic only). See ``v1`` and docs/wire-contract.md."""

from .v1 import (  # noqa: F401
    CONTRACT_VERSION,
    EXPRESSION_CLASSES,
    MAX_PAYLOAD_BYTES,
    TONE_CLASSES,
    Aggregate,
    Command,
    CommandResult,
    ContractError,
    CoverageFlag,
    Health,
    PolicyMode,
    QualityFlag,
    Status,
    ZoneStat,
    dumps,
    parse_aggregate,
    parse_message,
    parse_topic,
    topic,
)
