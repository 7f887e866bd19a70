"""Toy data made from a seed (no downloads), for the recipe, the training commands and tests.

- `colours`: the recipe's colour retrieval, one palette for every toy here: a colour word in
  filler text (S0/S1, text NIAH), a colour square in procedural frames (S2, V-NIAH), captioned
  frames (V0);
- `passkey`: pass-key retrieval text over a word-level tokenizer (`longva train text` toys);
- `align_folder`: a LLaVA-style alignment folder (images, conversations, captions) and tiny
  starting weights (`configs/train_align_toy.yaml`).
"""
