"""hfcbench: reactive adversarial-example detectors against adaptive attacks on medical images.

The methods follow Yao et al., "Adversarial Medical Image with Hierarchical Feature Hiding".
Importing the package tunes glibc's allocator for attack loops (:mod:`hfcbench.allocator`;
``HFCBENCH_SYSTEM_MALLOC=1`` opts out).
"""

from .allocator import keep_freed_memory

__version__ = "0.1.0"

ALLOCATOR_TUNED = keep_freed_memory()
