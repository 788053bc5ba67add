"""Read the master notebook's question configurations (otter assign's ``# BEGIN QUESTION``)."""

from pathlib import Path

import nbformat
import yaml
from otter.assign.question_config import QuestionConfig

QUESTION_START = "# BEGIN QUESTION"


def question_configs(master: Path) -> dict[str, QuestionConfig]:
    """Each question's otter configuration, by name, in notebook order."""
    configs = {}
    for cell in nbformat.read(master, as_version=4).cells:
        if cell.cell_type == "raw" and cell.source.startswith(QUESTION_START):
            config = QuestionConfig(yaml.safe_load(cell.source.removeprefix(QUESTION_START)))
            configs[str(config.name)] = config
    return configs
