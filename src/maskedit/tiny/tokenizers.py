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


# The Qwen-VL / Qwen3 special tokens the Qwen-Image-Edit and FLUX.2 [klein] prompt templates and
# the Qwen2-VL processor use; ids 0–9 in the tiny vocabulary, `<|endoftext|>` (0) pads.
QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
    "<think>",
    "</think>",
)

# Qwen3's chat template reduced to what Flux2KleinPipeline asks of it: user turns, the assistant
# prompt, and the empty thinking block that `enable_thinking=False` adds.
QWEN3_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
    "{% if enable_thinking is defined and enable_thinking is false %}"
    "{{ '<think>\n\n</think>\n\n' }}{% endif %}{% endif %}"
)


def qwen_tokenizer(corpus: list[str]):
    """A `Qwen2Tokenizer` (Qwen2's split regex + byte-level BPE) whose merges are learnt, in code,
    from `corpus` (the pipelines' prompt templates): their words are one token each, as in the
    real 151k vocabulary, and any other text is spelled in bytes. Qwen's special tokens are single
    tokens (ids 0–9); the chat template is Qwen3's (FLUX.2 [klein] applies it)."""
    import json

    from tokenizers import AddedToken, Regex, Tokenizer, models, normalizers, pre_tokenizers
    from tokenizers.trainers import BpeTrainer
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    trainer_tok = Tokenizer(models.BPE())
    trainer_tok.normalizer = normalizers.NFC()
    trainer_tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    trainer = BpeTrainer(
        vocab_size=10_000,  # never reached: training stops when every word is one token
        min_frequency=1,
        special_tokens=list(QWEN_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    trainer_tok.train_from_iterator(corpus, trainer)
    model = json.loads(trainer_tok.to_str())["model"]
    tokenizer = Qwen2Tokenizer(
        vocab=model["vocab"], merges=[tuple(m) for m in model["merges"]], model_max_length=32768
    )
    tokenizer.add_tokens([AddedToken(t, special=True) for t in QWEN_SPECIAL_TOKENS])
    tokenizer.chat_template = QWEN3_CHAT_TEMPLATE
    return tokenizer
