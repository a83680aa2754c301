"""MLflow's own Python client against an artifact proxy: prints what it saw as JSON.

argv: <artifact root URI> <work dir with model.bin, big.bin and plots/> <download dir>
"""

import hashlib
import json
import os
import sys

from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def listing(repo, path=None):
    return [[f.path, f.is_dir, f.file_size] for f in repo.list_artifacts(path)]


root, work, downloads = sys.argv[1:4]
repo = get_artifact_repository(root)
out = {"repository": type(repo).__name__}

repo.log_artifact(os.path.join(work, "model.bin"), "model")
repo.log_artifacts(os.path.join(work, "plots"), "plots")
repo.log_artifact(os.path.join(work, "big.bin"), "big")

out["list_root"] = listing(repo)
out["list_plots"] = listing(repo, "plots")
out["list_sub"] = listing(repo, "plots/sub")
out["list_file"] = listing(repo, "model/model.bin")

model = repo.download_artifacts("model/model.bin", dst_path=downloads)
out["model_sha256"] = sha256(model)
big = repo.download_artifacts("big/big.bin", dst_path=downloads)
out["big_sha256"] = sha256(big)
plots = repo.download_artifacts("plots", dst_path=downloads)
out["plots_files"] = sorted(
    [os.path.relpath(os.path.join(d, f), plots), sha256(os.path.join(d, f))]
    for d, _, files in os.walk(plots)
    for f in files
)

repo.delete_artifacts("plots")
out["list_after_delete"] = listing(repo)
print(json.dumps(out))
