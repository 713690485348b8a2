"""`genpt compare`: run or collect GPT and the baselines on the same tasks, as one table."""

from __future__ import annotations

import argparse

EPILOG = """examples:
  # run the five systems on six tasks at 2,000 training examples per task, then tabulate
  genpt compare --init runs/mini --tasks sst2,mrpc,stsb,rte,cola,story_cloze --budget 2000 \\
      --glue_dir ../shared/data/glue --story_cloze_dir ../shared/data/story_cloze --output_dir runs/compare
  # tabulate runs made by hand with genpt finetune (run folders, or folders holding them)
  genpt compare --runs runs/sst2 runs/sst2-scratch runs/baselines/ --output_dir runs/table

Systems (--systems): gpt (pretrained, aux LM 0.5), gpt-no-aux, gpt-scratch (same size, no
pretraining), transformer (the encoder-decoder's encoder, from scratch), lstm (bidirectional
LSTM encoder with the aux LM, from scratch). Each is an ordinary genpt finetune run folder
under OUTPUT_DIR/runs/TASK-SYSTEM; finished ones are reused, so an interrupted comparison
continues where it stopped. Writes OUTPUT_DIR/comparison.md (laid out like the paper's
Table 5, with parameters and training time per row) and OUTPUT_DIR/comparison.png."""


def register(subparsers: argparse._SubParsersAction) -> None:
    from genpt.baselines.compare import SYSTEMS, CompareConfig

    defaults = CompareConfig(init="", tasks=[], budget=0)
    parser = subparsers.add_parser(
        "compare",
        help="compare GPT (pretrained, scratch, no aux LM) with the Transformer and LSTM baselines",
        description="Fine-tune or collect every system on the same tasks and budget; write a Table 5-style comparison.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--output_dir", required=True, metavar="DIR", help="where comparison.md, comparison.png (and runs/) go")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--runs", nargs="+", metavar="DIR", help="finished genpt finetune runs, or folders holding them")
    source.add_argument("--tasks", metavar="T,...", help="comma-separated tasks to run every system on")
    parser.add_argument("--budget", type=int, metavar="N", help="training examples per task, the same for every system")
    parser.add_argument("--init", metavar="RUN", help="the genpt pretraining run the pretrained rows start from "
                        "(its tokenizer is used by every row)")
    parser.add_argument("--glue_dir", metavar="DIR", help="glue_data folder for the GLUE tasks")
    parser.add_argument("--story_cloze_dir", metavar="DIR", help="the folder of the Story Cloze val CSV")
    parser.add_argument("--systems", nargs="+", choices=list(SYSTEMS), default=defaults.systems, metavar="NAME",
                        help=f"rows to run (default: all of {' '.join(SYSTEMS)})")
    parser.add_argument("--gpt_preset", metavar="NAME", help="gpt-scratch's preset (default: the pretraining run's)")
    parser.add_argument("--baseline_preset", default=defaults.baseline_preset, metavar="NAME",
                        help=f"the Transformer's and LSTM's preset (default: {defaults.baseline_preset})")
    parser.add_argument("--num_train_epochs", type=int, default=defaults.num_train_epochs, metavar="N",
                        help=f"(default: {defaults.num_train_epochs})")
    parser.add_argument("--max_seq_length", type=int, default=defaults.max_seq_length, metavar="N",
                        help=f"(default: {defaults.max_seq_length})")
    parser.add_argument("--baseline_learning_rate", type=float, default=defaults.baseline_learning_rate, metavar="X",
                        help=f"learning rate of the rows trained from scratch (default: {defaults.baseline_learning_rate}; "
                        "the pretrained rows use the paper's 6.25e-5)")
    parser.add_argument("--seed", type=int, default=defaults.seed, metavar="N")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from genpt.baselines.compare import (
        CompareConfig,
        collect,
        run_comparison,
        write_comparison,
    )

    from genpt.errors import GenptError

    if args.runs:
        folders, note = args.runs, ""
    else:
        if args.budget is None or args.init is None:
            raise GenptError("--tasks needs --budget N (training examples per task) and --init RUN (a pretraining run)")
        config = CompareConfig(init=args.init, tasks=[t.strip() for t in args.tasks.split(",") if t.strip()],
                               budget=args.budget, glue_dir=args.glue_dir, story_cloze_dir=args.story_cloze_dir,
                               systems=args.systems, gpt_preset=args.gpt_preset, baseline_preset=args.baseline_preset,
                               num_train_epochs=args.num_train_epochs, max_seq_length=args.max_seq_length,
                               baseline_learning_rate=args.baseline_learning_rate, seed=args.seed)
        folders = run_comparison(config, args.output_dir)
        note = (f"Budget: the first {config.budget} training examples of each task, {config.num_train_epochs} epochs, "
                f"sequences of at most {config.max_seq_length} tokens, seed {config.seed}. Pretrained rows start from "
                f"`{config.init}` (lr 6.25e-5); rows from scratch use lr {config.baseline_learning_rate}; "
                f"baselines use the `{config.baseline_preset}` preset.")
    table = write_comparison(collect(folders), args.output_dir, note)
    print(table)
    print(f"written: {args.output_dir}/comparison.md, {args.output_dir}/comparison.png")
