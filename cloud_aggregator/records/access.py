"""Names for those who need them: the records' encrypted names, decrypted for the dashboard.

Analytics code (cloud_aggregator/warnings) works on pseudonyms; who may be analysed at all (enabled
students who have not opted out) is decided in one place, ``cloud_aggregator.store.analysable``.
Names are decrypted only through :func:`student_names`, which the dashboard calls for the roles that need them
(advisors/counsellors of those students), never for analytics. A counsellor's students are
``cloud_aggregator.store.records_access.advisees``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cloud_aggregator.store import records_access
from cloud_aggregator.store.engine import RecordsDB

from .keys import RecordsKeys


def _decrypted(keys: RecordsKeys, ciphertexts: dict[str, str | None]) -> dict[str, dict[str, str]]:
    return {k: {f: v for f, v in keys.decrypt(enc).items() if v} for k, enc in ciphertexts.items()}


def student_names(db: Any, keys: RecordsKeys, pseudonyms: Iterable[str]) -> dict[str, dict[str, str]]:  # noqa: ANN401 - anything RecordsDB.open takes
    """Decrypted names (given, family, english) for the given pseudonyms; unknown ones are absent."""
    return _decrypted(keys, records_access.student_name_ciphertexts(RecordsDB.open(db), pseudonyms))


def staff_names(db: Any, keys: RecordsKeys, sourced_ids: Iterable[str]) -> dict[str, dict[str, str]]:  # noqa: ANN401
    """Decrypted names of staff (teachers, advisors, counsellors) by sourced id, for dashboard labels."""
    return _decrypted(keys, records_access.staff_name_ciphertexts(RecordsDB.open(db), sourced_ids))
