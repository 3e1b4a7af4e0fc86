"""The quickstart study: a small MNIST CNN, FGSM and PGD at several budgets, and feature squeezing evaluated
against the transferred attack and an adaptive one (BPDA); the readable methods live in ``helpers.gradient_attacks``
and ``squeezing.py``, and are compared with ART's path on the same digits."""
