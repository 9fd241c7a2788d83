"""A default target phrase from an edit instruction, by a few fixed rules (no model).

"turn the cat into a robot" → "cat"; "make the shirt red" → "shirt"; "add a hat to the man" → "man".
The rules, in order:

1. Normalise: lower case, curly quotes straightened, polite openers ("please", "can you", …) and
   final punctuation dropped.
2. Find where the target noun phrase starts:
   - "what if / imagine / suppose <target> …" → the phrase after the opener;
   - "add / put / place / attach / insert / draw <thing> on|to|in|… <target>" → the phrase after
     the first location word ("add a hat to the man" → "man"); with no location there is no target;
   - "give <target> a|an|some|the <thing>" → the first phrase ("give the man a hat" → "man");
   - any other opening verb ("make", "turn", "change", "replace", "paint", "remove", …) → its
     object ("replace the dog with a cat" → "dog");
   - an instruction that starts with a determiner ("the sky should be purple") → its subject;
   - when no phrase stands where expected (and it is not a pronoun), the first "the <phrase>"
     after that point ("what would it look like if the cat was a tiger" → "cat").
3. Read the phrase: skip determiners ("the", "a", "his", "all", …), jump over "the colour of" style
   attribute words, then take words up to the first boundary (a preposition, conjunction,
   auxiliary, a common complement verb such as "glow"/"look"/"wear", a determiner, a comma), at
   most `MAX_WORDS`. Trailing complement adjectives are dropped ("shirt red" → "shirt",
   "car bright red" → "car"), as is a verb before "like"/"as" ("motorcycle glow like …" →
   "motorcycle").
   Materials are kept ("make the jacket leather" → "jacket leather"): they also begin compounds
   ("wine glass"), and a rule cannot tell the two apart.
4. A pronoun or a whole-image word ("it", "everything", "the photo") is no target: `InputError`,
   which asks for an explicit target phrase. So is an instruction where no phrase is found.
"""

from __future__ import annotations

import re

from maskedit.errors import InputError

MAX_WORDS = 4

DETERMINERS = frozenset(
    "the a an this that these those his her their its my your our some all both each every any "
    "another".split()
)
POSSESSIVES = frozenset("his her their its my your our".split())
OPENERS = ("what if", "imagine if", "imagine", "suppose", "pretend that", "pretend")
MULTIWORD_VERBS = ("get rid of", "take away", "take out", "zoom in on", "focus on")
ADD_VERBS = frozenset("add put place attach insert draw stick hang sprinkle".split())
LOCATIONS = frozenset(
    "on onto to in into at over around near behind under beside above below across inside atop "
    "next upon".split()
)
PREPOSITIONS = frozenset(
    "to into in on onto with by for from of at as like over under behind near next beside around "
    "above below inside outside through across along than without instead atop upon out".split()
)
CONJUNCTIONS = frozenset("and or but so then while because which that who where when if".split())
AUXILIARIES = frozenset(
    "is are was were be been being am become becomes became should would could will can may "
    "might must has have had do does did gets get got".split()
)
# Verbs that follow the object of "make/let/have <object> <verb> …" in edit instructions.
COMPLEMENT_VERBS = frozenset(
    "glow glowing shine shining sparkle sparkling look looks looking appear appears seem seems "
    "wear wears wearing hold holds holding smile smiling laugh laughing cry crying fly flying "
    "float floating melt melting burn burning dance dancing sing singing run running jump "
    "jumping sit sitting stand standing sleep sleeping swim swimming eat eating drink drinking "
    "read reading play playing fall falling explode exploding disappear vanish grow growing "
    "shrink move moving face facing turn turns turning change changes rust resemble resembles "
    "feel feels sound sounds reflect reflects go goes".split()
)
INTENSIFIERS = frozenset(
    "more less very really extremely completely totally slightly much fully entirely too".split()
)
COLOURS = frozenset(
    "red orange yellow green blue purple violet pink brown black white grey gray gold silver "
    "beige cyan magenta teal turquoise maroon navy crimson scarlet blond blonde golden "
    "colorful colourful multicolored rainbow neon pastel bright dark light pale deep vivid".split()
)
ADJECTIVES = frozenset(
    "big bigger biggest small smaller smallest large larger tall taller short shorter long longer "
    "wide wider thin thinner fat fatter old older young younger new newer clean cleaner dirty "
    "dirtier happy happier sad sadder angry scary scarier shiny fluffy furry rusty snowy rainy "
    "sunny cloudy stormy foggy misty spooky creepy sleepy hairy muddy sandy icy glossy sparkly "
    "fancy funny pretty prettier ugly tiny huge giant heavy windy gloomy wavy curly silky leafy "
    "grassy rocky wet dry hot cold warm cool fun cute evil realistic transparent invisible "
    "wooden frozen woolen molten broken rotten metallic futuristic ancient modern vintage retro "
    "glowing bald smiling".split()
)
ADJECTIVE_SUFFIXES = ("ful", "ous", "ish", "less", "ive", "ic")
ATTRIBUTES = frozenset(
    "color colour colors colours texture material style pattern shape size look surface "
    "appearance fabric hue tone shade".split()
)
PRONOUNS = frozenset("it them him her they he she we us you i me".split())
NO_TARGET = PRONOUNS | frozenset(
    "this that everything everyone everybody all image picture photo photograph pic scene frame "
    "whole".split()
)
_POLITE = re.compile(
    r"^(?:(?:please|kindly|can you|could you|would you|will you|i want you to|i want to|"
    r"i'd like to|i would like to|let's|try to|go ahead and)\s+)+"
)
_TOKEN = re.compile(r"[a-z0-9]+(?:['-][a-z0-9]+)*|,")
_HARD_BOUNDARY = (
    PREPOSITIONS | CONJUNCTIONS | AUXILIARIES | COMPLEMENT_VERBS | INTENSIFIERS | DETERMINERS
) | PRONOUNS
_OBJECT_END = DETERMINERS | COMPLEMENT_VERBS | AUXILIARIES | PREPOSITIONS | CONJUNCTIONS
_NOT_FIRST = PREPOSITIONS | CONJUNCTIONS | AUXILIARIES | INTENSIFIERS | PRONOUNS


