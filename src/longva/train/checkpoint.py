"""Atomic, verifiable training checkpoints: `output_dir/step_{n}/`.

    model.safetensors      full (unsharded) model weights, one copy of tied tensors
    optimizer.safetensors  optimizer state tensors, keyed `state::<param fqn>::<name>`
    trainer_state.json     step, data position, scheduler counters, optimizer groups, aliases
    rng_rank{r}.json       python / numpy / torch (/ cuda) RNG states of every rank
    manifest.json          size and sha256 of every file above (written last)

Everything is written into `.tmp_step_{n}/` and renamed to `step_{n}/` at the end, so a
`step_*` folder either is complete or does not exist; a crash mid-save leaves only a temp folder,
which is ignored and cleaned up. Loading verifies the manifest first and raises a one-line
`CheckpointError` before anything is modified. Model/optimizer states are gathered to full
tensors with `torch.distributed.checkpoint.state_dict` (works for plain, DDP-style and FSDP2
models alike), so a run may resume on a different number of ranks.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch

from longva.errors import CheckpointError
from longva.utils.io import atomic_save_safetensors, atomic_write_json

STEP_DIR = re.compile(r"^step_(\d+)$")
FORMAT = "longva-train-checkpoint/1"
_SEP = "::"


# -- RNG ---------------------------------------------------------------------------------------
def rng_state() -> dict:
    np_state = np.random.get_state()
    state = {
        "python": _to_json(random.getstate()),
        "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
        "torch": torch.get_rng_state().tolist(),
    }
    if torch.cuda.is_available():
        state["cuda"] = [s.tolist() for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(_to_tuple(state["python"]))
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), *rest))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in state["cuda"]])


def _to_json(value):
    return [_to_json(v) for v in value] if isinstance(value, (tuple, list)) else value


def _to_tuple(value):
    return tuple(_to_tuple(v) for v in value) if isinstance(value, list) else value


# -- state dicts <-> flat tensors ---------------------------------------------------------------
def dedupe_shared(tensors: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Drop second names of one storage (tied weights; safetensors refuses shared tensors)."""
    kept: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    owners: dict[tuple, str] = {}
    for name, t in tensors.items():
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.dtype)
        if t.numel() and key in owners:
            aliases[name] = owners[key]
        else:
            owners[key] = name
            kept[name] = t
    return kept, aliases


