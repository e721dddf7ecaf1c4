"""Task names and queues: the whole contract between the dashboard and the workers.

The dashboard sends tasks by these names; it never imports `worker`.
"""

TRAIN = "cnnlens.train"
EXTRACT = "cnnlens.extract"
RECOVER = "cnnlens.recover"

TRAINING_QUEUE = "training"
EXTRACTION_QUEUE = "extraction"
