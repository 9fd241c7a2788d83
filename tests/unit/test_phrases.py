"""Default target phrases from instructions: the documented rules, as a table."""

from __future__ import annotations

import pytest

from maskedit.errors import InputError
from maskedit.masks.phrases import target_from_instruction

TABLE = [
    # the examples
    ("turn the cat into a robot", "cat"),
    ("make the shirt red", "shirt"),
    ("Change the suit to bright red leather", "suit"),
    ("Make the motorcycle glow like a futuristic hovercraft", "motorcycle"),
    ("replace the dog with a cat", "dog"),
    ("add a hat to the man", "man"),
    ("what if the sky was purple", "sky"),
    # the seed study's cases
    ("Change the shirt to bright red leather", "shirt"),
    ("Turn the dog into a playful robot", "dog"),
    ("Make the car glow like a futuristic hovercraft", "car"),
    # verb + object, the object ends at a preposition / verb / determiner / adjective complement
    ("paint the wall blue", "wall"),
    ("remove the car", "car"),
    ("get rid of the lamp", "lamp"),
    ("enlarge the dog", "dog"),
    ("Convert the house into a castle", "house"),
    ("swap the apple for an orange", "apple"),
    ("dress the woman in a red gown", "woman"),
    ("cover the car with snow", "car"),
    ("let the cat wear a crown", "cat"),
    ("have the woman hold an umbrella", "woman"),
    ("make the trees look like autumn", "trees"),
    ("replace the fly with a bee", "fly"),  # a noun that is also a listed verb, first word
    # modifiers and compounds are kept, complements dropped
    ("turn the red car into a boat", "red car"),
    ("make the coffee cup gold", "coffee cup"),
    ("Make the wine glass red", "wine glass"),
    ("make the car bright red", "car"),
    ("make the dog fluffy", "dog"),
    ("make the light green", "light"),
    ("make the man's shirt blue", "man's shirt"),
    ("Make the cat\u2019s eyes glow", "cat's eyes"),
    ("make all the flowers yellow", "flowers"),
    ("make her hair blonde", "hair"),
    ("change the color of the car to blue", "car"),
    # where things are added: the place is the target
    ("put sunglasses on the dog", "dog"),
    ("add fireworks in the sky", "sky"),
    ("place a vase next to the lamp", "lamp"),
    ("give the man a mustache", "man"),
    # subjects, politeness, punctuation
    ("The sky should be stormy.", "sky"),
    ("Please make the bird bigger.", "bird"),
    ("Can you turn the bus into a train?", "bus"),
    ("what would it look like if the cat was a tiger", "cat"),
]


@pytest.mark.parametrize(("instruction", "target"), TABLE)
def test_target_from_instruction(instruction, target):
    assert target_from_instruction(instruction) == target


def test_table_is_large_enough():
    assert len(TABLE) >= 20


@pytest.mark.parametrize(
    "instruction",
    [
        "it should be night",
        "make it look like a painting",
        "add snow",
        "make the photo black and white",
        "give him a hat",
        "make her smile",
        "",
        "   ",
    ],
)
def test_whole_image_edits_have_no_target(instruction):
    with pytest.raises(InputError, match="no object to mask") as err:
        target_from_instruction(instruction)
    assert repr(instruction) in str(err.value)