def flatten_optimizer_state(osd: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Optimizer state -> (tensors for safetensors, JSON-able rest)."""
    tensors, scalars = {}, {}
    for fqn, entry in osd["state"].items():
        for key, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state{_SEP}{fqn}{_SEP}{key}"] = value.detach().cpu()
            else:
                scalars.setdefault(fqn, {})[key] = value
    groups = [{k: list(v) if isinstance(v, tuple) else v for k, v in g.items()} for g in osd["param_groups"]]
    return tensors, {"param_groups": groups, "scalar_state": scalars}


def unflatten_optimizer_state(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    state: dict[str, dict] = {}
    for name, value in tensors.items():
        _, fqn, key = name.split(_SEP)
        state.setdefault(fqn, {})[key] = value
    for fqn, entries in meta.get("scalar_state", {}).items():
        state.setdefault(fqn, {}).update(entries)
    groups = [{k: tuple(v) if k == "betas" else v for k, v in g.items()} for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


# -- files / manifest ---------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_manifest(folder: Path, step: int, checksums: bool) -> None:
    files = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name != "manifest.json" and not path.name.startswith("."):
            files[path.name] = {"bytes": path.stat().st_size, **({"sha256": _sha256(path)} if checksums else {})}
    atomic_write_json(folder / "manifest.json", {"format": FORMAT, "step": step, "files": files})


def verify_checkpoint(folder: Path) -> dict:
    """The manifest of a complete, intact checkpoint; a one-line CheckpointError otherwise."""
    hint = "delete or move this folder to resume from an earlier checkpoint"
    manifest_path = folder / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        raise CheckpointError(f"checkpoint {folder} is corrupt: missing or unreadable manifest.json; {hint}") from None
    if manifest.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {folder} has format {manifest.get('format')!r}; expected {FORMAT!r}")
    for name in ("model.safetensors", "optimizer.safetensors", "trainer_state.json"):
        if name not in files:
            raise CheckpointError(f"checkpoint {folder} is corrupt: manifest lists no {name}; {hint}")
    for name, info in files.items():
        path = folder / name
        if not path.is_file():
            raise CheckpointError(f"checkpoint {folder} is corrupt: {name} is missing; {hint}")
        if path.stat().st_size != info["bytes"]:
            raise CheckpointError(
                f"checkpoint {folder} is corrupt: {name} has {path.stat().st_size} bytes, manifest says "
                f"{info['bytes']}; {hint}"
            )
        if "sha256" in info and _sha256(path) != info["sha256"]:
            raise CheckpointError(f"checkpoint {folder} is corrupt: {name} fails its sha256 check; {hint}")
    return manifest


def list_checkpoints(output_dir: str | Path) -> list[tuple[int, Path]]:
    """Complete `step_{n}` folders, oldest first (temp folders are not listed)."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := STEP_DIR.match(p.name))]
    return sorted(found)


def rotate_checkpoints(output_dir: str | Path, keep_last: int) -> None:
    """Delete all but the newest `keep_last` checkpoints (keep_last <= 0 keeps all)."""
    if keep_last <= 0:
        return
    for _, path in list_checkpoints(output_dir)[:-keep_last]:
        shutil.rmtree(path, ignore_errors=True)


def remove_stale_temp(output_dir: str | Path) -> None:
    for path in Path(output_dir).glob(".tmp_step_*"):
        shutil.rmtree(path, ignore_errors=True)


# -- save / load --------------------------------------------------------------------------------
def save_checkpoint(
    output_dir: str | Path,
    step: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    trainer_state: dict,
    ctx,
    keep_last: int = 2,
    checksums: bool = True,
) -> Path:
    """Write `step_{step}` atomically (collective: every rank must call it)."""
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
    )

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    model_sd = get_model_state_dict(model, options=options)
    optim_sd = get_optimizer_state_dict(model, optimizer, options=options)
    root = Path(output_dir)
    tmp, final = root / f".tmp_step_{step}", root / f"step_{step}"
    if ctx.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    ctx.barrier()
    atomic_write_json(tmp / f"rng_rank{ctx.rank}.json", rng_state(), indent=None)
    ctx.barrier()
    if ctx.is_main:
        weights, aliases = dedupe_shared({k: v.detach().cpu() for k, v in model_sd.items()})
        atomic_save_safetensors(weights, tmp / "model.safetensors", metadata={"format": FORMAT})
        optim_tensors, optim_meta = flatten_optimizer_state(optim_sd)
        atomic_save_safetensors(optim_tensors, tmp / "optimizer.safetensors", metadata={"format": FORMAT})
        state = {
            **trainer_state,
            "step": step,
            "world_size": ctx.world,
            "model_aliases": aliases,
            "optimizer": optim_meta,
        }
        atomic_write_json(tmp / "trainer_state.json", state)
        write_manifest(tmp, step, checksums)
        if final.exists():  # re-saving a step that a longer run had already saved
            shutil.rmtree(final)
        tmp.rename(final)
        _fsync_dir(root)  # make the rename itself durable
        rotate_checkpoints(root, keep_last)
    ctx.barrier()
    return final


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    found = list_checkpoints(output_dir)
    return found[-1][1] if found else None


def read_checkpoint(folder: Path, ctx) -> dict:
    """Verify (on rank 0, result shared) and read the JSON parts; raises before any change."""
    error = None
    if ctx.is_main:
        try:
            verify_checkpoint(folder)
        except CheckpointError as e:
            error = str(e)
    error = ctx.broadcast_object(error)
    if error:
        raise CheckpointError(error)
    state = json.loads((folder / "trainer_state.json").read_text())
    rng_file = folder / f"rng_rank{ctx.rank}.json"
    state["rng"] = json.loads(rng_file.read_text()) if rng_file.exists() else None  # other world size: reseed
    return state


def load_checkpoint(folder: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, state: dict, ctx) -> None:
    """Load weights and optimizer state of a verified checkpoint into `model` / `optimizer`."""
    from safetensors.torch import load_file
    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        set_model_state_dict,
        set_optimizer_state_dict,
    )

    from longva.train.distributed.fsdp import is_fsdp

    broadcast = ctx.distributed and is_fsdp(model)  # only rank 0 reads the files
    model_sd, optim_sd = {}, {}
    if ctx.is_main or not broadcast:
        model_sd = load_file(str(folder / "model.safetensors"))
        for alias, owner in state.get("model_aliases", {}).items():
            model_sd[alias] = model_sd[owner]
        optim_sd = unflatten_optimizer_state(load_file(str(folder / "optimizer.safetensors")), state["optimizer"])
    options = StateDictOptions(full_state_dict=True, broadcast_from_rank0=broadcast)
    set_model_state_dict(model, model_sd, options=options)
    set_optimizer_state_dict(model, optimizer, optim_sd, options=options)
    if state.get("rng") is not None:
        set_rng_state(state["rng"])
