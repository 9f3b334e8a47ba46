"""What checking the prefix cache's checksum costs before each reuse.

    python benchmarks/cache_checksum.py [--glue_dir DIR] [--repeats 5]

Builds the cached frozen prefix of the README's fast CoLA variant (MiniLM,
AdapterDrop top 4 frozen below, so the cache holds the states entering
block 2 for every training sentence) with the library's own
`load_or_build_prefix_cache`, then times, alternating, a reuse with the
checksum check (what a resumed run does) and the same reuse without it
(the key only, as before the check existed), and the build itself.
Writes `results/cache_checksum.json` and `.md` with the machine's vector
features.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--glue_dir", default=_common.DEFAULT_GLUE_DIR)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out_dir", default=_common.RESULTS_DIR)
    args = parser.parse_args()
    _common.set_thread_env(2)

    import keras

    from keras_adapters.data.encoding import encode_examples
    from keras_adapters.data.glue import get_task
    from keras_adapters.data.glue import read_examples
    from keras_adapters.models import AdapterBertTextClassifier
    from keras_adapters.training import prefix_cache

    keras.mixed_precision.set_global_policy("float32")
    task = get_task("CoLA")
    model = AdapterBertTextClassifier.from_preset(
        _common.minilm_folder(),
        num_classes=2,
        adapter_size=64,
        adapter_layers=4,
        freeze_below_adapters=True,
    )
    model.preprocessor.sequence_length = 128
    examples = read_examples(task, os.path.join(args.glue_dir, "CoLA"), "train")
    encoded = encode_examples(examples, model.preprocessor, task)
    block, split = prefix_cache.split_frozen_prefix(model)

    def build(directory):
        return prefix_cache.load_or_build_prefix_cache(
            directory,
            split.prefix,
            block,
            encoded,
            2**30,
            print_fn=lambda line: None,
        )

    with tempfile.TemporaryDirectory() as root:
        directory = os.path.join(root, "prefix_cache")
        began = time.perf_counter()
        cache = build(directory)
        build_seconds = time.perf_counter() - began
        size_mb = cache.nbytes / 2**20
        del cache
        key = prefix_cache.CacheKey.of(split.prefix, block, encoded)
        with_check, key_only = [], []
        for _ in range(args.repeats):
            began = time.perf_counter()
            assert prefix_cache._stale_reasons(directory, key) == []
            with_check.append(time.perf_counter() - began)
            began = time.perf_counter()
            old, _ = prefix_cache._read_key(directory)
            assert key.changes_from(old) == []
            key_only.append(time.perf_counter() - began)
    check = statistics.median(with_check) - statistics.median(key_only)
    result = {
        "machine": _common.machine(),
        "command": _common.command_line(),
        "examples": len(encoded),
        "tokens": int(encoded.lengths.sum()),
        "block": int(block),
        "cache_mb": round(size_mb, 1),
        "build_seconds": round(build_seconds, 2),
        "reuse_with_checksum_seconds": [round(s, 4) for s in with_check],
        "reuse_key_only_seconds": [round(s, 4) for s in key_only],
        "checksum_seconds_median": round(check, 4),
        "checksum_mb_per_second": round(size_mb / check, 1),
    }
    markdown = (
        "# Prefix cache: the checksum check before reuse\n\n"
        f"Machine: {result['machine']['cpu']}, "
        f"{_common.describe_features(result['machine'])}.\n"
        f"Command: `{result['command']}`.\n\n"
        f"CoLA train, {result['examples']:,} sentences, "
        f"{result['tokens']:,} tokens; MiniLM states entering block "
        f"{result['block']}: {result['cache_mb']} MB of float32.\n\n"
        "| | seconds (median of "
        f"{args.repeats}, alternating) |\n|---|---|\n"
        f"| reuse, key and checksum | "
        f"{statistics.median(with_check):.3f} |\n"
        f"| reuse, key only | {statistics.median(key_only):.3f} |\n"
        f"| the checksum | {check:.3f} "
        f"({result['checksum_mb_per_second']:,} MB/s) |\n"
        f"| building the cache | {build_seconds:.1f} |\n"
    )
    _common.write_results(
        args.out_dir, "cache_checksum", result, lambda _: markdown
    )


if __name__ == "__main__":
    main()
