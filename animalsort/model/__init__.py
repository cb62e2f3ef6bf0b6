"""The model stage: which weights (registry, fetch), how they become a network (build,
checkpoints, key maps), where it runs (device, precision, runtime: torch or ONNX Runtime) and
the exported graph.

    registry     weights.toml: the models, their files, labels and preprocessing
    fetch        verified, resumable, cached downloads and imports (the only module using requests)
    resolve      a model name or a weights file → a verified file (``WeightsFile``)
    keymaps      state-dict renames for weights published in another library's naming
    checkpoints  reading weights safely (weights_only) and writing animalsort checkpoints
    build        architectures, loading weights into them, the uint8-in inference wrapper
    device       device, precision, decoder and runtime choices
    loaded       ``LoadedModel``: a ready classifier and its one ``infer``
    onnx_graph   the ONNX graph: export, check against torch, cache, sessions
    int8         the quantized graph and its accuracy gate
    onnx_runtime loading a model into ONNX Runtime
    load         ``load``: resolve → build (or the cached graph) → ``LoadedModel``
    export       ``animalsort models export``: a self-describing ONNX file
"""
