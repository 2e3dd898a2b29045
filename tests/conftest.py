"""Test-session settings: one torch thread, for this process and every CLI subprocess it starts.

The tests train tiny models on small batches, where a second intra-op thread buys nothing and, on a
busy 2-core machine, waits for a core: `nivalis train --model lenet5 --epochs 15` took 12 s with one
thread and 56 s with two under load, with identical results.
"""

import os

import torch

os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)
