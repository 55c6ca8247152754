"""parse -> print -> parse gives an equal module for every corpus module."""
import pytest

from conformance import ROOT, available, case_names
from xla_runtime.hlo import parse_hlo

pytestmark = pytest.mark.skipif(not available(), reason="../shared/conformance is not present (fresh clone)")


@pytest.mark.parametrize("which", ["module.hlo", "module.opt.hlo"])
@pytest.mark.parametrize("name", case_names() or ["<none>"])
def test_round_trip(name, which):
    module = parse_hlo((ROOT / name / which).read_text())
    text = module.to_text()
    again = parse_hlo(text)
    assert again == module
    assert again.to_text() == text
    # the structure survived, not just the text: same instruction count and entry
    assert sum(len(c.instructions) for c in again.computations) == sum(len(c.instructions) for c in module.computations)
    assert again.entry.name == module.entry.name
