import sys

import pytest

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.engine.spec import CatalogSpec, ExternalObject, Field, SpecError


def make(**changes):
    base = dict(name="things", table="things", primary_key="id", cursor_column="updated_at",
                created_at_column="created_at",
                systems={"memory": [ExternalObject("thing", [Field("name", "name", required=True)])]})
    return CatalogSpec(**(base | changes))


def test_a_valid_spec_lists_every_column_it_reads():
    spec = make(soft_delete_column="deleted_at")
    assert spec.columns == ["id", "updated_at", "created_at", "deleted_at", "name"]


@pytest.mark.parametrize("changes, message", [
    ({"name": "Bad Name"}, "name must be lower_snake_case"),
    ({"table": ""}, "field 'table' is required"),
    ({"systems": {}}, "field 'systems'"),
    ({"systems": {"memory": [ExternalObject("thing", [Field("n", "name", type="text")])]}},
     "systems['memory']['thing'].name: type 'text'"),
    ({"systems": {"memory": [ExternalObject("thing", [Field("n", "name", max_length=0)])]}}, "max_length"),
    ({"systems": {"memory": [ExternalObject("a", [Field("n", "x")]), ExternalObject("a", [Field("n", "x")])]}},
     "object type twice"),
    ({"systems": {"memory": [ExternalObject("a", [Field("n", "x")], after="b")]}}, "after='b'"),
    ({"systems": {"memory": [ExternalObject("a", [Field("n", "x"), Field("m", "x")])]}}, "target field twice"),
])
def test_invalid_specs_name_the_catalog_and_field(changes, message):
    with pytest.raises(SpecError, match="catalog spec") as error:
        make(**changes)
    assert message in str(error.value)


def test_loading_a_broken_spec_file_names_the_file(tmp_path, monkeypatch):
    package = tmp_path / "my_catalogs"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "broken.py").write_text(
        "from zensync_pipelines.engine.spec import CatalogSpec\n"
        "SPEC = CatalogSpec(name='broken', table='t', primary_key='id', cursor_column='', "
        "created_at_column='c', systems={})\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SpecError) as error:
        load_specs("my_catalogs")
    assert "my_catalogs/broken.py" in str(error.value) and "cursor_column" in str(error.value)
    sys.modules.pop("my_catalogs", None)


def test_a_module_without_spec_is_refused(tmp_path, monkeypatch):
    package = tmp_path / "other_catalogs"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "nothing.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(SpecError, match="nothing.py: field 'SPEC' must be a CatalogSpec"):
        load_specs("other_catalogs")


def test_the_shipped_catalogs_load_with_their_source_file():
    specs = {spec.name: spec for spec in load_specs()}
    assert "customers" in specs
    assert specs["customers"].source.endswith("catalogs/customers.py")
