"""One module per paper, named after its chapter; each holds the method (equation numbers in its
docstrings), the chapter's ``Settings``/``BUDGET`` where it has a training budget, and its training entry point.

- :mod:`~clustutils.papers.ch01_onestage`: RBM vs AE parameter load, Autoclave RBM, Local Observer Convolution;
- :mod:`~clustutils.papers.ch02_energy`: the potential energy of an autoencoder;
- :mod:`~clustutils.papers.ch03_gar`: ACOL with graph-based activity regularization (GAR);
- :mod:`~clustutils.papers.ch04_cm`: the Clustering Module and AE-CM;
- :mod:`~clustutils.papers.baselines`: DEC, IDEC, DCN and DKM, chapter 4's baselines;
- :mod:`~clustutils.papers.ch05_histo`: histopathology autoencoders feeding k-means.

They import the toolkit (``clustutils.data``, ``metrics``, ``kmeans``, ``train``, ``autoencoders``,
``settings``, ``plotting``, ``env``) and never the book's machinery (``notebook``, ``results``, ``cli``).
"""
