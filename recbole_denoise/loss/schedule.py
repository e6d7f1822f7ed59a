"""Drop-rate schedule of the Truncated Loss (ADT, Wang et al., WSDM 2021, Sec. 3.3.1, Algorithm 1)."""


class DropRateSchedule:
    r"""The drop rate :math:`\epsilon(T) = \min(\alpha T, \epsilon_{max})` of ADT eq. (3).

    ``T`` is the global training iteration (one optimiser step per batch), not the
    epoch. ``alpha = drop_rate / num_gradual``: the rate grows linearly from 0 and
    reaches ``drop_rate`` (the paper's :math:`\epsilon_{max}`) after ``num_gradual``
    iterations (the paper's :math:`\epsilon_N`), then stays there.

    The authors' code uses ``np.linspace(0, drop_rate, num_gradual)``, which reaches
    the maximum one step earlier; the two differ by at most ``alpha``.
    """

    def __init__(self, drop_rate, num_gradual):
        if not 0.0 <= drop_rate < 1.0:
            raise ValueError(f"drop_rate must be in [0, 1), got {drop_rate}")
        if num_gradual < 0:
            raise ValueError(f"num_gradual must be >= 0, got {num_gradual}")
        self.drop_rate = float(drop_rate)
        self.num_gradual = int(num_gradual)

    @property
    def alpha(self):
        if self.num_gradual == 0:
            return float("inf")
        return self.drop_rate / self.num_gradual

    def __call__(self, iteration):
        if iteration < 0:
            raise ValueError(f"iteration must be >= 0, got {iteration}")
        if self.num_gradual == 0:
            return self.drop_rate
        return min(self.alpha * iteration, self.drop_rate)
