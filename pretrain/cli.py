"""`genpt pretrain`: the command line of the pretraining stage."""

from __future__ import annotations

import argparse
import dataclasses
import math
import shlex
import typing
from pathlib import Path

from genpt.config import PRESETS, GPTConfig
from genpt.errors import GenptError

EPILOG = """examples:
  genpt pretrain --preset tiny --tokenizer tok/ --input books/ --output_dir runs/tiny
  genpt pretrain --preset mini --tokenizer tok/ --input ../shared/data/gutenberg/books \\
      --strip_gutenberg --output_dir runs/mini --max_time_minutes 30
  genpt pretrain --config runs/mini/config.yaml --output_dir runs/mini-again
  genpt pretrain --config runs/mini/config.yaml --output_dir runs/mini --resume auto
  genpt pretrain --init hf/openai-gpt --input my_corpus/ --output_dir runs/adapted --max_steps 2000
  accelerate launch --multi_gpu --num_processes 8 -m genpt pretrain --preset gpt1 ...

The run folder holds config.yaml (reproduces the run), tokenizer/, checkpoints/step-N/,
best/, model.safetensors, metrics.jsonl, loss_curve.png and tensorboard/.
Command-line options override the preset or config file."""


def register(subparsers: argparse._SubParsersAction) -> None:
    from genpt.pretrain.train import TrainingConfig

    parser = subparsers.add_parser(
        "pretrain",
        help="pretrain a GPT on unlabeled text",
        description="Generative pretraining of a GPT (paper, section 3.1) on one CPU or many GPUs.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,  # unset options leave the preset/config value
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", choices=sorted(PRESETS), help="model preset (with its training defaults)")
    source.add_argument("--config", metavar="FILE", help="run config YAML (a run folder's config.yaml reproduces it)")
    parser.add_argument("--output_dir", required=True, help="the run folder")
    parser.add_argument("--resume", metavar="PATH|auto", help="continue from a checkpoint folder, or the newest in --output_dir")
    data = parser.add_argument_group("data")
    data.add_argument("--tokenizer", metavar="DIR", help="tokenizer folder from `genpt tokenizer train`")
    data.add_argument("--input", nargs="+", metavar="PATH", dest="inputs", help="files, folders or a datasets name")
    data.add_argument("--validation_input", nargs="+", metavar="PATH", dest="validation_inputs",
                      help="held-out files (default: hold out --validation_fraction of the documents)")
    data.add_argument("--validation_fraction", type=float)
    data.add_argument("--strip_gutenberg", action="store_true", help="remove Project Gutenberg headers and footers")
    data.add_argument("--text_column", help="JSON Lines / Parquet / dataset text column (default: text)")
    data.add_argument("--dataset_config", help="configuration of a Hugging Face dataset")
    data.add_argument("--split", help="split of a Hugging Face dataset (default: train)")
    data.add_argument("--data_cache_dir", dest="cache_dir", metavar="DIR", help="where the token files go (default: OUTPUT_DIR/data)")
    training = parser.add_argument_group("training (defaults: the preset's, see `genpt pretrain --help`)")
    hints = typing.get_type_hints(TrainingConfig)
    for f in dataclasses.fields(TrainingConfig):
        kind = hints[f.name]
        if kind is bool:
            training.add_argument(f"--{f.name}", action="store_true")
        elif f.name == "mixed_precision":
            training.add_argument("--mixed_precision", choices=typing.get_args(kind))
        else:
            base = next((a for a in typing.get_args(kind) if a is not type(None)), kind)
            training.add_argument(f"--{f.name}", type=base, metavar="N" if base is int else "X")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from genpt.pretrain.train import (
        DataConfig,
        RunConfig,
        TrainingConfig,
        pretrain,
        training_defaults,
    )

    given = vars(args)
    own_config = Path(given["output_dir"]) / "config.yaml"
    if "config" in given:
        base = RunConfig.from_yaml(given["config"])
    elif "resume" in given and "preset" not in given and "init" not in given and own_config.is_file():
        base = RunConfig.from_yaml(own_config)  # continuing a run: its own config says what it was
    elif "preset" in given:
        base = RunConfig(GPTConfig.from_name(given["preset"]), training_defaults(given["preset"]), DataConfig())
    elif "init" in given:  # the model comes from --init; the gpt1 shape here is only a placeholder
        base = RunConfig(GPTConfig.from_name("gpt1"), training_defaults(None), DataConfig())
    else:
        raise GenptError("give --preset NAME, --config FILE, or --init MODEL to say what to train "
                         "(or --resume auto to continue the run in --output_dir)")
    overrides = {group: {f.name: given[f.name] for f in dataclasses.fields(cls) if f.name in given}
                 for group, cls in (("training", TrainingConfig), ("data", DataConfig))}
    run_config = RunConfig(
        base.model,
        dataclasses.replace(base.training, **overrides["training"]),
        dataclasses.replace(base.data, **overrides["data"]),
    )
    summary = pretrain(run_config, given["output_dir"], resume=given.get("resume"))
    interrupted = summary["stop_reason"] == "interrupted"
    if summary["is_main_process"]:
        best = summary["best_val_loss"]
        print(f"pretrained {summary['step']} steps ({summary['stop_reason']}), {summary['tokens_seen']:,} tokens "
              f"in {summary['elapsed_seconds'] / 60:.1f} min; best validation loss "
              f"{best:.4f} (perplexity {math.exp(best):.2f}); run folder {summary['output_dir']}")
        if interrupted:
            print(f"interrupted: continue with `genpt pretrain --output_dir {shlex.quote(summary['output_dir'])} --resume auto`")
    return 130 if interrupted else 0  # the shell's code for a run stopped by Ctrl-C
