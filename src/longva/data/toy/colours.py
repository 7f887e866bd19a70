"""Synthetic data of the toy recipe: no downloads, everything drawn from a seed.

Text (S0, S1, text NIAH): a chat turn whose user message is a haystack of filler words with ONE
colour word hidden at some depth, followed by the question; the answer is that colour. The
haystack is spliced in exactly where an `<image>` placeholder would be, so a text example and a
V-NIAH example have the same shape: prefix + haystack(+needle) + question + assistant + answer.

Vision (S2, V-NIAH): haystack frames are muted procedural images (gradients, noise, grey
shapes, occasional scene changes); a needle frame is a haystack frame with a saturated square of
one of the answer colours. Alignment images are a SHORT row of 2..max_grids grids (UniRes), one
of which holds the needle; a video frame is one grid, so a haystack video is a long row.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from longva.errors import ConfigError
from longva.model.encoding import VisualInput
from longva.model.image_processing import normalise_pixels
from longva.model.prompt import IGNORE_INDEX, IMAGE_TOKEN_INDEX
from longva.model.visual_layout import expand_placeholder, marker_ids, split_units, user_text

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (230, 30, 30), "green": (30, 200, 30), "blue": (40, 60, 240), "yellow": (240, 230, 20),
    "purple": (160, 40, 200), "orange": (250, 140, 0), "pink": (255, 105, 180), "cyan": (0, 220, 230),
}
# what the recipe asks after every haystack (text and video); its answer is one colour word
QUESTION = "\nWhat is the colour of the needle? Answer with a single word."
FILLER_WORDS = (
    "time year people way day man thing woman life child world school state family student group "
    "country problem hand part place case week company system program question work government "
    "number night point home water room mother area money story fact month lot right study book "
    "eye job word business issue side kind head house service friend father power hour game line "
    "end member law car city community name president team minute idea kid body information back "
    "parent face others level office door health person art war history party result change "
    "morning reason research girl guy moment air teacher force education river stone cloud wind "
    "rain field road light garden window table chair paper music voice letter train bridge island "
    "forest mountain valley ocean desert village market kitchen bottle basket candle mirror ladder "
    "hammer pencil button ticket engine planet signal"
).split()


def tokenizer_corpus(question: str, repeats: int = 60, seed: int = 0, chats: list[str] | None = None) -> list[str]:
    """Texts to train the toy BPE on, so filler and colour words end up as single tokens.

    `chats` (rendered prompts of the chat template) are weighted so that the template and the
    question become a few tokens each: every training and evaluation sequence carries them.
    """
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(repeats):
        words = rng.choice(FILLER_WORDS, size=150).tolist() + list(COLOURS) * 2
        rng.shuffle(words)
        texts.append(" ".join(words) + question + " You are a helpful assistant. system user assistant")
    # answers follow "assistant\n" with no space: teach the bare colour words too
    texts += ["\n".join(COLOURS) + "\n"] * (4 * repeats)  # enough for single-token answers
    texts += list(chats or []) * (4 * repeats)
    return texts


class PromptPieces:
    """Token ids and template labels around one placeholder: `[user: <image> + question][assistant: answer]`.

    `ids_with(haystack)` splices any haystack token ids at the placeholder; the haystack is never
    supervised. Labels follow the template's masks (LongVA `preprocess_qwen` for qwen_1_5).
    """

    def __init__(self, processor, question: str, answers: list[str], position: str = "before_text"):
        self.processor = processor
        self.question = question
        self.position = position  # where the visual tokens sit (`longva.model.visual_layout`)
        self.marker = marker_ids(processor.tokenizer, processor.config.frame_marker)
        user = user_text(question, position, "<image>")  # interleaved: one placeholder, expanded per unit
        self.full = {a: processor.encode_training_example([("user", user), ("assistant", a)]) for a in answers}
        prompt = processor.encode_prompt([("user", user)])[0]
        cut = int((prompt == IMAGE_TOKEN_INDEX).nonzero())
        self.prefix = prompt[:cut]  # system + user header: before the haystack
        self.suffix = prompt[cut + 1 :]  # question + end of user turn + assistant header
        tok = processor.tokenizer
        self.answer_ids = {a: torch.tensor(tok.encode(a, add_special_tokens=False)) for a in answers}
        self.answer_only = {a: self._answer_only_labels(*self.full[a], self.answer_ids[a]) for a in answers}

    @staticmethod
    def _answer_only_labels(ids: torch.Tensor, labels: torch.Tensor, answer: torch.Tensor) -> torch.Tensor:
        """Labels keeping only the answer and the end-of-turn token after it."""
        out = torch.full_like(labels, IGNORE_INDEX)
        for start in range(len(ids) - len(answer), -1, -1):
            span = slice(start, start + len(answer) + 1)  # answer + <|im_end|>
            if torch.equal(ids[start : start + len(answer)], answer) and (labels[span] != IGNORE_INDEX).all():
                out[span] = labels[span]
                return out
        raise ValueError("answer tokens not found among the supervised tokens")

    def with_units(self, ids: torch.Tensor, labels: torch.Tensor | None, units: int):
        """Interleaved prompts: the placeholder becomes `units` x (frame marker, placeholder)."""
        if self.position != "interleaved":
            return ids, labels
        return expand_placeholder(ids, labels, units, self.marker)

    def overhead(self, answer: str) -> int:
        return len(self.full[answer][0]) - 1

    def labels(self, answer: str, supervise: str = "template") -> torch.Tensor:
        return self.answer_only[answer] if supervise == "answer" else self.full[answer][1]

    def example(
        self, answer: str, haystack: torch.Tensor, supervise: str = "template"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        ids, labels = self.full[answer][0], self.labels(answer, supervise)
        cut = int((ids == IMAGE_TOKEN_INDEX).nonzero())
        new_ids = torch.cat([ids[:cut], haystack, ids[cut + 1 :]])
        new_labels = torch.cat([labels[:cut], torch.full_like(haystack, IGNORE_INDEX), labels[cut + 1 :]])
        return new_ids, new_labels


class TextRetrievalTask:
    """Colour-word-in-filler examples of an exact token length; batch i depends on (seed, i) only.

    Filler is whole-word tokens (" mountain", " ticket", ...), never a colour word, with an
    optional share (`random_fraction`) of arbitrary ordinary tokens. The broad share was meant to
    stop the LM from learning "the needle is the token that is not a filler word" (which any
    unfamiliar embedding, e.g. a visual token, then imitates); in our runs it slowed S0 down and
    hurt alignment, so the recipe's default is 0. `decoy_fraction` of the examples also hold an
    earlier colour word of another colour: the answer is the later one (order matters).
    """

    def __init__(self, processor, question: str, random_fraction: float = 0.0, supervise: str = "template",
                 decoy_fraction: float = 0.0):
        tok = processor.tokenizer
        self.decoy_fraction = decoy_fraction
        self.supervise = supervise
        self.pieces = PromptPieces(processor, question, list(COLOURS))
        self.pad_id = tok.pad_token_id  # as the caption batches pad (the recipe's tokenizer has one)
        self.needles = needle_tokens(tok)
        # the prompt, an answer and a needle with no filler: no shorter example exists, any colour
        self.shortest_example = max(map(self.pieces.overhead, COLOURS)) + max(map(len, self.needles.values()))
        self.words = filler_words(tok)
        self.any_tokens = filler_vocabulary(tok)
        self.random_fraction = random_fraction

    def filler_ids(self, rng: np.random.Generator, n: int) -> torch.Tensor:
        words = self.words[torch.from_numpy(rng.integers(len(self.words), size=n))]
        other = self.any_tokens[torch.from_numpy(rng.integers(len(self.any_tokens), size=n))]
        return torch.where(torch.from_numpy(rng.random(n) < self.random_fraction), other, words)

    def haystack(
        self, rng: np.random.Generator, colour: str, n_tokens: int, depth: float, copies: int = 1
    ) -> torch.Tensor:
        """Filler with the needle at `depth`; `copies` > 1 repeats it at random places (curriculum)."""
        needle = self.needles[colour]
        filler = self.filler_ids(rng, n_tokens - len(needle))
        if copies > 1 and len(needle) == 1:
            spots = rng.choice(len(filler), size=min(copies - 1, len(filler)), replace=False)
            filler[torch.from_numpy(spots)] = needle[0]
        k = int(depth * len(filler))
        if copies == 1 and self.decoy_fraction > 0 and k > 0 and rng.random() < self.decoy_fraction:
            others = [c for c in COLOURS if c != colour]
            decoy = self.needles[others[int(rng.integers(len(others)))]]
            if len(decoy) == 1:  # an earlier colour word: the answer is the later one
                filler[int(rng.integers(k))] = decoy[0]
        return torch.cat([filler[:k], needle, filler[k:]])

    def example(
        self,
        rng: np.random.Generator,
        seq_len: int,
        depth: float | None = None,
        colour: str | None = None,
        copies: int = 1,
    ):
        colour = colour or list(COLOURS)[int(rng.integers(len(COLOURS)))]
        depth = float(rng.random()) if depth is None else depth
        n = seq_len - self.pieces.overhead(colour)
        if n < len(self.needles[colour]):
            raise ConfigError(
                f"seq_len {seq_len} is too short for the prompt ({self.pieces.overhead(colour)} tokens) and a needle"
            )
        return self.pieces.example(colour, self.haystack(rng, colour, n, depth, copies), self.supervise)

    def batch(
        self, seed: int, index: int, seq_len: int, batch_size: int, copies: int = 1, row_len_spread: float = 0.0
    ) -> dict[str, torch.Tensor]:
        """(batch_size, seq_len) ids and labels. `row_len_spread` > 0: each row is an example of its
        own length, uniform in [(1 - spread) x seq_len, seq_len], right-padded to seq_len (causal
        attention: the padding after a row changes nothing in it; its labels are ignored)."""
        rng = np.random.default_rng([seed, index])
        lengths = self.row_lengths(seed, index, seq_len, batch_size, row_len_spread)
        ids = torch.full((batch_size, seq_len), self.pad_id, dtype=torch.long)
        labels = torch.full((batch_size, seq_len), IGNORE_INDEX, dtype=torch.long)
        for row, n in enumerate(lengths):
            ids[row, :n], labels[row, :n] = self.example(rng, n, copies=copies)
        return {"input_ids": ids, "labels": labels}

    def row_lengths(self, seed: int, index: int, seq_len: int, batch_size: int, spread: float) -> list[int]:
        if spread <= 0:
            return [seq_len] * batch_size
        low = min(seq_len, max(self.shortest_example, int(round(seq_len * (1 - spread)))))
        return np.random.default_rng([seed, index, 11]).integers(low, seq_len + 1, size=batch_size).tolist()


def _plain(text: str) -> bool:
    """Any printable piece of text (no newline, no partial UTF-8 byte)."""
    return bool(text) and "\n" not in text and "\ufffd" not in text and text.isprintable()


def filler_words(tokenizer) -> torch.Tensor:
    """The token ids of the FILLER_WORDS that are single tokens (" mountain"), as whole words."""
    ids = [tokenizer.encode(" " + w, add_special_tokens=False) for w in FILLER_WORDS]
    return torch.tensor(sorted({i[0] for i in ids if len(i) == 1}), dtype=torch.long)


def filler_vocabulary(tokenizer) -> torch.Tensor:
    """Any printable, non-special token that is no part of a colour word (the "random" filler)."""
    banned = set(tokenizer.all_special_ids)
    for colour in COLOURS:
        for text in (colour, " " + colour, colour.capitalize(), " " + colour.capitalize()):
            banned.update(tokenizer.encode(text, add_special_tokens=False))
    ids = [i for i in range(len(tokenizer)) if i not in banned and _plain(tokenizer.decode([i]))]
    return torch.tensor(ids, dtype=torch.long)


# ---- frames ---------------------------------------------------------------------------------


def haystack_pixels(rng: np.random.Generator, n: int, size: int = 32) -> np.ndarray:
    """`n` muted procedural frames (n, size, size, 3) uint8: tinted grey gradient + noise + a few grey boxes."""
    base = rng.uniform(60, 190, size=(n, 1)) + rng.uniform(-15, 15, size=(n, 3))  # (n, 3)
    ramp = np.linspace(0, 1, size)
    gx = ramp[None, None, :, None] * rng.uniform(-60, 60, size=(n, 1, 1, 1))
    gy = ramp[None, :, None, None] * rng.uniform(-60, 60, size=(n, 1, 1, 1))
    pixels = base[:, None, None, :] + gx + gy + rng.normal(0, 12, (n, size, size, 1))
    pixels = np.clip(pixels, 0, 255).astype(np.uint8)
    for frame in pixels:
        for _ in range(int(rng.integers(0, 4))):
            x, y, s = int(rng.integers(0, size - 4)), int(rng.integers(0, size - 4)), int(rng.integers(3, size // 2))
            frame[y : y + s + 1, x : x + s + 1] = int(rng.integers(30, 220))
    return pixels


def haystack_frame(rng: np.random.Generator, size: int = 32) -> Image.Image:
    """One haystack frame as a PIL image."""
    return Image.fromarray(haystack_pixels(rng, 1, size)[0])


def needle_frame(rng: np.random.Generator, colour: str, size: int = 32) -> Image.Image:
    """A haystack frame with a saturated square of `colour` (the needle; answer = colour)."""
    image = haystack_frame(rng, size)
    s = int(rng.integers(size * 5 // 8, size * 7 // 8 + 1))  # a large square: colour in every pooled cell
    x, y = int(rng.integers(0, size - s + 1)), int(rng.integers(0, size - s + 1))
    ImageDraw.Draw(image).rectangle([x, y, x + s - 1, y + s - 1], fill=COLOURS[colour])
    return image


def grid_row_image(frames: list[Image.Image]) -> Image.Image:
    """Frames side by side: under UniRes a k-grid row image is exactly k grids."""
    size = frames[0].size[0]
    image = Image.new("RGB", (size * len(frames), size))
    for i, frame in enumerate(frames):
        image.paste(frame, (size * i, 0))
    return image


class AlignmentTask:
    """Short multi-grid images (one needle grid among distractor grids) + the colour question."""

    def __init__(self, processor, question: str, min_grids: int, max_grids: int, data_mix: dict[str, float],
                 supervise: str = "template", easy_steps: int = 0, easy_max_grids: int | None = None,
                 easy_needle_copies: int = 1, same_grids_per_batch: bool = False):
        self.processor = processor
        self.same_grids_per_batch = same_grids_per_batch
        self.easy_needle_copies = easy_needle_copies
        self.easy_steps, self.easy_max_grids = easy_steps, min(easy_max_grids or max_grids, max_grids)
        self.supervise = supervise
        self.pieces = PromptPieces(processor, question, list(COLOURS), processor.config.visual_position)
        self.size = processor.config.vision.image_size
        self.min_grids, self.max_grids = min_grids, max_grids
        total = sum(data_mix.values())
        self.p_single = data_mix.get("single_grid", 0.0) / total

    def sample(self, rng: np.random.Generator, max_grids: int | None = None, copies: int = 1,
               grids: int | None = None):
        """One image + question; `copies` > 1 puts the colour square in that many grids (curriculum);
        `grids` fixes the image's grid count (else drawn in min_grids..max_grids)."""
        colour = list(COLOURS)[int(rng.integers(len(COLOURS)))]
        if rng.random() < self.p_single:  # a one-grid image: the needle alone, encoded like a one-frame video
            visual = self.processor.preprocess_video([needle_frame(rng, colour, self.size)], mode="pad")
        else:
            k = grids or int(rng.integers(self.min_grids, (max_grids or self.max_grids) + 1))
            pixels = haystack_pixels(rng, k, self.size)
            for pos in rng.choice(k, size=min(copies, k), replace=False):
                pixels[pos] = np.asarray(needle_frame(rng, colour, self.size))
            visual = self.row_image(pixels)
        ids, labels = self.pieces.full[colour][0], self.pieces.labels(colour, self.supervise)
        if self.pieces.position == "interleaved":  # one placeholder per grid, each after the frame marker
            visuals = split_units(visual)
            ids, labels = self.pieces.with_units(ids, labels, len(visuals))
            return ids, labels, visuals
        return ids, labels, visual

    def row_image(self, pixels: np.ndarray) -> VisualInput:
        """Frames (k, S, S, 3) side by side as one image. Under UniRes a 1 x k canvas is exactly k
        grids, so the grids are the frames themselves (same tensors as `preprocess_image`, cheaper)."""
        k, size = pixels.shape[0], self.size
        enc = self.processor.config.encoding
        if enc.scheme != "unires" or enc.grid_pinpoints is not None or k > enc.max_grids:
            return self.processor.preprocess_image(grid_row_image([Image.fromarray(p) for p in pixels]))
        vision = self.processor.config.vision
        x = normalise_pixels(pixels, vision.image_mean, vision.image_std)  # (k, 3, S, S)
        return VisualInput("image", x, 1, k, None, (size * k, size))

    def batch(self, seed: int, index: int, batch_size: int) -> dict:
        rng = np.random.default_rng([seed, index])
        easy = index < self.easy_steps  # the curriculum: fewer grids, several needle grids
        k_max, copies = (self.easy_max_grids, self.easy_needle_copies) if easy else (self.max_grids, 1)
        # one grid count for the whole batch (drawn as each image's was): no row is padded
        grids = int(rng.integers(self.min_grids, k_max + 1)) if self.same_grids_per_batch else None
        rows = [self.sample(rng, k_max, copies, grids) for _ in range(batch_size)]
        visuals = [v for r in rows for v in (r[2] if isinstance(r[2], list) else [r[2]])]  # k-th placeholder
        return {"input_ids": [r[0] for r in rows], "labels": [r[1] for r in rows], "visuals": visuals}


