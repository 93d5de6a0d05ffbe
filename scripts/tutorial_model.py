"""The model of the PyG + captum tutorial, shared by make_fixtures.py and bench_peers.py.

Needs torch and torch_geometric only.
"""

import torch
import torch.nn.functional as F
from torch_geometric.nn import GraphConv, global_add_pool, global_max_pool, global_mean_pool

POOLS = {"add": global_add_pool, "mean": global_mean_pool, "max": global_max_pool}


class Net(torch.nn.Module):
    """The PyG + captum tutorial model: L GraphConv layers, a global pool, two linears."""

    def __init__(self, num_features, num_classes, dim=32, layers=5, pool="add"):
        super().__init__()
        self.pool_name = pool
        self.pool = POOLS[pool]
        self.num_layers = layers
        # Attribute names conv1..convL, as the state_dict keys must be.
        for k in range(1, layers + 1):
            setattr(self, f"conv{k}", GraphConv(num_features if k == 1 else dim, dim))
        self.lin1 = torch.nn.Linear(dim, dim)
        self.lin2 = torch.nn.Linear(dim, num_classes)

    def forward(self, x, edge_index, batch, edge_weight=None):
        for k in range(1, self.num_layers + 1):
            x = getattr(self, f"conv{k}")(x, edge_index, edge_weight).relu()
        x = self.pool(x, batch)
        x = self.lin1(x).relu()
        x = F.dropout(x, p=0.5, training=self.training)
        x = self.lin2(x)
        return F.log_softmax(x, dim=-1)
