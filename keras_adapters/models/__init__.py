"""keras-hub models: the adapter BERT backbone and its tasks."""

from keras_adapters.models.adapter_bert_backbone import AdapterBertBackbone
from keras_adapters.models.adapter_bert_question_answerer import (
    AdapterBertQuestionAnswerer,
)
from keras_adapters.models.adapter_bert_question_answerer_preprocessor import (
    AdapterBertQuestionAnswererPreprocessor,
)
from keras_adapters.models.adapter_bert_text_classifier import (
    AdapterBertTextClassifier,
)
from keras_adapters.models.adapter_bert_text_classifier_preprocessor import (
    AdapterBertTextClassifierPreprocessor,
)
from keras_adapters.models.adapter_bert_tokenizer import AdapterBertTokenizer
from keras_adapters.models.adapterhub_text_classifier import (
    AdapterHubTextClassifier,
)
from keras_adapters.models.multi_task_preprocessor import MultiTaskPreprocessor
from keras_adapters.models.prefix_split import PrefixSplit
from keras_adapters.models.prefix_split import split_at_block

__all__ = [
    "AdapterBertBackbone",
    "AdapterBertQuestionAnswerer",
    "AdapterBertQuestionAnswererPreprocessor",
    "AdapterBertTextClassifier",
    "AdapterBertTextClassifierPreprocessor",
    "AdapterBertTokenizer",
    "AdapterHubTextClassifier",
    "MultiTaskPreprocessor",
    "PrefixSplit",
    "split_at_block",
]
