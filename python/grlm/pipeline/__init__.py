"""The end-to-end GRLM run driven by one YAML configuration (``grlm run --config FILE``)."""

from grlm.pipeline.config import RunConfig, config_from_dict, load_config
from grlm.pipeline.stages import STAGES, Pipeline

__all__ = ["STAGES", "Pipeline", "RunConfig", "config_from_dict", "load_config"]
