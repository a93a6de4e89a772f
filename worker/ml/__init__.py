"""ML core (worker layer): Mask2Former teachers, prior-constrained pseudo-labelling, evaluation.

The only package that imports torch/transformers. It sees ``app.domain`` and nothing else of ``app``.
"""
