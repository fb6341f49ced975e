"""Write the contract's JSON Schemas into classpulse_contract/schema/ (a test keeps them in sync).

Run: ``python -m classpulse_contract.export``
"""

from __future__ import annotations

import json
from pathlib import Path

from classpulse_contract.v1 import json_schemas

SCHEMA_DIR = Path(__file__).resolve().parent / "schema"


def rendered() -> dict[str, str]:
    return {name: json.dumps(s, indent=2, sort_keys=True) + "\n" for name, s in json_schemas().items()}


def main() -> None:
    SCHEMA_DIR.mkdir(exist_ok=True)
    for name, text in rendered().items():
        (SCHEMA_DIR / name).write_text(text, encoding="utf-8")
        print(SCHEMA_DIR / name)


if __name__ == "__main__":
    main()
