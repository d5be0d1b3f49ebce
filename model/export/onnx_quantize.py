"""The int8 model: smooth activation outliers into the weights, then quantise dynamically.

ONNX Runtime's dynamic quantisation gives each activation tensor one int8 scale per batch.
BERT-style encoders carry a few hidden channels (and FFN inputs) some 15x larger than the rest,
so that one scale leaves the ordinary channels a handful of levels; on the team's MiniLM model
that alone changed about 5% of dev labels. Following SmoothQuant (Xiao et al., 2023), each
quantised MatMul input is divided per channel by s = max|x|^a / max|w|^(1-a), measured on a
few calibration sentences, and the weight rows are multiplied by s: the same function in
fp32, with the outliers moved where per-channel weight scales absorb them. Weights are then
quantised per output channel.

Before quantising, ONNX Runtime's transformer optimizer fuses each layer's attention into one
Attention node (int8: QAttention), and GELU and the residual LayerNorms into single kernels.
Quantised after fusion the graph runs faster and changes fewer labels than the unfused int8
graph, because the attention's softmax path stays in one fp32 kernel. The MatMuls that read
the feed-forward activation (GELU output) are the int8 error's main source: their inputs have
the widest, most one-sided range, and the earlier layers' errors travel furthest. Those of the
first half of the layers stay fp32 in the fused graph. A graph the optimizer cannot fuse (an
encoder whose attention it does not recognise, such as MPNet's with its relative position bias)
is quantised unfused, with all the feed-forward outputs kept fp32. The README's serving section
and bench/bench_onnx_fusions.py give the measurements behind both choices.
"""
from __future__ import annotations

import contextlib
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from model.encoding import SentenceEncoder

# Share of the outlier difficulty moved into the weights: on the dev model 0.7 halved the
# largest probability error of plain per-channel quantisation; 0.5 and 0.9 did less.
SMOOTHING_ALPHA = 0.7

# Largest logit difference between the fused and the exported fp32 graph that counts as the same model.
FUSED_LOGIT_TOLERANCE = 1e-3
RECIPE_KEY = "stance.int8_recipe"

# Written for calibration: news register, the four stances, short to long. Activation outliers
# sit in fixed channels of the encoder, so a few dozen sentences find them.
CALIBRATION_SENTENCES: tuple[str, ...] = (
    "The ministry said talks would resume next week in Geneva.",
    "Officials declined to comment on the report.",
    "Both governments agreed to reopen the border crossing for trucks carrying food and medicine.",
    "We are ready to meet them halfway if they show the same goodwill.",
    "The president warned that any incursion would be met with a swift and overwhelming response.",
    "Those claims are baseless and not worth answering.",
    "Shares in the shipping company fell 4 percent after the announcement.",
    "If sanctions are not lifted by March, we will have no choice but to act.",
    "The foreign minister called the proposal a constructive first step toward lasting peace.",
    "A spokesman dismissed the accusations as propaganda invented by a desperate regime.",
    "Negotiators from the two sides met for six hours on Tuesday without reaching an agreement.",
    "The navy said it had tracked the vessel as it crossed into disputed waters near the islands.",
    "Nobody takes these threats seriously any more.",
    "The embassy urged its citizens to avoid travel to the northern provinces.",
    "We extend our hand in friendship and hope the new government will take it.",
    "Any attack on our forces will be answered tenfold, the general told reporters.",
    "The central bank raised its key interest rate by half a percentage point to 5.25 percent.",
    "Parliament voted 312 to 95 to approve the trade agreement after a heated debate that lasted late into the night.",
    "Critics said the plan ignored the concerns of farmers, fishermen and small businesses in the region.",
    "The talks collapsed.",
    "U.S. and Chinese officials are expected to discuss tariffs, export controls and student visas.",
    "\"This is not the time for empty gestures,\" she said, adding that the offer was an insult.",
    "Rebel commanders said they would lay down their arms if the government released political prisoners.",
    "The United Nations Security Council will hold an emergency session on Friday at the request of France.",
    "Analysts say the move is largely symbolic and unlikely to change the balance of power.",
    "They will pay a heavy price for this provocation.",
    "The agreement, signed in 1987, limited both sides' intermediate-range missiles.",
    "Our patience has limits, and those limits have now been reached.",
    "The opposition leader welcomed the ceasefire and called for elections within six months.",
    "Such statements do not deserve a serious reply from a serious government.",
    "According to the report, exports of steel and aluminium rose by 12 percent in the second quarter compared "
    "with the same period last year, driven by demand from Asia.",
    "AIRSTRIKES HIT CAPITAL AS TRUCE TALKS STALL",
)


