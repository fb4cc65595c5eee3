"""MobileNetV1-SSD-Lite in pytorch-ssd's layout (module tree and state_dict keys), written for this example.

* ``base_net``: MobileNetV1's ``model`` Sequential: ``base_net.0`` conv_bn (3×3 s2 conv, BN, ReLU),
  ``base_net.1`` … ``base_net.13`` conv_dw (3×3 depthwise conv, BN, ReLU, 1×1 conv, BN, ReLU).
* ``source_layer_indexes = [12, 14]``: the heads read the output of ``base_net.11`` (512 × 19 × 19)
  and of ``base_net.13`` (1024 × 10 × 10), then the output of each ``extras.k`` (5, 3, 2, 1).
* ``extras``: Sequential(1×1 conv, ReLU, SeperableConv2d stride 2) × 4.
* ``regression_headers`` / ``classification_headers``: SeperableConv2d (3×3 depthwise conv, ReLU,
  1×1 conv) on the first five sources, a 1×1 Conv2d on the last; 6 priors per cell.

``forward`` returns ``(confidences (N, P, classes) logits, locations (N, P, 4))``, or with
``is_test`` ``(softmax scores, corner boxes)`` as pytorch-ssd does; P = 3000.
"""
import torch
import torch.nn.functional as F
from torch import nn

from vision.utils import box_utils

from .config import mobilenetv1_ssd_config as config


def conv_bn(inp, oup, stride):
    return nn.Sequential(nn.Conv2d(inp, oup, 3, stride, 1, bias=False), nn.BatchNorm2d(oup), nn.ReLU(inplace=True))


def conv_dw(inp, oup, stride):
    return nn.Sequential(nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False), nn.BatchNorm2d(inp),
                         nn.ReLU(inplace=True), nn.Conv2d(inp, oup, 1, 1, 0, bias=False), nn.BatchNorm2d(oup),
                         nn.ReLU(inplace=True))


def mobilenet_v1_features():
    widths = [(32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1), (256, 512, 2),
              (512, 512, 1), (512, 512, 1), (512, 512, 1), (512, 512, 1), (512, 512, 1), (512, 1024, 2),
              (1024, 1024, 1)]
    return nn.Sequential(conv_bn(3, 32, 2), *(conv_dw(i, o, s) for i, o, s in widths))


def SeperableConv2d(in_channels, out_channels, kernel_size=1, stride=1, padding=0):  # noqa: N802 (pytorch-ssd's name)
    return nn.Sequential(
        nn.Conv2d(in_channels, in_channels, kernel_size, stride, padding, groups=in_channels), nn.ReLU(),
        nn.Conv2d(in_channels, out_channels, kernel_size=1))


class SSD(nn.Module):
    def __init__(self, num_classes, base_net, source_layer_indexes, extras, classification_headers,
                 regression_headers, is_test=False):
        super().__init__()
        self.num_classes = num_classes
        self.base_net = base_net
        self.source_layer_indexes = source_layer_indexes
        self.extras = extras
        self.classification_headers = classification_headers
        self.regression_headers = regression_headers
        self.is_test = is_test
        self.priors = config.priors  # a plain attribute, as in pytorch-ssd

    def forward(self, x):
        confidences, locations = [], []
        start = 0
        for header, end in enumerate(self.source_layer_indexes):
            for layer in self.base_net[start:end]:
                x = layer(x)
            start = end
            self._header(header, x, confidences, locations)
        for layer in self.base_net[start:]:
            x = layer(x)
        for k, layer in enumerate(self.extras):
            x = layer(x)
            self._header(len(self.source_layer_indexes) + k, x, confidences, locations)
        confidences, locations = torch.cat(confidences, 1), torch.cat(locations, 1)
        if self.is_test:
            boxes = box_utils.convert_locations_to_boxes(locations, self.priors, config.center_variance,
                                                         config.size_variance)
            return F.softmax(confidences, dim=2), box_utils.center_form_to_corner_form(boxes)
        return confidences, locations

    def _header(self, i, x, confidences, locations):
        confidence = self.classification_headers[i](x).permute(0, 2, 3, 1).contiguous()
        confidences.append(confidence.view(confidence.size(0), -1, self.num_classes))
        location = self.regression_headers[i](x).permute(0, 2, 3, 1).contiguous()
        locations.append(location.view(location.size(0), -1, 4))


def create_mobilenetv1_ssd_lite(num_classes, is_test=False):
    extras = nn.ModuleList([
        nn.Sequential(nn.Conv2d(1024, 256, 1), nn.ReLU(), SeperableConv2d(256, 512, 3, 2, 1)),
        nn.Sequential(nn.Conv2d(512, 128, 1), nn.ReLU(), SeperableConv2d(128, 256, 3, 2, 1)),
        nn.Sequential(nn.Conv2d(256, 128, 1), nn.ReLU(), SeperableConv2d(128, 256, 3, 2, 1)),
        nn.Sequential(nn.Conv2d(256, 128, 1), nn.ReLU(), SeperableConv2d(128, 256, 3, 2, 1)),
    ])
    channels = [512, 1024, 512, 256, 256, 256]

    def headers(per_prior):
        return nn.ModuleList([SeperableConv2d(c, 6 * per_prior, 3, padding=1) for c in channels[:-1]]
                             + [nn.Conv2d(channels[-1], 6 * per_prior, 1)])

    return SSD(num_classes, mobilenet_v1_features(), [12, 14], extras, headers(num_classes), headers(4),
               is_test=is_test)


def predict(scores, boxes, prob_threshold=0.01, iou_threshold=config.iou_threshold, candidate_size=200):
    """pytorch-ssd's Predictor.predict after the forward, per image, as Caffe-style rows
    [image, label, score, xmin, ymin, xmax, ymax] (labels ascending, each by descending score)."""
    rows = []
    for image in range(scores.shape[0]):
        for label in range(1, scores.shape[2]):
            probs = scores[image, :, label]
            mask = probs > prob_threshold
            if not mask.any():
                continue
            box_probs = torch.cat([boxes[image, mask], probs[mask].reshape(-1, 1)], dim=1)
            for row in box_utils.hard_nms(box_probs, iou_threshold, candidate_size=candidate_size).tolist():
                rows.append([image, label, row[4], *row[:4]])
    return torch.tensor(rows, dtype=torch.float64).reshape(-1, 7)
