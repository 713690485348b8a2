"""Task registry and readers, on the real GLUE and Story Cloze files and on small bad files."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from genpt.data.tasks import (
    TASKS,
    Example,
    custom_task,
    get_task,
    read_custom,
    read_split,
    split_story_cloze,
    submission_filename,
)
from genpt.errors import GenptError
from genpt.resources import default_glue_dir

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
STORY_CLOZE_VAL = "cloze_test_val__spring2016 - cloze_test_ALL_val.csv"


@pytest.fixture(scope="module")
def glue() -> Path:
    if not (DATA / "glue").is_dir():
        pytest.skip(f"shared data not found at {DATA}")
    return DATA / "glue"


@pytest.fixture(scope="module")
def story_dir() -> Path:
    if not (DATA / "story_cloze" / STORY_CLOZE_VAL).is_file():
        pytest.skip(f"Story Cloze data not found under {DATA}")
    return DATA / "story_cloze"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# --- The registry ---------------------------------------------------------------------------


def test_registry_matches_the_paper_and_glue():
    assert list(TASKS) == ["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli", "story_cloze", "race",
                           "race-middle", "race-high", "snli", "scitail"]
    assert {n for n, t in TASKS.items() if t.input_format == "similarity"} == {"mrpc", "qqp", "stsb"}
    assert TASKS["stsb"].is_regression and TASKS["stsb"].num_labels == 1
    assert TASKS["story_cloze"].num_labels == 1 and not TASKS["story_cloze"].is_regression
    assert TASKS["mnli"].num_labels == 3 and TASKS["cola"].metrics[0] == "matthews_correlation"
    for task in TASKS.values():
        if task.label_names is not None:
            assert task.file_labels is not None and len(task.file_labels) == len(task.label_names)


def test_get_task_accepts_glue_spellings_and_rejects_unknown_names():
    assert get_task("SST-2") is TASKS["sst2"] and get_task("sts_b") is TASKS["stsb"]
    with pytest.raises(GenptError, match=r"unknown task 'nope'.*cola.*story_cloze.*custom"):
        get_task("nope")
    with pytest.raises(GenptError, match="custom"):
        get_task("custom")


def test_submission_filenames():
    names = {name: submission_filename(task, "test") for name, task in TASKS.items()}
    assert names == {
        "cola": "CoLA.tsv", "sst2": "SST-2.tsv", "mrpc": "MRPC.tsv", "stsb": "STS-B.tsv", "qqp": "QQP.tsv",
        "mnli": "MNLI-m.tsv", "qnli": "QNLI.tsv", "rte": "RTE.tsv", "wnli": "WNLI.tsv",
        "story_cloze": "story_cloze.tsv", "race": "race.tsv", "race-middle": "race-middle.tsv", "race-high": "race-high.tsv",
        "snli": "snli.tsv", "scitail": "scitail.tsv",
    }
    assert submission_filename(TASKS["mnli"], "test_mismatched") == "MNLI-mm.tsv"


# --- Real GLUE files ------------------------------------------------------------------------

# Row counts from SOURCES.md (the official GLUE sizes).
COUNTS = [
    ("cola", "train", 8551), ("cola", "validation", 1043), ("cola", "test", 1063),
    ("sst2", "train", 67349), ("sst2", "validation", 872), ("sst2", "test", 1821),
    ("mrpc", "train", 3668), ("mrpc", "validation", 408), ("mrpc", "test", 1725),
    ("rte", "train", 2490), ("rte", "validation", 277), ("rte", "test", 3000),
    ("stsb", "train", 5749), ("stsb", "validation", 1500), ("stsb", "test", 1379),
    ("wnli", "train", 635), ("wnli", "validation", 71), ("wnli", "test", 146),
    ("qnli", "validation", 5463), ("qnli", "test", 5463),
]


@pytest.mark.parametrize(("name", "split", "count"), COUNTS)
def test_row_counts_match_glue(glue, name, split, count):
    task = TASKS[name]
    path = glue / task.glue_name / ("dev.tsv" if split == "validation" else f"{split}.tsv")
    if not path.is_file():
        pytest.skip(f"{path} absent")
    examples = read_split(task, split, data_dir=glue)
    assert len(examples) == count
    if split == "test":  # unlabelled, indexed by the file's own index column
        assert all(e.label is None for e in examples)
        assert [e.index for e in examples] == list(range(count))
    else:
        assert all(e.label is not None for e in examples)
    if task.input_format in ("pair", "similarity"):
        assert all(e.text_b is not None for e in examples)


# (task, split, row, text_a start, text_b start or None, label), read off the raw files.
KNOWN_ROWS = [
    ("cola", "validation", 0, "The sailors rode the breeze clear of the rocks.", None, 1),
    ("cola", "validation", 4, "As you eat the most, you want the least.", None, 0),
    ("sst2", "validation", 0, "it 's a charming and often affecting journey .", None, 1),
    ("sst2", "validation", 1, "unflinchingly bleak and desperate", None, 0),
    ("mrpc", "validation", 0, "He said the foodservice pie", '" The foodservice pie business', 1),
    ("mrpc", "validation", 1, "Magnarelli said Racicot", "His wife said he was", 0),
    ("mrpc", "train", 0, "Amrozi accused his brother", "Referring to him as only", 1),
    ("rte", "validation", 0, "Dana Reeve, the widow", "Christopher Reeve had an accident.", 1),
    ("rte", "train", 1, "A place of sorrow", "Pope Benedict XVI is the new leader", 0),
    ("qnli", "validation", 0, "What came into force", "As of that day", 0),
    ("qnli", "validation", 1, "What is the first major city", "The most important tributaries", 1),
    ("wnli", "validation", 0, "The drain is clogged with hair.", "The hair has to be cleaned.", 0),
    ("wnli", "validation", 1, "Jane knocked on Susan's door", "Susan did not answer.", 1),
    ("stsb", "validation", 0, "A man with a hard hat is dancing.", "A man wearing a hard hat", 5.0),
    ("stsb", "validation", 1, "A young child is riding a horse.", "A child is riding a horse.", 4.75),
]


@pytest.mark.parametrize(("name", "split", "row", "text_a", "text_b", "label"), KNOWN_ROWS)
def test_known_rows_decode(glue, name, split, row, text_a, text_b, label):
    example = read_split(TASKS[name], split, data_dir=glue / TASKS[name].glue_name)
    assert example[row].text_a.startswith(text_a)
    assert example[row].text_b is None if text_b is None else example[row].text_b.startswith(text_b)
    assert example[row].label == label and type(example[row].label) is type(label)


def test_data_dir_may_be_glue_root_or_task_folder_or_a_file(glue):
    task = TASKS["rte"]
    from_root = read_split(task, "validation", data_dir=glue)
    assert read_split(task, "validation", data_dir=glue / "RTE") == from_root
    assert read_split(task, "validation", file=glue / "RTE" / "dev.tsv") == from_root


def test_data_dir_errors_name_the_folder(glue, tmp_path):
    with pytest.raises(GenptError, match=r"SST-2.*not CoLA"):
        read_split(TASKS["cola"], "validation", data_dir=glue / "SST-2")
    with pytest.raises(GenptError, match=r"no QNLI train file.*QNLI/train\.tsv"):
        read_split(TASKS["qnli"], "train", data_dir=glue)
    with pytest.raises(GenptError, match="not a folder"):
        read_split(TASKS["rte"], "train", data_dir=tmp_path / "missing")
    with pytest.raises(GenptError, match="unknown split 'dev'"):
        read_split(TASKS["rte"], "dev", data_dir=glue)
    with pytest.raises(GenptError, match="unknown split 'validation_matched'"):
        read_split(TASKS["rte"], "validation_matched", data_dir=glue)


def test_mrpc_quotes_and_bom_survive(glue):
    # The file starts with a BOM and a string starting with a quote: with quoting on, the
    # quote would swallow the following tabs and lines.
    assert (glue / "MRPC" / "dev.tsv").read_bytes().startswith(b"\xef\xbb\xbf")
    dev = read_split(TASKS["mrpc"], "validation", data_dir=glue)
    assert dev[0].text_b == '" The foodservice pie business does not fit our long-term growth strategy .'
    assert [e.index for e in dev[:3]] == [0, 1, 2]  # no index column in train/dev: row numbers


def test_sentences_that_look_like_missing_values_stay_text(tmp_path):
    path = write(tmp_path / "SST-2" / "dev.tsv", 'sentence\tlabel\nnull\t0\nNA\t1\n"unbalanced quote \t1\nnan\t0\n')
    examples = read_split(TASKS["sst2"], "validation", data_dir=tmp_path)
    assert [e.text_a for e in examples] == ["null", "NA", '"unbalanced quote', "nan"]
    assert [e.label for e in examples] == [0, 1, 1, 0]
    assert read_split(TASKS["sst2"], "validation", file=path) == examples


def test_index_column_is_kept_and_crlf_is_fine(tmp_path):
    path = write(tmp_path / "test.tsv", "index\tsentence1\tsentence2\r\n7\ta\tb\r\n3\tc\td\r\n")
    examples = read_split(TASKS["rte"], "test", file=path)
    assert examples == [Example(7, "a", "b"), Example(3, "c", "d")]


def test_embedded_sst2_slice():
    train = read_split(TASKS["sst2"], "train", data_dir=default_glue_dir())
    dev = read_split(TASKS["sst2"], "validation", data_dir=default_glue_dir() / "SST-2")
    assert len(train) == 5000 and len(dev) == 872
    assert sum(e.label for e in train) == 2822  # positives, as the slice's README says


# --- MNLI and QQP: absent here, supported by layout ------------------------------------------

MNLI_PREFIX = "index\tpromptID\tpairID\tgenre\ts1_bp\ts2_bp\ts1_p\ts2_p\tsentence1\tsentence2"


def mnli_row(index: int, s1: str, s2: str, *labels: str) -> str:
    return "\t".join([str(index), "1", "1a", "fiction", "(", "(", "(", "(", s1, s2, *labels])


def test_mnli_layout(tmp_path):
    root = tmp_path / "glue_data" / "MNLI"
    write(root / "train.tsv", f"{MNLI_PREFIX}\tlabel1\tgold_label\n{mnli_row(0, 'p', 'h', 'neutral', 'neutral')}\n")
    dev_header = f"{MNLI_PREFIX}\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label\n"
    write(root / "dev_matched.tsv", dev_header + mnli_row(5, "pm", "hm", *["entailment"] * 5, "contradiction") + "\n")
    write(root / "dev_mismatched.tsv", dev_header + mnli_row(9, "px", "hx", *["neutral"] * 6) + "\n")
    write(root / "test_matched.tsv", f"{MNLI_PREFIX}\n{mnli_row(11, 'tp', 'th')}\n")
    write(root / "test_mismatched.tsv", f"{MNLI_PREFIX}\n{mnli_row(12, 'tq', 'tr')}\n")
    task = get_task("mnli")
    data_dir = tmp_path / "glue_data"
    assert read_split(task, "train", data_dir=data_dir) == [Example(0, "p", "h", label=1)]
    matched = [Example(5, "pm", "hm", label=2)]
    assert read_split(task, "validation", data_dir=data_dir) == matched
    assert read_split(task, "validation_matched", data_dir=root) == matched
    assert read_split(task, "validation_mismatched", data_dir=data_dir) == [Example(9, "px", "hx", label=1)]
    assert read_split(task, "test", data_dir=data_dir) == [Example(11, "tp", "th")]
    assert read_split(task, "test_mismatched", data_dir=data_dir) == [Example(12, "tq", "tr")]


def test_qqp_layout(tmp_path):
    root = tmp_path / "QQP"
    header = "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n"
    write(root / "dev.tsv", header + "40\t1\t2\tWhy?\tHow?\t1\n41\t3\t4\tA\tB\t0\n")
    write(root / "test.tsv", "id\tquestion1\tquestion2\n0\tX?\tY?\n")
    task = get_task("qqp")
    assert read_split(task, "validation", data_dir=tmp_path) == [Example(40, "Why?", "How?", label=1),
                                                                 Example(41, "A", "B", label=0)]
    assert read_split(task, "test", data_dir=root) == [Example(0, "X?", "Y?")]


# --- Bad GLUE files -------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "text", "message"), [
    ("rte", "index\tsentence1\tlabel\n0\ta\tentailment\n", r"no column 'sentence2'.*sentence1, sentence2, label"),
    ("rte", "index\tsentence1\tsentence2\n0\ta\tb\n", r"no column 'label'"),
    ("rte", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\tb\tneutral\n",
     r"line 3: label 'neutral' is not one of 'entailment', 'not_entailment'"),
    ("sst2", "sentence\tlabel\ngood\t1\nbad\t2\n", r"line 3: label '2' is not one of '0', '1'"),
    ("sst2", "sentence\tlabel\ngood\t1\nbad\t0\textra\n", r"line 3: expected 2 fields \(sentence, label\), found 3"),
    ("cola", "gj04\t1\t\tFine.\ngj04\t0\tBroken.\n", r"line 2: expected 4 fields \(source, label, original_label"),
    ("stsb", "index\tsentence1\tsentence2\tscore\n0\ta\tb\t5.5\n", r"line 2: score '5.5' is not a number in \[0, 5\]"),
    ("stsb", "index\tsentence1\tsentence2\tscore\n0\ta\tb\tNaN\n", r"line 2: score 'NaN'"),
    ("wnli", "index\tsentence1\tsentence2\tlabel\nx\ta\tb\t1\n", r"line 2: index 'x' is not an integer"),
    ("sst2", "", r"is empty"),
    ("sst2", "sentence\tlabel\n", r"has no examples"),
])
def test_bad_glue_files_name_the_file(tmp_path, name, text, message):
    assert_one_line_naming(write(tmp_path / "bad.tsv", text), message, lambda path: read_split(TASKS[name], "train", file=path))


def assert_one_line_naming(path: Path, message: str, read) -> None:
    """Reading `path` fails with one line that names the file and says `message`."""
    with pytest.raises(GenptError, match=message) as caught:
        read(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(GenptError, match=r"nothere\.tsv: no such file"):
        read_split(TASKS["sst2"], "train", file=tmp_path / "nothere.tsv")
    (tmp_path / "latin1.tsv").write_bytes(b"sentence\tlabel\ncaf\xe9\t1\n")
    with pytest.raises(GenptError, match=r"latin1\.tsv: not UTF-8"):
        read_split(TASKS["sst2"], "train", file=tmp_path / "latin1.tsv")


# --- The hub (faked: tests stay offline) -----------------------------------------------------


def fake_datasets(monkeypatch, load_dataset) -> None:
    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))


def test_hub_rows_are_mapped(monkeypatch):
    calls = []

    def load_dataset(path, name, split):
        calls.append((path, name, split))
        return [{"premise": " P ", "hypothesis": "H", "label": 2, "idx": 4},
                {"premise": "Q", "hypothesis": "I", "label": -1, "idx": 5}]

    fake_datasets(monkeypatch, load_dataset)
    examples = read_split(TASKS["mnli"], "validation")
    assert calls == [("nyu-mll/glue", "mnli", "validation_matched")]
    assert examples == [Example(4, "P", "H", label=2)]  # a labelled split drops its unlabelled rows (SNLI's -1)
    assert read_split(TASKS["mnli"], "test")[1] == Example(5, "Q", "I")  # a test split keeps them, unlabelled

    fake_datasets(monkeypatch, lambda path, name, split: [
        {"sentence1": "a", "sentence2": "b", "label": 3.2, "idx": 0}])
    assert read_split(TASKS["stsb"], "train") == [Example(0, "a", "b", label=3.2)]


def test_hub_failure_says_to_pass_files(monkeypatch):
    def offline(path, name, split):
        raise ConnectionError("Couldn't reach 'nyu-mll/glue' on the Hub\nmore detail")

    fake_datasets(monkeypatch, offline)
    with pytest.raises(GenptError, match=r"Couldn't reach 'nyu-mll/glue' on the Hub\); pass --data_dir") as caught:
        read_split(TASKS["cola"], "train")
    assert "\n" not in str(caught.value)
    with pytest.raises(GenptError, match="story_cloze has no hub copy"):
        read_split(TASKS["story_cloze"], "train")


# --- Story Cloze ----------------------------------------------------------------------------


def test_story_cloze_reads_all_stories(story_dir):
    examples = read_split(get_task("story_cloze"), "train", file=story_dir / STORY_CLOZE_VAL)
    assert len(examples) == 1871 and len({e.id for e in examples}) == 1871
    first, third = examples[0], examples[2]
    assert first.id == "138d5bfb-05cc-41e3-bf2c-fa85ebad14e2" and first.label == 0
    assert first.text_a == ("Rick grew up in a troubled household. He never found good support in family, "
                            "and turned to gangs. It wasn't long before Rick got shot in a robbery. "
                            "The incident caused him to turn a new leaf.")
    assert first.choices == ("He is happy now.", "He joined a gang.")
    assert third.id == "e8f628d5-9f97-40ed-8611-fc0e774673c4" and third.label == 1
    assert third.choices[1] == "Sarah decided that she preferred her home over Europe."
    assert {e.label for e in examples} == {0, 1}


def test_story_cloze_split_is_by_story_and_80_20(story_dir):
    examples = read_split(get_task("story_cloze"), "validation", file=story_dir / STORY_CLOZE_VAL)
    train, validation = split_story_cloze(examples)
    assert abs(len(validation) - 0.2 * len(examples)) <= 1 and len(train) + len(validation) == len(examples)
    assert not {e.id for e in train} & {e.id for e in validation}
    assert split_story_cloze(examples[::-1])[1] == validation[::-1]  # depends on the ids, not the order
    assert split_story_cloze(examples, seed=1)[1] != validation
    # From a folder, "train" and "validation" are these two parts; "test" needs the test file.
    task = get_task("story_cloze")
    assert read_split(task, "train", data_dir=story_dir) == train
    assert read_split(task, "validation", data_dir=story_dir.parent) == validation
    with pytest.raises(GenptError, match=r"cloze_test_test\*\.csv"):
        read_split(task, "test", data_dir=story_dir)


def test_story_cloze_duplicate_ids_stay_together():
    examples = [Example(i, "s", choices=("a", "b"), label=0, id=f"story{i // 2}") for i in range(20)]
    train, validation = split_story_cloze(examples)
    assert len(validation) == 4 and not {e.id for e in train} & {e.id for e in validation}


STORY_HEADER = ("InputStoryid,InputSentence1,InputSentence2,InputSentence3,InputSentence4,"
                "RandomFifthSentenceQuiz1,RandomFifthSentenceQuiz2")


@pytest.mark.parametrize(("text", "message"), [
    (f"{STORY_HEADER},AnswerRightEnding\nid1,a,b,c,d,e,f,3\n", r"line 2: label '3' is not one of '1', '2'"),
    (f"{STORY_HEADER},AnswerRightEnding\nid1,a,b,c,d,e,f\n", r"line 2: expected 8 fields"),
    (f"{STORY_HEADER}\nid1,a,b,c,d,e,f\n", r"no column 'AnswerRightEnding'"),
    (f"{STORY_HEADER.replace(',InputSentence4', '')},AnswerRightEnding\nid1,a,b,c,e,f,1\n",
     r"no column 'InputSentence4'"),
])
def test_bad_story_cloze_files(tmp_path, text, message):
    path = write(tmp_path / "cloze.csv", text)
    with pytest.raises(GenptError, match=message) as caught:
        read_split(get_task("story_cloze"), "train", file=path)
    assert str(path) in str(caught.value)


def test_story_cloze_test_file_may_be_unlabelled(tmp_path):
    path = write(tmp_path / "cloze_test_test__x.csv", f'{STORY_HEADER}\nid1,a,"b, with comma",c,d,e,f\n')
    [example] = read_split(get_task("story_cloze"), "test", data_dir=tmp_path)
    assert example == Example(0, "a b, with comma c d", choices=("e", "f"), id="id1")
    assert read_split(get_task("story_cloze"), "test", file=path) == [example]


# --- Custom tasks ---------------------------------------------------------------------------


def test_custom_task_formats_and_metrics():
    assert custom_task("classification", ("neg", "pos")).input_format == "single"
    assert custom_task("classification", ("neg", "pos"), paired=True).input_format == "pair"
    assert custom_task("classification", ("a", "b", "c")).metrics == ("accuracy",)
    assert custom_task("entailment", ("no", "yes")).metrics == ("accuracy", "f1")
    assert custom_task("similarity", ("no", "yes")).input_format == "similarity"
    regression = custom_task("regression", None)
    assert regression.input_format == "single" and regression.is_regression and regression.num_labels == 1
    assert custom_task("regression", None, paired=True).input_format == "pair"
    choice = custom_task("multiple_choice", None)
    assert choice.input_format == "multiple_choice" and choice.num_labels == 1 and not choice.is_regression
    with pytest.raises(GenptError, match="at least 2 labels"):
        custom_task("classification", ("only",))
    with pytest.raises(GenptError, match="unknown task type 'ranking'"):
        custom_task("ranking", None)  # type: ignore[arg-type]
    with pytest.raises(GenptError, match="second text column"):
        custom_task("entailment", ("a", "b"), paired=False)


ROWS = [{"text": "null", "label": "pos"}, {"text": "bad, \"really\"", "label": "neg"}, {"text": "ok", "label": "pos"}]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl", ".json-lines-in-json"])
def test_read_custom_formats(tmp_path, suffix):
    if suffix == ".csv":
        path = write(tmp_path / "d.csv", 'text,label\nnull,pos\n"bad, ""really""",neg\nok,pos\n')
    elif suffix == ".tsv":
        path = write(tmp_path / "d.tsv", 'text\tlabel\nnull\tpos\nbad, "really"\tneg\nok\tpos\n')
    elif suffix == ".json":
        path = write(tmp_path / "d.json", json.dumps(ROWS))
    else:
        path = write(tmp_path / ("d.jsonl" if suffix == ".jsonl" else "d.json"),
                     "\n".join(json.dumps(row) for row in ROWS) + "\n\n")
    examples, names = read_custom(path)
    assert names == ("neg", "pos")
    assert examples == [Example(0, "null", label=1), Example(1, 'bad, "really"', label=0), Example(2, "ok", label=1)]


