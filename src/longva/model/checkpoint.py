"""Checkpoints: our HF-style directories and the original LongVA / LLaVA-Qwen layout.

Our layout: `config.json` (`"model_type": "longva"`, a `LongVAConfig`), `model.safetensors` or
shards `model-0000i-of-0000n.safetensors` + `model.safetensors.index.json`, tokenizer files.

LongVA layout (`llava_qwen`, dossier §1.4/§2.3): `config.json` with Qwen2 keys plus `mm_*` keys,
weights named `model.vision_tower.vision_tower.vision_model.*`, `model.mm_projector.{0,2}.*`,
`model.layers.*`, `model.embed_tokens.*`, `model.norm.*`, `lm_head.weight` (`model.image_newline`
for AnyRes). Weights are read from safetensors; a pickled `.bin` is read only if it loads with
`torch.load(..., weights_only=True)`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from longva.errors import CheckpointError, InputError
from longva.model.config import (
    CLIP_L_336,
    EncodingConfig,
    LMConfig,
    LongVAConfig,
    PoolingConfig,
    ProjectorConfig,
    VisionTowerConfig,
)
from longva.utils.io import atomic_save_safetensors, atomic_write_json
from longva.utils.text_input import read_json

INDEX_FILE = "model.safetensors.index.json"
KNOWN_TOWERS = {
    "openai/clip-vit-large-patch14-336": ("clip", CLIP_L_336),
    "google/siglip-so400m-patch14-384": (
        "siglip",
        dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16,
             image_size=384, patch_size=14, hidden_act="gelu_pytorch_tanh", layer_norm_eps=1e-6),
    ),
}
VISION_CONFIG_KEYS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                      "image_size", "patch_size", "hidden_act", "layer_norm_eps", "num_channels", "projection_dim")
_MM_KEY_PREFIXES = ("mm_", "image_", "tokenizer_", "vision_", "use_mm", "freeze_mm", "tune_mm",
                    "unfreeze_mm", "pos_skipping", "add_faster_video", "faster_token", "force_sample")
_DROP_KEYS = {"architectures", "_name_or_path", "model_type", "rope_scaling", "transformers_version",
              "torch_dtype", "dtype", "use_cache", "auto_map"}


# ---- reading -----------------------------------------------------------------------------------


def _read_json(path: Path) -> dict:
    if not path.exists():
        raise CheckpointError(f"{path} is missing; expected a model directory with config.json")
    try:
        return read_json(path, path.name)  # UTF-8, valid JSON, an object at the top level
    except InputError as e:
        raise CheckpointError(str(e)) from None


def is_llava_config(cfg: dict) -> bool:
    return cfg.get("model_type") != "longva" and ("mm_vision_tower" in cfg or "llava" in str(cfg.get("model_type")))


def load_config(directory: str | Path) -> LongVAConfig:
    directory = Path(directory)
    if not directory.is_dir():
        state = "is a file" if directory.exists() else "does not exist"
        raise CheckpointError(f"model directory {str(directory)!r} {state}; expected a model folder with config.json")
    raw = _read_json(directory / "config.json")
    if raw.get("model_type") == "longva":
        return _build_config(raw, directory)
    if is_llava_config(raw):
        return _build_config(raw, directory, llava=True)
    raise CheckpointError(
        f"{directory / 'config.json'} has model_type {raw.get('model_type')!r}; expected 'longva' or a"
        " LongVA/LLaVA-Qwen config with mm_vision_tower"
    )


def _build_config(raw: dict, directory: Path, llava: bool = False) -> LongVAConfig:
    """The config object, or one line naming config.json and the first value it refuses."""
    try:
        config = config_from_llava(raw, directory) if llava else LongVAConfig.from_dict(raw)
        check_hf_configs(config)
        return config
    except CheckpointError:
        raise
    except Exception as e:  # noqa: BLE001 - built from the file's values only: any failure is the file's
        first = " ".join(str(e).split())[:300] or type(e).__name__
        raise CheckpointError(
            f"{directory / 'config.json'} is not a valid model config ({first}); expected the values"
            " save_pretrained writes"
        ) from None


def check_hf_configs(config: LongVAConfig) -> None:
    """Build the transformers configs of the LM and the tower once: their strict dataclasses refuse
    bad values (`hidden_size: "big"`) here, at load, instead of deep inside the model's constructor."""
    from transformers import AutoConfig, CLIPVisionConfig, SiglipVisionConfig

    AutoConfig.for_model(config.lm.model_type, **config.lm.hf_config)
    vision = {"clip": CLIPVisionConfig, "siglip": SiglipVisionConfig}.get(config.vision.type)
    if vision is not None:
        vision(**config.vision.hf_config)


