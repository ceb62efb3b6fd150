"""NetCDF I/O: round trip, atomic writes, rejection of corrupted or foreign files."""

import numpy as np
import pytest
import xarray as xr

from difftn.infra.io import FORMAT_VERSION, ResultFileError, read_dataset, write_dataset


def _dataset():
    return xr.Dataset({"energy": xr.DataArray(np.linspace(-2, -1, 5), dims="beta")}, attrs={"chi": 4})


def test_round_trip_and_version(tmp_path):
    path = write_dataset(_dataset(), tmp_path / "sub" / "a.nc")
    ds = read_dataset(path)
    np.testing.assert_array_equal(ds.energy, _dataset().energy)
    assert ds.attrs["difftn_format_version"] == FORMAT_VERSION
    assert [p.name for p in path.parent.iterdir()] == ["a.nc"]  # no temp file left behind


def test_truncated_file_is_rejected(tmp_path):
    path = write_dataset(_dataset(), tmp_path / "a.nc")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ResultFileError, match="not a readable NetCDF"):
        read_dataset(path)


def test_foreign_or_old_file_is_rejected(tmp_path):
    path = tmp_path / "foreign.nc"
    _dataset().to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ResultFileError, match="format version None"):
        read_dataset(path)


def test_failed_write_leaves_nothing(tmp_path):
    bad = _dataset()
    bad.attrs["flag"] = True  # booleans are not valid NetCDF attributes
    with pytest.raises(Exception, match="boolean"):  # h5netcdf's CompatibilityError
        write_dataset(bad, tmp_path / "b.nc")
    assert list(tmp_path.iterdir()) == []
