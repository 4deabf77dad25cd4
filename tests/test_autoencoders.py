"""The shared autoencoder's first-layer check (:func:`clustutils.autoencoders.first_layer_recovery_error`)."""

import pytest
import torch

from clustutils.autoencoders import Autoencoder, first_layer_recovery_error


def test_a_wider_first_layer_is_one_to_one_and_a_narrower_one_is_not():
    torch.manual_seed(0)
    x = torch.randn(200, 64)
    wide, narrow = Autoencoder(64, 5, hidden=(100, 20, 20)), Autoencoder(64, 5, hidden=(40, 20, 20))
    assert (wide.encoder[0](x) < 0).float().mean() > 0.3  # many units on the leaky side: it has to be undone
    assert first_layer_recovery_error(wide, x) < 1e-10
    # the broken claim: 64 -> 40 has a 24-dimensional null space, about sqrt(24 / 64) of a random vector's norm
    assert first_layer_recovery_error(narrow, x) == pytest.approx((24 / 64) ** 0.5, abs=0.05)


def test_a_relu_first_layer_is_refused():
    with pytest.raises(ValueError, match="LeakyReLU"):
        first_layer_recovery_error(Autoencoder(16, 3, hidden=(32, 8, 8), negative_slope=0), torch.randn(5, 16))
