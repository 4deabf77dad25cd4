"""The shared deep autoencoder of chapters 3 and 4, and training any clustering model built on it.

:class:`Autoencoder` is the fully connected ``D-500-500-2000-d`` network with a mirrored decoder,
LeakyReLU(0.2) and Glorot initialisation used by AE-CM (DEC and IDEC use the same sizes with ReLU).
Every clustering model on its codes (:mod:`clustutils.papers.baselines`, :class:`clustutils.papers.ch04_cm.AECM`)
is a :class:`ClusteringModel`: it has ``loss(x, index)`` (``index`` is the rows' position in the data set,
needed by DEC/IDEC's target distribution), ``predict(x)`` and ``hooks(x, epochs)``, the once-per-epoch or
per-step work the training engine :func:`clustutils.train.fit` runs for it (:func:`train_clustering`).
"""

from __future__ import annotations

import torch
from torch import nn

from .train import Hook, batched, fit, fit_cached

__all__ = ["Autoencoder", "pretrain_autoencoder", "pretrained_autoencoder", "encode", "first_layer_recovery_error",
           "rescale_codes", "ClusteringModel", "train_clustering"]


class Autoencoder(nn.Module):
    """Fully connected autoencoder ``n_input - hidden - n_latent`` with a mirrored decoder (linear ends); ``hidden``
    and ``n_latent`` stay attributes, so that a model of the same shape can be built."""

    def __init__(self, n_input: int, n_latent: int = 10, hidden=(500, 500, 2000), negative_slope: float = 0.2):
        super().__init__()
        self.hidden, self.n_latent = tuple(hidden), n_latent

        def mlp(sizes):
            layers = []
            for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
                layers.append(nn.Linear(a, b))
                if i < len(sizes) - 2:
                    layers.append(nn.LeakyReLU(negative_slope) if negative_slope else nn.ReLU())
            return nn.Sequential(*layers)

        self.encoder = mlp([n_input, *hidden, n_latent])
        self.decoder = mlp([n_latent, *hidden[::-1], n_input])
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x):
        z = self.encoder(x)
        return z, self.decoder(z)

    def loss(self, x, index=None):
        """Mean squared reconstruction error (over samples and pixels)."""
        return ((self(x)[1] - x) ** 2).mean()


def pretrain_autoencoder(ae: Autoencoder, x, *, epochs: int, batch_size: int = 256, lr: float = 1e-3, seed: int = 0,
                         progress: bool = True, on_epoch_end=None) -> list[float]:
    """Adam on the mean squared reconstruction error; returns the loss per epoch.

    ``on_epoch_end(epoch, mean_loss)`` runs after every epoch (e.g. to keep the weights of a few epochs: the
    first ``n`` epochs of a run are a run of ``n`` epochs, Adam has no schedule here).
    """
    optimizer = torch.optim.Adam(ae.parameters(), lr=lr)
    return fit(ae, lambda m, xb: m.loss(xb), (x,), epochs=epochs, batch_size=batch_size, optimizer=optimizer,
               seed=seed, progress=progress, on_epoch_end=on_epoch_end, desc="autoencoder")


def pretrained_autoencoder(x, n_latent: int, *, epochs: int, seed: int = 0, dataset: str = "data", batch_size: int = 256,
                           lr: float = 1e-3, progress: bool = True) -> tuple[Autoencoder, list[float], bool]:
    """The shared pretrained autoencoder of chapter 4: ``D-500-500-2000-n_latent``, Adam, cached by its settings.

    Returns ``(autoencoder, loss per epoch, loaded_from_cache)``; the weights are cached with
    :func:`clustutils.train.fit_cached` under everything that determines them.
    """
    torch.manual_seed(seed)
    ae = Autoencoder(x.shape[1], n_latent).to(x.device)
    config = {"name": "ae_cm_pretrain", "dataset": dataset, "n": len(x), "n_latent": n_latent, "epochs": epochs,
              "batch": batch_size, "lr": lr, "seed": seed}
    history, cached = fit_cached(ae, config, lambda m: pretrain_autoencoder(m, x, epochs=epochs, batch_size=batch_size,
                                                                          lr=lr, seed=seed, progress=progress))
    return ae.to(x.device), history, cached


