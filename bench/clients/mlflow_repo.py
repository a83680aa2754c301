# One transfer with MLflow's artifact repository: python mlflow.py <op> <uri> <local>
import sys
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

op, uri, local = sys.argv[1:4]
repo = get_artifact_repository(uri)
if op == "big-up":
    repo.log_artifact(local)
elif op == "big-down":
    repo.download_artifacts("big.bin", dst_path=local)
elif op == "small-up":
    repo.log_artifacts(local, "small")
else:
    repo.download_artifacts("small", dst_path=local)
