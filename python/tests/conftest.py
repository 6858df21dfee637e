import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def pytest_configure(config):
    config.addinivalue_line("markers", "gpu: needs a CUDA device and the ops' CUDA kernel (skipped otherwise)")
    config.addinivalue_line("markers", "torch2: needs torch >= 2 APIs (torch.compile, opcheck); run with the GPU set")
