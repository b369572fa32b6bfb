"""Training apart from inference: data synthesis (:mod:`separator.training.data`), the trainer, the losses,
evaluation and metrics. It imports the inference core; the core never imports it."""
