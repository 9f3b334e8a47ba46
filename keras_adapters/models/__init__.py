"""keras-hub models: adapter backbones of each encoder family, their tasks."""

from keras_adapters.models.adapter_backbone import AdapterBackbone
from keras_adapters.models.adapter_backbone import UnsupportedFamilyError
from keras_adapters.models.adapter_backbone import family_of
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
from keras_adapters.models.adapter_distil_bert_backbone import (
    AdapterDistilBertBackbone,
)
from keras_adapters.models.adapter_distil_bert_question_answerer import (
    AdapterDistilBertQuestionAnswerer,
)
from keras_adapters.models.adapter_distil_bert_question_answerer_preprocessor import (
    AdapterDistilBertQuestionAnswererPreprocessor,
)
from keras_adapters.models.adapter_distil_bert_text_classifier import (
    AdapterDistilBertTextClassifier,
)
from keras_adapters.models.adapter_electra_backbone import (
    AdapterElectraBackbone,
)
from keras_adapters.models.adapter_electra_question_answerer import (
    AdapterElectraQuestionAnswerer,
)
from keras_adapters.models.adapter_electra_question_answerer_preprocessor import (
    AdapterElectraQuestionAnswererPreprocessor,
)
from keras_adapters.models.adapter_electra_text_classifier import (
    AdapterElectraTextClassifier,
)
from keras_adapters.models.adapter_electra_text_classifier_preprocessor import (
    AdapterElectraTextClassifierPreprocessor,
)
from keras_adapters.models.adapter_question_answerer import (
    AdapterQuestionAnswerer,
)
from keras_adapters.models.adapter_question_answerer_preprocessor import (
    AdapterQuestionAnswererPreprocessor,
)
from keras_adapters.models.adapter_roberta_backbone import (
    AdapterRobertaBackbone,
)
from keras_adapters.models.adapter_roberta_question_answerer import (
    AdapterRobertaQuestionAnswerer,
)
from keras_adapters.models.adapter_roberta_question_answerer_preprocessor import (
    AdapterRobertaQuestionAnswererPreprocessor,
)
from keras_adapters.models.adapter_roberta_text_classifier import (
    AdapterRobertaTextClassifier,
)
from keras_adapters.models.adapter_xlm_roberta_backbone import (
    AdapterXLMRobertaBackbone,
)
from keras_adapters.models.adapter_xlm_roberta_question_answerer import (
    AdapterXLMRobertaQuestionAnswerer,
)
from keras_adapters.models.adapter_xlm_roberta_question_answerer_preprocessor import (
    AdapterXLMRobertaQuestionAnswererPreprocessor,
)
from keras_adapters.models.adapter_xlm_roberta_text_classifier import (
    AdapterXLMRobertaTextClassifier,
)
from keras_adapters.models.adapterhub_text_classifier import (
    AdapterHubTextClassifier,
)
from keras_adapters.models.classification_head_text_classifier import (
    ClassificationHeadTextClassifier,
)
from keras_adapters.models.fusion_artifact import FusionArtifact
from keras_adapters.models.head_layout import HeadLayout
from keras_adapters.models.multi_task_preprocessor import MultiTaskPreprocessor
from keras_adapters.models.prefix_split import PrefixSplit
from keras_adapters.models.prefix_split import split_at_block

__all__ = [
    "AdapterBackbone",
    "AdapterBertBackbone",
    "AdapterBertQuestionAnswerer",
    "AdapterBertQuestionAnswererPreprocessor",
    "AdapterBertTextClassifier",
    "AdapterBertTextClassifierPreprocessor",
    "AdapterBertTokenizer",
    "AdapterDistilBertBackbone",
    "AdapterDistilBertQuestionAnswerer",
    "AdapterDistilBertQuestionAnswererPreprocessor",
    "AdapterDistilBertTextClassifier",
    "AdapterElectraBackbone",
    "AdapterElectraQuestionAnswerer",
    "AdapterElectraQuestionAnswererPreprocessor",
    "AdapterElectraTextClassifier",
    "AdapterElectraTextClassifierPreprocessor",
    "AdapterHubTextClassifier",
    "AdapterQuestionAnswerer",
    "AdapterQuestionAnswererPreprocessor",
    "AdapterRobertaBackbone",
    "AdapterRobertaQuestionAnswerer",
    "AdapterRobertaQuestionAnswererPreprocessor",
    "AdapterRobertaTextClassifier",
    "AdapterXLMRobertaBackbone",
    "AdapterXLMRobertaQuestionAnswerer",
    "AdapterXLMRobertaQuestionAnswererPreprocessor",
    "AdapterXLMRobertaTextClassifier",
    "ClassificationHeadTextClassifier",
    "FusionArtifact",
    "HeadLayout",
    "MultiTaskPreprocessor",
    "PrefixSplit",
    "UnsupportedFamilyError",
    "family_of",
    "split_at_block",
]