def needle_colours(n: int) -> list[str]:
    """The colours of n evaluation needles: the palette in order, repeated."""
    names = list(COLOURS)
    return [names[i % len(names)] for i in range(n)]


# ---- needle frames named by a word (the projector's anchoring, S2a) ------------------------------


def needle_tokens(tokenizer) -> dict[str, torch.Tensor]:
    """Each colour's word as the text haystack's needle spells it (" red"): its token ids."""
    return {c: torch.tensor(tokenizer.encode(" " + c, add_special_tokens=False)) for c in COLOURS}


def needle_word_ids(tokenizer) -> dict[str, int]:
    """The first token id of each colour's text needle (the word S2a anchors a needle frame to)."""
    return {c: int(ids[0]) for c, ids in needle_tokens(tokenizer).items()}


def anchor_frames(seed: int, index: int, batch_size: int, size: int) -> tuple[np.ndarray, list[str | None]]:
    """`batch_size` needle frames then as many haystack frames (2B, S, S, 3) uint8, and what each
    shows: its colour, or None for a haystack frame (nothing a word names). Depends on (seed, i)."""
    rng = np.random.default_rng([seed, index, 43])
    colours = [list(COLOURS)[int(i)] for i in rng.integers(len(COLOURS), size=batch_size)]
    needles = np.stack([np.asarray(needle_frame(rng, c, size)) for c in colours])
    return np.concatenate([needles, haystack_pixels(rng, batch_size, size)]), colours + [None] * batch_size


