"""The SQuAD fine-tuning job behind `run_squad.py`.

SQuAD JSON -> examples -> windows with gold spans -> model -> span logits
-> n-best answers -> predictions files and official EM/F1.
"""

import dataclasses
import json
import os

import numpy as np

from keras_adapters.artifacts import save_adapters
from keras_adapters.checkpoints import backbone_from_tf1_checkpoint
from keras_adapters.checkpoints import tokenizer_from_vocab_file
from keras_adapters.checkpoints import validate_case_matches_checkpoint
from keras_adapters.data.encoding import padded_widths
from keras_adapters.data.squad import read_squad_examples
from keras_adapters.data.squad_features import convert_examples_to_features
from keras_adapters.errors import KerasAdaptersError
from keras_adapters.export import export_question_answerer
from keras_adapters.layers.span_head import PADDING_LOGIT
from keras_adapters.metrics.squad import squad_evaluate
from keras_adapters.models import AdapterBertQuestionAnswerer
from keras_adapters.models import AdapterBertQuestionAnswererPreprocessor
from keras_adapters.models import AdapterQuestionAnswerer
from keras_adapters.models import family_of
from keras_adapters.models.adapter_question_answerer_preprocessor import (
    check_window_settings,
)
from keras_adapters.models.span_decoding import decode_answers
from keras_adapters.training.run_config import RunConfig
from keras_adapters.training.run_config import setting
from keras_adapters.training.task_run import TaskRun
from keras_adapters.training.task_run import TrainingDataError


@dataclasses.dataclass
class SquadRunConfig(RunConfig):
    """Everything one run needs; the flags of `run_squad.py`."""

    train_file: str = setting(
        None,
        "SQuAD JSON for training, e.g. train-v1.1.json.",
        # The training data are compared by content (`train_data_sha256`).
        free_on_rerun=True,
    )
    predict_file: str = setting(
        None,
        "SQuAD JSON to predict, e.g. dev-v1.1.json; scored when it has "
        "answers.",
        free_on_rerun=True,
    )
    output_dir: str = setting(
        None,
        "Where checkpoints, predictions and the export go. Defaults to "
        "output/squad.",
        free_on_rerun=True,
    )
    max_seq_length: int = setting(
        384, "Maximum tokens per window after WordPiece."
    )
    doc_stride: int = setting(
        128, "Distance between the starts of context windows."
    )
    max_query_length: int = setting(64, "Question tokens kept.")
    n_best_size: int = setting(
        20, "Candidates kept in nbest_predictions.json.", positive=True
    )
    max_answer_length: int = setting(
        30, "Longest answer, in tokens.", positive=True
    )
    verbose_logging: bool = setting(
        False,
        "Print every skipped question and unaligned answer.",
        free_on_rerun=True,
    )
    version_2_with_negative: bool = setting(
        False, "SQuAD 2.0: questions may have no answer."
    )
    null_score_diff_threshold: float = setting(
        0.0,
        "Predict no answer when null score - best span score exceeds this.",
    )

    def fill_defaults(self):
        if self.output_dir is None:
            self.output_dir = os.path.join("output", "squad")
        super().fill_defaults()

    def check(self):
        if not (self.do_train or self.do_predict):
            raise KerasAdaptersError(
                "At least one of `do_train` or `do_predict` must be set."
            )
        if self.do_train and not self.train_file:
            raise KerasAdaptersError(
                "`do_train` needs `train_file` (a SQuAD JSON file)."
            )
        if self.do_predict and not self.predict_file:
            raise KerasAdaptersError(
                "`do_predict` needs `predict_file` (a SQuAD JSON file)."
            )
        check_window_settings(
            self.max_seq_length, self.doc_stride, self.max_query_length
        )
        super().check()

    def input_paths(self):
        return super().input_paths() + [self.train_file, self.predict_file]

    def preprocessor_kwargs(self):
        return dict(
            sequence_length=self.max_seq_length,
            doc_stride=self.doc_stride,
            max_query_length=self.max_query_length,
        )


def build_question_answerer(config):
    """The question answerer in its tuning mode, from a preset or the TF1
    trio (`bert_config_file`, `vocab_file`, `init_checkpoint`)."""
    if config.bert_config_file:
        validate_case_matches_checkpoint(
            config.do_lower_case, config.init_checkpoint
        )
        backbone = backbone_from_tf1_checkpoint(
            config.bert_config_file,
            config.init_checkpoint,
            **config.adapter_kwargs(),
        )
        preprocessor = AdapterBertQuestionAnswererPreprocessor(
            tokenizer_from_vocab_file(config.vocab_file, config.do_lower_case),
            **config.preprocessor_kwargs(),
        )
        return AdapterBertQuestionAnswerer(
            backbone, preprocessor, **config.tuning_kwargs()
        )
    # The preset's family's own question answerer (BERT's, RoBERTa's, ...).
    task_cls = AdapterQuestionAnswerer.for_family(family_of(config.preset))
    return task_cls.from_preset(
        config.preset,
        **config.adapter_kwargs(),
        preprocessor=task_cls.preset_preprocessor(
            config.preset, **config.preprocessor_kwargs()
        ),
        **config.tuning_kwargs(),
    )


