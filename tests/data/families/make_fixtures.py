"""Makes tiny random Hugging Face checkpoints of each non-BERT family.

Run in the peer environment (torch, transformers 4.57, adapters 1.3;
`python benchmarks/peer_env.py` builds it) with `sentencepiece` importable
(XLM-RoBERTa's tokenizer), from the repository root:

    .peer_venv/bin/python tests/data/families/make_fixtures.py

It writes, next to itself, one folder per family (`roberta/`,
`xlm_roberta/`, `distilbert/`, `electra/`), each a
`*ForSequenceClassification` model in Hugging Face layout (hidden 16, 2
blocks, weights drawn larger than the usual 0.02 so that every part
matters, LayerNorms and RoBERTa's token type embedding not at their
defaults) with its tokenizer (byte-level BPE, SentencePiece unigram,
WordPiece), all trained on `SENTENCES`; and `expected.json`: per family
the sentence pairs, Hugging Face's token ids, padding mask and segment
ids, the base model's last hidden states and the classifier's logits.

Everything is seeded; a second run writes the same numbers.
"""

import json
import os
import shutil
import tempfile

import numpy as np
import torch
import transformers

HERE = os.path.dirname(os.path.abspath(__file__))
SENTENCES = [
    "The cat sat on the mat.",
    "A cat was sitting on the mat.",
    "He gave her the ball.",
    "She got the ball from him.",
    "We saw the film that you liked.",
    "The film was long and dull.",
    "She is taller than her brother.",
    "Her brother is shorter than she is.",
    "The old dog slept in the sun.",
    "An old dog was asleep in the sun.",
    "Who wrote the book?",
    "Ann wrote the book in Paris.",
]
PAIRS = [(SENTENCES[i], SENTENCES[i + 1]) for i in range(0, 12, 2)]
SIZES = {
    "hidden_size": 16,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 32,
    "max_position_embeddings": 66,
}
SEEDS = {"roberta": 0, "xlm_roberta": 1, "distilbert": 2, "electra": 3}


def fresh(name):
    folder = os.path.join(HERE, name)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    return folder


def word_piece_vocab(folder):
    """A lower-cased WordPiece vocabulary of every word of `SENTENCES`."""
    words = sorted(
        {
            word
            for sentence in SENTENCES
            for word in sentence.lower()
            .replace(".", " .")
            .replace("?", " ?")
            .split()
        }
    )
    path = os.path.join(folder, "vocab.txt")
    with open(path, "w") as handle:
        handle.write(
            "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words)
            + "\n"
        )
    return path


def roberta_tokenizer():
    """A byte-level BPE (RoBERTa's) trained on `SENTENCES`."""
    import tokenizers

    bpe = tokenizers.ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        SENTENCES,
        vocab_size=300,
        min_frequency=1,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
        show_progress=False,
    )
    with tempfile.TemporaryDirectory() as scratch:
        bpe.save_model(scratch)
        return transformers.RobertaTokenizer(
            os.path.join(scratch, "vocab.json"),
            os.path.join(scratch, "merges.txt"),
        )


def xlm_roberta_tokenizer():
    """A SentencePiece unigram model (XLM-RoBERTa's kind) on `SENTENCES`."""
    import sentencepiece

    with tempfile.TemporaryDirectory() as scratch:
        prefix = os.path.join(scratch, "sentencepiece.bpe")
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(SENTENCES * 4),
            model_prefix=prefix,
            vocab_size=64,
            model_type="unigram",
            character_coverage=1.0,
            unk_id=0,
            bos_id=1,
            eos_id=2,
            pad_id=-1,
            # No normalization table: a 240 KB model becomes a 1 KB one.
            normalization_rule_name="identity",
            minloglevel=2,
        )
        return transformers.XLMRobertaTokenizer(prefix + ".model")


def rounded(tensor):
    """A float32 tensor as nested lists of 8-digit floats (exact enough for
    float32, half the size of `tolist()`)."""
    return json.loads(
        json.dumps(
            np.vectorize(lambda x: float(f"{x:.8g}"), otypes=[object])(
                tensor.numpy()
            ).tolist()
        )
    )


def make(family, tokenizer, config, model_cls):
    """Saves a seeded random `model_cls` and its tokenizer; returns what
    Hugging Face computes for `PAIRS`."""
    folder = fresh(family)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(SEEDS[family])
    model = model_cls(config)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if parameter.dim() > 1:
                parameter.normal_(0.0, 0.2)
            elif "LayerNorm" in name or "layer_norm" in name:
                parameter.add_(torch.randn_like(parameter) * 0.1)
    model.save_pretrained(folder)
    model.eval()
    batch = tokenizer(
        [a for a, _ in PAIRS],
        [b for _, b in PAIRS],
        padding=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        hidden = model.base_model(**batch).last_hidden_state
        logits = model(**batch).logits
    segment_ids = batch.get(
        "token_type_ids", torch.zeros_like(batch["input_ids"])
    )
    print(f"{family}: {len(tokenizer)} tokens, logits {logits[0].tolist()}")
    return {
        "pairs": PAIRS,
        "token_ids": batch["input_ids"].tolist(),
        "padding_mask": batch["attention_mask"].tolist(),
        "segment_ids": segment_ids.tolist(),
        "hidden_states": rounded(hidden),
        "logits": rounded(logits),
    }


def main():
    transformers.logging.set_verbosity_error()
    expected = {}
    tokenizer = roberta_tokenizer()
    expected["roberta"] = make(
        "roberta",
        tokenizer,
        transformers.RobertaConfig(
            vocab_size=len(tokenizer),
            type_vocab_size=1,
            pad_token_id=tokenizer.pad_token_id,
            layer_norm_eps=1e-5,  # As in roberta-base and xlm-roberta-base.
            **SIZES,
        ),
        transformers.RobertaForSequenceClassification,
    )
    tokenizer = xlm_roberta_tokenizer()
    expected["xlm_roberta"] = make(
        "xlm_roberta",
        tokenizer,
        transformers.XLMRobertaConfig(
            vocab_size=len(tokenizer),
            type_vocab_size=1,
            pad_token_id=tokenizer.pad_token_id,
            layer_norm_eps=1e-5,  # As in roberta-base and xlm-roberta-base.
            **SIZES,
        ),
        transformers.XLMRobertaForSequenceClassification,
    )
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer = transformers.DistilBertTokenizer(
            word_piece_vocab(scratch), do_lower_case=True
        )
    expected["distilbert"] = make(
        "distilbert",
        tokenizer,
        transformers.DistilBertConfig(
            vocab_size=len(tokenizer),
            dim=SIZES["hidden_size"],
            n_layers=SIZES["num_hidden_layers"],
            n_heads=SIZES["num_attention_heads"],
            hidden_dim=SIZES["intermediate_size"],
            max_position_embeddings=SIZES["max_position_embeddings"],
            activation="gelu",
        ),
        transformers.DistilBertForSequenceClassification,
    )
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer = transformers.ElectraTokenizer(
            word_piece_vocab(scratch), do_lower_case=True
        )
    expected["electra"] = make(
        "electra",
        tokenizer,
        transformers.ElectraConfig(
            vocab_size=len(tokenizer),
            embedding_size=8,
            hidden_act="gelu",
            **SIZES,
        ),
        transformers.ElectraForSequenceClassification,
    )
    with open(os.path.join(HERE, "expected.json"), "w") as handle:
        json.dump(expected, handle)


if __name__ == "__main__":
    main()