def _normalise(instruction: str) -> list[str]:
    text = instruction.lower().replace("\u2019", "'").replace("\u2018", "'").strip()
    text = re.sub(r"[.!?;:]+$", "", text).strip()
    text = re.sub(r",?\s*please$", "", text)
    text = _POLITE.sub("", text)
    return _TOKEN.findall(text)


def _adjective_like(word: str) -> bool:
    return (
        word in COLOURS
        or word in ADJECTIVES
        or (len(word) > 5 and word.endswith(ADJECTIVE_SUFFIXES))
    )


def _phrase_at(tokens: list[str], i: int) -> str | None:
    """The noun phrase starting at tokens[i] (rule 3), or None."""
    j = i
    while j < len(tokens) and tokens[j] in DETERMINERS | {"of"}:
        if tokens[j] in POSSESSIVES and j + 1 < len(tokens) and tokens[j + 1] in _OBJECT_END:
            return None  # "give her a hat", "make her smile": the pronoun is the object itself
        j += 1
    if j + 1 < len(tokens) and tokens[j] in ATTRIBUTES and tokens[j + 1] == "of":
        return _phrase_at(tokens, j + 2)  # "the colour of the car" → "car"
    words: list[str] = []
    stop = None
    while j < len(tokens) and len(words) < MAX_WORDS:
        word = tokens[j]
        if word == "," or (word in _HARD_BOUNDARY if words else word in _NOT_FIRST):
            stop = word
            break
        words.append(word)
        j += 1
    if stop in ("like", "as") and len(words) > 1:
        words.pop()  # "the motorcycle glow like …": an unlisted verb before "like"
    while len(words) > 1 and _adjective_like(words[-1]):
        words.pop()  # "the shirt red" → "shirt": a complement, not part of the object
    if not words or (len(words) == 1 and words[0] in NO_TARGET):
        return None
    return " ".join(words)


def _start(tokens: list[str]) -> int | None:
    """Where the target phrase starts (rule 2), or None when the instruction names no place."""
    text = " ".join(tokens) + " "
    for opener in OPENERS + MULTIWORD_VERBS:
        if text.startswith(opener + " "):
            return len(opener.split())
    if tokens[0] in DETERMINERS:
        return 0  # "the sky should be purple": the subject
    if tokens[0] in ADD_VERBS:
        for k in range(1, len(tokens)):
            if tokens[k] in LOCATIONS:
                return k + 2 if tokens[k : k + 2] == ["next", "to"] else k + 1
        return None  # "add a hat": no place named
    return 1  # "make/turn/replace/give/… <object>"


def target_from_instruction(instruction: str) -> str:
    """The phrase naming what an instruction edits, by the module's rules; lower case.

    Raises `InputError` when the rules find no object (a whole-image edit such as "make it
    night", or "add snow"): pass the target phrase explicitly then.
    """
    if not isinstance(instruction, str):
        raise InputError(f"instruction: got {instruction!r}, expected text")
    tokens = _normalise(instruction)
    start = _start(tokens) if tokens else None
    phrase = None
    if start is not None and start < len(tokens):
        phrase = _phrase_at(tokens, start)
        rest = tokens[start:]
        if phrase is None and rest[0] not in NO_TARGET and "the" in rest:
            # "what would it look like if the cat …": no phrase where expected; the first "the"
            phrase = _phrase_at(tokens, start + rest.index("the"))
    if phrase is None:
        raise InputError(
            f"instruction {instruction!r}: found no object to mask (a whole-image edit?); "
            "name the target phrase explicitly (--target)"
        )
    return phrase
