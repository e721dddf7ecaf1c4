"""Task names and queues: the whole contract between the dashboard and the workers.

The dashboard sends tasks by these names; it never imports `worker`.
"""

TRAIN = "cnnlens.train"
EXTRACT = "cnnlens.extract"
RECOVER = "cnnlens.recover"
CKA = "cnnlens.cka"  # layer similarity of two runs on the probe batch
STATS = "cnnlens.stats"  # per-filter statistics of one run on the probe batch
CKA_EPOCHS = "cnnlens.cka_epochs"  # one run's layers after every epoch against the final ones
FILTER = "cnnlens.filter"  # one filter's page: top images, selectivity, ablation, twins, picture
ABLATION = "cnnlens.ablation"  # one conv layer's accuracy as its filters are zeroed, best first
# Which pixels counted for a class (worker/attribution.py): one input, tens of ms warm, so it
# goes to the extraction queue and its warm worker, like an extraction.
ATTRIBUTE = "cnnlens.attribute"

# Reading an uploaded dataset (worker/dataset_jobs.py): numpy and Pillow for seconds to minutes,
# rare, no TensorFlow; it goes to the analysis queue, between comparison jobs.
IMPORT_DATASET = "cnnlens.import_dataset"

TRAINING_QUEUE = "training"
EXTRACTION_QUEUE = "extraction"
# CKA and filter statistics take seconds; a user's one-image extraction takes tens of ms. They get
# a queue (and worker) of their own, so an extraction never waits behind one of them.
ANALYSIS_QUEUE = "analysis"

# The task that does each kind of job (`jobs.kind`), for whoever sends a job again.
JOB_TASKS = {
    "extract": EXTRACT,
    "attribute": ATTRIBUTE,
    "stats": STATS,
    "cka": CKA,
    "cka_epochs": CKA_EPOCHS,
    "filter": FILTER,
    "ablation": ABLATION,
    "import_dataset": IMPORT_DATASET,
}
