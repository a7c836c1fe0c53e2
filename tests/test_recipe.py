"""Recipes are validated before anything runs; errors name the key."""
import pytest

from helpers import RECIPE
from llamacorpus.config import ConfigError
from llamacorpus.pipeline import recipe as recipe_mod

LLAMA_TABLE_1 = {"commoncrawl": (0.67, 1.10), "c4": (0.15, 1.06), "github": (0.045, 0.64),
                 "wikipedia": (0.045, 2.45), "books": (0.045, 2.23), "arxiv": (0.025, 1.06),
                 "stackexchange": (0.02, 1.03)}
WIKI_LANGUAGES = "bg ca cs da de en es fr hr hu it nl pl pt ro ru sl sr sv uk".split()


def test_llama1_recipe_holds_table_1_and_the_20_languages():
    recipe = recipe_mod.load(str(RECIPE))
    weights = {k: (w.proportion, w.epochs) for k, w in recipe.mixture.weights.items()}
    assert weights == LLAMA_TABLE_1
    assert recipe.sources["wikipedia"].languages == WIKI_LANGUAGES
    assert recipe.tokenizer.model_type == "bpe" and recipe.tokenizer.vocab_size == 32000
    assert recipe.tokenizer.split_digits and recipe.tokenizer.byte_fallback


def test_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"unknown recipe key sources\.c4\.min_char\b"):
        recipe_mod.load(str(RECIPE), ["sources.c4.min_char=3"])
    with pytest.raises(ConfigError, match=r"unknown recipe key tokenizer\.vocab\b"):
        recipe_mod.load(str(RECIPE), ["tokenizer.vocab=3"])
    with pytest.raises(ConfigError, match=r"unknown recipe key sources\.reddit"):
        recipe_mod.load(str(RECIPE), ["sources.reddit={inputs: [x]}"])


@pytest.mark.parametrize("override, message", [
    ("sources.c4.min_chars=-1", r"sources\.c4\.min_chars: must be >= 0"),
    ("sources.c4.min_chars=many", r"sources\.c4\.min_chars: expected an integer, got 'many'"),
    ("tokenizer.model_type=wordpiece", r"tokenizer\.model_type: must be bpe or unigram"),
    ("mixture.weights.c4.proportion=0.5", r"mixture\.weights: proportions must sum to 1"),
    ("shards.tokens_per_shard=0", r"shards\.tokens_per_shard: must be > 0"),
    ("run=[c4, reddit]", r"run: source 'reddit' has no section"),
])
def test_bad_value_is_named(override, message):
    with pytest.raises(ConfigError, match=message):
        recipe_mod.load(str(RECIPE), [override])


def test_flags_override_recipe_keys():
    recipe = recipe_mod.load(str(RECIPE), ["sources.c4.min_chars=250", "batch_size=8"], output="/tmp/elsewhere")
    assert recipe.sources["c4"].min_chars == 250
    assert recipe.batch_size == 8
    assert recipe.output == "/tmp/elsewhere"


def test_digest_follows_values():
    a = recipe_mod.load(str(RECIPE))
    assert a.digest() == recipe_mod.load(str(RECIPE)).digest()
    assert a.digest() != recipe_mod.load(str(RECIPE), ["sources.c4.min_chars=1"]).digest()


def test_missing_recipe_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        recipe_mod.load(str(tmp_path / "nope.yaml"))


def test_digest_ignores_where_a_run_reads_and_writes():
    a = recipe_mod.load(str(RECIPE))
    assert a.digest() == recipe_mod.load(str(RECIPE), output="/elsewhere", input_root="/data", models_dir="/m").digest()


# ---------------------------------------------------------------------------- YAML 1.1 booleans

