"""Chunked cross-entropy equals the full cross-entropy (value and gradients) without logits."""

import pytest
import torch
import torch.nn.functional as F

from longva.model.loss import chunked_cross_entropy, chunked_cross_entropy_sum, next_token_loss


def _inputs(dtype, b=2, length=37, h=16, v=53, seed=0):
    g = torch.Generator().manual_seed(seed)
    hidden = torch.randn(b, length, h, generator=g, dtype=dtype, requires_grad=True)
    weight = torch.randn(v, h, generator=g, dtype=dtype, requires_grad=True)
    labels = torch.randint(0, v, (b, length), generator=g)
    labels[0, :5] = -100  # ignored positions
    labels[1, -3:] = -100
    return hidden, weight, labels


def _full(hidden, weight, labels):
    logits = hidden @ weight.T  # (B, L, V)
    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)


@pytest.mark.parametrize("chunk", [1, 8, 1000])
def test_fp64_matches_full_loss_and_grads(chunk):
    hidden, weight, labels = _inputs(torch.float64)
    ref = _full(hidden, weight, labels)
    g_ref = torch.autograd.grad(ref, (hidden, weight))
    out = chunked_cross_entropy(hidden, weight, labels, chunk_size=chunk)
    g_out = torch.autograd.grad(out, (hidden, weight))
    assert torch.allclose(out, ref, rtol=1e-12, atol=1e-12)
    for a, b in zip(g_out, g_ref):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


def test_fp32_within_1e6_relative():
    hidden, weight, labels = _inputs(torch.float32, length=64, v=300)
    ref = _full(hidden, weight, labels)
    g_ref = torch.autograd.grad(ref, (hidden, weight))
    out = chunked_cross_entropy(hidden, weight, labels, chunk_size=16)
    g_out = torch.autograd.grad(out, (hidden, weight))
    assert abs(out.item() - ref.item()) <= 1e-6 * abs(ref.item())
    for a, b in zip(g_out, g_ref):
        assert (a - b).abs().max() <= 1e-6 * b.abs().max()


def test_sum_and_count_for_distributed_reduction():
    hidden, weight, labels = _inputs(torch.float64)
    loss_sum, n = chunked_cross_entropy_sum(hidden, weight, labels, chunk_size=7)
    assert n.item() == int((labels != -100).sum())
    ref_sum = F.cross_entropy((hidden @ weight.T).flatten(0, 1), labels.flatten(), reduction="sum")
    assert torch.allclose(loss_sum, ref_sum, rtol=1e-12)
    # two halves reduced as sum/count equal the mean over the whole batch
    s0, n0 = chunked_cross_entropy_sum(hidden[:1], weight, labels[:1])
    s1, n1 = chunked_cross_entropy_sum(hidden[1:], weight, labels[1:])
    assert torch.allclose((s0 + s1) / (n0 + n1), _full(hidden, weight, labels), rtol=1e-12)


def test_all_ignored_gives_zero_and_zero_grads():
    hidden, weight, labels = _inputs(torch.float64)
    labels[:] = -100
    out = chunked_cross_entropy(hidden, weight, labels)
    out.backward()
    assert out.item() == 0.0
    assert hidden.grad.abs().max() == 0 and weight.grad.abs().max() == 0


def test_never_saves_logit_sized_tensors():
    """No tensor of B*L*V elements is kept for backward (forward keeps only its inputs)."""
    b, length, h, v = 2, 64, 8, 512
    hidden, weight, labels = _inputs(torch.float32, b=b, length=length, h=h, v=v)
    saved = []

    def pack(t):
        saved.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = chunked_cross_entropy(hidden, weight, labels, chunk_size=16)
    loss.backward()
    assert saved and max(saved) < b * length * v // 4
    # the full path does save a logits-sized tensor: the check above can fail
    saved.clear()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        _full(hidden, weight, labels)
    assert max(saved) >= b * length * v


def test_bf16_autocast_close_to_fp32():
    hidden, weight, labels = _inputs(torch.float32, length=32, v=100)
    ref = _full(hidden, weight, labels)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = chunked_cross_entropy(hidden, weight, labels, chunk_size=8)
    out.backward()
    assert out.dtype == torch.float32 and weight.grad.dtype == torch.float32
    assert abs(out.item() - ref.item()) < 0.05 * abs(ref.item())


def _plain_next_token_loss(hidden, weight, labels):
    """What the LongVA forward computed before: every row's logits kept for autograd."""
    targets = labels[:, 1:]
    mask = targets != -100
    logits = hidden[:, :-1][mask] @ weight.T  # (N, V), all of them alive until backward
    return F.cross_entropy(logits.float(), targets[mask], reduction="sum") / int(mask.sum())


@pytest.mark.parametrize("chunk", [5, 1024])
def test_next_token_loss_is_the_plain_loss_without_keeping_the_logits(chunk):
    g = torch.Generator().manual_seed(0)
    hidden0, weight0 = torch.randn(2, 30, 16, generator=g), torch.randn(50, 16, generator=g)
    labels = torch.randint(0, 50, (2, 30), generator=g)
    labels[:, :12] = -100  # a prompt: only the answer is supervised
    out = []
    for fn in (_plain_next_token_loss, lambda h, w, y: next_token_loss(h, w, y, chunk_size=chunk)):
        hidden, weight = hidden0.clone().requires_grad_(), weight0.clone().requires_grad_()
        saved: list[int] = []

        def pack(t, saved=saved):
            saved.append(t.numel())
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            loss = fn(hidden, weight, labels)
        loss.backward()
        out.append((loss.detach(), hidden.grad, weight.grad, max(saved)))
    (loss_a, gh_a, gw_a, saved_a), (loss_b, gh_b, gw_b, saved_b) = out
    assert torch.allclose(loss_a, loss_b, rtol=1e-6) and torch.allclose(gh_a, gh_b, atol=1e-6)
    assert torch.allclose(gw_a, gw_b, atol=1e-6)
    n_rows = int((labels[:, 1:] != -100).sum())
    assert saved_a >= n_rows * 50 and saved_b < n_rows * 50  # no (N, V) logits kept for backward
