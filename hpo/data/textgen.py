"""A small, seeded text-classification data set that hpo generates itself.

Why: the text families (rnn, attention) need a demo and test corpus, and these machines
cannot download one. Sentences are short product-support messages in several topics.
Each sentence carries a few topic words, but topic words also leak into other classes,
filler words are shared by all classes and a few labels are flipped, so the task is
learnable (a bag of words reaches roughly 80-90%) but not trivial. A handful of cues are
order dependent ("not working" vs "working"), which sequence models can exploit.
"""

from __future__ import annotations

import numpy as np

TOPICS: dict[str, tuple[str, ...]] = {
    "billing": (
        "invoice",
        "charge",
        "refund",
        "payment",
        "card",
        "bill",
        "price",
        "fee",
        "paid",
        "subscription",
        "receipt",
        "discount",
        "credit",
        "overcharged",
        "plan",
        "renewal",
    ),
    "shipping": (
        "parcel",
        "delivery",
        "courier",
        "tracking",
        "shipped",
        "box",
        "address",
        "arrived",
        "late",
        "package",
        "warehouse",
        "postage",
        "dispatch",
        "driver",
        "doorstep",
        "lost",
    ),
    "technical": (
        "crash",
        "error",
        "update",
        "app",
        "screen",
        "login",
        "password",
        "bug",
        "freezes",
        "install",
        "battery",
        "wifi",
        "sync",
        "firmware",
        "reboot",
        "settings",
    ),
    "account": (
        "profile",
        "email",
        "username",
        "verify",
        "delete",
        "privacy",
        "account",
        "signup",
        "locked",
        "security",
        "notification",
        "newsletter",
        "preferences",
        "name",
        "phone",
        "consent",
    ),
    "praise": (
        "great",
        "love",
        "thanks",
        "excellent",
        "happy",
        "wonderful",
        "helpful",
        "amazing",
        "recommend",
        "friendly",
        "quick",
        "perfect",
        "impressed",
        "pleased",
        "brilliant",
        "fantastic",
    ),
    "cancellation": (
        "cancel",
        "stop",
        "terminate",
        "quit",
        "unsubscribe",
        "close",
        "end",
        "leave",
        "contract",
        "notice",
        "switch",
        "competitor",
        "goodbye",
        "ending",
        "downgrade",
        "pause",
    ),
}

FILLER = (
    "i",
    "my",
    "the",
    "a",
    "is",
    "it",
    "was",
    "please",
    "hello",
    "hi",
    "can",
    "you",
    "help",
    "with",
    "this",
    "today",
    "again",
    "still",
    "order",
    "service",
    "me",
    "we",
    "our",
    "just",
    "need",
    "about",
    "your",
    "and",
    "since",
    "yesterday",
    "week",
    "team",
    "support",
    "there",
    "how",
    "do",
    "what",
    "why",
    "when",
    "now",
    "really",
    "very",
    "so",
    "some",
    "thing",
)

OPENERS = ("hello", "hi", "dear support", "good morning", "hey team", "")
NEGATIONS = ("not", "never", "no longer")


def generate(
    n_samples: int = 3000, n_classes: int = 4, seed: int = 0, label_noise: float = 0.04
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """`n_samples` sentences over the first `n_classes` topics: (texts, labels, names).

    Texts come back as a 1-D object array of str (what Keras' TextVectorization takes).
    """
    if not 2 <= n_classes <= len(TOPICS):
        raise ValueError(f"n_classes must be between 2 and {len(TOPICS)}")
    rng = np.random.default_rng(seed)
    names = tuple(list(TOPICS)[:n_classes])
    vocab = [TOPICS[name] for name in names]
    labels = rng.integers(0, n_classes, size=n_samples)
    texts: list[str] = []
    for label in labels:
        words: list[str] = []
        n_topic = int(rng.integers(1, 4))
        for _ in range(n_topic):
            # 30% of topic words come from another class: no single word decides the class
            source = label if rng.random() > 0.3 else int(rng.integers(0, n_classes))
            words.append(str(rng.choice(vocab[source])))
        for _ in range(int(rng.integers(3, 9))):
            words.append(str(rng.choice(FILLER)))
        order = rng.permutation(len(words))
        sentence = [words[i] for i in order]
        if rng.random() < 0.25:  # an order-dependent cue: "not <word>" reads differently
            at = int(rng.integers(0, len(sentence)))
            sentence.insert(at, str(rng.choice(NEGATIONS)))
        opener = str(rng.choice(OPENERS))
        texts.append(" ".join(([opener] if opener else []) + sentence))
    y = labels.copy()
    flip = rng.random(n_samples) < label_noise
    y[flip] = rng.integers(0, n_classes, size=int(flip.sum()))
    return np.array(texts, dtype=object), y.astype(np.int64), names
