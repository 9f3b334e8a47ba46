"""Hidden states of a frozen prefix, computed once per training example.

When nothing below Transformer block `k` trains, the embeddings and blocks
`0..k-1` are a fixed function of the input: `load_or_build_prefix_cache`
runs them once per example, in inference mode, and keeps each example's
hidden states at its own length (padding is not stored: attention masks it
out, so real positions do not depend on it). Training then runs only the top
(`keras_adapters.models.split_at_block`) on batches of cached states.

The cache is one folder, committed by a single rename:

- `hidden_states.npy`: float32 `[total tokens, hidden_dim]`, the examples
  one after the other, in example order;
- `cache_key.json`: what the states are a function of (the block, the
  sequence length, a SHA-256 of the token and segment ids, the compute
  dtype, a fingerprint of the prefix's weights) and the SHA-256 of
  `hidden_states.npy`. A rerun reuses a cache whose key matches and whose
  file still has that checksum (checked before every reuse: about 0.1 s
  per 100 MB); it rebuilds any other, saying why.

The first examples, up to a byte budget, are held in host memory; the rest
is read from the memory-mapped file.
"""

import dataclasses
import hashlib
import json
import os
import time

import numpy as np

from keras_adapters.data.encoding import padded_widths
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.models import split_at_block
from keras_adapters.models.artifact import base_fingerprint
from keras_adapters.models.artifact import file_sha256
from keras_adapters.output_files import write_folder
from keras_adapters.output_files import write_text
from keras_adapters.tuning import lowest_trained_block

HIDDEN_STATES = "hidden_states.npy"
KEY = "cache_key.json"
# The key file's record of the states file's SHA-256.
CHECKSUM = "hidden_states_sha256"
# The kind of folder the cache is (`keras_adapters.output_files`).
PREFIX_CACHE = "prefix_cache"
_MB = 2**20


class PrefixNotFrozenError(KerasAdaptersError):
    """Raised when something below the lowest trained block trains."""


def split_frozen_prefix(model):
    """Splits a classifier below its lowest trained block.

    Args:
        model: an `AdapterBertTextClassifier` in its tuning mode.

    Returns:
        `(block, split)`: the lowest trained block `k` and the
        `PrefixSplit` of `split_at_block(model, k)`, whose prefix (the
        embeddings and blocks `0..k-1`) has nothing trained.

    Raises:
        PrefixNotFrozenError: something below block `k` trains (one line,
            naming the first such variable).
    """
    block = lowest_trained_block(model)
    split = split_at_block(model, block)
    trained = [variable.path for variable in split.prefix.trainable_weights]
    if trained:
        raise PrefixNotFrozenError(
            "`cache_frozen_prefix` needs the embeddings and the blocks below "
            f"the lowest trained one frozen, but {trained[0]} trains "
            f"(tuning mode {model.tuning.describe()}). Freeze them: "
            "`adapter_layers` with `freeze_below_adapters` (AdapterDrop), "
            "or `tuning`=top_k."
        )
    return block, split


@dataclasses.dataclass
class CacheKey:
    """What cached hidden states are a function of.

    Args:
        block: int, the block the states enter.
        sequence_length: int, the encoded `max_seq_length`.
        tokenization_sha256: str, SHA-256 of the lengths and the token and
            segment ids of the real positions.
        compute_dtype: str, the prefix's compute dtype.
        prefix_fingerprint: str, `base_fingerprint` of the prefix's weights.
    """

    block: int
    sequence_length: int
    tokenization_sha256: str
    compute_dtype: str
    prefix_fingerprint: str

    @classmethod
    def of(cls, prefix, block, encoded):
        """The key of `prefix` (a `split_at_block` prefix) on `encoded`."""
        # The real tokens only: `sequence_length` covers the padding.
        real = np.arange(encoded.token_ids.shape[1]) < encoded.lengths[:, None]
        digest = hashlib.sha256()
        for array in (
            encoded.lengths,
            encoded.token_ids[real],
            encoded.segment_ids[real],
        ):
            digest.update(np.ascontiguousarray(array, np.int32).tobytes())
        return cls(
            block=int(block),
            sequence_length=int(encoded.token_ids.shape[1]),
            tokenization_sha256=digest.hexdigest(),
            compute_dtype=str(prefix.output.dtype),
            prefix_fingerprint=base_fingerprint(prefix, ()),
        )

    def changes_from(self, old):
        """Why states cached under `old` do not hold for this key."""
        reasons = []
        for name, what in (
            ("block", "the first trained block"),
            ("sequence_length", "the sequence length"),
            ("compute_dtype", "the compute dtype"),
        ):
            if getattr(old, name) != getattr(self, name):
                reasons.append(
                    f"{what} changed ({getattr(old, name)} there, "
                    f"{getattr(self, name)} now)"
                )
        if old.tokenization_sha256 != self.tokenization_sha256:
            reasons.append("the tokenization changed")
        # Another block is another prefix: its weights differ too.
        if old.block == self.block and (
            old.prefix_fingerprint != self.prefix_fingerprint
        ):
            reasons.append("the base weights changed")
        return reasons