def test_read_custom_pairs_regression_choices_and_fixed_labels(tmp_path):
    path = write(tmp_path / "p.jsonl", '{"a": "x", "b": "y", "y": 10}\n{"a": "z", "b": "w", "y": 2}\n')
    examples, names = read_custom(path, text_column="a", text_pair_column="b", label_column="y", task_type="entailment")
    assert names == ("2", "10") and [e.label for e in examples] == [1, 0] and examples[0].text_b == "y"
    examples, names = read_custom(path, text_column="a", text_pair_column="b", label_column="y", task_type="regression")
    assert names is None and [e.label for e in examples] == [10.0, 2.0]

    with pytest.raises(GenptError, match=r"p\.jsonl line 2: label '2' is not one of '10', '11'"):
        read_custom(path, text_column="a", text_pair_column="b", label_column="y", label_names=("10", "11"))

    choices = write(tmp_path / "mc.csv", "q,c0,c1,c2,answer\nWhy?,a,b,c,2\n")
    [example], names = read_custom(choices, text_column="q", choice_columns=["c0", "c1", "c2"],
                                   label_column="answer", task_type="multiple_choice")
    assert example == Example(0, "Why?", choices=("a", "b", "c"), label=2) and names is None
    write(choices, "q,c0,c1,answer\nWhy?,a,b,2\n")
    with pytest.raises(GenptError, match=r"mc\.csv line 2: label '2' is not a choice position 0\.\.1"):
        read_custom(choices, text_column="q", choice_columns=["c0", "c1"], label_column="answer",
                    task_type="multiple_choice")