def test_off_on_yes_no_are_strings_in_a_recipe_file(tmp_path):
    """`line_dedup: off` (the recipe comment offers it) is the string "off", not YAML 1.1's false."""
    text = RECIPE.read_text().replace("line_dedup: ccnet ", "line_dedup: off   ")
    assert "line_dedup: off" in text
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    recipe = recipe_mod.load(str(path))
    assert recipe.sources["commoncrawl"].line_dedup == "off"
    assert recipe.sources["commoncrawl"].languages == ["en"]


@pytest.mark.parametrize("value", ["off", "c4", "ccnet"])
def test_off_is_a_string_through_set(value):
    recipe = recipe_mod.load(str(RECIPE), [f"sources.commoncrawl.line_dedup={value}"])
    assert recipe.sources["commoncrawl"].line_dedup == value


@pytest.mark.parametrize("value", ["run", "dump", "files:1", "files:50"])
def test_line_dedup_scope_through_set(value):
    recipe = recipe_mod.load(str(RECIPE), [f"sources.commoncrawl.line_dedup_scope={value}"])
    assert recipe.sources["commoncrawl"].line_dedup_scope == value
    assert recipe_mod.load(str(RECIPE)).sources["commoncrawl"].line_dedup_scope == "run"


@pytest.mark.parametrize("value", ["off", "files:0", "files:-1", "files", "shards:2"])
def test_a_bad_line_dedup_scope_is_named(value):
    """``off`` is no scope (line_dedup: off turns the step off): the error names the key and the
    value as written, not YAML 1.1's false."""
    with pytest.raises(ConfigError, match=r"sources\.commoncrawl\.line_dedup_scope: must be run, dump or files:N"):
        recipe_mod.load(str(RECIPE), [f"sources.commoncrawl.line_dedup_scope={value}"])


def test_yes_no_on_off_stay_strings_in_lists_and_names():
    recipe = recipe_mod.load(str(RECIPE), ["sources.wikipedia.languages=[no, on, de]", "name=yes"])
    assert recipe.sources["wikipedia"].languages == ["no", "on", "de"]  # Norwegian is "no"
    assert recipe.name == "yes"


@pytest.mark.parametrize("text, value", [("true", True), ("false", False), ("yes", True), ("no", False),
                                         ("on", True), ("off", False), ("Off", False)])
def test_bool_keys_still_accept_yes_no_on_off(text, value):
    assert recipe_mod.load(str(RECIPE), [f"export_jsonl={text}"]).export_jsonl is value


def test_yaml_12_core_schema_scalars():
    from llamacorpus.config import parse_yaml

    assert parse_yaml("[off, on, yes, no, y, n, true, False, ~, null, 017, 0o17, 0x1f, 1e3, .5, 1:30, 1_000]") == \
        ["off", "on", "yes", "no", "y", "n", True, False, None, None, 17, 15, 31, 1000.0, 0.5, "1:30", "1_000"]


# ---------------------------------------------------------------------------- launch-relative paths

def test_launch_relative_paths_become_absolute(tmp_path):
    from llamacorpus.config import resolve_paths

    recipe = recipe_mod.load(str(RECIPE), ["sources.commoncrawl.lid_model=models/lid.176.bin",
                                           "tokenizer.model=gs://bucket/tokenizer.model"],
                             output="out", input_root="tests/fixtures", models_dir="")
    resolved = resolve_paths(recipe, str(tmp_path))
    assert resolved.output == str(tmp_path / "out") and resolved.input_root == str(tmp_path / "tests/fixtures")
    assert resolved.sources["commoncrawl"].lid_model == str(tmp_path / "models/lid.176.bin")
    assert resolved.models_dir == "" and resolved.tokenizer.model == "gs://bucket/tokenizer.model"
    assert resolved.sources["c4"].inputs == recipe.sources["c4"].inputs  # globs stay relative to input_root
    assert resolved.sources["commoncrawl"].perplexity.sp_model == "{lang}.sp.model"  # a name, not a path
    assert resolved.digest() != recipe.digest() and recipe.output == "out"  # a copy
