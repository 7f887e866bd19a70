"""longva: long-context vision-language models (LongVA), V-NIAH, training and ablations."""

__version__ = "0.1.0"
