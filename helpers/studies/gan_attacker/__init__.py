"""Study 4: a generative attacker network against MNIST classifiers.

The common study modules (``helpers/studies/__init__.py``): ``parameters``, ``reference`` (the study's
approximate values, labelled as such, never mixed with measured numbers), ``study`` (the stages the
notebook calls), ``report`` (tables, prose, headline) and ``figures`` (the study's figures 2 to 6 and the
ceilings figure). The study's own methods, one module per concept:

- ``networks``    the classifier C and the attacker A (its width scaled; output tanh scaled by t or clamped)
- ``training``    classifier pre-training (cached), A's loss and step, consecutive and alternating modes with
                  evaluations during each epoch, runs over attacker seeds and the attacker's training throughput
- ``universal``   the universal perturbation: the lower ceiling, one delta for every digit
- ``ceilings``    converged white-box PGD (``helpers.gradient_attacks.pgd``): the upper ceiling; and the
                  PGD-trained (robust) C1
- ``sizing``      recipe measurements (``python -m helpers.studies.gan_attacker.sizing``) for the reproducer notes
- ``ensemble``    an attacker trained against the average loss of several classifiers, tested on an unseen one
- ``comparison``  the generator's speed: one forward pass of A against PGD on the same digits
"""
