"""Room calibration: the set-up tool and per-room profiles (camera zones, board direction, mic noise floor)."""
