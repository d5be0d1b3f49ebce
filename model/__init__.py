"""The served model: sentence splitting, the label set, base-model resolution, prediction."""
from model.classifier import SentencePrediction, StanceClassifier
from model.labels import LABELS
from model.sentences import Sentence, split_sentences

__all__ = ["LABELS", "Sentence", "SentencePrediction", "StanceClassifier", "split_sentences"]
