import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from longva.errors import InputError
from longva.model.modeling_longva import LongVAForCausalLM
from longva.model.processor import LongVAProcessor
from longva.model.prompt import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from longva.model.tiny import tiny_longva_config


def _model(tokenizer, **kw):
    torch.manual_seed(0)
    cfg = tiny_longva_config(len(tokenizer), **kw)
    return LongVAForCausalLM(cfg).eval(), LongVAProcessor(tokenizer, cfg)


def _frames(n, size=(40, 30)):
    return [Image.new("RGB", size, ((37 * i) % 255, (91 * i) % 255, 50)) for i in range(n)]


def test_visual_tokens_are_spliced_at_the_placeholder(tokenizer):
    model, proc = _model(tokenizer)
    video = proc.preprocess_video(_frames(3))
    ids = proc.encode_prompt(proc.build_messages("What?", 1))
    with torch.no_grad():
        out = model(input_ids=ids, visuals=[video])
        feats = model.encode_visual(video)
    pos = int((ids[0] == IMAGE_TOKEN_INDEX).nonzero())
    assert out.inputs_embeds.shape[1] == ids.shape[1] - 1 + feats.shape[0]
    assert torch.allclose(out.inputs_embeds[0, pos : pos + feats.shape[0]], feats)
    assert torch.allclose(out.inputs_embeds[0, :pos], model.embed_text(ids[0, :pos]))
    assert torch.allclose(out.inputs_embeds[0, pos + feats.shape[0] :], model.embed_text(ids[0, pos + 1 :]))


def test_loss_is_on_text_labels_only(tokenizer):
    model, proc = _model(tokenizer)
    image = proc.preprocess_image(Image.new("RGB", (64, 32), (10, 200, 10)))
    ids, labels = proc.encode_training_example(proc.build_messages("Colour?", 1) + [("assistant", "green")])
    with torch.no_grad():
        out = model(input_ids=ids[None], visuals=[image], labels=labels[None])
        logits = model.language_model(inputs_embeds=out.inputs_embeds).logits[0]
    spliced = out.labels[0]
    assert (spliced == IGNORE_INDEX).sum() == (labels == IGNORE_INDEX).sum() - 1 + image_tokens(model, image)
    mask = spliced[1:] != IGNORE_INDEX
    manual = F.cross_entropy(logits[:-1][mask], spliced[1:][mask])
    assert torch.allclose(out.loss, manual, atol=1e-5)


def image_tokens(model, visual):
    with torch.no_grad():
        return model.encode_visual(visual).shape[0]


def test_batch_of_different_lengths_is_right_padded(tokenizer):
    model, proc = _model(tokenizer)
    a = proc.encode_prompt(proc.build_messages("A?", 1))[0]
    b = proc.encode_prompt(proc.build_messages("A much longer question here?", 1))[0]
    videos = [proc.preprocess_video(_frames(2)), proc.preprocess_video(_frames(4))]
    with torch.no_grad():
        batch = model(input_ids=[a, b], visuals=videos, labels=[a.clone(), b.clone()])
        single = model(input_ids=a[None], visuals=videos[:1])
    len_a, len_b = len(a) - 1 + 2 * model.tokens_per_frame, len(b) - 1 + 4 * model.tokens_per_frame
    assert batch.inputs_embeds.shape[1] == max(len_a, len_b)
    assert batch.attention_mask.sum(1).tolist() == [len_a, len_b]
    assert (batch.labels[0, len_a:] == IGNORE_INDEX).all()
    # the padded row reads the same as the row alone (right padding, causal attention)
    assert torch.allclose(batch.inputs_embeds[0, :len_a], single.inputs_embeds[0])


def test_placeholder_count_mismatch_is_one_line_error(tokenizer):
    model, proc = _model(tokenizer)
    ids = proc.encode_prompt(proc.build_messages("<image> and <image>?", 0))
    with pytest.raises(InputError) as e:
        model(input_ids=ids, visuals=[proc.preprocess_video(_frames(1))])
    assert "2 <image> placeholder(s) but 1" in str(e.value) and "\n" not in str(e.value)


def test_too_long_raises_with_lengths_instead_of_truncating(tokenizer):
    model, proc = _model(tokenizer)
    model.config.max_length = 50
    ids = proc.encode_prompt(proc.build_messages("What?", 1))
    with pytest.raises(InputError, match=r"has \d+ tokens .* max_length=50"):
        model(input_ids=ids, visuals=[proc.preprocess_video(_frames(20))])


def test_zero_pixel_image_is_rejected(tokenizer):
    _, proc = _model(tokenizer)
    with pytest.raises(InputError, match="0x0 pixels"):
        proc.preprocess_image(Image.new("RGB", (0, 0)))


@pytest.mark.parametrize("kw", [dict(model_type="llama"), dict(tower="siglip"), dict(scheme="anyres")])
def test_llama_lm_siglip_tower_and_anyres_run_and_train(tokenizer, kw):
    model, proc = _model(tokenizer, **kw)
    model.train()
    image = proc.preprocess_image(Image.new("RGB", (50, 70), (1, 2, 3)))
    ids, labels = proc.encode_training_example(proc.build_messages("Q?", 1) + [("assistant", "yes")])
    out = model(input_ids=ids[None], visuals=[image], labels=labels[None])
    out.loss.backward()
    assert torch.isfinite(out.loss)
    assert model.projector[0].weight.grad is not None
    if kw.get("model_type") == "llama":
        assert type(model.language_model).__name__ == "LlamaForCausalLM"


def test_rope_theta_goes_to_rope_parameters(tokenizer):
    model, _ = _model(tokenizer)
    assert model.language_model.config.rope_parameters["rope_theta"] == 1e4


def test_vision_runs_in_chunks_and_only_up_to_the_selected_layer(tokenizer):
    model, proc = _model(tokenizer)
    model.config.vision.chunk_size = 4
    batch_sizes, layer_calls = [], []
    model.vision_tower.model.embeddings.register_forward_hook(lambda m, i, o: batch_sizes.append(o.shape[0]))
    for layer in model.vision_tower.model.encoder.layers:
        layer.register_forward_hook(lambda m, i, o: layer_calls.append(1))
    video = proc.preprocess_video(_frames(10))
    with torch.no_grad():
        tokens = model.encode_visual(video)
    assert tokens.shape[0] == 10 * model.tokens_per_frame
    assert max(batch_sizes) <= 4 and sum(batch_sizes) == 10
    # 2-layer tower, select_layer -2 -> only the first layer runs, once per chunk
    assert len(layer_calls) == len(batch_sizes)
