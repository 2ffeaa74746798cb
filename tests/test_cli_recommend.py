import grlm.cli.run
import pytest
from grlm.cli import main


class Stop(Exception):
    pass


@pytest.mark.parametrize(
    "decoding, expected",
    [("constrained", "[constrained]"), ("free", "[free]"), ("both", "[free, constrained]")],
)
def test_decoding_flag_sets_the_recommend_config(monkeypatch, decoding, expected):
    seen = {}

    def capture(args):
        seen["overrides"] = args.overrides
        raise Stop

    monkeypatch.setattr(grlm.cli.run, "pipeline_from_args", capture)
    with pytest.raises(Stop):
        main(["recommend", "--config", "c.yaml", "--set", "recommend.k=5", "--decoding", decoding])
    assert seen["overrides"] == ["recommend.k=5", f"recommend.decoding={expected}"]


def test_decoding_flag_rejects_other_values(capsys):
    with pytest.raises(SystemExit):
        main(["recommend", "--config", "c.yaml", "--decoding", "sampled"])
