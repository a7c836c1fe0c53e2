"""The bundled LLaMA: the paper's sizes, and each architectural piece against its definition, on
real text tokenized with the real SentencePiece fixture model."""
from __future__ import annotations

import dataclasses
import math

import pytest
import sentencepiece
import torch

from helpers import FIXTURES
from llamacorpus.model import presets
from llamacorpus.model.model import INIT_STD, LLaMA, ModelConfig, RMSNorm, apply_rope, rope_angles

torch.set_num_threads(1)  # tiny models: one thread is fastest, and robust on a busy machine
TOKENIZER = FIXTURES / "models" / "botchan_en_unigram_1000.model"
TINY = dataclasses.replace(presets.get("tiny").model, vocab_size=1000)


@pytest.fixture(scope="module")
def tokens() -> torch.Tensor:
    """Two rows of 64 token ids of Frankenstein."""
    text = (FIXTURES / "books" / "84-0_frankenstein.txt").read_text(encoding="utf-8")[5000:9000]
    ids = sentencepiece.SentencePieceProcessor(model_file=str(TOKENIZER)).encode(text)
    return torch.tensor(ids[:128]).view(2, 64)


@pytest.mark.parametrize("name,billions,hidden", [("7B", 6.7, 11008), ("13B", 13.0, 13824),
                                                   ("33B", 32.5, 17920), ("65B", 65.2, 22016)])
def test_paper_sizes_on_the_meta_device(name, billions, hidden):
    preset = presets.get(name)
    with torch.device("meta"):
        model = LLaMA(preset.model)
    assert model.cfg.ffn_hidden == hidden  # 2/3 * 4d rounded up to a multiple of 256
    assert abs(model.num_params() / 1e9 - billions) < 0.1  # the paper truncates: 65.29B is "65.2B"
    assert preset.batch_tokens == 4 * 2**20 and preset.seq_len == 2048 and preset.model.vocab_size == 32000
    assert preset.max_lr == (3e-4 if name in ("7B", "13B") else 1.5e-4)
    names = [n for n, _ in model.named_parameters()]
    assert not [n for n in names if "bias" in n]
    assert model.output.weight is not model.tok_embeddings.weight  # untied head


def test_gpu_small_is_the_125m_class_built_as_llama():
    preset = presets.get("gpu-small")
    cfg = preset.model
    assert (cfg.dim, cfg.n_layers, cfg.n_heads, cfg.head_dim, preset.seq_len, cfg.vocab_size) == (768, 12, 12, 64, 1024, 32000)
    assert cfg.ffn_hidden == 2048  # 2/3 * 4 * 768, already a multiple of 256
    with torch.device("meta"):
        model = LLaMA(cfg)
    d, hidden, vocab = 768, 2048, 32000
    per_layer = 4 * d * d + 3 * d * hidden + 2 * d  # wq wk wv wo, w1 w2 w3, two RMSNorm gains
    assert model.num_params() == 2 * vocab * d + 12 * per_layer + d == 134_105_856  # + embedding, head, final norm
    assert model.num_params(embedding=False) == 109_529_856
    # GPT-3 Table 2.1, 125M: batch 0.5M tokens, lr 6e-4; micro batches of 32 windows, 16 of them a step
    assert (preset.batch_tokens, preset.max_lr, preset.micro_batch) == (512 * 1024, 6e-4, 32)
    assert preset.batch_tokens // (preset.micro_batch * preset.seq_len) == 16
    assert preset.warmup_steps == 2000 and preset.steps * preset.batch_tokens / model.num_params() == pytest.approx(19.5, abs=0.1)
    assert "GPT-3 Table 2.1" in preset.description


def test_initial_loss_is_about_ln_vocab_and_init_is_as_documented(tokens):
    torch.manual_seed(0)
    model = LLaMA(TINY)
    logits = model(tokens[:, :-1])
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 1000), tokens[:, 1:].reshape(-1))
    assert abs(loss.item() - math.log(1000)) < 0.1
    layer = model.layers[0]
    assert layer.attention.wq.weight.std().item() == pytest.approx(INIT_STD, rel=0.05)
    assert layer.feed_forward.w2.weight.std().item() == pytest.approx(INIT_STD / math.sqrt(2 * TINY.n_layers), rel=0.05)
    assert torch.equal(layer.attention_norm.weight, torch.ones(TINY.dim))