@dataclass(frozen=True)
class Int8Recipe:
    """How an int8 file was made, recorded in its metadata (`stance.int8_recipe`)."""

    fused: bool
    fp32_matmuls: tuple[str, ...]
    alpha: float = SMOOTHING_ALPHA

    def describe(self) -> str:
        graph = "fused attention, GELU and LayerNorm" if self.fused else "unfused graph"
        return f"{graph}; smoothed (alpha {self.alpha}); {len(self.fp32_matmuls)} feed-forward output MatMuls fp32"


def quantize_int8(fp32_file: str | Path, int8_file: str | Path, encoder: SentenceEncoder,
                  attention_heads: int | None = None, hidden_size: int | None = None,
                  calibration: Sequence[str] = CALIBRATION_SENTENCES, alpha: float = SMOOTHING_ALPHA,
                  fp32_feed_forward: int | None = None) -> Int8Recipe:
    """Write a smoothed, dynamically int8-quantised copy of the fp32 ONNX model to `int8_file`.

    With the encoder's `attention_heads` and `hidden_size` the graph is fused first (when the
    optimizer recognises its attention and the fused graph computes what the exported one does).
    `fp32_feed_forward` is how many feed-forward output MatMuls, from the first layer on, stay
    fp32; by default the first half of them in a fused graph and all of them in an unfused one.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = None
    if attention_heads and hidden_size:
        model = fused_graph(fp32_file, attention_heads, hidden_size, encoder)
    fused = model is not None
    model = model if fused else onnx.load(str(fp32_file))
    feed_forward = feed_forward_output_matmuls(model)
    if fp32_feed_forward is None:
        fp32_feed_forward = len(feed_forward) // 2 if fused else len(feed_forward)
    keep_fp32 = feed_forward[:fp32_feed_forward]
    smooth_activations(model, encoder, calibration, alpha, skip=keep_fp32)
    recipe = Int8Recipe(fused, tuple(keep_fp32), alpha)
    # The quantiser carries the model's metadata over into the file it writes.
    onnx.helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props}, RECIPE_KEY: recipe.describe()})
    with tempfile.TemporaryDirectory(dir=Path(int8_file).parent, prefix=".smoothing.") as scratch:
        smoothed = Path(scratch) / "smoothed.onnx"
        onnx.save(model, str(smoothed))
        options = {}
        if fused:
            # The fused graph's contrib ops defeat the quantiser's shape inference: its weights are fp32.
            options = {"op_types_to_quantize": ["MatMul", "Attention"],
                       "extra_options": {"DefaultTensorType": onnx.TensorProto.FLOAT}}
        with _quiet_preprocessing_advice():
            quantize_dynamic(smoothed, Path(int8_file), weight_type=QuantType.QInt8, per_channel=True,
                             nodes_to_exclude=list(keep_fp32), **options)
    return recipe


def fused_graph(fp32_file: str | Path, attention_heads: int, hidden_size: int, encoder: SentenceEncoder):
    """ONNX Runtime's transformer fusions of the exported graph (an onnx.ModelProto), or None
    when they find no attention to fuse or the fused graph's logits differ from the exported
    graph's on the calibration sentences."""
    import onnx
    import onnxruntime as ort
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    with _quiet_optimizer():
        # opt_level 0: the optimizer's own Python fusions only, no CPU-specific session rewrites
        # baked into the file, so it loads the same on every machine.
        optimised = optimizer.optimize_model(str(fp32_file), model_type="bert", num_heads=attention_heads,
                                             hidden_size=hidden_size, optimization_options=FusionOptions("bert"),
                                             opt_level=0)
    model = optimised.model
    if not any(node.op_type == "Attention" for node in model.graph.node):
        return None
    if not any(opset.domain == "com.microsoft" for opset in model.opset_import):
        # The fused kernels are ONNX Runtime contrib ops; onnx's shape inference needs their domain declared.
        model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    sentences = list(CALIBRATION_SENTENCES[:8])
    logits = []
    for graph in (model.SerializeToString(), str(fp32_file)):
        session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
        wanted = {i.name for i in session.get_inputs()}
        batch = {k: v for k, v in encoder.encode(sentences).batch(np.arange(len(sentences))).items() if k in wanted}
        logits.append(session.run(None, batch)[0])
    if float(np.abs(logits[0] - logits[1]).max()) > FUSED_LOGIT_TOLERANCE:
        return None
    return model


@contextlib.contextmanager
def _quiet_optimizer() -> Iterator[None]:
    """The optimizer logs each fusion and warns about shapes it cannot infer, from loggers named
    after its modules; a user exporting a model needs none of it."""
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


