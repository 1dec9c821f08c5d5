"""Print the Fashion-MNIST folder to use: $ALEXNET_LESSON_DATA when it holds real images, else
the candidate with the most training images, else nothing."""

import os
import sys
from pathlib import Path

from alexnet_lesson import data

repo = Path(sys.argv[1])
candidates = [
    repo / ".whl" / "data",
    repo / "shared" / "data" / "fashion-mnist",
    repo / "shared" / "data" / "fashion-mnist-sample",
    repo.parent / "shared" / "data" / "fashion-mnist-sample",
    data.data_dir(),
]
if os.environ.get(data.DATA_VAR):
    candidates = [os.environ[data.DATA_VAR]]
best = None
for root in filter(None, candidates):
    try:
        files = data.open_fashion_mnist(root, download=False)
    except Exception:  # noqa: BLE001 (missing, unreadable, or not IDX: try the next one)
        continue
    if files.kind != "synthetic" and (best is None or files.n_train > best.n_train):
        best = files
print(best.root if best else "")
