"""`genpt finetune`: the command line of the fine-tuning stage."""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing

EPILOG = """examples:
  genpt finetune --task sst2 --data_dir ../shared/data/glue --init runs/mini --output_dir runs/sst2
  genpt finetune --task rte --data_dir ../shared/data/glue --init scratch --tokenizer tok/ --preset mini \\
      --output_dir runs/rte-scratch
  genpt finetune --task story_cloze --data_dir ../shared/data/story_cloze --init runs/mini --output_dir runs/cloze
  genpt finetune --task sst2 --init runs/mini --output_dir runs/sst2-hub          # nyu-mll/glue, when online
  genpt finetune --task custom --task_type classification --train_file train.csv --validation_file dev.csv \\
      --text_column review --label_column stars --init runs/mini --output_dir runs/reviews

Tasks: cola sst2 mrpc stsb qqp mnli qnli rte wnli (GLUE), story_cloze, custom.
Ctrl-C checkpoints and stops (exit 130); --resume auto continues exactly where it stopped.
The run folder holds config.yaml, tokenizer/, model.safetensors (best epoch), eval_results.json,
predictions_dev.tsv, metrics.jsonl, training_curve.png and, with --predict test, the GLUE
submission file (e.g. SST-2.tsv). Re-evaluate it with `genpt eval --run DIR --task NAME`."""

HELP = {
    "task": "task name, or custom",
    "init": "genpt pretraining run folder, Hugging Face openai-gpt/gpt2 folder (or hub id), or scratch",
    "tokenizer": "tokenizer folder (needed with --init scratch)",
    "preset": "model preset (needed with --init scratch)",
    "data_dir": "GLUE folder (glue_data layout) or the task's own folder; for story_cloze, the folder of its "
                "val CSV, split 80/20 by story id into train and dev",
    "predict": "also predict these unlabelled splits and write GLUE submission files",
    "aux_lm_weight": "lambda of the auxiliary LM loss, L3 = L2 + lambda * L1 (default 0.5; 0 for --arch transformer; 0 disables)",
    "arch": "gpt, or a baseline trained from scratch: transformer (encoder-decoder) or lstm (with attention)",
    "max_steps": "stop after this many optimizer steps (overrides --num_train_epochs)",
    "task_type": "custom tasks: what the files hold",
}


def register(subparsers: argparse._SubParsersAction) -> None:
    from genpt.finetune.train import FinetuneConfig

    parser = subparsers.add_parser(
        "finetune",
        help="fine-tune a GPT on a GLUE, multiple-choice or custom task",
        description="Supervised fine-tuning with GPT-1's input transformations and task heads (paper, section 3.3).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--output_dir", required=True, help="the run folder")
    parser.add_argument("--overwrite_output_dir", action="store_true", help="replace a fine-tuned model already there")
    parser.add_argument("--resume", metavar="PATH|auto", help="continue from a checkpoint folder, or the newest in --output_dir")
    add_config_options(parser, FinetuneConfig(task="", init=""), required=("task", "init"), help_texts=HELP)
    parser.set_defaults(func=run)


def add_config_options(parser: argparse.ArgumentParser, defaults: typing.Any, required: tuple[str, ...],
                       help_texts: dict[str, str]) -> None:
    """One `--field` option per field of the config dataclass `defaults` is an instance of."""
    hints = typing.get_type_hints(type(defaults))
    for f in dataclasses.fields(defaults):
        add_option(parser, f.name, hints[f.name], getattr(defaults, f.name), f.name in required, help_texts.get(f.name, ""))


def config_from_args(config_class: type, args: argparse.Namespace) -> typing.Any:
    values = vars(args)
    return config_class(**{f.name: values[f.name] for f in dataclasses.fields(config_class)})


def report_interruption(summary: dict[str, typing.Any]) -> int:
    """The exit status of a run stopped by Ctrl-C, after saying how to continue it."""
    if summary["is_main_process"]:
        print(f"interrupted at step {summary['steps']}: run the same command with --resume auto to continue")
    return 130  # the shell's code for a run stopped by Ctrl-C


def add_option(parser: argparse.ArgumentParser, name: str, kind: typing.Any, default: typing.Any, required: bool,
               help_text: str) -> None:
    """One `--name` option for a config field, typed and documented from the field."""
    if default not in (None, "", []) and kind is not bool:
        help_text = f"{help_text} (default: {default})".strip()
    optional = typing.get_origin(kind) in (typing.Union, types.UnionType)
    base = next(a for a in typing.get_args(kind) if a is not type(None)) if optional else kind
    if kind is bool:
        parser.add_argument(f"--{name}", action=argparse.BooleanOptionalAction, default=default, help=help_text)
    elif typing.get_origin(base) is typing.Literal:
        parser.add_argument(f"--{name}", choices=typing.get_args(base), default=default, required=required, help=help_text)
    elif typing.get_origin(base) is list or base is list:
        parser.add_argument(f"--{name}", nargs="+", default=default, help=help_text)
    else:
        metavar = "N" if base is int else ("X" if base is float else None)
        parser.add_argument(f"--{name}", type=base, default=default, required=required, metavar=metavar, help=help_text)


def run(args: argparse.Namespace) -> int:
    from genpt.finetune.train import FinetuneConfig, finetune

    config = config_from_args(FinetuneConfig, args)
    summary = finetune(config, args.output_dir, overwrite=args.overwrite_output_dir, resume=args.resume)
    if summary["stop_reason"] == "interrupted":
        return report_interruption(summary)
    if summary["is_main_process"]:
        results = summary["eval_results"]
        shown = ", ".join(f"{k} {v:.4f}" for k, v in results.items() if isinstance(v, float))
        print(f"{summary['task']}: {shown} (best epoch {results['epoch']}, {results['eval_samples']} dev examples); "
              f"{summary['examples_per_s']:.1f} examples/s; run folder {summary['output_dir']}")
        if summary["test_predictions"]:
            print(f"test predictions: {', '.join(summary['test_predictions'])}")
    return 0
