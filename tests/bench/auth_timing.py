"""Password-check timing: does an unknown user cost the same as a wrong password?

Not a test. Run: /work/venv/bin/python tests/bench/auth_timing.py [TRIES]
(TRIES, default 1000, is split evenly over the cases and interleaved so drift
hits every case alike). Prints median / p10 / p90 per case in milliseconds: for a
list with a hashed entry (every check pays one scrypt) and for a list of
plaintext entries only (checked without scrypt).
"""

from __future__ import annotations

import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.sync.auth import Allowlist, Authenticator, hash_password  # noqa: E402


def main() -> int:
    logging.disable(logging.WARNING)  # the plaintext-entry warning is expected here
    tries = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "userallowlist.json"
        path.write_text(json.dumps({"name": "plain", "password": "right-pw"}) + "\n"
                        + json.dumps({"name": "hashed", "scrypt": hash_password("right-pw")})
                        + "\n")
        checker = Authenticator(Allowlist.load(path))
        path.write_text(json.dumps({"name": "plain", "password": "right-pw"}) + "\n")
        plain_only = Authenticator(Allowlist.load(path))
    hashed_cases = {
        "unknown user": (checker, "nobody", "right-pw"),
        "wrong password (scrypt entry)": (checker, "hashed", "wrong-pw"),
        "wrong password (plaintext entry)": (checker, "plain", "wrong-pw"),
    }
    # Timed apart: a check right after a scrypt (16 MiB) runs on cold caches.
    plain_cases = {
        "plaintext-only list: unknown user": (plain_only, "nobody", "right-pw"),
        "plaintext-only list: wrong password": (plain_only, "plain", "wrong-pw"),
    }
    times: dict[str, list[float]] = {}
    for cases in (hashed_cases, plain_cases):
        times.update({name: [] for name in cases})
        for i in range(tries):
            name = list(cases)[i % len(cases)]
            check, user, password = cases[name]
            start = time.perf_counter()
            check._check(user, password)  # the check itself, without the throttle
            times[name].append(time.perf_counter() - start)
    print(f"{tries} tries per list, split over its cases (ms: median, p10, p90)")
    for name, samples in times.items():
        q = statistics.quantiles(samples, n=10)
        print(f"  {name:36s} {statistics.median(samples) * 1e3:8.3f} "
              f"{q[0] * 1e3:8.3f} {q[-1] * 1e3:8.3f}")
    unknown = statistics.median(times["unknown user"])
    wrong = statistics.median(times["wrong password (scrypt entry)"])
    print(f"median difference unknown - wrong: {(unknown - wrong) * 1e6:+.0f} us "
          f"({(unknown - wrong) / wrong * 100:+.2f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
