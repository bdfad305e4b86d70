"""``netgpt train sft``: supervised fine-tuning on the cloud's answers (TRL ``SFTTrainer``, LoRA).

The examples are tokenised here (prompt masked with -100), so the loss falls on the assistant's
tokens only, whatever chat template the base model ships; ``SFTTrainer`` sees a tokenised
dataset and trains. ``--offload-share`` turns a share of targets into the offload marker so a
model that will be trained with GAPG has the marker as an action it can sample.
"""

from __future__ import annotations

import argparse
import math
import random
import tempfile
from pathlib import Path
from typing import Any

from edge_worker.training.card import TrainLog, write_card
from edge_worker.training.data import data_hash, load_split, split_files, with_offload_tool
from edge_worker.training.encode import encode_example
from edge_worker.training.evaluate import evaluate
from edge_worker.training.modeling import load_base, load_tokenizer, pick_device, seed_all
from edge_worker.training.runlog import console, quiet_libraries

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def lora_config(args: argparse.Namespace) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        target_modules=LORA_TARGETS,
        task_type="CAUSAL_LM",
    )


def run_sft(args: argparse.Namespace) -> int:
    quiet_libraries()
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    seed_all(args.seed)
    device = pick_device(args.device)
    tokenizer = load_tokenizer(args.model, args.chat_template)
    train = with_offload_tool(load_split(args.data, "train", args.limit), args.offload_tool)
    held_out = with_offload_tool(
        # a small export may have no validation shard: then there is nothing to score
        load_split(args.data, "validation", args.eval_limit)
        if args.eval_limit and split_files(args.data, "validation") else [],
        args.offload_tool,
    )
    rng = random.Random(args.seed)
    features = [
        encode_example(tokenizer, ex, offload=rng.random() < args.offload_share).features()
        for ex in train
    ]
    features = [f for f in features if len(f["input_ids"]) <= args.max_length]
    if not features:
        raise SystemExit(f"every example is longer than --max-length {args.max_length}; raise it")
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    model = load_base(args.model, device)
    console.print(f"[bold]sft[/] {len(features)} examples, base {args.model}, device {device}")
    before = evaluate(model, tokenizer, held_out, max_new_tokens=args.max_new_tokens)
    with tempfile.TemporaryDirectory() as scratch:
        config = SFTConfig(
            output_dir=scratch,
            num_train_epochs=args.epochs,
            max_steps=args.max_steps if args.max_steps else -1,
            per_device_train_batch_size=args.batch_size,
            learning_rate=args.lr,
            lr_scheduler_type="constant",
            warmup_steps=0,
            logging_steps=1,
            save_strategy="no",
            report_to=[],
            seed=args.seed,
            use_cpu=device == "cpu",
            bf16=device == "cuda",
            max_length=args.max_length,
            dataloader_num_workers=0,
            # set under its new name: TRL's default under the old one warns on transformers 5
            activation_checkpointing=False,
            disable_tqdm=not console.is_terminal,
        )
        trainer = SFTTrainer(
            model=model,
            args=config,
            train_dataset=Dataset.from_list(features),
            processing_class=tokenizer,
            peft_config=lora_config(args),
        )
        trainer.train()
        policy = trainer.model
    log = TrainLog(out)
    for row in trainer.state.log_history:
        if "loss" in row:
            log.write({"step": row.get("step"), "loss": row["loss"]})
    losses = [row["loss"] for row in log.rows]
    if not losses or not all(math.isfinite(x) for x in losses):
        raise SystemExit(f"SFT loss is not finite ({losses[-3:]}); lower --lr")
    policy.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    after = evaluate(policy, tokenizer, held_out, max_new_tokens=args.max_new_tokens)
    write_card(
        out,
        kind="sft",
        base_model=str(args.model),
        init_adapter=None,
        data={"dir": args.data, "sha256": data_hash(args.data), "n_train": len(features),
              "n_validation": len(held_out)},
        settings=vars(args),
        before=before,
        after=after,
        training={"steps": len(losses), "first_loss": losses[0], "last_loss": losses[-1]},
    )
    console.print(f"before {before}\nafter  {after}\nadapter and model_card.json in {out}")
    return 0
