import pytest

from longva.model.tiny import build_tiny_tokenizer


@pytest.fixture(scope="session")
def tokenizer():
    return build_tiny_tokenizer(llama3_tokens=True)