def check_shapes(state: dict[str, torch.Tensor], model: torch.nn.Module, where: str) -> None:
    """Refuse weights whose shapes differ from the model's config: one line, the first such tensor."""
    expected = model.state_dict()
    for name, tensor in state.items():
        if name in expected and tuple(tensor.shape) != tuple(expected[name].shape):
            raise CheckpointError(
                f"weights in {where} do not match its config.json: {name} has shape {tuple(tensor.shape)},"
                f" the config makes {tuple(expected[name].shape)}; expected weights saved with this config"
            )


def load_state_dict(path: str | Path, keep=None) -> dict[str, torch.Tensor]:
    """The weights of a directory (single or sharded safetensors, else weights-only .bin files)
    or of one weights file; `keep(name)` filters them."""
    path = Path(path)
    if not path.is_dir():
        return read_weights([path], keep)
    if (path / INDEX_FILE).exists():
        index = _read_json(path / INDEX_FILE)
        files = sorted(set(index.get("weight_map", {}).values()))
        return read_weights([path / f for f in files], keep)
    single = path / "model.safetensors"
    if single.exists():
        return read_safetensors(single, keep)
    files = sorted(path.glob("*.safetensors")) or sorted(path.glob("*.bin"))
    if not files:
        raise CheckpointError(f"{path} has no model.safetensors (or shards, or .bin); expected weights")
    return read_weights(files, keep)


def read_weights(files: list[Path], keep=None) -> dict[str, torch.Tensor]:
    """Tensors of weights files (safetensors, or legacy pickles loaded weights-only), merged;
    `keep(name)` filters them."""
    out: dict[str, torch.Tensor] = {}
    for file in files:
        if file.suffix == ".safetensors":
            out.update(read_safetensors(file, keep))
        else:  # a legacy pickle (e.g. the original's mm_projector.bin)
            out.update({k: v for k, v in read_pickle_weights_only(file).items() if keep is None or keep(k)})
    return out


