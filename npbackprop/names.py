"""The lecture's names and sizes, in one place.

Parameters, the 20 intermediates of the chunked forward pass and the 26
tensors whose gradients exercise 1 checks, each in the lecture's order, and
the sizes the lecture uses. Dimension letters: N batch, T block_size,
E n_embd, H n_hidden, V vocab_size.
"""

PARAM_NAMES = ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias")

# the intermediates in forward order, `loss` last
INTERMEDIATES = (
    "emb", "embcat", "hprebn", "bnmeani", "bndiff", "bndiff2", "bnvar",
    "bnvar_inv", "bnraw", "hpreact", "h", "logits", "logit_maxes",
    "norm_logits", "counts", "counts_sum", "counts_sum_inv", "probs",
    "logprobs", "loss",
)

# the 26 tensors whose gradients the lecture checks, in the order it checks them
GRAD_NAMES = (
    "logprobs", "probs", "counts_sum_inv", "counts_sum", "counts",
    "norm_logits", "logit_maxes", "logits", "h", "W2", "b2", "hpreact",
    "bngain", "bnbias", "bnraw", "bnvar_inv", "bnvar", "bndiff2", "bndiff",
    "bnmeani", "hprebn", "embcat", "W1", "b1", "emb", "C",
)

# names.txt's vocabulary: '.' and the 26 letters
VOCAB_SIZE = 27
# exercise 4 (training): the network of the lecture's training cell
N_EMBD, N_HIDDEN, BLOCK_SIZE, BATCH_SIZE = 10, 200, 3, 32
# exercises 1-3: the lecture's setup cell uses a smaller hidden layer
EXERCISE_N_HIDDEN = 64

# the networks a run can train: part 4's MLP, part 5's hierarchical net, part 3's deep MLP
MODELS = ("mlp", "wavenet", "deep")
DEEP_LAYERS = 5  # part 3's deep MLP: five hidden Linear + BatchNorm1d + Tanh


def param_shapes(cfg):
    """{name: shape} of the arrays a run of cfg["model"] trains and keeps.

    mlp: the lecture's C, W1, ... (the calibration is kept apart, as bnmean
    and bnvar). wavenet, deep: nets.py's Sequential names, its parameters
    ("2.weight", "3.gamma", ...) then its running statistics ("3.running_mean").
    """
    V, E, H, T = (cfg[k] for k in ("vocab_size", "n_embd", "n_hidden", "block_size"))
    model = cfg.get("model", "mlp")
    if model == "mlp":
        return {"C": (V, E), "W1": (T * E, H), "b1": (H,), "W2": (H, V), "b2": (V,),
                "bngain": (1, H), "bnbias": (1, H)}
    shapes, buffers = {"0.weight": (V, E)}, {}

    def linear_batchnorm(i, fan_in, dim):   # Linear(bias=False) at i, BatchNorm1d at i + 1
        shapes.update({f"{i}.weight": (fan_in, dim), f"{i + 1}.gamma": (dim,),
                       f"{i + 1}.beta": (dim,)})
        buffers.update({f"{i + 1}.running_mean": (dim,), f"{i + 1}.running_var": (dim,)})
    if model == "wavenet":              # per stage: flatten, linear, batchnorm, tanh
        i, fan_in = 1, E
        for _ in range(max(T, 1).bit_length() - 1):
            linear_batchnorm(i + 1, 2 * fan_in, H)
            i, fan_in = i + 4, H
        shapes.update({f"{i}.weight": (fan_in, V), f"{i}.bias": (V,)})
    else:                               # flatten, then (linear, batchnorm, tanh) x 5, linear, bn
        i, fan_in = 2, T * E
        for _ in range(DEEP_LAYERS):
            linear_batchnorm(i, fan_in, H)
            i, fan_in = i + 3, H
        linear_batchnorm(i, fan_in, V)
    return {**shapes, **buffers}
