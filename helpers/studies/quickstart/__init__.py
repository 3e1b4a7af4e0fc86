"""The quickstart study: a small MNIST CNN, FGSM and PGD at several budgets, and one ART
pre-processor (feature squeezing) evaluated against the transfer attack and an adaptive one."""
