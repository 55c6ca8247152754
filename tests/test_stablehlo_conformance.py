"""Every case of ../shared/conformance from its StableHLO ``module.mlir`` on the reference
interpreter, compared with XLA's own outputs at the case's rtol/atol; the converted module must
also print as HLO text that parses back to the same module."""
import numpy as np
import pytest
from conformance import Case, assert_matches, available, case_names

import xla_runtime
from xla_runtime.hlo import parse_hlo
from xla_runtime.stablehlo import parse_stablehlo
from helpers import private_kernel_cache

pytestmark = pytest.mark.skipif(not available(), reason="../shared/conformance is not present (fresh clone)")


@pytest.mark.parametrize("name", case_names() or ["<none>"])
def test_interpreter_matches_xla_from_mlir(name):
    case = Case(name)
    exe = xla_runtime.Client("interpreter").compile(case.text("module.mlir"))
    assert_matches(case, [np.asarray(b) for b in exe.execute(*case.args)], " [module.mlir]")


@pytest.mark.parametrize("name", case_names() or ["<none>"])
def test_converted_module_round_trips_as_hlo(name):
    module = parse_stablehlo(Case(name).text("module.mlir"))
    again = parse_hlo(module.to_text())
    assert again == module
    assert again.entry.parameter_shapes() == module.entry.parameter_shapes()


@pytest.fixture(scope="module")
def kernel_cache(tmp_path_factory):
    yield from private_kernel_cache(tmp_path_factory)


@pytest.mark.parametrize("name", case_names() or ["<none>"])
def test_cpu_matches_xla_from_mlir(name, kernel_cache):
    case = Case(name)
    exe = xla_runtime.Client("cpu").compile(case.text("module.mlir"))
    assert_matches(case, [np.asarray(b) for b in exe.execute(*case.args)], " [module.mlir, cpu]")
