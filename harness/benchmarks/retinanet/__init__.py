"""MLPerf retinanet (object detection on OpenImages, 800x800 input) as a benchmark family.

- ``benchmark.toml``: the registry entry;
- ``dataset.py``: the OpenImages MLPerf layout (``annotations.py`` reads it,
  ``preprocess.py`` is MLPerf's preprocessing), staged for LoadGen, with the
  ground truth of ``truth.py``;
- ``task.py``: the model's boxes, labels and scores turned into MLPerf's
  7-float detections;
- ``scorer.py``: COCO mAP as accuracy-openimages.py computes it (``metric.py``);
- ``build_proxy.py``: trains ``model.py``'s small detector on
  ``proxy_shapes.py``'s rendered shapes and writes ``proxy/``.
"""
