"""Student training on the compound dataset (worker.ml layer): ``train(config, train_sets, val_sets)``.

Modules: ``config`` (recipe), ``schedule`` (learning rate), ``augment`` (joint image/label
augmentation), ``sampling`` (weighted draws over the training sets), ``datasets`` (ground-truth and
pseudo-label sets in target ids), ``targets`` (label map -> Mask2Former targets), ``model_setup``
(start model, class head, optimizer groups), ``validate`` (mIoU during training),
``state`` (checkpoints and resume), ``recorder`` (metrics.jsonl + TensorBoard), ``run`` (accelerator,
model, optimizer, schedule and data loader of one run), ``loop`` (``train``).
"""

from worker.ml.train.config import AugmentConfig, TrainConfig
from worker.ml.train.datasets import ArrayPairs, LabeledSet
from worker.ml.train.loop import TrainResult, train

__all__ = ["ArrayPairs", "AugmentConfig", "LabeledSet", "TrainConfig", "TrainResult", "train"]
