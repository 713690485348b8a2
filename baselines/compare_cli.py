"""`genpt compare`: run or collect GPT and the baselines on the same tasks, as one table."""

from __future__ import annotations

import argparse

from genpt.baselines.config import CompareConfig
from genpt.errors import GenptError
from genpt.options import add_config_option, add_options, config_from_cli, new_command

EPILOG = """examples:
  # run the five systems on six tasks at 2,000 training examples per task, then tabulate
  genpt compare --init runs/mini --tasks sst2,mrpc,stsb,rte,cola,story_cloze --budget 2000 \\
      --glue_dir ../shared/data/glue --story_cloze_dir ../shared/data/story_cloze --output_dir runs/compare
  # tabulate runs made by hand with genpt finetune (run folders, or folders holding them)
  genpt compare --runs runs/sst2 runs/sst2-scratch runs/baselines/ --output_dir runs/table

--seeds 1,2,3 runs every cell once per seed (mean ± standard deviation in the table, every
seed's score in comparison.json); --learning_rates 1e-4,3e-4,1e-3 gives every row the same
search, each (system, task) choosing its rate on a held-out part of its training set.
--jobs 2 runs two cells at a time, each a process with half the cores' threads.

Systems (--systems): gpt (pretrained, aux LM 0.5), gpt-no-aux, gpt-scratch (same size, no
pretraining), transformer (the encoder-decoder's encoder, from scratch), lstm (bidirectional
LSTM encoder with the aux LM, from scratch). Each is an ordinary genpt finetune run folder
under OUTPUT_DIR/runs/TASK-SYSTEM-seedN (the search's under OUTPUT_DIR/selection/); finished ones are reused, so an interrupted comparison
continues where it stopped. Writes OUTPUT_DIR/comparison.md (laid out like the paper's
Table 5, with parameters and training time per row), comparison.json and comparison.png."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = new_command(subparsers, "compare",
                         help="compare GPT (pretrained, scratch, no aux LM) with the Transformer and LSTM baselines",
                         description="Fine-tune or collect every system on the same tasks and budget; write a Table 5-style "
                                     "comparison.", epilog=EPILOG)
    parser.add_argument("--output_dir", required=True, metavar="DIR", help="where comparison.md, comparison.png (and runs/) go")
    parser.add_argument("--runs", nargs="+", metavar="DIR", default=argparse.SUPPRESS,
                        help="tabulate these finished genpt finetune runs (or folders holding them) instead of running")
    add_config_option(parser, "the comparison's options")
    add_options(parser, CompareConfig)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from genpt.baselines.compare import collect, run_comparison, write_comparison

    options = vars(args)
    if "runs" in options:
        if "tasks" in options or "config" in options:
            raise GenptError("--runs tabulates finished runs; it takes no --tasks or --config")
        folders, note = options["runs"], ""
    else:
        config = config_from_cli(CompareConfig, args)
        if config.seed is not None:
            config.seeds = [config.seed]
        folders = run_comparison(config, args.output_dir)
        note = comparison_note(config)
    table = write_comparison(collect(folders), args.output_dir, note)
    print(table)
    print(f"written: {args.output_dir}/comparison.md, comparison.json and comparison.png")


def comparison_note(config: CompareConfig) -> str:
    which = "the first" if config.budget_draw == "first" else "a fixed random draw of"
    data = f"{which} {config.budget} training examples of each task" if config.budget else "the whole training set of each task"
    if config.task_options:
        data += f" (per task: {', '.join(config.task_options)})"
    if config.learning_rates and len(config.learning_rates) > 1:
        rates = (f"each row's learning rate chosen per task from {', '.join(f'{r:g}' for r in config.learning_rates)} on a "
                 f"held-out {config.selection_split_percentage:g}% of its training set (selection.json)")
    elif config.learning_rates:
        rates = f"learning rate {config.learning_rates[0]:g} for every row"
    else:
        rates = f"pretrained rows at the paper's lr 6.25e-5, rows from scratch at {config.baseline_learning_rate:g}"
    return (f"Data: {data}; {config.num_train_epochs} epochs, sequences of at most {config.max_seq_length} tokens; {rates}; "
            f"seeds {', '.join(map(str, config.seeds))}. Pretrained rows start from `{config.init}`; the baselines use the "
            f"`{config.baseline_preset}` preset.")
