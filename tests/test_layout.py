"""The layout and the option layer (issue 16): the core imports no stage, every command keeps
its options, configs are typed, and a run folder's config.yaml reproduces its run."""

import argparse
import ast
import dataclasses
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from safetensors.torch import load_file

from genpt.cli import build_parser, main
from genpt.config import GPTConfig
from genpt.errors import GenptError
from genpt.options import add_options, attach_negative_numbers, config_from_cli, field_comments
from genpt.resources import default_glue_dir

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("tokenizer", "pretrain", "finetune", "eval", "baselines", "export", "cli")
TRAINING_COMMANDS = ("tokenizer train", "pretrain", "finetune", "seq2seq", "compare")
# Options that features added after the layout change brought (issue 14: selection and seeds;
# issue 17: log-spaced checkpoints and layers transferred).
ADDED_SINCE = {"finetune": {"--validation_split_percentage", "--transfer_layers", "--train_subset", "--keep_epoch", "--id_column"},
               "pretrain": {"--keep_checkpoints"},
               "compare": {"--seeds", "--learning_rates", "--selection_split_percentage", "--task_options", "--mixed_precision",
                           "--budget_draw", "--jobs"}}
# Commands added after the layout change (issue 17: the eval stage's analyses and generation).
COMMANDS_ADDED_SINCE = {"eval lm", "eval zeroshot", "eval layers", "generate"}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_the_core_imports_no_stage():
    offenders = []
    for path in sorted((ROOT / "genpt").rglob("*.py")):
        if path.name == "__main__.py":  # `python -m genpt` is the program's entry point, not library code
            continue
        for name in imported_modules(path):
            if any(name == f"genpt.{stage}" or name.startswith(f"genpt.{stage}.") for stage in STAGES):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_stages_import_the_core_never_each_other():
    offenders = []
    for stage in STAGES[:-1]:  # the command line (cli/) brings the stages together
        for path in sorted((ROOT / stage).rglob("*.py")):
            for name in imported_modules(path):
                others = [s for s in STAGES if s != stage and (name == f"genpt.{s}" or name.startswith(f"genpt.{s}."))]
                if others:
                    offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def command_options() -> dict[str, list[str]]:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found = {}
    for name, command in commands.choices.items():
        own = sorted(o for a in command._actions for o in a.option_strings)
        nested = [a for a in command._actions if isinstance(a, argparse._SubParsersAction)]
        if not nested or own != ["--help", "-h"]:  # a command with options of its own, subcommands or not
            found[name] = own
        for sub_name, sub in (nested[0].choices.items() if nested else []):
            found[f"{name} {sub_name}"] = sorted(o for a in sub._actions for o in a.option_strings)
    return found


def test_every_command_keeps_its_options_and_training_commands_take_a_config():
    before = json.loads((ROOT / "tests" / "data" / "cli_options_before_layout.json").read_text())
    now = command_options()
    assert set(now) == set(before) | COMMANDS_ADDED_SINCE
    for command, options in before.items():
        assert set(options) <= set(now[command]), command
        added = set(now[command]) - set(options) - ADDED_SINCE.get(command, set())
        # only --config, and the --no-x halves of boolean options, are new
        assert all(o == "--config" or o.startswith("--no-") for o in added), (command, added)
    for command in TRAINING_COMMANDS:
        assert "--config" in now[command], command


def test_help_answers_without_importing_torch():
    code = "import sys; from genpt.cli import build_parser; build_parser(); print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "genpt", "--version"], capture_output=True, check=True)
    assert time.perf_counter() - started < 5  # a generous bound; the benchmark is the README's


@dataclass(kw_only=True)
class Example:
    rate: float = 1e-3  # the learning rate
    # how many layers,
    # in the comment above
    layers: int = 2
    name: str | None = None
    fast: bool = True  # go fast
    tags: list[str] | None = None


def test_help_text_comes_from_the_field_comments():
    assert field_comments(Example) == {"rate": "the learning rate", "layers": "how many layers, in the comment above",
                                       "fast": "go fast"}
    parser = argparse.ArgumentParser()
    add_options(parser, Example)
    text = parser.format_help()
    assert "the learning rate (default: 0.001)" in text and "--fast, --no-fast" in text
    assert vars(parser.parse_args(["--no-fast", "--tags", "a", "b"])) == {"fast": False, "tags": ["a", "b"]}


def test_yaml_values_are_typed_and_flags_override_them(tmp_path):
    parser = argparse.ArgumentParser()
    parser.add_argument("--config")
    add_options(parser, Example)
    config = tmp_path / "c.yaml"
    config.write_text("rate: 1e-3\nlayers: 4\nname: x\n")  # YAML 1.1 reads 1e-3 as a string
    got = config_from_cli(Example, parser.parse_args(["--config", str(config), "--layers", "6"]))
    assert got == Example(rate=0.001, layers=6, name="x")
    for text, message in (("layers: 2.5", "layers: expected an integer, got 2.5"),
                          ("layers: abc", "layers: expected an integer, got 'abc'"),
                          ("rate: abc", "rate: expected a number, got 'abc'"),
                          ("fast: 3", "fast: expected true or false, got 3"),
                          ("depth: 3", "unknown key 'depth'")):
        config.write_text(text + "\n")
        with pytest.raises(GenptError, match=f"{config}: {message}"):
            config_from_cli(Example, parser.parse_args(["--config", str(config)]))


