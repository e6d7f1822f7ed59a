"""recbole_denoise.catalog
###########################
What can be named on the command line, found from the files alone (nothing here imports
torch, RecBole or a model, so ``--help`` stays fast and an unknown model name does not
trip over RecBole's optional lightgbm / xgboost wrappers):

- :func:`package_model_names`: this package's models (``recbole_denoise/model/*/``);
- :func:`recbole_model_names`: RecBole's models, ``{folder: [names]}``, read from the
  imports of its ``recbole/model/<folder>/__init__.py``;
- :func:`bundled_dataset_names`: the datasets shipped in ``dataset/``.
"""

import importlib.util
import re
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# RecBole's wrappers of optional libraries: importing them needs lightgbm / xgboost
RECBOLE_OPTIONAL_FOLDERS = ("exlib_recommender",)

_CLASS_LINE = re.compile(r"^class (\w+)\(", re.M)
_IMPORT_LINE = re.compile(r"^from recbole\.model\.\w+\.\w+ import (\w+)", re.M)


def package_model_names():
    """Names of this package's models: in each ``model/<kind>_recommender/<name>.py`` the
    class whose lower-case name is the file name (the rule ``utils.get_model`` follows)."""
    names = []
    for path in sorted(PACKAGE_DIR.glob("model/*_recommender/*.py")):
        classes = _CLASS_LINE.findall(path.read_text(encoding="utf-8"))
        names += [name for name in classes if name.lower() == path.stem]
    return sorted(names)


def recbole_package_dir():
    """RecBole's installed folder, found without importing it (``None`` if absent)."""
    spec = importlib.util.find_spec("recbole")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def recbole_model_names():
    """``{folder: [model names]}`` of RecBole's ``recbole/model/*_recommender`` folders."""
    root = recbole_package_dir()
    if root is None:
        return {}
    found = {}
    for init in sorted(root.glob("model/*_recommender/__init__.py")):
        names = _IMPORT_LINE.findall(init.read_text(encoding="utf-8"))
        if names:
            found[init.parent.name] = sorted(names)
    return found


def recbole_model_names_flat():
    return [name for names in recbole_model_names().values() for name in names]


def is_model_name(name):
    """Whether ``name`` is a model of this package or of RecBole (exact spelling)."""
    return name in package_model_names() or name in recbole_model_names_flat()


def unknown_model_message(name):
    """What to say about a model name that neither this package nor RecBole has: the
    closest names, then every name there is."""
    own = package_model_names()
    recbole = recbole_model_names()
    close = closest_names(name, own + recbole_model_names_flat())
    lines = [f"model [{name}] is neither a recbole_denoise model nor a RecBole model"
             + (f"; did you mean {' or '.join(close)}?" if close else "."),
             f"recbole_denoise models: {', '.join(own)}"]
    for folder, names in recbole.items():
        needs = " (need lightgbm / xgboost)" if folder in RECBOLE_OPTIONAL_FOLDERS else ""
        lines.append(f"RecBole {folder.replace('_', ' ')}s{needs}: {', '.join(names)}")
    return "\n".join(lines)


def bundled_dataset_names():
    """Datasets in the ``dataset/`` folder beside the package (or inside it, installed):
    the folders that hold a ``<name>.inter`` file, plus RecBole's ``ml-100k``."""
    names = {"ml-100k"}
    for root in (PACKAGE_DIR / "dataset", PACKAGE_DIR.parent / "dataset"):
        names.update(folder.name for folder in root.glob("*") if (folder / f"{folder.name}.inter").is_file())
    return sorted(names)


def closest_names(name, candidates, limit=3):
    """Up to ``limit`` of ``candidates`` that look like ``name`` (case-insensitive)."""
    import difflib

    by_lower = {candidate.lower(): candidate for candidate in candidates}
    matches = difflib.get_close_matches(name.lower(), list(by_lower), n=limit, cutoff=0.6)
    return [by_lower[match] for match in matches]