class PrefixCache:
    """Cached hidden states, read back as padded batches.

    Args:
        path: the `hidden_states.npy` file.
        lengths: int array `[n]`, each example's length.
        memory_budget_bytes: int. The first examples whose states fit in it
            are copied into host memory; the rest is read from the file.
    """

    def __init__(self, path, lengths, memory_budget_bytes):
        self.path = path
        self.offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(
            np.int64
        )
        self.states = np.load(path, mmap_mode="r")
        if self.states.shape[0] != self.offsets[-1]:
            raise ValueError(
                f"{self.states.shape[0]} cached tokens, {self.offsets[-1]} "
                "expected"
            )
        row_bytes = self.states.shape[1] * self.states.itemsize
        in_memory = np.searchsorted(
            self.offsets, memory_budget_bytes // row_bytes, side="right"
        )
        self.memory_tokens = int(self.offsets[in_memory - 1])
        self.in_memory = np.array(self.states[: self.memory_tokens])

    @property
    def hidden_dim(self):
        return self.states.shape[1]

    @property
    def nbytes(self):
        """Bytes of all cached states."""
        return self.states.nbytes

    @property
    def memory_bytes(self):
        """Bytes of the cached states held in host memory."""
        return self.in_memory.nbytes

    def gather(self, indices, width):
        """The states of examples `indices`, zero-padded to `width`.

        Args:
            indices: int array `[batch]` of example indices.
            width: int, at least the longest of their lengths.

        Returns:
            float32 array `[batch, width, hidden_dim]`.
        """
        batch = np.zeros((len(indices), width, self.hidden_dim), np.float32)
        for row, index in enumerate(indices):
            start, end = self.offsets[index], self.offsets[index + 1]
            part = self.in_memory if end <= self.memory_tokens else self.states
            batch[row, : end - start] = part[start:end]
        return batch


def _read_key(directory):
    """The `CacheKey` and the states' SHA-256 that `directory` records."""
    with open(os.path.join(directory, KEY)) as handle:
        record = json.load(handle)
    checksum = record.pop(CHECKSUM)
    return CacheKey(**record), checksum


def _build(directory, prefix, key, encoded, batch_size):
    """Runs `prefix` on every example and commits the cache folder."""
    write_folder(
        directory,
        lambda path: _write_states(path, prefix, key, encoded, batch_size),
        PREFIX_CACHE,
    )


