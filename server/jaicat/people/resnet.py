"""dlib's face-recognition ResNet (`dlib_face_recognition_resnet_model_v1.dat`) on onnxruntime.

The weights are read from dlib's own file, so the 128-d encodings stay those of dlib's
`compute_face_descriptor` (measured within 1e-3 per component, see tests/people/test_resnet.py) and
every stored encoding keeps matching; onnxruntime runs the network ~15x faster than a dlib built
without BLAS (bench/faces.py), a photo's faces as one batch. Nothing is written to disk: the ONNX
graph is built in memory from the file's weights on every load (under a second).

The file is dlib's serialisation of `anet_type` (dlib/examples/dnn_face_recognition_ex.cpp), outermost
layer first in the type but innermost first in the stream: input_rgb_image_sized<150>, con 32 7x7/2,
affine, relu, max_pool 3x3/2, then 13 residual blocks (3x32; 64/2 + 3x64; 128/2 + 2x128; 256/2 + 2x256;
256/2), each con 3x3 - affine - relu - con 3x3 - affine + shortcut, relu; a strided block's shortcut is
a 2x2/2 average pool of its input, added dlib's way (zero-padded to the larger of the two shapes,
aligned top-left). Then the mean over the map and fc_no_bias 256 -> 128.

Pure ML: numpy in, numpy out; no Flask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CHIP_SIZE = 150
CHIP_PADDING = 0.25
# (filters, strided) of each residual block, input to output
BLOCKS = [(32, False)] * 3 + [(64, True)] + [(64, False)] * 3 + [(128, True)] + [(128, False)] * 2 \
    + [(256, True)] + [(256, False)] * 2 + [(256, True)]


class FormatError(ValueError):
    """The file is not dlib's face-recognition ResNet as this module knows it."""


@dataclass
class _Conv:
    weight: np.ndarray  # (out, in, kh, kw)
    bias: np.ndarray
    stride: int
    padding: int


@dataclass
class _Parsed:
    mean_rgb: tuple[float, float, float]
    convs: list[_Conv] = field(default_factory=list)
    affines: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (gamma, beta)
    fc: np.ndarray | None = None  # (inputs, outputs)
    layers: list[str] = field(default_factory=list)  # the layer names in stream order