@torch.no_grad()
def encode(encoder: nn.Module, x, batch_size: int = 10000) -> torch.Tensor:
    """``encoder(x)`` in chunks, without gradients (a torch tensor on the encoder's device)."""
    return batched(encoder, x, batch_size)


@torch.no_grad()
def first_layer_recovery_error(ae: Autoencoder, x) -> float:
    """How far ``x`` can be recovered from the first hidden layer ``h = LeakyReLU(W x + b)``: relative error.

    The leaky ReLU is undone exactly (it is strictly increasing), then ``W x = h' - b`` is solved by least
    squares (``pinv(W)``: the minimum-norm solution where ``W`` has a null space).  Returns
    ``||x_hat - x|| / ||x||`` over the rows of ``x``: about float precision when ``W`` has full column rank (a wider
    layer, so the layer is one-to-one), and the share of ``x`` in ``W``'s null space otherwise (a narrower layer,
    e.g. 784 -> 500, loses that part).
    """
    layer, activation = ae.encoder[0], ae.encoder[1]
    if not isinstance(activation, nn.LeakyReLU):
        raise ValueError(f"the first activation must be a LeakyReLU to be undone, got {activation}")
    w, b = layer.weight.double(), layer.bias.double()
    h = activation(x.double() @ w.T + b)
    pre = torch.where(h >= 0, h, h / activation.negative_slope) - b
    x_hat = pre @ torch.linalg.pinv(w).T
    return float(torch.linalg.norm(x_hat - x.double()) / torch.linalg.norm(x.double()))


@torch.no_grad()
def rescale_codes(ae: Autoencoder, factor: float) -> None:
    """Multiply the codes by ``factor`` without changing the reconstruction.

    Scales the encoder's last layer by ``factor`` and the decoder's first weights by ``1 / factor``
    (the decoder's first layer is linear in ``z``, so ``g(factor z)`` with those weights equals ``g(z)``).
    """
    ae.encoder[-1].weight.mul_(factor)
    ae.encoder[-1].bias.mul_(factor)
    ae.decoder[0].weight.div_(factor)


class ClusteringModel(nn.Module):
    """What :func:`train_clustering` needs of a model besides ``loss`` and ``predict``.

    ``adam_eps``: the Adam epsilon its authors use; ``hooks(x, epochs)``: its :class:`~clustutils.train.Hook`
    objects for training on ``x`` for ``epochs`` epochs (none by default).
    """

    adam_eps = 1e-8

    def hooks(self, x, epochs: int) -> list[Hook]:
        return []


def train_clustering(model: ClusteringModel, x, *, epochs: int, batch_size: int = 256, lr: float = 1e-3, seed: int = 0,
                     optimizer: torch.optim.Optimizer | None = None, max_steps: int | None = None, progress: bool = True,
                     on_epoch_end=None) -> list[float]:
    """Train a model of this module on ``x`` with the engine :func:`clustutils.train.fit`; the loss per epoch.

    The optimiser is Adam with ``lr`` and the model's ``adam_eps`` unless ``optimizer`` is given; the
    model's own hooks run inside training (DEC/IDEC: target refresh before every epoch; DCN: assignments
    and centroids after every step; DKM: annealing after every epoch).
    """
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr, eps=model.adam_eps)
    index = torch.arange(len(x), device=x.device)
    return fit(model, lambda m, xb, ib: m.loss(xb, ib), (x, index), epochs=epochs, max_steps=max_steps,
               batch_size=batch_size, optimizer=optimizer, seed=seed, hooks=model.hooks(x, epochs),
               on_epoch_end=on_epoch_end, progress=progress, desc=type(model).__name__)
