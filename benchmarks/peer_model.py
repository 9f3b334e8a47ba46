"""AdapterHub's counterpart of our adapter classifier (PyTorch side only).

Imported by the scripts that run in `.peer_venv`, after they have set the
thread environment (`_common.set_thread_env`), since it imports torch.
"""

import os
import sys

import torch
import transformers
from adapters import AutoAdapterModel
from adapters import DoubleSeqBnConfig

HEAD = "cola"


def adapter_config(hidden, adapter_size):
    """Houlsby adapters of bottleneck `adapter_size`, as AdapterHub names
    them: `DoubleSeqBnConfig` with `reduction_factor = hidden / m`."""
    if hidden % adapter_size:
        sys.exit(
            f"{os.path.basename(sys.argv[0])}: --adapter_size={adapter_size} "
            f"does not divide the hidden size {hidden}."
        )
    return DoubleSeqBnConfig(
        reduction_factor=hidden // adapter_size, non_linearity="gelu"
    )


def adapter_classifier(
    preset, adapter_size, seed, train_adapter=True, config=None, head=None
):
    """MiniLM with one adapter (none for `adapter_size=0` and no `config`)
    and a two-class head, both named `HEAD`.

    Args:
        preset: the Hugging Face model folder.
        adapter_size: bottleneck width `m` of a Houlsby GELU adapter, `0`
            for no adapter.
        seed: torch's seed for the new weights.
        train_adapter: freeze all but the adapter and the head.
        config: AdapterHub's own adapter config (e.g. `"double_seq_bn"`,
            `"seq_bn"`) instead of the Houlsby GELU adapter of width
            `adapter_size`.
        head: `add_classification_head` arguments; defaults to a head like
            ours (pooler + one dense layer), `{}` is AdapterHub's default
            (two dense layers on [CLS]).

    Returns:
        The `AutoAdapterModel`.
    """
    torch.manual_seed(seed)
    transformers.logging.set_verbosity_error()
    model = AutoAdapterModel.from_pretrained(preset)
    if adapter_size and config is None:
        config = adapter_config(model.config.hidden_size, adapter_size)
    if config is not None:
        model.add_adapter(HEAD, config=config)
    if head is None:
        head = {"layers": 1, "use_pooler": True}
    model.add_classification_head(HEAD, num_labels=2, **head)
    if config is not None:
        model.set_active_adapters(HEAD)
        if train_adapter:
            model.train_adapter(HEAD)
    model.active_head = HEAD
    return model
