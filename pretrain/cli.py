"""`genpt pretrain`: the command line of the pretraining stage."""

from __future__ import annotations

import argparse
import dataclasses
import math
import shlex
from pathlib import Path

from genpt.config import PRESETS, GPTConfig
from genpt.errors import GenptError
from genpt.options import add_config_option, add_options, given, merge, new_command
from genpt.pretrain.config import DATA_FLAGS, TRAINING_PRESETS, DataConfig, RunConfig, TrainingConfig, training_defaults

EPILOG = """examples:
  genpt pretrain --preset tiny --tokenizer tok/ --input books/ --output_dir runs/tiny
  genpt pretrain --preset mini --tokenizer tok/ --input ../shared/data/gutenberg/books \\
      --strip_gutenberg --output_dir runs/mini --max_time_minutes 30
  genpt pretrain --config recipes/pretrain_mini.yaml --tokenizer tok/ --output_dir runs/mini
  genpt pretrain --config runs/mini/config.yaml --output_dir runs/mini-again      # the same run again
  genpt pretrain --output_dir runs/mini --resume auto                              # continue a run
  genpt pretrain --init hf/openai-gpt --input my_corpus/ --output_dir runs/adapted --max_steps 2000
  accelerate launch --multi_gpu --num_processes 8 -m genpt pretrain --preset gpt1 ...

The run folder holds config.yaml (reproduces the run), tokenizer/, checkpoints/step-NNNNNNNN/,
best/, model.safetensors, metrics.jsonl, loss_curve.png and tensorboard/.
Values come from the preset (or --config, or the run's own config.yaml when resuming);
the flags given override them."""


def training_title() -> str:
    """The training group's title: whose defaults the help shows, and who changes which."""
    paper, plain = dataclasses.asdict(training_defaults("gpt1")), dataclasses.asdict(training_defaults(None))
    cpu_presets = [name for name in TRAINING_PRESETS if name != "gpt1"]
    changed = [field for field in paper if any(field in TRAINING_PRESETS[p] for p in cpu_presets)]
    init_alone = ", ".join(f"{field} {plain[field]}" for field in paper if plain[field] != paper[field])
    return (f"training (defaults shown are the paper's, the gpt1 preset's; --preset {' and '.join(cpu_presets)} change "
            f"{', '.join(changed)}; --init without --preset, and a --config's missing keys, use {init_alone})")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = new_command(subparsers, "pretrain", help="pretrain a GPT on unlabeled text", epilog=EPILOG,
                         description="Generative pretraining of a GPT (paper, section 3.1) on one CPU or many GPUs.")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", choices=sorted(PRESETS), default=argparse.SUPPRESS,
                        help="model preset, with its training defaults")
    add_config_option(source, "the model, training and data config (sections model:, training:, data:)")
    parser.add_argument("--output_dir", required=True, help="the run folder")
    parser.add_argument("--resume", metavar="PATH|auto", default=argparse.SUPPRESS,
                        help="continue from a checkpoint folder, or from the newest in --output_dir")
    add_options(parser.add_argument_group("data"), DataConfig, exclude=("tokenizer_sha256",), flags=DATA_FLAGS)
    add_options(parser.add_argument_group(training_title()), TrainingConfig, defaults=training_defaults("gpt1"))
    parser.set_defaults(func=run)


def base_config(options: dict) -> RunConfig:
    """What the flags override: a --config file, a preset, or the run being resumed."""
    own_config = Path(options["output_dir"]) / "config.yaml"
    if "config" in options:
        return RunConfig.from_yaml(options["config"])
    if "preset" in options:
        return RunConfig(GPTConfig.from_name(options["preset"]), training_defaults(options["preset"]), DataConfig())
    if "resume" in options and own_config.is_file():
        return RunConfig.from_yaml(own_config)  # continuing a run (an --init's too): its own config says what it was
    if "init" in options:  # the model comes from --init; the gpt1 shape here is only a placeholder
        return RunConfig(GPTConfig.from_name("gpt1"), training_defaults(None), DataConfig())
    raise GenptError("give --preset NAME, --config FILE, or --init MODEL to say what to train "
                     "(or --resume auto to continue the run in --output_dir)")


def run(args: argparse.Namespace) -> int:
    from genpt.pretrain.train import pretrain

    options = vars(args)
    base = base_config(options)
    run_config = RunConfig(
        base.model,
        merge(TrainingConfig, dataclasses.asdict(base.training), given(args, TrainingConfig), source="training options"),
        merge(DataConfig, dataclasses.asdict(base.data), given(args, DataConfig), source="data options"),
    )
    summary = pretrain(run_config, options["output_dir"], resume=options.get("resume"))
    interrupted = summary["stop_reason"] == "interrupted"
    if summary["is_main_process"]:
        best = summary["best_val_loss"]
        print(f"pretrained {summary['step']} steps ({summary['stop_reason']}), {summary['tokens_seen']:,} tokens "
              f"in {summary['elapsed_seconds'] / 60:.1f} min; best validation loss "
              f"{best:.4f} (perplexity {math.exp(best):.2f}); run folder {summary['output_dir']}")
        if interrupted:
            print(f"interrupted: continue with `genpt pretrain --output_dir {shlex.quote(summary['output_dir'])} --resume auto`")
    return 130 if interrupted else 0  # the shell's code for a run stopped by Ctrl-C
