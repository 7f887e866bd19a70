import os

import torch

# Several workers may share the 2-core machine; OMP_NUM_THREADS decides (default: both cores).
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
