"""Machine-learning models behind one small interface (base.py: `InferenceModel`, `ModelCache`).

The floor below people/, search/ and pipeline/: loading, device choice, the model cache, ONNX exports,
CLIP, the zero-shot tagger and the captioner. Nothing here imports Flask, peewee or the catalogue: the
rooms above read and write the catalogue and hand plain images, strings and arrays to these models.
`registry` names the analysis tasks, so that analysis asks for a task and not a family.
"""