# ---- captioned images (vision pretraining) ----------------------------------------------------


def brightness_word(pixels: np.ndarray) -> str:
    """'dark' / 'grey' / 'bright' from the mean intensity of a (S, S, 3) uint8 frame."""
    level = float(pixels.mean())
    return "dark" if level < 100 else "bright" if level > 150 else "grey"


class CaptionedImages:
    """(image, caption) pairs in the haystack/needle image family, for contrastive pretraining.

    A frame is either a plain haystack frame ("a dark picture") or a needle frame ("a red
    square"), so the captions name what V-NIAH later asks about (the colour) and what it must
    ignore (the background), as web captions do for CLIP. Batch i depends on (seed, i).
    """

    def __init__(self, size: int, square_fraction: float = 0.5):
        self.size = size
        self.square_fraction = square_fraction

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, str]:
        if rng.random() >= self.square_fraction:
            pixels = haystack_pixels(rng, 1, self.size)[0]
            return pixels, f"a {brightness_word(pixels)} picture"
        colour = list(COLOURS)[int(rng.integers(len(COLOURS)))]
        return np.asarray(needle_frame(rng, colour, self.size)), f"a {colour} square"

    def batch(self, seed: int, index: int, batch_size: int) -> tuple[np.ndarray, list[str]]:
        rng = np.random.default_rng([seed, index, 41])
        pairs = [self.sample(rng) for _ in range(batch_size)]
        return np.stack([p for p, _ in pairs]), [c for _, c in pairs]
