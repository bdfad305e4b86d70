"""GGUF file -> float32 safetensors folder that vLLM loads (run by the vLLM venv's Python).

    python gguf_to_hf.py MODEL.gguf OUT_DIR [--chat-template FILE]

A standalone script: it imports only torch and transformers (plus gguf and accelerate, which
transformers uses to read a GGUF), never this project, so it runs in the vLLM venv. transformers
de-quantises the GGUF's weights to float32 and rebuilds the tokenizer from its metadata; the GGUF
"quantizer" it leaves on the model is cleared, or ``save_pretrained`` refuses to write.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("gguf", type=Path, help="the GGUF model file")
    parser.add_argument("out", type=Path, help="the folder to write (config, safetensors, tokenizer)")
    parser.add_argument("--chat-template", type=Path, default=None,
                        help="a Jinja chat template to store with the tokenizer")
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    directory, name = str(args.gguf.parent), args.gguf.name
    print(f"reading {args.gguf} ...", file=sys.stderr, flush=True)  # noqa: T201 - progress
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    model: Any = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    if args.chat_template is not None:
        tokenizer.chat_template = args.chat_template.read_text(encoding="utf-8")
    print(f"writing {args.out} ...", file=sys.stderr, flush=True)  # noqa: T201 - progress
    model.save_pretrained(args.out, safe_serialization=True)
    tokenizer.save_pretrained(args.out)
    params = sum(p.numel() for p in model.parameters())
    print(json.dumps({"parameters": params, "dtype": "float32",  # noqa: T201 - the result
                      "architecture": type(model).__name__}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
