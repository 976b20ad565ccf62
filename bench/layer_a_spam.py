"""A labelled spam/ham set for Layer A's spam signals, and their precision and recall on it.

Spam is what a misbehaving agent submits: link stuffing, a token repeated over and over,
keyword stuffing (few distinct words), floods of punctuation or letters. Ham is civic text,
including what an honest submission may look like: headlines in capitals, one or two links,
some enthusiasm. Generated with a fixed seed into
``tests/unit/layer_a_cases/spam_labelled.json``:

    .venv/bin/python -m bench.layer_a_spam write
    .venv/bin/python -m bench.layer_a_spam measure
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from bench.layer_a_corpus import load as load_benign

SPAM_FILE = Path(__file__).resolve().parent.parent / "tests" / "unit" / "layer_a_cases" / "spam_labelled.json"
SEED = 7131

_SITES = ["cheap-meds.example", "win-big.example.net", "crypto-x.example.org", "bit.example/ab", "promo.example.io"]
_PITCH = ["Best deals", "Free credits", "Earn fast", "Click here", "Limited offer", "Top rated", "Act now"]
_STUFF = ["cheap", "free", "deal", "bonus", "win", "crypto", "credits", "offer"]


def _url(rnd: random.Random) -> str:
    return rnd.choice(["https://", "http://", "www."]) + rnd.choice(_SITES) + "/" + str(rnd.randint(1, 999))


def spam(rnd: random.Random) -> str:
    kind = rnd.randrange(5)
    if kind == 0:  # link stuffing
        return rnd.choice(_PITCH) + ": " + " ".join(_url(rnd) for _ in range(rnd.randint(3, 12)))
    if kind == 1:  # one token over and over
        word = rnd.choice(_STUFF)
        return f"{rnd.choice(_PITCH)} " + " ".join([word] * rnd.randint(5, 30))
    if kind == 2:  # keyword stuffing
        words = rnd.sample(_STUFF, 3)
        return " ".join(rnd.choice(words) for _ in range(rnd.randint(40, 80)))
    if kind == 3:  # punctuation flood with a link
        return f"{rnd.choice(_PITCH)}{'!' * rnd.randint(4, 12)} {_url(rnd)} {_url(rnd)} {_url(rnd)}"
    return f"{rnd.choice(_PITCH)} sooooooooo {rnd.choice(_STUFF)} " + "!" * rnd.randint(4, 9) + " " + _url(rnd)


def ham(rnd: random.Random, benign: list[str]) -> str:
    text = rnd.choice(benign)
    kind = rnd.randrange(4)
    if kind == 0:  # a headline in capitals
        return text.upper()
    if kind == 1:  # one or two links
        links = (f"https://town.example/{rnd.randint(1, 99)}" for _ in range(rnd.randint(1, 2)))
        return text + " Details: " + " ".join(links)
    if kind == 2:  # some enthusiasm
        return text.rstrip(".") + rnd.choice(["!", "!!", "!!!", " :)"])
    return text


def generate() -> list[dict[str, str]]:
    rnd = random.Random(SEED)
    benign = [t["text"] for t in load_benign()]
    items = [{"text": spam(rnd), "label": "spam"} for _ in range(300)]
    items += [{"text": ham(rnd, benign), "label": "ham"} for _ in range(700)]
    return items


def write() -> None:
    items = generate()
    SPAM_FILE.write_text(json.dumps({"seed": SEED, "items": items}, indent=1, ensure_ascii=False) + "\n",
                         encoding="utf-8")
    print(f"{len(items)} texts written to {SPAM_FILE}")


def load() -> list[dict[str, str]]:
    items: list[dict[str, str]] = json.loads(SPAM_FILE.read_text(encoding="utf-8"))["items"]
    return items


def score(fires: list[tuple[bool, str]]) -> tuple[float, float]:
    """Precision and recall of "a spam signal fired" against the labels."""
    tp = sum(1 for fired, label in fires if fired and label == "spam")
    fp = sum(1 for fired, label in fires if fired and label == "ham")
    fn = sum(1 for fired, label in fires if not fired and label == "spam")
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0)


def measure() -> None:
    from chalicelib.domain.layer_a import evaluate

    fires = [(any(s.kind == "spam" for s in evaluate(i["text"]).signals), i["label"]) for i in load()]
    precision, recall = score(fires)
    spam_n = sum(1 for _, label in fires if label == "spam")
    print(f"{len(fires)} texts ({spam_n} spam): precision {precision:.3f}, recall {recall:.3f}")
    print(f"fired on {sum(1 for f, label in fires if f and label == 'ham')} of {len(fires) - spam_n} ham")


if __name__ == "__main__":
    {"write": write, "measure": measure}[sys.argv[1] if len(sys.argv) > 1 else "measure"]()
