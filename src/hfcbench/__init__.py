"""hfcbench: reactive adversarial-example detectors against adaptive attacks on medical images.

The methods follow Yao et al., "Adversarial Medical Image with Hierarchical Feature Hiding".
"""

__version__ = "0.1.0"
