"""Creates runs and registered models with MLflow's own Python client; prints what it made as JSON.

argv: <work dir>   (the tracking server comes from MLFLOW_TRACKING_URI)

Kept: run `kept` (model/model.bin, plots/…), registered model `<name>` version 1 (alias `champion`)
from `kept`, version 2 from run `second`. Deleted: run `big` (1,001 files: more than one S3 listing
page), run `small`, and run `empty` (no artifact ever written), each with MLflow's delete_run.
"""

import json
import os
import sys
import uuid

import mlflow
from mlflow import MlflowClient

work = sys.argv[1]
client = MlflowClient()
tag = uuid.uuid4().hex[:8]
experiment_id = client.create_experiment(f"artifacts-gc-{tag}")


def new_run():
    return client.create_run(experiment_id).info.run_id


def artifact_uri(run_id):
    return client.get_run(run_id).info.artifact_uri


kept = new_run()
client.log_artifact(kept, os.path.join(work, "model.bin"), "model")
client.log_artifacts(kept, os.path.join(work, "plots"), "plots")

second = new_run()
client.log_artifact(second, os.path.join(work, "model2.bin"), "model")

name = f"artifacts-model-{tag}"
client.create_registered_model(name)
v1 = client.create_model_version(name, f"{artifact_uri(kept)}/model", run_id=kept)
v2 = client.create_model_version(name, f"{artifact_uri(second)}/model", run_id=second)
client.set_registered_model_alias(name, "champion", v1.version)

big = new_run()
client.log_artifacts(big, os.path.join(work, "many"), "many")
small = new_run()
client.log_artifact(small, os.path.join(work, "model.bin"), "model")
client.log_artifacts(small, os.path.join(work, "plots"), "plots")
empty = new_run()

for run_id in (big, small, empty):
    client.delete_run(run_id)

print(
    json.dumps(
        {
            "mlflow_version": mlflow.__version__,
            "experiment_id": experiment_id,
            "model": name,
            "versions": [v1.version, v2.version],
            "runs": {
                label: {"id": run_id, "artifact_uri": artifact_uri(run_id)}
                for label, run_id in [
                    ("kept", kept),
                    ("second", second),
                    ("big", big),
                    ("small", small),
                    ("empty", empty),
                ]
            },
        }
    )
)
