"""Prototype conformity loss (Mustafa et al., "Adversarial Defense by Restricting the Hidden Space of
Deep Neural Networks", ICCV 2019).

Each class gets a learned centroid (prototype) in a feature space. For a feature f of class y:

    L_PC = ||f - c_y||^2 - 1/(k-1) * sum_{j != y} ( min(||f - c_j||^2, cap) + min(||c_y - c_j||^2, cap) )

the first term pulls features to their class centroid, the second pushes them (and the centroids) away
from the other classes. The paper's distances are unbounded below; ``cap`` bounds the push so the loss
cannot fall forever by scaling features up (the paper's code clamps distances for the same reason).

As in the study, the loss sits on two auxiliary branches of the MobileNetV3: one after the global
average pooling and one after the hidden dense layer, each a linear projection to ``dim`` dimensions
with its own centroids. Training is two-phase: cross-entropy first (the naturally trained model is
phase one), then cross-entropy + ``weight`` x PCL; centroids start at the class means of phase one's
projected features.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

BRANCHES = ("pooled", "hidden")


def prototype_conformity_loss(features: torch.Tensor, labels: torch.Tensor, centroids: torch.Tensor, *,
                              push_weight: float = 1.0, cap: float = 10.0) -> torch.Tensor:
    """Mean PCL of ``features`` (N, d) with ``labels`` (N,) against ``centroids`` (k, d)."""
    k = centroids.shape[0]
    dist = torch.cdist(features, centroids).pow(2)                 # (N, k): ||f - c_j||^2
    own = dist.gather(1, labels[:, None]).squeeze(1)
    other = F.one_hot(labels, k).logical_not().float()
    centroid_dist = torch.cdist(centroids, centroids).pow(2)[labels]   # (N, k): ||c_y - c_j||^2
    push = ((dist.clamp(max=cap) + centroid_dist.clamp(max=cap)) * other).sum(1) / (k - 1)
    return (own - push_weight * push).mean()


class PCLNet(nn.Module):
    """A ``CifarMobileNetV3`` with two auxiliary projection branches and their class centroids."""

    def __init__(self, net: nn.Module, classes: int = 10, dim: int = 32):
        super().__init__()
        self.net = net
        self.branches = nn.ModuleDict({
            "pooled": nn.Linear(net.pooled_dim, dim),
            "hidden": nn.Linear(net.hidden_dim, dim),
        })
        self.centroids = nn.ParameterDict({name: nn.Parameter(torch.zeros(classes, dim)) for name in BRANCHES})

    def projections(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.net.features(x)
        out = {name: self.branches[name](feats[name]) for name in BRANCHES}
        out["logits"] = feats["logits"]
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    @torch.no_grad()
    def init_centroids(self, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> None:
        """Centroids := class means of the projected features of ``(x, y)``."""
        was = self.training
        self.eval()
        device = next(self.parameters()).device
        sums = {n: torch.zeros_like(self.centroids[n]) for n in BRANCHES}
        counts = torch.zeros(self.centroids["pooled"].shape[0], device=device)
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
            proj = self.projections(xb)
            for n in BRANCHES:
                sums[n].index_add_(0, yb, proj[n])
            counts.index_add_(0, yb, torch.ones_like(yb, dtype=torch.float))
        for n in BRANCHES:
            self.centroids[n].copy_(sums[n] / counts.clamp(min=1)[:, None])
        self.train(was)


def pcl_loss(*, weight: float = 1.0, push_weight: float = 1.0, cap: float = 10.0):
    """``loss_fn`` for ``helpers.training.fit``: cross-entropy + ``weight`` x (PCL on both branches)."""

    def loss_fn(model: PCLNet, x, y):
        proj = model.projections(x)
        pc = sum(prototype_conformity_loss(proj[n], y, model.centroids[n], push_weight=push_weight, cap=cap) for n in BRANCHES)
        return F.cross_entropy(proj["logits"], y) + weight * pc, proj["logits"]

    return loss_fn
