import pytest
from niah_helpers import save_tiny_longva, save_tiny_text_model


@pytest.fixture(scope="session")
def text_model_dir(tmp_path_factory):
    return save_tiny_text_model(tmp_path_factory.mktemp("tiny_text_lm"))


@pytest.fixture(scope="session")
def longva_dir(tmp_path_factory):
    return save_tiny_longva(tmp_path_factory.mktemp("tiny_longva"))