class SquadRun(TaskRun):
    """One run of the SQuAD job: train, predict, evaluate, export.

    Args:
        config: a `SquadRunConfig`.

    Example:

    ```python
    run = SquadRun(SquadRunConfig(
        preset=path, do_train=True, train_file="train.json",
        do_predict=True, predict_file="dev-v1.1.json",
    ))
    results = run.run()  # {"exact_match": ..., "f1": ..., ...}
    ```
    """

    def build_model(self):
        return build_question_answerer(self.config)

    def run(self):
        """Runs what the flags ask; returns the EM/F1 results (empty when
        the predict file has no answers or nothing was predicted)."""
        config = self.config
        # Read every file first: a bad question fails before any training.
        reads = {}
        if config.do_train:
            reads["train"] = read_squad_examples(
                config.train_file, True, config.version_2_with_negative
            )
        if config.do_predict:
            reads["predict"] = read_squad_examples(
                config.predict_file, False, config.version_2_with_negative
            )
        if config.verbose_logging:
            for name, read in reads.items():
                for qas_id, reason in read.skipped:
                    print(f"Skipped {name} question {qas_id}: {reason}")
        if config.do_train and not reads["train"].examples:
            raise TrainingDataError(
                f"`train_file`={config.train_file} has no question to train "
                f"on ({len(reads['train'].skipped)} skipped; "
                "`verbose_logging` lists why)."
            )
        self.prepare_output_dir(
            reads["train"].examples if config.do_train else None
        )
        self.setup()
        if config.do_train:
            self.train(reads["train"].examples)
        else:
            self.restore_trained()
        if not self.active:
            return {}
        results = {}
        if config.do_predict:
            results = self.predict(reads["predict"].examples)
        self.report_outputs()
        return results

    def _write_json(self, name, value, what):
        self.write_file(
            os.path.join(self.config.output_dir, name),
            json.dumps(value, indent=2, ensure_ascii=False),
            what,
        )

    def train(self, examples):
        """Trains on SQuAD examples, resuming from `output_dir`."""
        if self.config.max_train_examples:
            examples = examples[: self.config.max_train_examples]
        features = convert_examples_to_features(
            examples, self.model.preprocessor, with_answers=True
        )
        if self.config.verbose:
            print(
                f"Training on {len(examples)} questions in {len(features)} "
                "windows."
            )
        if self.config.verbose_logging:
            for qas_id in features.unaligned:
                print(f"Answer of {qas_id} covers no token; no-answer target.")
        self.fit(features)

    def predict_logits(self, features):
        """`[windows, 2, max_seq_length]` logits, in window order.

        Windows are predicted in groups of one padded width (shortest
        first, each width a multiple of `PAD_MULTIPLE`; one group of
        `max_seq_length` on TPU), so every `model.predict` call returns
        logits of one shape; padding positions get `PADDING_LOGIT`.
        """
        width = self.config.max_seq_length
        widths = padded_widths(features.lengths, width)
        if self.static_shapes:
            widths[:] = width
        logits = np.full((len(features), 2, width), PADDING_LOGIT, np.float32)
        for group_width in np.unique(widths):
            rows = np.flatnonzero(widths == group_width)
            outputs = self.predict_outputs(
                features.rows(rows), self.config.predict_batch_size
            )
            logits[rows, :, : outputs.shape[-1]] = outputs
        return logits

    def predict(self, examples):
        """Writes `predictions.json`, `nbest_predictions.json` (and
        `null_odds.json` for v2); scores them when the file has answers."""
        config = self.config
        features = convert_examples_to_features(
            examples, self.model.preprocessor, with_answers=False
        )
        decoded = decode_answers(
            examples,
            features,
            self.predict_logits(features),
            n_best_size=config.n_best_size,
            max_answer_length=config.max_answer_length,
            version_2_with_negative=config.version_2_with_negative,
            null_score_diff_threshold=config.null_score_diff_threshold,
        )
        if not self.chief:
            return {}
        self._write_json(
            "predictions.json", decoded.predictions, "predicted answers"
        )
        self._write_json(
            "nbest_predictions.json", decoded.nbest, "n-best answers"
        )
        if config.version_2_with_negative:
            self._write_json(
                "null_odds.json", decoded.null_odds, "no-answer odds"
            )
        if not any(e.answers or e.is_impossible for e in examples):
            return {}
        results = squad_evaluate(examples, decoded.predictions)
        results["global_step"] = self.global_step
        self._write_json("eval_results.json", results, "EM and F1")
        for key in sorted(results):
            print(f"  {key} = {results[key]}")
        return results

    def outputs(self):
        """The adapter-only artifact and, with `do_export`, the raw-string
        SavedModel."""
        config = self.config
        outputs = {
            self._adapters_dir(): (
                "adapter artifact",
                lambda path: save_adapters(self.model, path),
            ),
        }
        if config.do_export:
            outputs[config.export_dir] = (
                "SavedModel (question and context in)",
                lambda path: export_question_answerer(
                    self.model,
                    path,
                    n_best_size=config.n_best_size,
                    max_answer_length=config.max_answer_length,
                    null_score_diff_threshold=(
                        config.null_score_diff_threshold
                        if config.version_2_with_negative
                        else None
                    ),
                ),
            )
        return outputs
