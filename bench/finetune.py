"""Fine-tuning throughput on SST-2: `genpt finetune` against the Hugging Face Trainer with
`OpenAIGPTForSequenceClassification` of the same size.

Both train the same architecture (the `mini` preset unless --preset says otherwise) on the
same SST-2 examples, each encoded as `start text extract` by the same tokenizer, with the
same batch size, precision, optimizer (fused AdamW, lr 6.25e-5, linear schedule with 0.2%
warm-up), clipping at 1.0 and one epoch. Both pad per batch; genpt groups batches by
length, and so does the main Trainer row (`train_sampling_strategy="group_by_length"`, its
length-grouped sampler); a second Trainer row draws random batches, its default.
Throughput is examples per second of training, data loading and optimizer included, after
--warmup steps; evaluation is excluded on both sides. genpt runs without the auxiliary LM
loss (the HF class has none) and again with it (lambda 0.5, the paper's default). All run
with `genpt.perf.keep_freed_memory` applied, as `genpt finetune` does (the CLI applies it to
its training commands). Each contender runs `--rounds` times, in turn, and its best run
counts: on a shared machine one run moves by 10-30%. `bench/task_step.py` times the step
alone, which moves less.

    python bench/finetune.py                                    # embedded SST-2 slice, fp32 and bf16
    python bench/finetune.py --data_dir ../shared/data/glue --max_train_samples 8000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from genpt.config import GPTConfig
from genpt.convert import to_hf_config
from genpt.data.tasks import get_task, read_split
from genpt.finetune.config import FinetuneConfig
from genpt.finetune.train import finetune
from genpt.perf import keep_freed_memory
from genpt.resources import default_corpus_dir, default_glue_dir
from genpt.tokenization import load_tokenizer
from genpt.tokenizer.train import train_tokenizer


def genpt_examples_per_second(config: FinetuneConfig, output_dir: Path, warmup: int) -> float:
    """Examples/s over the steps after warm-up, from the per-step log (logging every step)."""
    finetune(config, output_dir, show_progress=False)
    rows = [json.loads(line) for line in (output_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in rows if "train_seconds" in r]
    first, last = steps[warmup - 1], steps[-1]
    return (last["examples_seen"] - first["examples_seen"]) / (last["train_seconds"] - first["train_seconds"])


def trainer_examples_per_second(tokenizer_dir: str, preset: str, texts: list[str], labels: list[int], *,
                                batch_size: int, max_seq_length: int, bf16: bool, seed: int, warmup: int,
                                output_dir: Path, group_by_length: bool = True) -> float:
    from datasets import Dataset
    from transformers import (
        DataCollatorWithPadding,
        OpenAIGPTForSequenceClassification,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    tokenizer = load_tokenizer(tokenizer_dir)
    model_config = GPTConfig.from_name(preset, vocab_size=len(tokenizer))
    hf_config = to_hf_config(model_config, pad_token_id=tokenizer.pad_token_id)
    hf_config.num_labels = 2
    torch.manual_seed(seed)
    model = OpenAIGPTForSequenceClassification(hf_config)
    # The genpt tokenizer's template already gives `start text extract`.
    encoded = tokenizer(texts, truncation=True, max_length=max_seq_length)
    dataset = Dataset.from_dict({"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"], "labels": labels})
    step_ends: list[float] = []

    class StepTimer(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            step_ends.append(time.perf_counter())

    arguments = TrainingArguments(
        output_dir=str(output_dir), per_device_train_batch_size=batch_size, num_train_epochs=1,
        learning_rate=6.25e-5, warmup_steps=0.002, lr_scheduler_type="linear", weight_decay=0.01, max_grad_norm=1.0,
        optim="adamw_torch_fused", bf16=bf16, use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0,
        logging_steps=10**9, save_strategy="no", eval_strategy="no", report_to=[], seed=seed, disable_tqdm=True,
        train_sampling_strategy="group_by_length" if group_by_length else "random",
    )
    trainer = Trainer(model=model, args=arguments, train_dataset=dataset, data_collator=DataCollatorWithPadding(tokenizer),
                      callbacks=[StepTimer()])
    trainer.train()
    examples_after_warmup = len(texts) - warmup * batch_size
    return examples_after_warmup / (step_ends[-1] - step_ends[warmup - 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", default=str(default_glue_dir()), help="GLUE folder holding SST-2/")
    parser.add_argument("--tokenizer", help="tokenizer folder (default: train an 8,192-token one on the embedded books)")
    parser.add_argument("--preset", default="mini")
    parser.add_argument("--batch_size", type=int, default=32)
    parser.add_argument("--max_train_samples", type=int, default=3000)
    parser.add_argument("--max_seq_length", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=5, help="steps left out of the timing")
    parser.add_argument("--precisions", nargs="+", default=["no", "bf16"], choices=["no", "bf16"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every contender this many times, in turn, and keep each one's best (one run moves by 10-30%% on a shared machine)")
    args = parser.parse_args()
    keep_freed_memory()  # what the genpt CLI does for its training commands; the Trainer gets it too

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        tokenizer = args.tokenizer or str(workdir / "tokenizer")
        if not args.tokenizer:
            train_tokenizer([default_corpus_dir()], output_dir=tokenizer, vocab_size=8192, show_progress=False)
        examples = read_split(get_task("sst2"), "train", data_dir=args.data_dir)[: args.max_train_samples]
        texts, labels = [e.text_a for e in examples], [int(e.label) for e in examples]
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; preset {args.preset}, SST-2 {len(examples)} "
              f"examples, batch {args.batch_size}, max length {args.max_seq_length}, {args.warmup} warm-up steps untimed")
        print("| precision | genpt, no aux LM (ex/s) | genpt, aux LM 0.5 (ex/s) | HF Trainer, length-grouped (ex/s) | "
              "HF Trainer, random batches (ex/s) | speed-up over length-grouped (no aux LM) |")
        print("|---|---:|---:|---:|---:|---:|")
        for precision in args.precisions:
            best: dict[str, float] = {}
            for round_ in range(args.rounds):  # in turn, order alternating: a slow spell hits every contender alike
                measures = list(contenders(args, tokenizer, texts, labels, precision, workdir / f"{precision}-{round_}").items())
                for name, measure in measures if round_ % 2 == 0 else measures[::-1]:
                    examples_per_second = measure()
                    print(f"  {precision}, round {round_ + 1}, {name}: {examples_per_second:,.1f} examples/s", flush=True)
                    best[name] = max(best.get(name, 0.0), examples_per_second)
            ours, grouped, shuffled = {0.0: best["genpt"], 0.5: best["genpt, aux LM"]}, best["grouped"], best["random"]
            print(f"| {'fp32' if precision == 'no' else precision} | {ours[0.0]:,.1f} | {ours[0.5]:,.1f} | {grouped:,.1f} | "
                  f"{shuffled:,.1f} | {ours[0.0] / grouped:.2f}x |", flush=True)


def contenders(args: argparse.Namespace, tokenizer: str, texts: list[str], labels: list[int], precision: str,
               workdir: Path) -> dict[str, Callable[[], float]]:
    """Each contender's measurement, examples/s, to be called once per round."""
    def genpt(aux: float) -> float:
        config = FinetuneConfig(
            task="sst2", init="scratch", tokenizer=tokenizer, preset=args.preset, data_dir=args.data_dir,
            batch_size=args.batch_size, num_train_epochs=1, max_train_samples=args.max_train_samples,
            max_eval_samples=args.batch_size, max_seq_length=args.max_seq_length, aux_lm_weight=aux,
            mixed_precision=precision, logging_steps=1, seed=args.seed)
        return genpt_examples_per_second(config, workdir / f"genpt-{aux}", args.warmup)

    def trainer(group_by_length: bool) -> float:
        return trainer_examples_per_second(
            tokenizer, args.preset, texts, labels, batch_size=args.batch_size, max_seq_length=args.max_seq_length,
            bf16=precision == "bf16", seed=args.seed, warmup=args.warmup, group_by_length=group_by_length,
            output_dir=workdir / f"trainer-{'grouped' if group_by_length else 'random'}")

    return {"genpt": lambda: genpt(0.0), "genpt, aux LM": lambda: genpt(0.5),
            "grouped": lambda: trainer(True), "random": lambda: trainer(False)}


if __name__ == "__main__":
    main()
