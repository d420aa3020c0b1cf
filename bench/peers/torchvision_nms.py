"""torchvision NMS peer for `npm run bench -- vision`: reads boxes/scores/classes (float32/int32
raw files), times torchvision.ops.nms and batched_nms, prints JSON with median ms and kept counts."""
import json, sys, time
import numpy as np
import torch
from torchvision.ops import batched_nms, nms

path, n, reps, iou = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
torch.set_num_threads(int(sys.argv[5]) if len(sys.argv) > 5 else 1)
boxes = torch.from_numpy(np.fromfile(path + '.boxes', dtype=np.float32).reshape(n, 4))
scores = torch.from_numpy(np.fromfile(path + '.scores', dtype=np.float32))
classes = torch.from_numpy(np.fromfile(path + '.classes', dtype=np.int32).astype(np.int64))

def timed(f):
    f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append((time.perf_counter() - t0) * 1000)
    return float(np.median(ts))

out = {
    'nms_ms': timed(lambda: nms(boxes, scores, iou)),
    'batched_ms': timed(lambda: batched_nms(boxes, scores, classes, iou)),
    'nms_kept': int(nms(boxes, scores, iou).numel()),
    'batched_kept': int(batched_nms(boxes, scores, classes, iou).numel()),
}
print(json.dumps(out))
