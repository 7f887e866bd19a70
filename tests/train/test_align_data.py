"""Alignment batches: seeded shuffling, exact resume, max_length policy, data-parallel slices."""

import json

import numpy as np
import pytest
from PIL import Image

from longva.data.conversations import ConversationDataset
from longva.errors import InputError
from longva.model.processor import LongVAProcessor
from longva.model.tiny import build_tiny_tokenizer, tiny_longva_config
from longva.train.align_data import AlignBatches, AlignDataConfig

N = 10


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("align_data")
    (root / "images").mkdir()
    records = []
    for i in range(N):
        size = (64, 32) if i != 7 else (128, 32)  # row 7: 4 grids instead of 2 (longer)
        Image.fromarray(np.full((size[1], size[0], 3), 20 * i, np.uint8)).save(root / "images" / f"{i}.png")
        records.append(
            {
                "id": f"row{i}",
                "image": f"{i}.png",
                "conversations": [{"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": "red"}],
            }
        )
    (root / "data.json").write_text(json.dumps(records))
    tok = build_tiny_tokenizer()
    return ConversationDataset(
        root / "data.json", root / "images", LongVAProcessor(tok, tiny_longva_config(len(tok), max_grids=4))
    )


def _ids(batches, n):
    return [next(batches)["row_ids"] for _ in range(n)]


def test_shuffle_is_seeded_and_each_epoch_visits_every_row_once(dataset):
    cfg = AlignDataConfig(batch_size=2, seed=3)
    first = [r for b in _ids(AlignBatches(dataset, cfg), N) for r in b]  # two epochs
    again = [r for b in _ids(AlignBatches(dataset, cfg), N) for r in b]
    other = [r for b in _ids(AlignBatches(dataset, AlignDataConfig(batch_size=2, seed=4)), N) for r in b]
    assert first == again and first != other
    assert sorted(first[:N]) == sorted(first[N:]) == sorted(f"row{i}" for i in range(N))
    assert first[:N] != first[N:]  # a new order per epoch
    plain = [r for b in _ids(AlignBatches(dataset, AlignDataConfig(batch_size=5, shuffle=False)), 2) for r in b]
    assert plain == [f"row{i}" for i in range(N)]


def test_resume_from_state_dict_continues_the_same_sequence(dataset):
    cfg = AlignDataConfig(batch_size=3, seed=1)
    reference = _ids(AlignBatches(dataset, cfg), 7)
    first = AlignBatches(dataset, cfg)
    _ids(first, 4)
    state = json.loads(json.dumps(first.state_dict()))  # as stored in a checkpoint
    resumed = AlignBatches(dataset, cfg)
    resumed.load_state_dict(state)
    assert _ids(resumed, 3) == reference[4:]


def test_too_long_row_is_refused_with_its_id_or_skipped(dataset):
    short = dataset.length(0)
    assert dataset.length(7) > short  # 4 grids vs 2
    refuse = AlignBatches(dataset, AlignDataConfig(batch_size=N, shuffle=False, max_length=short))
    with pytest.raises(InputError) as e:
        next(refuse)
    msg = str(e.value)
    assert (
        "\n" not in msg and "row row7" in msg and f"{dataset.length(7)} tokens" in msg and f"max_length={short}" in msg
    )
    skipped = []
    skip = AlignBatches(dataset, AlignDataConfig(batch_size=N - 1, shuffle=False, max_length=short, too_long="skip"),
                        on_skip=lambda rid, n: skipped.append(rid))
    assert "row7" not in next(skip)["row_ids"]
    assert skipped == ["row7"] and skip.state_dict()["skipped"] == 1


def test_data_parallel_ranks_split_the_same_global_batch(dataset):
    cfg = AlignDataConfig(batch_size=4, seed=0)
    whole = _ids(AlignBatches(dataset, cfg), 3)
    rank0 = _ids(AlignBatches(dataset, cfg, dp_rank=0, dp_size=2), 3)
    rank1 = _ids(AlignBatches(dataset, cfg, dp_rank=1, dp_size=2), 3)
    assert [a + b for a, b in zip(rank0, rank1)] == whole
    batch = next(AlignBatches(dataset, cfg, dp_rank=1, dp_size=2))
    assert len(batch["ids"]) == len(batch["label_rows"]) == len(batch["visuals"]) == 2
