"""Tokenizers made from hand-written vocabularies: no download, one token per character.

Every tiny text encoder reads printable ASCII through one of these; a small vocabulary changes
only the embedding table, not the compute, so the real-size benchmark builders use them too.
"""

from __future__ import annotations

ASCII = [chr(i) for i in range(33, 127)]  # printable ASCII without the space

# bert-base-uncased ids that Grounding DINO's modeling code hard-codes as phrase delimiters
# (`SPECIAL_TOKENS` = [CLS], [SEP], ".", "?"): the tiny vocabulary puts them at the same ids.
BERT_IDS = {
    "[PAD]": 0,
    "[UNK]": 100,
    "[CLS]": 101,
    "[SEP]": 102,
    "[MASK]": 103,
    ".": 1012,
    "?": 1029,
}


def clip_tokenizer():
    """A CLIP BPE tokenizer over printable ASCII with no merges: every character is a token."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for word in ASCII + [c + "</w>" for c in ASCII]:
        vocab[word] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def t5_tokenizer():
    """A T5 tokenizer over printable ASCII, one token per character (tokenizers' WordLevel)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import T5TokenizerFast

    words = ["<pad>", "</s>", "<unk>", *ASCII]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    return T5TokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", extra_ids=0
    )


def bert_tokenizer():
    """A WordPiece BERT tokenizer over a–z, 0–9 and punctuation (words split into characters).

    Its 1030 ids keep bert-base-uncased's special-token ids (see `BERT_IDS`); other slots are
    "[unusedN]" placeholders.
    """
    from transformers import BertTokenizer

    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [str(d) for d in range(10)]
    pieces = letters + ["##" + t for t in letters] + list(",!'-:;\"()/&")
    by_id = {i: t for t, i in BERT_IDS.items()}
    free = (i for i in range(1, 1030) if i not in by_id)
    by_id.update(zip(free, pieces, strict=False))
    vocab = {by_id.get(i, f"[unused{i}]"): i for i in range(1030)}
    return BertTokenizer(vocab=vocab)
