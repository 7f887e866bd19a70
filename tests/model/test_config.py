import json

import pytest
import yaml

from longva.errors import ConfigError
from longva.model.config import LongVAConfig
from longva.utils.dataclass_config import load_config, save_config, set_path


def test_defaults_are_longva_7b():
    cfg = LongVAConfig()
    assert cfg.vision.select_layer == -2 and cfg.vision.grid_side == 24
    assert cfg.projector.type == "mlp2x_gelu"
    assert (cfg.pooling.kind, cfg.pooling.kernel) == ("avg", 2)
    assert cfg.encoding.scheme == "unires" and cfg.encoding.max_grids == 49


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_roundtrip_yaml_and_json(tmp_path, suffix):
    cfg = set_path(LongVAConfig(), "pooling.kernel", 3)
    path = save_config(cfg, tmp_path / f"c{suffix}")
    assert load_config(LongVAConfig, path) == cfg


def test_unknown_key_names_the_key_and_choices(tmp_path):
    (tmp_path / "c.yaml").write_text(yaml.safe_dump({"pooling": {"kernal": 3}}))
    with pytest.raises(ConfigError) as e:
        load_config(LongVAConfig, tmp_path / "c.yaml")
    msg = str(e.value)
    assert "pooling.kernal" in msg and "kernel" in msg and "\n" not in msg


def test_wrong_type_and_unknown_choices():
    with pytest.raises(ConfigError, match="pooling.kernel: expected an integer"):
        LongVAConfig.from_dict({"pooling": {"kernel": "two"}})
    with pytest.raises(ConfigError, match=r"projector.type: unknown projector 'perceiver'.*(mlp2x_gelu|mlpNx)"):
        LongVAConfig.from_dict({"projector": {"type": "perceiver"}})
    with pytest.raises(ConfigError, match="encoding.scheme"):
        LongVAConfig.from_dict({"encoding": {"scheme": "tiles"}})
    with pytest.raises(ConfigError, match="pooling.kind: unknown pooling 'mean'"):
        LongVAConfig.from_dict({"pooling": {"kind": "mean"}})


def test_malformed_file_is_one_line_error(tmp_path):
    (tmp_path / "c.json").write_text("{not json")
    with pytest.raises(ConfigError) as e:
        load_config(LongVAConfig, tmp_path / "c.json")
    assert "not valid json" in str(e.value) and "\n" not in str(e.value)


def test_yaml_scientific_notation_is_a_number():
    cfg = LongVAConfig.from_dict({"lm": {"rope_theta": "1e9"}})
    assert cfg.lm.rope_theta == 1e9
    assert json.loads(json.dumps(cfg.to_dict()))["model_type"] == "longva"