def test_read_custom_ids(tmp_path):
    path = write(tmp_path / "d.jsonl", '{"key": 17, "text": "a", "label": "x"}\n{"key": "b-2", "text": "b", "label": "y"}\n')
    examples, _ = read_custom(path, id_column="key")
    assert [(e.index, e.id) for e in examples] == [(0, "17"), (1, "b-2")]
    write(path, '{"key": 17, "text": "a", "label": "x"}\n{"key": "", "text": "b", "label": "y"}\n')
    with pytest.raises(GenptError, match=r"d\.jsonl line 2: 'key' is empty or not a single value; every row needs an id"):
        read_custom(path, id_column="key")
    csv = write(tmp_path / "d.csv", "text,label\na,x\n")
    with pytest.raises(GenptError, match=r"d\.csv: no column 'key'"):
        read_custom(csv, id_column="key")
    write(csv, 'key,text,label\n1,a,x\n"2\tb",b,y\n')
    with pytest.raises(GenptError, match=r"d\.csv line 3: 'key' holds a tab or a line break"):
        read_custom(csv, id_column="key")
    write(csv, "key,text,label\n1,a,x\n2,b,y\n1,c,x\n")
    with pytest.raises(GenptError, match=r"d\.csv line 4: 'key' '1' is also the id of .*d\.csv line 2; expected one row per id"):
        read_custom(csv, id_column="key")


