"""Upload an export to the Hugging Face hub."""

from __future__ import annotations

from pathlib import Path

from genpt.errors import GenptError


def check_repo_id(repo_id: str) -> None:
    """A name the hub would refuse, refused before anything is exported."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        reason = str(error).strip().splitlines()[0].split(": '")[0]
        raise GenptError(f"--push_to_hub {repo_id}: not a hub repository name ({reason}); expected NAME or USER/NAME") from None


def upload(folder: Path, repo_id: str, private: bool) -> str:
    """Create the repo if needed and upload the folder; a clear error when the hub is out of reach."""
    from huggingface_hub import HfApi

    try:
        api = HfApi()
        api.create_repo(repo_id, private=private, exist_ok=True)
        commit = api.upload_folder(folder_path=str(folder), repo_id=repo_id, commit_message="Upload genpt export")
    except Exception as error:  # offline, no token, no permission: all end the same way for the user
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise GenptError(f"--push_to_hub {repo_id}: could not upload ({reason}); the export itself is complete in "
                         f"{folder}, upload it later with `hf upload {repo_id} {folder}`") from None
    return getattr(commit, "commit_url", f"https://huggingface.co/{repo_id}")
