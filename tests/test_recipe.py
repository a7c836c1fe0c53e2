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
