"""Study 2: robust training of a MobileNetV3-small on CIFAR-10.

The study contract's modules (see ``helpers/studies/__init__.py``):

- ``parameters``: the notebook's parameter schema and the checks across parameters;
- ``reference``: the source study and its numbers, keyed like our headline;
- ``study``: the stages the notebook calls (data, training, evaluation, denoiser, PCL projection);
- ``report``: tables, prose written from the measured numbers, and the headline;
- ``figures``: accuracy versus epsilon, training history, image grids and the 2-D feature projection.

The study's own methods, one module per concept:

- ``model``: torchvision's MobileNetV3-small adapted to 32x32 inputs, trained and cached;
- ``recipe``: the CPU training recipe (one-cycle Nesterov SGD, crops and flips on tensors, label smoothing,
  channels-last);
- ``adversarial_training``: the training-time attacks (``helpers.gradient_attacks`` with batch-norm in training
  mode), the adversarial-training losses, one readable training step and a load-robust measurement of what a
  PGD-k epoch costs;
- ``denoiser``: the convolutional denoising autoencoder, its training objective, the chain (noise, 0-4
  autoencoders, classifier) and the adaptive EOT-PGD through it;
- ``pcl``: the prototype conformity loss (Mustafa et al., ICCV 2019) with two auxiliary branches;
- ``evaluation``: natural / FGSM / PGD (and doubled-step PGD) / DeepFool / AutoAttack accuracy through ART, a
  readable DeepFool, and the comparison of the readable attacks with ART's.
"""
