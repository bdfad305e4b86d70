"""``python -m edge_worker.training.convert``: the loop's model conversions, each in its own process (torch
is loaded only there, and the caller records its time and peak memory).

    python -m edge_worker.training.convert hf GGUF OUT_DIR [--chat-template FILE]
    python -m edge_worker.training.convert ship ADAPTER_DIR BASE_HF OUT_ADAPTER_GGUF MERGED_DIR [--gguf OUT]
"""

from __future__ import annotations

import argparse
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge_worker.training.convert",
                                     description="GGUF <-> Hugging Face conversions of the learning round")
    sub = parser.add_subparsers(dest="what", required=True)
    hf = sub.add_parser("hf", help="a GGUF -> a de-quantised HF directory (the training base)")
    hf.add_argument("gguf", type=Path)
    hf.add_argument("out", type=Path)
    hf.add_argument("--chat-template", type=Path, default=None)
    ship = sub.add_parser("ship", help="an adapter -> GGUF adapter + merged HF (+ merged GGUF)")
    ship.add_argument("adapter", type=Path)
    ship.add_argument("base", type=Path)
    ship.add_argument("adapter_gguf", type=Path)
    ship.add_argument("merged", type=Path)
    ship.add_argument("--gguf", type=Path, default=None, help="also convert the merged model")
    ship.add_argument("--outtype", default="q8_0", help="merged GGUF type (default: q8_0)")
    args = parser.parse_args(argv)

    from edge_worker.training.gguf import convert_adapter, convert_model, export_hf, merge_adapter
    from edge_worker.training.runlog import quiet_libraries

    quiet_libraries()
    if args.what == "hf":
        export_hf(args.gguf, args.out, args.chat_template)
        return 0
    convert_adapter(args.adapter, args.base, args.adapter_gguf)
    merge_adapter(args.base, args.adapter, args.merged)
    if args.gguf is not None:
        convert_model(args.merged, args.gguf, args.outtype)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
