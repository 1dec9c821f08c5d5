"""Test configuration: every notebook kernel nbval starts runs in smoke mode.

The kernels inherit this process's environment, so setting the variable here is enough.
``ALEXNET_LESSON_SMOKE=0 pytest`` runs the notebooks in full mode instead.
"""

import os

os.environ.setdefault("ALEXNET_LESSON_SMOKE", "1")
os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("PYTHONHASHSEED", "0")