@contextlib.contextmanager
def _quiet_preprocessing_advice() -> Iterator[None]:
    """Drop the quantiser's root-logger advice to pre-process the graph: shape inference and
    fusions are what the session's graph optimisation does when the model is loaded."""
    class _Filter(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            return "pre-processing before quantization" not in record.getMessage()

    quiet = _Filter()
    logging.getLogger().addFilter(quiet)
    try:
        yield
    finally:
        logging.getLogger().removeFilter(quiet)


def smooth_activations(model, encoder: SentenceEncoder, calibration: Sequence[str] = CALIBRATION_SENTENCES,
                       alpha: float = SMOOTHING_ALPHA, skip: Sequence[str] = ()) -> None:
    """Smooth, in place, the input of every weighted MatMul and fused Attention node of an ONNX
    graph, except the nodes named in `skip` (those left in fp32 need no smoothing). The graph
    computes the same function in fp32 afterwards; only its quantised copy differs."""
    maxima = _activation_maxima(model, encoder, list(calibration))
    _smooth(model, maxima, alpha, skip=set(skip))


def feed_forward_output_matmuls(model) -> list[str]:
    """Names of the MatMuls whose input is a GELU output: Erf or Tanh a few nodes upstream in
    the exported graph, a fused GELU node right before it in an optimised one."""
    producer = {out: node for node in model.graph.node for out in node.output}
    fused_gelu = ("Gelu", "BiasGelu", "FastGelu")

    def after_gelu(tensor: str, depth: int) -> bool:
        node = producer.get(tensor)
        if node is None or depth == 0:
            return False
        return node.op_type in ("Erf", "Tanh") or any(after_gelu(name, depth - 1) for name in node.input)

    def reads_gelu(node) -> bool:
        if node.op_type != "MatMul":
            return False
        source = producer.get(node.input[0])
        return (source is not None and source.op_type in fused_gelu) or after_gelu(node.input[0], 4)

    return [node.name for group in _weighted_nodes(model).values() for node in group if reads_gelu(node)]


def _weighted_nodes(model) -> dict[str, list]:
    """MatMul nodes whose second input is a 2-D weight, grouped by their activation input; also
    the fused Attention nodes of an optimised graph (onnxruntime.transformers), whose second
    input is the packed Q/K/V weight and whose int8 form (QAttention) quantises that input too."""
    weights = {init.name: init for init in model.graph.initializer}
    uses: dict[str, int] = {}
    for node in model.graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    groups: dict[str, list] = {}
    for node in model.graph.node:
        weight = node.input[1] if node.op_type in ("MatMul", "Attention") else None
        # A weight shared with another node (tied embeddings) cannot be rescaled for one of them.
        if weight in weights and len(weights[weight].dims) == 2 and uses[weight] == 1:
            groups.setdefault(node.input[0], []).append(node)
    return groups


def _activation_maxima(model, encoder: SentenceEncoder, sentences: list[str]) -> dict[str, np.ndarray]:
    """max |x| per channel of every weighted MatMul's input, over the calibration sentences."""
    import onnx
    import onnxruntime as ort

    names = sorted(_weighted_nodes(model))
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name in names:
        probe.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    encoded = encoder.encode(sentences)
    batch = {k: v for k, v in encoded.batch(np.arange(len(sentences))).items() if k in wanted}
    values = session.run(names, batch)
    # Padding positions count: at inference they share the batch's one activation scale too
    # (measured: leaving them out doubled the label changes).
    return {name: np.abs(v.reshape(-1, v.shape[-1])).max(axis=0) for name, v in zip(names, values)}


def _smooth(model, maxima: dict[str, np.ndarray], alpha: float, skip: set[str]) -> None:
    """Divide each MatMul input by s per channel (one Mul node) and multiply the weight rows by s;
    MatMuls named in `skip` stay fp32 and need no smoothing."""
    from onnx import helper, numpy_helper

    weights = {init.name: init for init in model.graph.initializer}
    nodes = list(model.graph.node)
    for activation, group in _weighted_nodes(model).items():
        if all(node.name in skip for node in group):
            continue
        matrices = [numpy_helper.to_array(weights[node.input[1]]) for node in group]
        w_max = np.max([np.abs(w).max(axis=1) for w in matrices], axis=0)
        x_max = maxima[activation]
        # Channels quiet in calibration get a floor, so that an unseen large value cannot be blown up.
        x_max = np.maximum(x_max, 0.1 * np.median(x_max) + 1e-6)
        w_max = np.maximum(w_max, 0.1 * np.median(w_max) + 1e-6)
        scale = (x_max ** alpha / w_max ** (1 - alpha)).astype(np.float32)
        inverse, smoothed = f"{activation}/smooth_inverse", f"{activation}/smoothed"
        model.graph.initializer.append(numpy_helper.from_array((1 / scale).astype(np.float32), inverse))
        first = min(nodes.index(node) for node in group)
        model.graph.node.insert(first, helper.make_node("Mul", [activation, inverse], [smoothed], name=f"{activation}/smooth"))
        nodes = list(model.graph.node)
        for node, w in zip(group, matrices):
            weights[node.input[1]].CopyFrom(numpy_helper.from_array((w * scale[:, None]).astype(np.float32), node.input[1]))
            node.input[0] = smoothed