class _Reader:
    """dlib's serialisation primitives (dlib/serialize.h)."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise FormatError("unexpected end of file")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def int(self) -> int:
        """A signed integer: a control byte (low nibble: byte count, 0x80: negative), then LE bytes."""
        control = self.byte()
        size = control & 0x0F
        if size > 8:
            raise FormatError(f"bad integer at byte {self.pos - 1}")
        raw = self.data[self.pos:self.pos + size]
        if len(raw) != size:
            raise FormatError("unexpected end of file")
        self.pos += size
        value = int.from_bytes(raw, "little")
        return -value if control & 0x80 else value

    def float(self) -> float:
        """A float/double: mantissa and exponent as two integers."""
        mantissa = self.int()
        exponent = self.int()
        return float(mantissa) * 2.0 ** exponent

    def string(self) -> str:
        size = self.int()
        raw = self.data[self.pos:self.pos + size]
        self.pos += size
        return raw.decode("latin-1")

    def tensor(self) -> np.ndarray:
        """A dlib tensor: version 2, (num_samples, k, nr, nc), then 4-byte little-endian floats."""
        version = self.int()
        if version != 2:
            raise FormatError(f"tensor version {version} (expected 2)")
        shape = tuple(self.int() for _ in range(4))
        count = int(np.prod(shape))
        end = self.pos + 4 * count
        if count < 0 or end > len(self.data):
            raise FormatError("tensor runs past the end of the file")
        arr = np.frombuffer(self.data, dtype="<f4", count=count, offset=self.pos).reshape(shape)
        self.pos = end
        return arr.astype(np.float32)


_NAMES = (b"input_rgb_image_sized", b"con_4", b"affine_", b"relu_", b"max_pool_2", b"avg_pool_2",
          b"add_prev_", b"fc_2")


# Between one layer's parameters and the next layer's name dlib writes a few flags and numbers only.
_GAP = 1 << 16


def _next_layer(data: bytes, pos: int) -> tuple[int, bytes] | None:
    """(offset of the length byte, name) of the next layer name within _GAP bytes of pos, or None."""
    best = None
    for name in _NAMES:
        i = data.find(bytes([1, len(name)]) + name, pos, pos + _GAP)
        if i >= 0 and (best is None or i < best[0]):
            best = (i, name)
    return best


def parse(data: bytes) -> _Parsed:
    """The weights in dlib's stream; FormatError when they are not anet_type's."""
    if b"loss_metric_2" not in data[:64]:
        raise FormatError("not a dlib loss_metric network")
    parsed = None
    pos = 0
    while (found := _next_layer(data, pos)) is not None:
        r = _Reader(data, found[0])
        name = r.string()
        if name == "input_rgb_image_sized":
            mean = (r.float(), r.float(), r.float())
            size = (r.int(), r.int())
            if size != (CHIP_SIZE, CHIP_SIZE):
                raise FormatError(f"input size {size} (expected 150x150)")
            parsed = _Parsed(mean_rgb=mean)
        elif parsed is None:
            raise FormatError(f"{name} before the input layer")
        elif name == "con_4":
            params = r.tensor().reshape(-1)
            filters, nr, nc, sy, sx, py, px = (r.int() for _ in range(7))
            if sy != sx or py != px or nr != nc:
                raise FormatError("non-square convolution")
            n_in = (params.size - filters) // (filters * nr * nc)
            if filters * n_in * nr * nc + filters != params.size:
                raise FormatError("convolution parameters of the wrong size")
            weight = params[:filters * n_in * nr * nc].reshape(filters, n_in, nr, nc)
            parsed.convs.append(_Conv(weight, params[filters * n_in * nr * nc:].copy(), sy, py))
        elif name == "affine_":
            params = r.tensor().reshape(-1)
            half = params.size // 2
            parsed.affines.append((params[:half].copy(), params[half:].copy()))
        elif name == "fc_2":
            outputs, inputs = r.int(), r.int()
            params = r.tensor().reshape(-1)
            if params.size != outputs * inputs:
                raise FormatError("fc parameters of the wrong size (expected no bias)")
            parsed.fc = params.reshape(inputs, outputs)
        elif name in ("max_pool_2", "avg_pool_2"):
            nr, nc, sy, sx, py, px = (r.int() for _ in range(6))
            name = f"{name}:{nr}x{nc}/{sy}"
        parsed.layers.append(name)
        pos = r.pos
        if name == "fc_2":  # the last layer (the loss layer is written first)
            break
    if parsed is None:
        raise FormatError("no input layer")
    _check(parsed)
    return parsed


def _check(p: _Parsed) -> None:
    """The stream holds anet_type: the layer counts, widths and strides this module builds."""
    if len(p.convs) != 1 + 2 * len(BLOCKS) or len(p.affines) != len(p.convs) or p.fc is None:
        raise FormatError(f"{len(p.convs)} convolutions, {len(p.affines)} affine layers (expected "
                          f"{1 + 2 * len(BLOCKS)} each and one fc)")
    stem = p.convs[0]
    if stem.weight.shape != (32, 3, 7, 7) or stem.stride != 2 or stem.padding != 0:
        raise FormatError("unexpected first convolution")
    if "max_pool_2:3x3/2" not in p.layers or p.layers.count("avg_pool_2:2x2/2") != 4:
        raise FormatError("unexpected pooling layers")
    channels = 32
    for i, (filters, strided) in enumerate(BLOCKS):
        a, b = p.convs[1 + 2 * i], p.convs[2 + 2 * i]
        if a.weight.shape != (filters, channels, 3, 3) or b.weight.shape != (filters, filters, 3, 3):
            raise FormatError(f"block {i}: unexpected convolution shapes")
        if (a.stride, a.padding) != ((2, 0) if strided else (1, 1)) or (b.stride, b.padding) != (1, 1):
            raise FormatError(f"block {i}: unexpected stride or padding")
        channels = filters
    if p.fc.shape != (256, 128):
        raise FormatError("unexpected fc shape")


def _shape_after(size: int, kernel: int, stride: int, padding: int) -> int:
    return 1 + (size + 2 * padding - kernel) // stride


def to_onnx(parsed: _Parsed):
    """The network of a parsed file as an ONNX model: (n, 150, 150, 3) uint8 RGB chips in,
    (n, 128) float32 encodings out. Each affine layer is folded into the convolution before it."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    count = [0]

    def name(prefix: str) -> str:
        count[0] += 1
        return f"{prefix}{count[0]}"

    def const(arr: np.ndarray, prefix: str = "w") -> str:
        n = name(prefix)
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), n))
        return n

    def node(op: str, inputs: list[str], **attrs) -> str:
        out = name(op.lower())
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def conv_affine(x: str, c: _Conv, gamma: np.ndarray, beta: np.ndarray) -> str:
        w = (c.weight * gamma[:, None, None, None]).astype(np.float32)
        b = (c.bias * gamma + beta).astype(np.float32)
        k = c.weight.shape[2]
        return node("Conv", [x, const(w), const(b)], kernel_shape=[k, k], strides=[c.stride] * 2,
                    pads=[c.padding] * 4)

    x = node("Cast", ["chips"], to=TensorProto.FLOAT)
    x = node("Transpose", [x], perm=[0, 3, 1, 2])
    x = node("Sub", [x, const(np.asarray(parsed.mean_rgb, np.float32).reshape(1, 3, 1, 1), "mean")])
    x = node("Mul", [x, const(np.asarray(1.0 / 256.0, np.float32).reshape(1), "scale")])
    x = node("Relu", [conv_affine(x, parsed.convs[0], *parsed.affines[0])])
    x = node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2])
    size = _shape_after(_shape_after(CHIP_SIZE, 7, 2, 0), 3, 2, 0)
    channels = 32
    for i, (filters, strided) in enumerate(BLOCKS):
        c1, c2 = parsed.convs[1 + 2 * i], parsed.convs[2 + 2 * i]
        y = node("Relu", [conv_affine(x, c1, *parsed.affines[1 + 2 * i])])
        y = conv_affine(y, c2, *parsed.affines[2 + 2 * i])
        if strided:
            shortcut = node("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2])
            ysize, ssize = _shape_after(size, 3, 2, 0), _shape_after(size, 2, 2, 0)
            # dlib's add_prev: both zero-padded to the larger shape, aligned top-left
            out_c, out_s = max(filters, channels), max(ysize, ssize)
            if (filters, ysize) != (out_c, out_s):
                y = node("Pad", [y, const(np.asarray([0, 0, 0, 0, 0, out_c - filters, out_s - ysize,
                                                      out_s - ysize], np.int64), "pads")])
            if (channels, ssize) != (out_c, out_s):
                shortcut = node("Pad", [shortcut, const(np.asarray(
                    [0, 0, 0, 0, 0, out_c - channels, out_s - ssize, out_s - ssize], np.int64), "pads")])
            size = out_s
        else:
            shortcut = x
        x = node("Relu", [node("Add", [y, shortcut])])
        channels = filters
    x = node("ReduceMean", [x, const(np.asarray([2, 3], np.int64), "axes")], keepdims=0)
    nodes.append(helper.make_node("MatMul", [x, const(parsed.fc.astype(np.float32), "fc")], ["encodings"]))
    graph = helper.make_graph(
        nodes, "dlib_face_recognition_resnet_v1",
        [helper.make_tensor_value_info("chips", TensorProto.UINT8, ["n", CHIP_SIZE, CHIP_SIZE, 3])],
        [helper.make_tensor_value_info("encodings", TensorProto.FLOAT, ["n", 128])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)


class ResNetEncoder:
    """dlib's face-recognition ResNet on onnxruntime: 150x150 face chips in, 128-d encodings out.

    One intra-op thread a session: the fast pass runs one encoder per worker thread (FaceModelPool),
    and on a busy CPU more threads a call only wait for each other."""

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        import onnxruntime as ort

        model = to_onnx(parse(Path(path).read_bytes()))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(1, threads)
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])

    def encode_chips(self, chips) -> np.ndarray:
        """(n, 128) float32 encodings of (n, 150, 150, 3) uint8 RGB chips (dlib.get_face_chips)."""
        arr = np.ascontiguousarray(np.asarray(chips, dtype=np.uint8).reshape(-1, CHIP_SIZE, CHIP_SIZE, 3))
        if not len(arr):
            return np.empty((0, 128), dtype=np.float32)
        return self.session.run(None, {"chips": arr})[0].astype(np.float32, copy=False)
