"""Academic records: OneRoster/attendance/submissions/LMS/OULAD imports and the demo school."""

from .api import generate_demo_school, import_records
from .keys import RecordsKeys, load_keys
from .report import ImportReport

__all__ = ["ImportReport", "RecordsKeys", "generate_demo_school", "import_records", "load_keys"]
