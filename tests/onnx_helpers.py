"""Random-weight ONNX models with the input/output shapes of insightface's buffalo_l pack, written the way a
user's pack is laid out, so the insightface backend is exercised without downloaded weights."""
from pathlib import Path

import torch


class _Scrfd(torch.nn.Module):
    """SCRFD's I/O: image [1,3,640,640] -> per stride 8/16/32 (2 anchors): scores [n,1], boxes [n,4] and
    keypoints [n,10] in stride units. Random heads, except that the score is high only where the image is
    near white at the coarsest stride, so a test knows where the one face must be found."""

    def __init__(self):
        super().__init__()
        self.heads = torch.nn.ModuleList(torch.nn.Conv2d(3, 2 * (4 + 10), 1) for _ in range(3))

    def forward(self, x):
        scores, boxes, kps = [], [], []
        for head, stride in zip(self.heads, (8, 16, 32)):
            pooled = torch.nn.functional.avg_pool2d(x, stride)
            y = head(pooled).permute(0, 2, 3, 1)
            white = torch.sigmoid(40 * (pooled.mean(1, keepdim=True) - 0.9)) * (1.0 if stride == 32 else 0.0)
            scores.append(white.permute(0, 2, 3, 1).repeat(1, 1, 1, 2).reshape(-1, 1))
            boxes.append(torch.sigmoid(y[..., :8]).reshape(-1, 4) + 1.0)
            kps.append(torch.tanh(y[..., 8:28]).reshape(-1, 10))
        return (*scores, *boxes, *kps)


class _ArcFace(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 7, stride=4)
        self.fc = torch.nn.Linear(8 * 27 * 27, 512)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def write_random_buffalo_pack(folder: Path, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    torch.onnx.export(_Scrfd().eval(), torch.zeros(1, 3, 640, 640), str(folder / "det_10g.onnx"),
                      input_names=["input.1"], dynamo=False)
    torch.onnx.export(_ArcFace().eval(), torch.zeros(1, 3, 112, 112), str(folder / "w600k_r50.onnx"),
                      input_names=["input.1"], output_names=["embedding"], dynamic_axes={"input.1": {0: "n"}}, dynamo=False)
    return folder