def _write_states(directory, prefix, key, encoded, batch_size):
    """Writes the states of every example and their key into `directory`."""
    lengths = encoded.lengths
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    path = os.path.join(directory, HIDDEN_STATES)
    states = np.lib.format.open_memmap(
        path,
        mode="w+",
        dtype=np.float32,
        shape=(int(offsets[-1]), int(prefix.output.shape[-1])),
    )
    # Batches of similar lengths, each cut to its longest example.
    order = np.argsort(lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        indices = order[start : start + batch_size]
        width = int(padded_widths(lengths[indices].max(), key.sequence_length))
        positions = np.arange(width)[np.newaxis, :]
        hidden = prefix.predict_on_batch(
            {
                "token_ids": encoded.token_ids[indices, :width],
                "segment_ids": encoded.segment_ids[indices, :width],
                "padding_mask": (
                    positions < lengths[indices, np.newaxis]
                ).astype(np.int32),
            }
        )
        hidden = np.asarray(hidden, np.float32)
        for row, index in enumerate(indices):
            states[offsets[index] : offsets[index + 1]] = hidden[
                row, : lengths[index]
            ]
    states.flush()
    del states
    record = dict(dataclasses.asdict(key), **{CHECKSUM: file_sha256(path)})
    write_text(os.path.join(directory, KEY), json.dumps(record, indent=2))


def _stale_reasons(directory, key):
    """Why the cache in `directory` cannot be used (empty: it can)."""
    try:
        old, checksum = _read_key(directory)
    except (OSError, ValueError, TypeError, KeyError) as error:
        return [f"its {KEY} is unreadable ({error!r})"]
    reasons = key.changes_from(old)
    if not reasons:
        path = os.path.join(directory, HIDDEN_STATES)
        if not os.path.isfile(path) or file_sha256(path) != checksum:
            reasons.append(
                f"its {HIDDEN_STATES} does not match the checksum it was "
                "written with (damaged or changed since)"
            )
    return reasons


def load_or_build_prefix_cache(
    directory,
    prefix,
    block,
    encoded,
    memory_budget_bytes,
    batch_size=32,
    print_fn=print,
):
    """The prefix's hidden states for every example of `encoded`.

    Reuses the cache in `directory` when its key matches; otherwise
    (re)builds it, saying why, and logs its size and where it lives.

    Args:
        directory: the cache folder (e.g. `<output_dir>/prefix_cache`).
        prefix: the prefix of `split_at_block(model, block)`, frozen.
        block: int, the block the prefix ends before.
        encoded: `EncodedExamples`.
        memory_budget_bytes: int, host memory for cached states; the rest
            is read from disk.
        batch_size: int, examples per prefix call while building.
        print_fn: callable for the log lines.

    Returns:
        A `PrefixCache`.

    Example:

    ```python
    prefix, top = split_at_block(model, 3)
    cache = load_or_build_prefix_cache(
        "out/prefix_cache", prefix, 3, encoded, 2**30
    )
    batch = cache.gather(np.array([0, 5]), width=32)  # [2, 32, hidden]
    ```
    """
    key = CacheKey.of(prefix, block, encoded)
    reasons = None
    if os.path.isdir(directory):
        began = time.perf_counter()
        reasons = _stale_reasons(directory, key)
        checked = time.perf_counter() - began
    cache = None
    if reasons == []:
        try:
            cache = PrefixCache(
                os.path.join(directory, HIDDEN_STATES),
                encoded.lengths,
                memory_budget_bytes,
            )
            print_fn(
                f"Reusing the prefix cache in {directory} (key and checksum "
                f"checked in {checked:.2f} s)."
            )
        except (OSError, ValueError) as error:
            reasons = [f"its {HIDDEN_STATES} is unreadable ({error})"]
    if cache is None:
        if reasons:
            print_fn(
                f"Rebuilding the prefix cache in {directory}: "
                f"{'; '.join(reasons)}."
            )
        began = time.perf_counter()
        _build(directory, prefix, key, encoded, batch_size)
        cache = PrefixCache(
            os.path.join(directory, HIDDEN_STATES),
            encoded.lengths,
            memory_budget_bytes,
        )
        print_fn(
            f"Built the prefix cache (embeddings and blocks below {block}, "
            f"inference mode) in {time.perf_counter() - began:.1f} s."
        )
    held = (
        "all of it in host memory"
        if cache.memory_bytes == cache.nbytes
        else f"{cache.memory_bytes / _MB:,.1f} MB of it in host memory, the "
        "rest read from disk"
    )
    print_fn(
        f"Prefix cache: {len(encoded):,} examples, "
        f"{cache.offsets[-1]:,} tokens x {cache.hidden_dim} float32 = "
        f"{cache.nbytes / _MB:,.1f} MB in {cache.path}; {held} (budget "
        f"{memory_budget_bytes / _MB:,.0f} MB)."
    )
    return cache
