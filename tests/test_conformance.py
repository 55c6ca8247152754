"""Every case of ../shared/conformance on the reference interpreter, from module.hlo and module.opt.hlo,
compared with XLA's own outputs at the case's rtol/atol."""
import pytest

import xla_runtime
from conformance import Case, assert_matches, available, case_names

pytestmark = pytest.mark.skipif(not available(), reason="../shared/conformance is not present (fresh clone)")


@pytest.mark.parametrize("which", ["module.hlo", "module.opt.hlo"])
@pytest.mark.parametrize("name", case_names() or ["<none>"])
def test_interpreter_matches_xla(name, which):
    case = Case(name)
    exe = xla_runtime.Client("interpreter").compile(case.text(which))
    assert_matches(case, exe.execute(*case.args), f" [{which}]")


def test_corpus_is_complete():
    # a guard against the corpus silently shrinking (a missing case would otherwise just vanish)
    assert len(case_names()) >= 40
