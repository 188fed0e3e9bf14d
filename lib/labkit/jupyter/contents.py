"""JupyterLab's file access for the lab (`labkit jupyter`): the series' notebooks stay as committed.

jupyter_server's default contents manager (AsyncLargeFileManager) with three changes:

- `notebooks/<name>.ipynb` is the learner's own copy when they have one (in `<workspace>/.notebooks/`), else the
  tracked notebook; saving, checkpoints and "revert" always go to the copy. The path JupyterLab shows stays
  `notebooks/...`, so a kernel still starts in `notebooks/` (`%load solutions/...`, `../images/...` and links
  between notebooks work), while the outputs a run saves never reach the tracked file (`make test` reads those).
  A new notebook or a duplicate made in `notebooks/` is kept with the copies too.
- `workspace/` is the lab's workspace wherever `workspace_dir` puts it (LAB_WORKSPACE_DIR may point outside the
  project, or to a hidden folder as the tests' does): the learner's DAG folder is one click from the root.
- Hidden names are left out of listings here rather than refused by path (the workspace and the copies may sit
  in hidden or outside folders); as before, a learner does not see `.ipynb_checkpoints`, `.lab` and the like.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from anyio.to_thread import run_sync
from jupyter_core.utils import ensure_dir_exists
from jupyter_server.files.handlers import FilesHandler
from jupyter_server.services.contents.filecheckpoints import AsyncFileCheckpoints
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from jupyter_server.utils import ApiPath, to_os_path
from tornado.web import HTTPError
from traitlets import Unicode, default

from labkit import workspace

NOTEBOOKS = "notebooks"      # the API folder of the series' notebooks (the project's notebooks/)
WORKSPACE = "workspace"      # the API folder of the lab's workspace


class LabCheckpoints(AsyncFileCheckpoints):
    """A notebook's checkpoint lives beside the learner's copy; any other file's beside the file (as by default)."""

    def checkpoint_path(self, checkpoint_id, path):
        cm = self.parent
        copy = cm.copy_of(path)
        folder = os.path.dirname(copy if copy is not None else cm._get_os_path(path))
        stem, ext = os.path.splitext(path.strip("/").rsplit("/", 1)[-1])
        cp_dir = os.path.join(folder, self.checkpoint_dir)
        with self.perm_to_403():
            ensure_dir_exists(cp_dir)
        return os.path.join(cp_dir, f"{stem}-{checkpoint_id}{ext}")


class LabContentsManager(AsyncLargeFileManager):
    workspace_dir = Unicode("", config=True, help="The lab's workspace, shown as workspace/ at the root.")
    copies_dir = Unicode("", config=True, help="Where the learner's saves of notebooks/*.ipynb go.")

    @default("checkpoints_class")
    def _checkpoints_class_default(self):
        return LabCheckpoints

    @default("files_handler_class")
    def _files_handler_class_default(self):
        return FilesHandler       # /files/ (a download, a notebook's images) through this manager, not the disk
                                  # (its `path` parameter, the root, is what StaticFileHandler asks for: unused)

    @default("allow_hidden")
    def _allow_hidden_default(self):
        return True         # by path: the workspace and the copies may be in hidden folders; listings hide names

    # -- where an API path is on disk ----------------------------------------------------------------------------
    def copy_of(self, path: str) -> str | None:
        """The learner's copy for `notebooks/<name>.ipynb` (whether it exists or not); None for any other path."""
        parts = path.strip("/").split("/")
        if self.copies_dir and len(parts) == 2 and parts[0] == NOTEBOOKS and parts[1].endswith(".ipynb") \
                and not parts[1].startswith("."):
            return os.path.join(self.copies_dir, parts[1])
        return None

    def _tracked(self, path: str) -> str:
        return super()._get_os_path(path)

    def _get_os_path(self, path):
        copy = self.copy_of(path)
        if copy is not None:
            tracked = self._tracked(path)
            return copy if os.path.exists(copy) or not os.path.exists(tracked) else tracked
        head, _, rest = path.strip("/").partition("/")
        if head == WORKSPACE and self.workspace_dir:
            base = os.path.abspath(self.workspace_dir)
            os_path = to_os_path(ApiPath(rest), base)
            if not (os.path.abspath(os_path) + os.sep).startswith(base + os.sep):
                raise HTTPError(404, f"{path} is outside the workspace")
            return os_path
        return super()._get_os_path(path)

    def _start_copy(self, path: str) -> None:
        """Before a notebook under notebooks/ is written: the learner's copy exists (made from the tracked one)."""
        copy = self.copy_of(path)
        if copy is None or os.path.exists(copy):
            return
        tracked = self._tracked(path)
        if os.path.isfile(tracked):
            workspace.start_copy(Path(tracked), Path(copy))
        else:
            os.makedirs(self.copies_dir, exist_ok=True)

    # -- what changes -------------------------------------------------------------------------------------------
    async def save(self, model, path=""):
        await run_sync(self._start_copy, path)
        return await super().save(model, path)

    async def restore_checkpoint(self, checkpoint_id, path):
        await run_sync(self._start_copy, path)
        return await super().restore_checkpoint(checkpoint_id, path)

    async def _dir_model(self, path, content=True):
        model = await super()._dir_model(path, content=content)
        if not content:
            return model
        api = path.strip("/")
        names = {m["name"] for m in model["content"]}
        extra = []
        if api == "" and WORKSPACE not in names and self.workspace_dir and os.path.isdir(self.workspace_dir):
            extra.append(WORKSPACE)
        if api == NOTEBOOKS and self.copies_dir and os.path.isdir(self.copies_dir):
            extra += sorted(n for n in os.listdir(self.copies_dir) if self.copy_of(f"{NOTEBOOKS}/{n}") and n not in names)
        model["content"] = [m for m in model["content"] if not m["name"].startswith(".")] + \
            [await self.get(f"{api}/{n}".lstrip("/"), content=False) for n in extra]
        return model

    async def delete_file(self, path):
        copy = self.copy_of(path)
        if copy is None:
            return await super().delete_file(path)
        if not os.path.exists(copy):
            if os.path.exists(self._tracked(path)):
                raise HTTPError(403, f"{path} is the tutorial's own notebook: it stays as it is (your saves of it "
                                     f"go to {self.copies_dir})")
            raise HTTPError(404, f"No such file: {path}")
        # Deleting the learner's copy brings back the tracked notebook; the copy is moved aside, not deleted.
        await run_sync(workspace.set_aside_copies, Path(self.workspace_dir), [Path(copy)])

    async def rename_file(self, old_path, new_path):
        old_copy, new_copy = self.copy_of(old_path), self.copy_of(new_path)
        if old_copy is None and new_copy is None:
            return await super().rename_file(old_path, new_path)
        if old_path.strip("/") == new_path.strip("/"):
            return
        source = self._get_os_path(old_path)
        if old_copy is not None and source != old_copy:
            raise HTTPError(403, f"{old_path} is the tutorial's own notebook: it keeps its name (File > Save "
                                 "Notebook As... makes a copy under another)")
        if new_copy is not None and os.path.exists(self._tracked(new_path)):
            raise HTTPError(409, f"{new_path} is a notebook of the tutorial")
        target = new_copy if new_copy is not None else self._get_os_path(new_path)
        if os.path.exists(target):
            raise HTTPError(409, f"File already exists: {new_path}")
        if not os.path.exists(source):
            raise HTTPError(404, f"File or directory does not exist: {old_path}")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with self.perm_to_403():
            await run_sync(shutil.move, source, target)