def test_read_custom_unlabelled_test_file(tmp_path):
    path = write(tmp_path / "test.csv", "text\nhello\n")
    examples, names = read_custom(path, label_names=("a", "b"), require_label=False)
    assert examples == [Example(0, "hello")] and names == ("a", "b")
    with pytest.raises(GenptError, match=r"test\.csv: no column 'label'; expected the columns text, label"):
        read_custom(path)


@pytest.mark.parametrize(("name", "text", "message"), [
    ("d.csv", "sentence,label\nhi,1\n", r"no column 'text'"),
    ("d.csv", "text,label\nhi,1,2\n", r"line 2: expected 2 fields"),
    ("d.csv", "text,label\nhi,\n", r"line 2: empty 'label'"),
    ("d.csv", "", r"is empty"),
    ("d.jsonl", "", r"has no examples"),
    ("d.jsonl", '{"text": "a", "label": 1}\n{"text": "b"}\n', r"line 2: no field 'label'"),
    ("d.jsonl", '{"text": "a", "label": 1}\n{"text": \n', r"line 2: not valid JSON"),
    ("d.json", '[{"text": "a", "label": 1}, ["b", 0]]', r"record 2: expected a JSON object"),
    ("d.json", '[{"text": null, "label": 1}]', r"record 1: 'text' is not text"),
    ("d.txt", "text\n", r"unsupported file type \.txt"),
])
def test_bad_custom_files_name_the_file(tmp_path, name, text, message):
    assert_one_line_naming(write(tmp_path / name, text), message, read_custom)


def test_a_custom_tsv_is_read_as_pandas_and_spreadsheets_write_it(tmp_path):
    # pd.DataFrame(...).to_csv(path, sep="\t", index=False): fields with quotes or tabs are quoted
    path = write(tmp_path / "d.tsv", 'text\tlabel\n"He said ""great"""\tpos\n"a tab\there"\tneg\n')
    examples, _ = read_custom(path)
    assert [(e.text_a, e.label) for e in examples] == [('He said "great"', 1), ("a tab\there", 0)]


def test_a_glue_test_file_may_leave_its_label_column_empty(tmp_path):
    path = write(tmp_path / "test.tsv", "sentence\tlabel\nhi\t\nho\t1\n")
    assert [e.label for e in read_split(TASKS["sst2"], "test", file=path)] == [None, 1]


def test_a_header_naming_a_column_twice_is_refused(tmp_path):
    assert_one_line_naming(write(tmp_path / "d.csv", "text,text,label\na,b,1\n"),
                           r"line 1: the header names the column 'text' twice", read_custom)
