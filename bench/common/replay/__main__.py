"""``python -m bench.common.replay``: decode every recorded model's answers and check them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.common.replay",
        description=(
            "Decodes what each recorded model answered to the 1,240 BFCL v1 AST requests and "
            "prints, per model, how many answers its parser accepts and how often the project's "
            "BFCL AST checker on the decoded answer agrees with the recorded correctness."
        ),
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="folder holding bfcl/ and outcomes/ (default: ../shared/data next to the repo)",
    )
    parser.add_argument(
        "--model",
        action="append",
        default=None,
        help="a recorded model (repeatable; default: every model under outcomes/results/)",
    )
    parser.add_argument(
        "--examples", action="store_true", help="also print up to five disagreements per model"
    )
    args = parser.parse_args(argv)

    from bench.common.bfcl import DataError, default_data_dir
    from bench.common.replay.agreement import measure, table
    from bench.common.replay.loader import ReplayDataError

    data = args.data if args.data is not None else default_data_dir()
    try:
        rows = measure(data, args.model)
    except (ReplayDataError, DataError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(table(rows))
    if args.examples:
        for row in rows:
            for example in row.examples:
                print(f"{row.model}: {example}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
