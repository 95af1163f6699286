"""superconv's instruments in a PyTorch training loop: a scheduler that drives any torch.optim
optimizer from a superconv Schedule, the learning-rate range test on a PyTorch model, the Eq. 8
estimator fed from a model's parameters, and superconv's ResNets as torch.nn.Modules and back.

Importing this module does not import PyTorch: the scheduler and the estimator need only the
optimizer's parameter groups and tensors they are handed, and PyTorch is imported when a range
test runs or a network is converted.
"""
from .estimator import ModelLREstimator
from .range_test import range_test
from .scheduler import ScheduleLR

__all__ = ["ScheduleLR", "range_test", "ModelLREstimator", "to_torch", "from_torch"]


def to_torch(model_or_checkpoint):
    """A superconv Model (or the model of a checkpoint file) as a torch.nn.Module with the same
    weights and running statistics, in eval mode when it was given a checkpoint or a model:
    its logits are the model's. The module keeps the model's spec (`module.spec`)."""
    from .resnet import to_torch as convert
    return convert(model_or_checkpoint)


def from_torch(module, **keys):
    """A superconv Model with the weights of a PyTorch CIFAR ResNet named as superconv names its
    tensors: one made by to_torch (its spec kept, keys override), or any network of the same
    structure (depth, variant, channels and classes read from its tensors; input=CxHxW and the
    other model keys as keyword arguments, H and W 32 unless given)."""
    from .resnet import from_torch as convert
    return convert(module, **keys)
