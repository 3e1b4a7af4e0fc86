"""Study 5: a Flickr-built 5-class photo set, Keras transfer learning, attacks and alterations.

The contract's modules (see ``helpers/studies/__init__.py``), which the notebook
``notebooks/05_flickr_transfer_attacks.ipynb`` calls:

- ``parameters``      the parameters cell's schema and the checks across parameters
- ``reference``       the source study, its findings as reference text (it reports no numbers)
- ``study``           the stages: the Keras device, photos, backbone plans, transfer training, alterations, attacks,
  attacks through the defenses, export
- ``report``          tables, prose written from the measured numbers, the comparison with the study, the headline
- ``figures``         the study's curves and example grids

and one module per method:

- ``flickr_builder``  build a class-per-folder photo set with flickrapi (relevance order, reuse-allowing
  licenses, content-hash de-duplication, attribution manifest); credentials only from the environment
- ``backbones``       Keras ImageNet backbones (VGG16, ResNet50, MobileNet 0.75), their weights (local
  file, Keras cache or download; never random), a frozen base with a new trained head
- ``alterations``     random pixel noise as the study defines it, blur, PCA reconstruction, JPEG
- ``evaluation``      agreement / true-label accuracy and SSIM per alteration grid and backbone; FGSM and
  PGD through ART; JPEG and blur applied to the attacked images
- ``adaptive``        PGD through each alteration used as a defense: blur and PCA reconstruction differentiable
  in TensorFlow, BPDA (identity gradient) for JPEG, expectation over noise draws (EOT) for pixel noise
- ``export``          the attacked images as a reusable dataset (PNG files and a CSV)

Importing this package does not import TensorFlow; the modules that need it import it through
``helpers.frameworks.import_tensorflow`` when called.
"""
