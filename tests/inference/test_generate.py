import numpy as np
import torch

from longva.inference import generate
from longva.inference.sampling import SamplingParams, next_token, top_p_filter
from longva.inference.streaming import IncrementalDetokenizer


def _prompt(pipe, question="What is in the video?", frames=3):
    """ids (1, L) with one placeholder, and one video of `frames` distinct random frames."""
    proc = pipe.processor
    ids = proc.encode_prompt(proc.build_messages(question, 1))
    rng = np.random.default_rng(1)
    video = rng.integers(0, 256, (frames, 40, 56, 3), dtype=np.uint8)  # (F, H, W, 3)
    return ids, [proc.preprocess_video(video)]


def _naive_greedy(model, processor, ids, visuals, steps, stop=()):
    """Recompute the whole sequence at every step, no cache: the reference for the fast loop."""
    with torch.no_grad():
        feats = [model.encode_visual(v) for v in visuals]
        embeds, _, _ = model.splice(ids, feats)  # (1, L', D)
        out = []
        for _ in range(steps):
            logits = model(inputs_embeds=embeds, logits_to_keep=1).logits[0, -1]
            token = int(logits.argmax())
            if token in stop:
                break
            out.append(token)
            embeds = torch.cat([embeds, model.embed_text(torch.tensor([[token]]))], dim=1)
    return out


def test_greedy_with_chunked_prefill_and_cache_equals_naive_recomputation(pipe):
    ids, visuals = _prompt(pipe)
    out = generate(
        pipe.model, pipe.processor, ids, visuals=visuals, max_new_tokens=16, stop_token_ids=[], prefill_chunk=5
    )
    reference = _naive_greedy(pipe.model, pipe.processor, ids, visuals, 16)
    assert out.token_ids == reference
    assert len(set(reference)) > 3  # the tiny model really varies, so order/position bugs show
    assert out.finish_reason == "length" and len(out.token_ids) == 16
    assert out.visual_tokens == 3 * pipe.model.tokens_per_frame
    assert out.prompt_tokens == ids.shape[1] - 1 + out.visual_tokens


def test_precomputed_features_give_the_same_answer_as_visuals(pipe):
    ids, visuals = _prompt(pipe)
    with torch.no_grad():
        feats = [pipe.model.encode_visual(v) for v in visuals]
    a = generate(pipe.model, pipe.processor, ids, visuals=visuals, max_new_tokens=8, stop_token_ids=[])
    b = generate(pipe.model, pipe.processor, ids, visual_features=feats, max_new_tokens=8, stop_token_ids=[])
    assert a.token_ids == b.token_ids


def test_streamed_pieces_join_to_the_answer(pipe):
    ids, visuals = _prompt(pipe)
    pieces = []
    out = generate(
        pipe.model, pipe.processor, ids, visuals=visuals, max_new_tokens=24, stop_token_ids=[], callback=pieces.append
    )
    assert len(pieces) > 1
    assert "".join(pieces) == out.text == pipe.processor.decode(out.token_ids)



def test_a_callback_returning_true_stops_generation_and_keeps_the_cache_consistent(pipe):
    from longva.inference import KVState

    ids, visuals = _prompt(pipe)
    gen = dict(visuals=visuals, max_new_tokens=16, stop_token_ids=[])
    full = generate(pipe.model, pipe.processor, ids, **gen)
    pieces: list[str] = []

    def stop_after_three(piece: str) -> bool:
        pieces.append(piece)
        return len(pieces) == 3

    kv = KVState()
    out = generate(pipe.model, pipe.processor, ids, callback=stop_after_three, kv=kv, **gen)
    assert out.finish_reason == "stop" and 3 <= len(out.token_ids) < 16
    assert out.token_ids == full.token_ids[: len(out.token_ids)]
    assert "".join(pieces) == out.text  # a held-back remainder still arrives after the stop
    # the last token was never fed, so the cache holds the prompt and all tokens but the last
    assert kv.cached_len == out.prompt_tokens + len(out.token_ids) - 1 == kv.cache.get_seq_length()

def test_incremental_detokenizer_never_splits_a_multibyte_character(pipe):
    tok = pipe.processor.tokenizer
    text = "héllo ✓ wörld 日本"
    ids = tok.encode(text, add_special_tokens=False)
    assert len(ids) > len(text.split())  # multi-byte characters span several tokens
    detok = IncrementalDetokenizer(tok)
    pieces = [detok.push(t) for t in ids] + [detok.finish()]
    assert "".join(pieces) == text
    assert not any("\ufffd" in p for p in pieces)


def _stop_after(model, k, stop_id):
    """A hook on the LM head: from the (k+1)-th call on, `stop_id` wins by a wide margin.

    Call 1 is the prefill (chooses token 0), call i+1 the decode step choosing token i.
    """
    calls = {"n": 0}

    def hook(module, args, output):
        calls["n"] += 1
        if calls["n"] > k:
            output = output.clone()
            output[..., stop_id] += 1e4
        return output

    return model.language_model.get_output_embeddings().register_forward_hook(hook)


def test_generation_stops_at_the_template_stop_token(pipe):
    ids, visuals = _prompt(pipe)
    im_end = pipe.processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert pipe.processor.stop_token_ids == [im_end]
    free = generate(pipe.model, pipe.processor, ids, visuals=visuals, max_new_tokens=10, stop_token_ids=[])
    handle = _stop_after(pipe.model, 4, im_end)
    try:
        out = generate(pipe.model, pipe.processor, ids, visuals=visuals, max_new_tokens=10)  # default stop ids
    finally:
        handle.remove()
    assert out.finish_reason == "stop"
    assert out.token_ids == free.token_ids[:4]
    assert "<|im_end|>" not in out.text


def test_sampling_is_reproducible_with_a_seed_and_varies_without(pipe):
    ids, visuals = _prompt(pipe)

    def sample(seed):
        return generate(pipe.model, pipe.processor, ids, visuals=visuals, max_new_tokens=12, stop_token_ids=[],
                        do_sample=True, temperature=3.0, seed=seed).token_ids

    first = sample(7)
    assert sample(7) == first
    assert any(sample(s) != first for s in (8, 9, 10))


def test_top_p_keeps_the_smallest_nucleus():
    probs = torch.tensor([0.1, 0.5, 0.25, 0.15])
    kept = top_p_filter(probs, 0.7)  # 0.5 + 0.25 reach 0.7
    assert torch.allclose(kept, torch.tensor([0.0, 2 / 3, 1 / 3, 0.0]))
    # a tiny nucleus is the argmax alone: sampling becomes greedy
    params = SamplingParams(do_sample=True, temperature=1.0, top_p=1e-6)
    gen = torch.Generator().manual_seed(0)
    assert all(next_token(torch.log(probs), params, gen) == 1 for _ in range(20))