def read_safetensors(path: Path, keep=None) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors (only those `keep(name)` accepts: a 7B folder read for its
    projector loads megabytes, not gigabytes)."""
    from safetensors import SafetensorError, safe_open

    if not path.exists():
        raise CheckpointError(f"{path} is listed in the index but missing")
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys() if keep is None or keep(k)}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{path} is not a valid safetensors file ({first})") from None


def read_pickle_weights_only(path: Path) -> dict[str, torch.Tensor]:
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling refused or corrupt
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(
            f"{path} is a pickle that does not load with weights_only=True ({first[:120]}); convert it to safetensors"
        ) from None
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise CheckpointError(f"{path} does not hold a flat dict of tensors; expected a state dict")
    return data


def load_tokenizer(directory: str | Path):
    """The tokenizer saved next to a model (fast tokenizer.json first; AutoTokenizer otherwise).

    `AutoTokenizer` would read our config.json (model_type "longva", unknown to transformers)
    and warn, so a directory with tokenizer.json is loaded as `PreTrainedTokenizerFast` directly.
    """
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    directory = Path(directory)
    if (directory / "tokenizer.json").exists():
        return PreTrainedTokenizerFast.from_pretrained(str(directory))
    if not any((directory / f).exists() for f in ("tokenizer_config.json", "vocab.json")):
        raise CheckpointError(f"{directory} has no tokenizer files; expected tokenizer.json / tokenizer_config.json")
    return AutoTokenizer.from_pretrained(str(directory))


# ---- LongVA / LLaVA-Qwen import ---------------------------------------------------------------------


def _vision_from_llava(raw: dict, directory: Path) -> tuple[str, dict]:
    if isinstance(raw.get("vision_config"), dict):
        vc = dict(raw["vision_config"])
        kind = "siglip" if "siglip" in str(vc.pop("model_type", "")) else "clip"
        return kind, vc
    name = raw.get("mm_vision_tower") or raw.get("vision_tower")
    if not name:
        raise CheckpointError(f"{directory / 'config.json'} has no mm_vision_tower; cannot build the vision tower")
    for candidate in (Path(name), directory / name):
        if (candidate / "config.json").exists():
            vc = _read_json(candidate / "config.json")
            vc = vc.get("vision_config", vc)
            kind = "siglip" if "siglip" in str(vc.get("model_type", "")) or "siglip" in name.lower() else "clip"
            return kind, {k: vc[k] for k in VISION_CONFIG_KEYS if k in vc}
    if name in KNOWN_TOWERS:
        kind, hf = KNOWN_TOWERS[name]
        return kind, dict(hf)
    raise CheckpointError(
        f"vision tower {name!r} of {directory} is neither a local folder with config.json nor a known"
        f" tower ({', '.join(KNOWN_TOWERS)}); put its config.json next to the checkpoint"
    )


def config_from_llava(raw: dict, directory: Path) -> LongVAConfig:
    """LongVAConfig from an original `llava_qwen` config.json (LongVA-7B keys)."""
    kind, vision_hf = _vision_from_llava(raw, directory)
    mean, std = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)) if kind == "siglip" else (None, None)
    vision = VisionTowerConfig(
        type=kind, hf_config=vision_hf, name_or_path=raw.get("mm_vision_tower"),
        select_layer=int(raw.get("mm_vision_select_layer", -2)),
        select_feature="cls_patch" if raw.get("mm_vision_select_feature") == "cls_patch" else "patch",
        **({"image_mean": mean, "image_std": std} if mean else {}),
    )
    merge = str(raw.get("mm_patch_merge_type", "unires"))
    grid_px = vision.image_size
    pinpoints = raw.get("image_grid_pinpoints")
    grids = [(int(w) // grid_px, int(h) // grid_px) for w, h in pinpoints] if isinstance(pinpoints, list) else None
    scheme = "anyres" if "unpad" in merge else "unires"
    stride = int(raw.get("mm_spatial_pool_stride", 2))
    mode = {"average": "avg", "max": "max"}.get(str(raw.get("mm_spatial_pool_mode", "average")), "avg")
    lm_type = str(raw.get("model_type", "qwen2"))
    lm_type = {"llava_qwen": "qwen2", "llava_llama": "llama", "llava": "llama", "llava_mistral": "mistral"}.get(
        lm_type, lm_type
    )
    lm_hf = {k: v for k, v in raw.items() if k not in _DROP_KEYS and not k.startswith(_MM_KEY_PREFIXES)}
    rope_theta = lm_hf.pop("rope_theta", None)
    if isinstance(lm_hf.get("rope_parameters"), dict):
        rope_theta = lm_hf.pop("rope_parameters").get("rope_theta", rope_theta)
    return LongVAConfig(
        vision=vision,
        projector=ProjectorConfig(type=str(raw.get("mm_projector_type", "mlp2x_gelu"))),
        pooling=PoolingConfig(kind=mode, kernel=stride, stride=stride),
        encoding=EncodingConfig(scheme=scheme, grid_pinpoints=grids, frame_mode="crop"),
        lm=LMConfig(model_type=lm_type, hf_config=lm_hf, rope_theta=float(rope_theta) if rope_theta else None),
        template="qwen_1_5" if lm_type == "qwen2" else "llama_3",
    )


def llava_key(key: str, our_keys: set[str] = frozenset()) -> str | None:
    """Our name of an original LongVA/LLaVA weight (ours pass through; None: no counterpart).

    `our_keys` picks between the two layouts a CLIP tower's keys can have here.
    """
    tower = "model.vision_tower.vision_tower."
    if key.startswith(tower):
        rest = key[len(tower):]
        short = rest.removeprefix("vision_model.")
        options = [f"vision_tower.model.{short}", f"vision_tower.model.vision_model.{short}"]
        return next((k for k in options if k in our_keys), options[0])
    if "mm_projector." in key:  # the original strips everything up to and including mm_projector.
        return "projector." + key.split("mm_projector.", 1)[1]
    if key == "model.image_newline":
        return "image_newline"
    if key.startswith("model.vision_resampler."):
        return None  # LongVA's resampler is an identity map with no weights
    if key.startswith(("lm_head.", "model.")):
        return "language_model." + key
    return key


def convert_llava_state_dict(state: dict[str, torch.Tensor], our_keys: set[str]) -> dict[str, torch.Tensor]:
    """Rename LongVA/LLaVA keys to ours (see module docstring)."""
    renamed = {key: llava_key(key, our_keys) for key in state}
    return {new: state[key] for key, new in renamed.items() if new is not None}


# ---- model construction ---------------------------------------------------------------------------


def _tied_duplicates(state: dict[str, torch.Tensor]) -> list[str]:
    seen: dict[int, str] = {}
    dups = []
    for key, value in state.items():
        ptr = value.untyped_storage().data_ptr()
        if ptr in seen and value.shape == state[seen[ptr]].shape:
            dups.append(key)
        else:
            seen[ptr] = key
    return dups


def load_pretrained(directory: str | Path, build, dtype: torch.dtype | None = None, device: str | torch.device = "cpu"):
    """Load a LongVA model (ours or the original layout); `build(config, dtype, device)` makes
    the empty model (`longva.model.modeling_longva.build_model`)."""
    directory = Path(directory)
    config = load_config(directory)
    state = load_state_dict(directory)
    model = build(config, dtype, device)
    if is_llava_config(_read_json(directory / "config.json")):
        state = convert_llava_state_dict(state, set(model.state_dict()))
    check_shapes(state, model, str(directory))
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = set(_tied_duplicates(model.state_dict()))
    missing = [k for k in missing if k not in tied]
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise CheckpointError(
            f"weights in {directory} do not match its config.json ({len(missing)} missing, {len(unexpected)} "
            f"unexpected: {detail})"
        )
    return model.to(device).eval()


def save_pretrained(model, directory: str | Path, processor=None, max_shard_bytes: int | None = None) -> Path:
    """Write config.json + safetensors (sharded above `max_shard_bytes`) + tokenizer files."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    for key in _tied_duplicates(state):  # tied lm_head = embed_tokens: stored once
        del state[key]
    shards = _split_shards(state, max_shard_bytes)
    if len(shards) == 1:
        atomic_save_safetensors(shards[0], directory / "model.safetensors", metadata={"format": "pt"})
    else:
        weight_map = {}
        for i, shard in enumerate(shards, 1):
            name = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
            atomic_save_safetensors(shard, directory / name, metadata={"format": "pt"})
            weight_map.update({k: name for k in shard})
        total = sum(v.numel() * v.element_size() for v in state.values())
        atomic_write_json(directory / INDEX_FILE, {"metadata": {"total_size": total}, "weight_map": weight_map})
    atomic_write_json(directory / "config.json", model.config.to_dict())
    if processor is not None:
        processor.save_pretrained(directory)
    return directory


def _split_shards(state: dict[str, torch.Tensor], max_bytes: int | None) -> list[dict]:
    if not max_bytes:
        return [state]
    shards, current, size = [], {}, 0
    for key, value in state.items():
        nbytes = value.numel() * value.element_size()
        if current and size + nbytes > max_bytes:
            shards.append(current)
            current, size = {}, 0
        current[key] = value
        size += nbytes
    if current:
        shards.append(current)
    return shards
