"""LongVAForCausalLM: vision tower -> projector -> pooling -> spliced into a causal LM.

Composed from transformers classes (a CLIP, SigLIP, ViT, DINOv2, ResNet or ConvNeXt vision model
or a fusion of two, `vision_backbones.py`; any AutoModelForCausalLM such as Qwen2, Llama, Mistral
or Gemma); the only new modules are the projector, the pooling and, for AnyRes, the
`image_newline` vector. Follow one video through `forward`:

    frames (F, 3, S, S) --tower, layer -2, no CLS--> (F, g*g, D_v) --projector--> (F, g*g, D)
    --2x2 avg pool per grid--> (F, t, D) --flatten--> (F*t, D) --spliced at the <image> id-->
    inputs_embeds (1, L, D) --LM--> hidden (1, L, D) --lm_head on labelled positions--> loss
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM

from longva.errors import InputError
from longva.model.checkpoint import load_pretrained, save_pretrained
from longva.model.compat import output_cache
from longva.model.config import LongVAConfig
from longva.model.encoding import VisualInput, grid_token_shape, merge_grids, tokens_per_frame
from longva.model.loss import next_token_loss
from longva.model.pooling import build_pooling
from longva.model.prefix_lm import prefix_lm_mask, visual_flags
from longva.model.projector import build_projector
from longva.model.prompt import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from longva.model.vision_backbones import build_vision_tower


def build_lm_config(config: LongVAConfig):
    """transformers config of the LM, with the RoPE base written into `rope_parameters`."""
    kwargs = dict(config.lm.hf_config)
    if config.lm.rope_theta is not None:
        rope = dict(kwargs.get("rope_parameters") or {"rope_type": "default"})
        rope["rope_theta"] = float(config.lm.rope_theta)
        kwargs["rope_parameters"] = rope
        kwargs.pop("rope_theta", None)
    lm_config = AutoConfig.for_model(config.lm.model_type, **kwargs)
    lm_config._attn_implementation = kwargs.get("attn_implementation", "sdpa")
    return lm_config


@dataclass
class LongVAOutput:
    loss: torch.Tensor | None
    logits: torch.Tensor | None  # only for the positions asked for (see `logits_to_keep`)
    inputs_embeds: torch.Tensor
    labels: torch.Tensor | None
    attention_mask: torch.Tensor | None
    cache: object | None = None  # the LM's KV cache when `use_cache` / `cache=` was passed


class LongVAForCausalLM(nn.Module):
    def __init__(self, config: LongVAConfig, language_model: nn.Module | None = None):
        super().__init__()
        self.config = config
        self.language_model = language_model or AutoModelForCausalLM.from_config(build_lm_config(config))
        self.vision_tower = build_vision_tower(config.vision)
        side = config.vision.grid_side
        self.projector = build_projector(
            config.projector, config.vision.hidden_size, self.lm_hidden_size, native_tokens=side * side
        )
        self.pooling = build_pooling(config.pooling)
        self.grid_hw = grid_token_shape(config)  # (h, w) tokens of one grid after pooling
        if config.encoding.scheme == "anyres":
            self.image_newline = nn.Parameter(torch.randn(self.lm_hidden_size) / self.lm_hidden_size**0.5)
        else:
            self.image_newline = None
        self.vision_tower.requires_grad_(not config.vision.frozen)

    # ---- persistence (HF-style directories; see longva.model.checkpoint) ------------------------

    def save_pretrained(self, directory, processor=None, max_shard_bytes: int | None = None):
        return save_pretrained(self, directory, processor, max_shard_bytes)

    @classmethod
    def from_pretrained(cls, directory, dtype: torch.dtype | None = None, device="cpu") -> LongVAForCausalLM:
        """Load our layout or an original LongVA / LLaVA-Qwen checkpoint."""
        return load_pretrained(directory, build_model, dtype=dtype, device=device)

    # ---- sizes ---------------------------------------------------------------------------------

    @property
    def lm_hidden_size(self) -> int:
        return self.language_model.config.hidden_size

    @property
    def tokens_per_frame(self) -> int:
        return tokens_per_frame(self.config)

    @property
    def device(self) -> torch.device:
        return next(self.language_model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.language_model.parameters()).dtype

    # ---- visual encoding -------------------------------------------------------------------------

    def _projected_grid(self) -> tuple[int, int]:
        side = self.config.vision.grid_side
        n = self.projector.output_tokens(side * side) if hasattr(self.projector, "output_tokens") else side * side
        if n == side * side:
            return side, side
        from longva.model.pooling import factor_near_square

        return factor_near_square(n)

    def encode_grids(self, pixel_values: torch.Tensor, chunk_size: int | None = None) -> torch.Tensor:
        """(N, 3, S, S) grids or frames -> (N, t, D) LM-space tokens (t = tokens_per_frame)."""
        chunk = chunk_size or self.config.vision.chunk_size
        outs = []
        for i in range(0, pixel_values.shape[0], chunk):  # projector/pooling per chunk too
            pixels = pixel_values[i : i + chunk].to(self.device)  # one chunk on the GPU at a time
            feats = self.vision_tower(pixels, chunk_size=chunk)  # (c, g*g, D_v)
            feats = self.projector(feats.to(self.dtype))  # (c, g'*g', D)
            outs.append(self.pooling(feats, self._projected_grid()))  # (c, t, D)
        return torch.cat(outs, dim=0)

    encode_frames = encode_grids  # a video frame is exactly one grid

    def encode_visual(self, visual: VisualInput) -> torch.Tensor:
        """One placeholder's visual tokens (tokens, D), in the order the LM reads them."""
        return self.encode_visuals([visual])[0]

    def encode_visuals(self, visuals: list[VisualInput]) -> list[torch.Tensor]:
        """Each placeholder's visual tokens (tokens_i, D). Every grid of every visual (and AnyRes'
        base images) goes through the tower in one batched call, not one call per image."""
        if not visuals:
            return []
        scheme = self.config.encoding.scheme
        has_base = [scheme == "anyres" and v.kind == "image" for v in visuals]
        pixels = [v.pixel_values for v in visuals] + [v.base.unsqueeze(0) for v, b in zip(visuals, has_base) if b]
        sizes = [v.pixel_values.shape[0] for v in visuals]
        tokens = self.encode_grids(torch.cat(pixels))  # (sum N_i + bases, t, D)
        grids = tokens[: sum(sizes)].split(sizes)
        bases = iter(tokens[sum(sizes) :])
        return [
            merge_grids(v, g, self.grid_hw, scheme, next(bases) if b else None, self.image_newline)
            for v, g, b in zip(visuals, grids, has_base)
        ]

    # ---- text + splice -----------------------------------------------------------------------------

    def embed_text(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.language_model.get_input_embeddings()(input_ids.to(self.device))

    def splice(
        self,
        input_ids: torch.Tensor | list[torch.Tensor],
        visual_features: list[torch.Tensor],
        labels: torch.Tensor | list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Replace each IMAGE_TOKEN_INDEX of `input_ids` by the next visual feature block.

        `input_ids` is (B, L) or a list of B unpadded 1-D rows (variable lengths). Returns
        right-padded (inputs_embeds (B, L', D), labels (B, L') or None, attention_mask (B, L')).
        The k-th placeholder of the batch (row-major) takes visual_features[k].
        """
        n_placeholders = sum(int((row == IMAGE_TOKEN_INDEX).sum()) for row in input_ids)
        if n_placeholders != len(visual_features):
            raise InputError(
                f"prompt has {n_placeholders} {self.config.image_token} placeholder(s) but"
                f" {len(visual_features)} image(s)/video(s) were given; expected one per placeholder"
            )
        feats = iter(visual_features)
        rows, row_labels = [], []
        for b in range(len(input_ids)):
            ids = input_ids[b]
            pieces, lab_pieces = [], []
            cuts = [-1] + torch.nonzero(ids == IMAGE_TOKEN_INDEX).flatten().tolist() + [len(ids)]
            for k in range(len(cuts) - 1):
                text_ids = ids[cuts[k] + 1 : cuts[k + 1]]
                pieces.append(self.embed_text(text_ids))
                if labels is not None:
                    lab_pieces.append(labels[b][cuts[k] + 1 : cuts[k + 1]].to(self.device))
                if k < len(cuts) - 2:
                    vis = next(feats).to(self.device, self.dtype)
                    pieces.append(vis)
                    lab_pieces.append(torch.full((vis.shape[0],), IGNORE_INDEX, device=self.device))
            rows.append(torch.cat(pieces))
            if labels is not None:
                row_labels.append(torch.cat(lab_pieces))
        self._check_length(max(r.shape[0] for r in rows))
        return _pad_rows(rows, row_labels if labels is not None else None)

    def visual_positions(self, input_ids, visual_features: list[torch.Tensor], length: int) -> torch.Tensor:
        """(B, length) True where `splice` puts visual tokens (for prefix-LM masks)."""
        feats, rows = iter(visual_features), []
        for ids in input_ids:
            cuts = [-1] + torch.nonzero(ids == IMAGE_TOKEN_INDEX).flatten().tolist() + [len(ids)]
            pieces = []
            for k in range(len(cuts) - 1):
                pieces.append((cuts[k + 1] - cuts[k] - 1, False))
                if k < len(cuts) - 2:
                    pieces.append((next(feats).shape[0], True))
            rows.append(pieces)
        return visual_flags(rows, length, self.device)

    def _check_length(self, length: int) -> None:
        limit = self.config.max_length
        if limit is not None and length > limit:
            raise InputError(
                f"the sequence has {length} tokens after inserting visual tokens, more than"
                f" max_length={limit}; use fewer frames/grids or raise max_length (nothing is truncated)"
            )

    # ---- forward -------------------------------------------------------------------------------------

    def forward(
        self,
        input_ids: torch.Tensor | list[torch.Tensor] | None = None,
        inputs_embeds: torch.Tensor | None = None,
        visuals: list[VisualInput] | None = None,
        visual_features: list[torch.Tensor] | None = None,
        labels: torch.Tensor | list[torch.Tensor] | None = None,
        attention_mask: torch.Tensor | None = None,
        logits_to_keep: int = 0,
        **lm_kwargs,
    ) -> LongVAOutput:
        """Splice visuals at `<image>` placeholders, run the LM; loss on text labels only.

        Extra keyword arguments go to the LM's decoder (e.g. `use_cache=True` and the cache via
        `longva.model.compat.cache_kwargs(model.language_model.get_decoder(), cache)`).

        `visuals` are encoded here; `visual_features` are precomputed (tokens, D) blocks. With
        labels, the loss is computed without materialising (L x vocab) logits beyond one chunk,
        and `logits` is None unless `logits_to_keep` > 0 (last N positions).
        """
        if input_ids is not None:
            if visuals:
                visual_features = self.encode_visuals(visuals)
            inputs_embeds, labels, attention_mask = self.splice(input_ids, visual_features or [], labels)
            if self.config.attention == "prefix_lm":
                visual = self.visual_positions(input_ids, visual_features or [], inputs_embeds.shape[1])
                attention_mask = prefix_lm_mask(visual, attention_mask, inputs_embeds.dtype)
        elif inputs_embeds is None:
            raise InputError("forward needs input_ids or inputs_embeds")
        if attention_mask is not None and attention_mask.dim() == 2 and bool(attention_mask.all()):
            attention_mask = None  # no padding: let SDPA use is_causal (linear memory on CPU)
        decoder_out = self.language_model.get_decoder()(
            inputs_embeds=inputs_embeds, attention_mask=attention_mask, **lm_kwargs
        )
        hidden = decoder_out.last_hidden_state  # (B, L, D)
        head = self.language_model.get_output_embeddings().weight  # (V, D)
        loss = next_token_loss(hidden, head, labels) if labels is not None else None
        logits = None
        if logits_to_keep > 0 or labels is None:
            keep = hidden[:, -logits_to_keep:] if logits_to_keep > 0 else hidden
            logits = self.language_model.get_output_embeddings()(keep)
        return LongVAOutput(loss, logits, inputs_embeds, labels, attention_mask, output_cache(decoder_out))


@contextmanager
def _default_dtype(dtype: torch.dtype | None):
    if dtype is None:
        yield
        return
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def build_model(
    config: LongVAConfig, dtype: torch.dtype | None = None, device: str | torch.device = "cpu"
) -> LongVAForCausalLM:
    """A randomly initialised LongVAForCausalLM, created directly on `device` in `dtype`.

    Parameters are allocated and initialised where they will live: initialising an 8B model on
    the CPU before moving it to a GPU takes minutes and 16-32 GB of RAM for nothing.
    """
    with _default_dtype(dtype), torch.device(device):
        return LongVAForCausalLM(config)


def _pad_rows(rows: list[torch.Tensor], row_labels: list[torch.Tensor] | None):
    """Right-pad variable-length rows of embeddings (and labels) to one batch."""
    length = max(r.shape[0] for r in rows)
    batch, dim = len(rows), rows[0].shape[-1]
    embeds = rows[0].new_zeros(batch, length, dim)
    mask = torch.zeros(batch, length, dtype=torch.long, device=rows[0].device)
    labels = (
        None
        if row_labels is None
        else torch.full((batch, length), IGNORE_INDEX, device=rows[0].device, dtype=torch.long)
    )
    for b, row in enumerate(rows):
        embeds[b, : row.shape[0]] = row
        mask[b, : row.shape[0]] = 1
        if labels is not None:
            labels[b, : row.shape[0]] = row_labels[b]
    return embeds, labels, mask

