"""Video-MME's prompt and the official scorer (extraction and accuracy)."""

from longva.eval.videomme_scoring import accuracy, breakdown, extract_answer, videomme_prompt


def test_prompt_is_lmms_eval_videomme_default():
    text = videomme_prompt("What is shown?", ["A. cat", "B. dog"])
    assert text == (
        "Select the best answer to the following multiple-choice question based on the video and"
        " the subtitles. Respond with only the letter (A, B, C, or D) of the correct option.\n"
        "What is shown?\nA. cat\nB. dog\n\nAnswer with the option's letter from the given choices"
        " directly."
    )


def test_official_extraction():
    assert extract_answer("B") == "B"
    assert extract_answer("  C. a dog  ") == "C"
    assert extract_answer("The best answer is D") == "D"
    assert extract_answer("The correct answer is (A).") == "A"
    assert extract_answer("no idea at all, this could be anything really, so many words here") == ""
    assert extract_answer("") == "" and extract_answer("zzz") == ""
    # Faithful to the official regex: the first capital A-D anywhere counts, "Answer" included.
    assert extract_answer("Answer: D") == "A"
    # The official list's missing comma: "The best option is" alone is not a prefix ...
    assert extract_answer("The best option is C") == "C"
    # ... and a long answer that does contain a letter is still scored.
    assert (
        extract_answer("I think that after watching the whole thing the right one must be B") == "B"
    )


def _rec(answer, extracted, duration="short", task="Counting Problem"):
    return {"answer": answer, "extracted": extracted, "duration": duration, "task_type": task}


def test_accuracy_counts_answered_and_all_questions():
    records = [_rec("A", "A"), _rec("B", "C"), _rec("C", ""), _rec("D", "D", "long")]
    acc = accuracy(records)
    assert acc["correct"] == 2 and acc["answered"] == 3 and acc["questions"] == 4
    assert abs(acc["accuracy"] - 200 / 3) < 1e-9 and acc["accuracy_all"] == 50.0
    assert accuracy([_rec("A", "")])["accuracy"] is None
    by = breakdown(records, "duration", ("short", "medium", "long"))
    assert list(by) == ["short", "long"]  # official order, absent durations left out
    assert by["long"]["accuracy"] == 100.0 and by["short"]["accuracy"] == 50.0
