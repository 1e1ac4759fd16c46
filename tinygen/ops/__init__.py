"""One file per op. Each op module holds the float op (float64 forward, from frontends), its quantizer,
and the typed op (the simulator kernel + manifest round trip) that a template in templates/c/ mirrors."""
from .activation import Activation, FloatActivation
from .dense import Dense, FloatDense
from .fully_connected import FullyConnected
from .int8_activation import Int8Activation
from .gaussian_jll import FloatGaussianJLL, GaussianJLL
from .quantize_affine import QuantizeAffine
from .quantize_input import QuantizeInput
from .standardize import Standardize
from .trainable_dense import TrainableDense
from .trees import FloatTrees, OrderKeys, ThresholdBins, TreeEnsemble
from .features.extraction import FeatureExtraction
from .features.feature_input import FeatureInput
from .features.window_input import WindowInput

# manifest "op" name -> typed op class
OP_TYPES = {cls.op: cls for cls in (QuantizeInput, Dense, Activation, OrderKeys, ThresholdBins, TreeEnsemble, GaussianJLL,
                                   QuantizeAffine, FullyConnected, Int8Activation,
                                   WindowInput, FeatureExtraction, FeatureInput, Standardize, TrainableDense)}

__all__ = ["Activation", "Dense", "FloatActivation", "FloatDense", "FloatGaussianJLL", "FloatTrees", "FullyConnected", "GaussianJLL", "QuantizeAffine", "OrderKeys",
           "QuantizeInput", "Standardize", "ThresholdBins", "TrainableDense", "TreeEnsemble", "OP_TYPES"]
