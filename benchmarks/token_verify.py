"""CPU per first verification of an access token (`TokenService._decode`, what a connect pays
for a token this process has not seen): HS256 tokens of distinct users, with the fast path of
`_signed_here` and with every token left to joserfc's `jwt.decode`, in turn.

    .venv/bin/python benchmarks/token_verify.py --tokens 5000 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import time

from core.settings import Settings
from core.tokens import TokenService


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = Settings(_env_file=None, env="test", access_token_ttl_seconds=6 * 3600)
    fast, joserfc_only = TokenService(settings), TokenService(settings)
    joserfc_only._signed_here = lambda token: None  # type: ignore[method-assign]
    tokens = [fast.issue(sub=f"{n:032x}", role="member", typ="access").token
              for n in range(args.tokens)]
    print(time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
          "load average", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    for n in range(1, args.rounds + 1):
        row = []
        for name, service in (("fast path", fast), ("joserfc", joserfc_only)):
            began = time.process_time()
            for token in tokens:
                service._decode(token, "access")
            row.append(f"{name} {(time.process_time() - began) / len(tokens) * 1e6:.1f} us")
        print(f"round {n}: " + ", ".join(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
