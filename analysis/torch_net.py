"""The PyTorch network of the cross-checks: nn.LSTM -> nn.Linear(H, 1) on each
sequence's last step -> sigmoid. One definition for examples/pytorch_check.py,
benchmarks/bench_speed.py and the tests; the module whose state dict a
`--cell lstm` run's weights_torch.npz holds (keys lstm.*, fc.*). Needs torch,
which this project never requires (pip install torch).
"""
import torch


class Net(torch.nn.Module):
    """forget_bias: the forget gates' bias (None keeps torch's initialisation);
    init_half_width: every weight and bias uniform in [-w, w] first (None keeps
    torch's own, uniform in +-1/sqrt(H))."""

    def __init__(self, H, layers=1, forget_bias=None, init_half_width=None):
        super().__init__()
        self.lstm = torch.nn.LSTM(2, H, num_layers=layers, batch_first=True)
        self.fc = torch.nn.Linear(H, 1)
        if init_half_width is not None:
            with torch.no_grad():
                for p in self.parameters():
                    p.uniform_(-init_half_width, init_half_width)
        if forget_bias is not None:
            set_forget_bias(self, forget_bias)

    def forward(self, X, lengths):                        # X (n, T, 2) batch-first, lengths (n,)
        out, _ = self.lstm(X)
        last = out[torch.arange(len(lengths)), lengths - 1]
        return torch.sigmoid(self.fc(last))[:, 0]


def from_time_major(X, lengths):
    """This project's sequences, X (T, n, 2) time-major NumPy, lengths (n,) -> Net's
    inputs: X (n, T, 2) float32 batch-first, lengths (n,) long."""
    return torch.from_numpy(X.transpose(1, 0, 2)).float(), torch.from_numpy(lengths)


def set_forget_bias(net, forget_bias):
    """torch adds two bias vectors, bias_ih and bias_hh; each holds half of the
    forget gate's bias (gate order i, f, g, o: f is the second quarter), so
    their sum is forget_bias (setting both to it would give twice as much)."""
    H = net.lstm.hidden_size
    with torch.no_grad():
        for name, p in net.lstm.named_parameters():
            if name.startswith("bias"):
                p[H:2 * H] = forget_bias / 2


def forget_bias(net):
    """The forget gates' bias of the first layer as the network adds it: bias_ih + bias_hh -> (H,)."""
    H = net.lstm.hidden_size
    return (net.lstm.bias_ih_l0[H:2 * H] + net.lstm.bias_hh_l0[H:2 * H]).detach()