def test_model_config_values_are_checked_by_type():
    with pytest.raises(GenptError, match=r"m.yaml: n_layer: expected an integer, got 'abc'"):
        GPTConfig.from_dict({"n_layer": "abc"}, source="m.yaml")
    assert GPTConfig.from_dict({"initializer_range": "2e-2"}).initializer_range == 0.02


def test_negative_numbers_reach_the_range_checks(capsys):
    assert attach_negative_numbers(["--learning_rate", "-1e-3", "--x", "-5", "--y", "-z"]) == [
        "--learning_rate=-1e-3", "--x=-5", "--y", "-z"]
    assert main(["finetune", "--task", "sst2", "--init", "scratch", "--output_dir", "/nonexistent/x",
                 "--learning_rate", "-1e-3"]) == 2
    assert "--learning_rate must be positive, got -0.001" in capsys.readouterr().err


def test_finetune_run_is_reproduced_from_its_config_yaml(tmp_path, tmp_path_factory):
    from genpt.resources import default_corpus_dir
    from genpt.tokenizer.train import train_tokenizer

    tokenizer = tmp_path_factory.mktemp("tok") / "tok"
    train_tokenizer([default_corpus_dir()], output_dir=tokenizer, vocab_size=600, show_progress=False)
    first, again = tmp_path / "first", tmp_path / "again"
    assert main(["finetune", "--task", "sst2", "--data_dir", str(default_glue_dir()), "--init", "scratch", "--tokenizer",
                 str(tokenizer), "--preset", "tiny", "--max_train_samples", "64", "--max_eval_samples", "32",
                 "--num_train_epochs", "1", "--mixed_precision", "no", "--output_dir", str(first)]) == 0
    assert main(["finetune", "--config", str(first / "config.yaml"), "--output_dir", str(again)]) == 0
    a, b = load_file(first / "model.safetensors"), load_file(again / "model.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    assert yaml.safe_load((again / "config.yaml").read_text())["finetune"] == \
        yaml.safe_load((first / "config.yaml").read_text())["finetune"]


@pytest.mark.parametrize("recipe", sorted((ROOT / "recipes").glob("**/*.yaml")), ids=lambda path: path.name)
def test_every_recipe_is_a_valid_config(recipe):
    from genpt.baselines.config import CompareConfig
    from genpt.config import read_yaml_mapping
    from genpt.finetune.config import FinetuneConfig
    from genpt.options import check_values
    from genpt.pretrain.config import RunConfig

    values = read_yaml_mapping(recipe)
    if "model" in values:  # a pretraining recipe
        config = RunConfig.from_yaml(recipe)
        assert config.model.vocab_size == 8192 and config.training.max_steps > 0
    elif "task" in values:  # a fine-tuning recipe: the pretrained row of the laptop comparison, on its task
        from genpt.baselines.compare import finetune_options
        from genpt.baselines.config import SYSTEMS

        check_values(FinetuneConfig, values, str(recipe))
        laptop = CompareConfig(**read_yaml_mapping(ROOT / "recipes" / "compare_laptop.yaml"))
        cell = finetune_options(laptop, SYSTEMS["gpt"], values["task"], seed=1, learning_rate=laptop.learning_rates[0])
        defaults = {f.name: f.default for f in dataclasses.fields(FinetuneConfig) if f.default is not dataclasses.MISSING}
        expected = {**defaults, **cell}
        assert {key: expected[key] for key in values} == values
    else:  # a comparison recipe
        assert set(check_values(CompareConfig, values, str(recipe))["tasks"]) <= {"cola", "sst2", "mrpc", "stsb", "rte",
                                                                                  "story_cloze"}


def test_every_command_prints_its_help():
    """--help renders for every command and subcommand (a "%" in a field's comment once broke
    `genpt finetune --help` with a TypeError)."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in commands.choices.items():
        nested = [a for a in command._actions if isinstance(a, argparse._SubParsersAction)]
        subcommands = list(nested[0].choices.items()) if nested else []
        for label, sub in [(name, command)] + [(f"{name} {s}", p) for s, p in subcommands]:
            text = sub.format_help()
            assert "usage:" in text, label
    assert "hold out this % of the training examples" in " ".join(
        commands.choices["finetune"].format_help().split())


def test_pretrain_help_shows_the_defaults_its_title_names():
    """The training group says its defaults are the gpt1 preset's (the paper's): the values shown
    must be that preset's, not the plain dataclass defaults that --init alone starts from."""
    from genpt.pretrain.config import training_defaults

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    pretrain = commands.choices["pretrain"]
    text = " ".join(pretrain.format_help().split())
    paper, plain = training_defaults("gpt1"), training_defaults(None)
    assert "the gpt1 preset's" in text
    helps = {action.dest: action.help for action in pretrain._actions}
    for name in ("batch_size", "max_steps", "warmup_steps", "save_steps", "eval_steps", "learning_rate"):
        assert helps[name].endswith(f"(default: {getattr(paper, name)})"), (name, helps[name])
    assert f"--init without --preset, and a --config's missing keys, use batch_size {plain.batch_size}," in text
