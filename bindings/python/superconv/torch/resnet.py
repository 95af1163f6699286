"""superconv's CIFAR ResNets as torch.nn.Modules, with the names superconv gives their tensors
(Sources/SuperConvCore/Models/ResNet.swift): a stem conv1/bn1, three stages layer1..layer3 of n
residual blocks (depth 6n + 2) at widths 16, 32, 64, global average pooling, dropout, fc.

  caffe  every convolution has a bias; a stage's first block convolves at its input's width
         with stride 2, its shortcut is a 3x3 stride-2 average pool (Caffe's rounding up, a
         clipped window averaging what it covers), and zero channels are appended after the
         block's ReLU;
  he-a   convolutions without bias; a stage's first block convolves to twice the width with
         stride 2, its shortcut takes every second pixel and pads the channels with zeros on
         both sides.

Inference (eval mode) computes what sc_model_forward computes. Trained in PyTorch, the batch
norms follow PyTorch's running-statistics rule with momentum 1 - bn_maf (superconv's
bn_stats=pytorch).
"""
import torch
import torch.nn.functional as F
from torch import nn

import superconv


class CaffeBlock(nn.Module):
    def __init__(self, width, downsamples, norm):
        super().__init__()
        self.downsamples = downsamples
        self.conv1 = nn.Conv2d(width, width, 3, 2 if downsamples else 1, 1)
        self.bn1 = norm(width)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1)
        self.bn2 = norm(width)

    def forward(self, x):
        h = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if not self.downsamples:
            return F.relu(h + x)
        y = F.relu(h + F.avg_pool2d(x, 3, 2, ceil_mode=True, count_include_pad=False))
        return torch.cat([y, torch.zeros_like(y)], 1)


class HeABlock(nn.Module):
    def __init__(self, width, downsamples, norm):
        super().__init__()
        out = 2 * width if downsamples else width
        self.pad = (out - width) // 2
        self.stride = 2 if downsamples else 1
        self.conv1 = nn.Conv2d(width, out, 3, self.stride, 1, bias=False)
        self.bn1 = norm(out)
        self.conv2 = nn.Conv2d(out, out, 3, 1, 1, bias=False)
        self.bn2 = norm(out)

    def forward(self, x):
        h = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = x if self.stride == 1 else F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(h + shortcut)


class ResNet(nn.Module):
    """The network a superconv model spec describes (module.spec keeps it), with PyTorch's
    default initialisation: to_torch gives one superconv's weights."""

    def __init__(self, spec):
        super().__init__()
        keys = dict(item.split("=", 1) for item in spec.split())
        if keys["bn_eval"] != "global":
            raise ValueError(f"bn_eval={keys['bn_eval']} has no counterpart in these modules; expected global")
        self.spec = spec
        caffe = keys["variant"] == "caffe"
        channels = int(keys["input"].split("x")[0])
        eps, momentum = float(keys["bn_eps"]), 1 - float(keys["bn_maf"])

        def norm(width):
            return nn.BatchNorm2d(width, eps=eps, momentum=momentum)

        self.conv1 = nn.Conv2d(channels, 16, 3, 1, 1, bias=caffe)
        self.bn1 = norm(16)
        width = 16
        for stage in range(3):
            blocks = []
            for index in range((int(keys["depth"]) - 2) // 6):
                downsamples = stage > 0 and index == 0
                blocks.append((CaffeBlock if caffe else HeABlock)(width, downsamples, norm))
                width *= 2 if downsamples else 1
            setattr(self, f"layer{stage + 1}", nn.Sequential(*blocks))
        self.dropout = nn.Dropout(float(keys["dropout"]))
        self.fc = nn.Linear(width, int(keys["classes"]))

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.dropout(x.mean((2, 3))))


def to_torch(model_or_checkpoint):
    if isinstance(model_or_checkpoint, superconv.Model):
        return _with_weights(model_or_checkpoint)
    with superconv.Model.from_checkpoint(model_or_checkpoint) as model:
        return _with_weights(model)


def _with_weights(model):
    module = ResNet(model.spec)
    tensors = {name: torch.from_numpy(values) for name, values in model.state_dict().items()}
    missing = set(module.state_dict()) - set(tensors)
    if any(not name.endswith("num_batches_tracked") for name in missing):
        raise ValueError(f"the model has no tensor {sorted(missing)[0]}")
    module.load_state_dict(tensors, strict=False)
    return module.eval()


def from_torch(module, **keys):
    tensors = module.state_dict()
    if isinstance(module, ResNet):
        spec = dict(item.split("=", 1) for item in module.spec.split())
    else:
        for name in ("conv1.weight", "fc.weight"):
            if name not in tensors:
                raise ValueError(f"the module has no tensor {name}; expected superconv's names (conv1, bn1, layer1..3, fc)")
        blocks = sum(1 for name in tensors if name.startswith("layer1.") and name.endswith(".conv1.weight"))
        stem = tensors["conv1.weight"]
        spec = {"depth": 6 * blocks + 2, "variant": "caffe" if "conv1.bias" in tensors else "he-a",
                "input": f"{stem.shape[1]}x32x32", "classes": tensors["fc.weight"].shape[0]}
    spec.update(keys)
    model = superconv.Model(**spec)
    try:
        expected = dict(model.names())
        for name, shape in expected.items():
            if name not in tensors:
                raise ValueError(f"the module has no tensor {name}")
            if tuple(tensors[name].shape) != shape:
                raise ValueError(f"{name} has shape {tuple(tensors[name].shape)} in the module, {shape} in the model")
        model.load_state_dict({name: tensors[name].detach().cpu().numpy() for name in expected})
    except BaseException:
        model.close()
        raise
    return model
