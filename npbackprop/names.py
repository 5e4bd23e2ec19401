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