def test_attention_is_causal(tokens):
    torch.manual_seed(0)
    model = LLaMA(TINY).eval()
    changed = tokens.clone()
    changed[:, 40] = (changed[:, 40] + 7) % 1000
    with torch.no_grad():
        before, after = model(tokens), model(changed)
    torch.testing.assert_close(before[:, :40], after[:, :40])
    assert not torch.allclose(before[:, 40:], after[:, 40:])


def test_attention_matches_explicit_causal_softmax(tokens):
    torch.manual_seed(0)
    model = LLaMA(TINY)
    attn = model.layers[0].attention
    x = model.tok_embeddings(tokens)
    batch, seq, dim = x.shape
    shape = (batch, seq, TINY.n_heads, TINY.head_dim)
    q = apply_rope(attn.wq(x).view(shape), model.rope_cos, model.rope_sin).transpose(1, 2)
    k = apply_rope(attn.wk(x).view(shape), model.rope_cos, model.rope_sin).transpose(1, 2)
    v = attn.wv(x).view(shape).transpose(1, 2)
    scores = q @ k.transpose(-1, -2) / math.sqrt(TINY.head_dim)
    scores = scores.masked_fill(torch.ones(seq, seq, dtype=torch.bool).triu(1), float("-inf"))
    expected = attn.wo((scores.softmax(-1) @ v).transpose(1, 2).reshape(batch, seq, dim))
    torch.testing.assert_close(attn(x, model.rope_cos, model.rope_sin), expected, atol=1e-5, rtol=1e-4)


def test_rope_is_meta_rotation_of_interleaved_pairs_and_relative():
    torch.manual_seed(0)
    head_dim, seq = 16, 12
    cos, sin = rope_angles(head_dim, seq, 10000.0)
    x = torch.randn(1, seq, 2, head_dim)
    # Meta's reference: pairs (x[2i], x[2i+1]) as complex numbers times e^(i m theta_i)
    freqs = 1.0 / 10000.0 ** (torch.arange(0, head_dim, 2).float() / head_dim)
    cis = torch.polar(torch.ones(seq, head_dim // 2), torch.outer(torch.arange(seq).float(), freqs))
    reference = torch.view_as_real(torch.view_as_complex(x.reshape(1, seq, 2, -1, 2)) * cis[None, :, None]).flatten(3)
    torch.testing.assert_close(apply_rope(x, cos, sin), reference)
    # the score of a query at m and a key at n depends on m - n only
    q, k = torch.randn(head_dim), torch.randn(head_dim)

    def score(m: int, n: int) -> float:
        rq = apply_rope(q.expand(1, seq, 1, head_dim), cos, sin)[0, m, 0]
        rk = apply_rope(k.expand(1, seq, 1, head_dim), cos, sin)[0, n, 0]
        return float(rq @ rk)

    assert score(5, 2) == pytest.approx(score(9, 6), rel=1e-5)
    assert score(5, 2) != pytest.approx(score(5, 3), rel=1e-3)


def test_rms_norm_normalises_real_hidden_states(tokens):
    torch.manual_seed(0)
    hidden = LLaMA(TINY).tok_embeddings(tokens) * 37.0
    out = RMSNorm(TINY.dim, 1e-6)(hidden)
    torch.testing.assert_close(out.pow(2).mean(-1), torch.ones(2, 64), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(RMSNorm(TINY.dim, 1e-6)(hidden * 10.0), out, rtol=1e-4, atol=1e-4)


def test_activation_checkpointing_gives_the_same_gradients(tokens):
    grads = []
    for recompute in (False, True):
        torch.manual_seed(0)
        model = LLaMA(TINY)
        model.activation_checkpointing = recompute
        logits = model(tokens[:, :-1])
        torch.nn.functional.cross_entropy(logits.reshape(-1, 1000), tokens[:, 1:].reshape(-1)).backward()
        grads.append([p.grad for p in model.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_config_errors_name_the_problem(tokens):
    with pytest.raises(ValueError, match="heads"):
        ModelConfig(dim=100, n_heads=3)
    with pytest.raises(ValueError, match="max_seq_len"):
        LLaMA(dataclasses.replace(TINY, max_seq_len=32))(tokens)
    with pytest.raises(ValueError, match="unknown preset"):
        presets.get("7b-chat")
