"""A deterministic stand-in for a language model: answers from a table, by item and decoding
mode. Shared by the pipeline, resume and CLI tests (imported as a plain module)."""

from __future__ import annotations

import json
import re
import time


class CannedGenerator:
    """``answers[item_key][mode]`` is the text returned, where mode is "greedy" (first prompt),
    "strict" (stricter prompt, greedy), "sample:<seed>" or "avoid" (collision prompt); an item
    key is the first line of the target text. Missing entries answer nothing (an empty string)."""

    def __init__(self, answers, *, fail_after_calls=None, delay=0.0):
        self.answers = answers
        self.calls = []
        self.fail_after_calls = fail_after_calls
        self.delay = delay

    def generate(self, conversations, *, answer_prefix="", seed=None):
        if self.fail_after_calls is not None and len(self.calls) >= self.fail_after_calls:
            raise RuntimeError("injected failure")
        time.sleep(self.delay)
        keys, outputs = [], []
        for conversation in conversations:
            prompt = conversation[-1]["content"]
            key = re.search(r"Target product:\n(.*)", prompt).group(1)
            if "already belong to other products" in prompt:
                mode = "avoid"
            elif seed is not None:
                mode = f"sample:{seed}"
            elif "previous answer was not valid" in prompt:
                mode = "strict"
            else:
                mode = "greedy"
            keys.append((key, mode))
            outputs.append(self.answers.get(key, {}).get(mode, ""))
        self.calls.append(keys)
        return outputs


def dump(answers) -> str:
    return json.dumps(answers)
