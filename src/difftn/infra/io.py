"""NetCDF input and output with atomic writes.

A result file is written to a temporary name in the target folder and renamed
into place only when complete, so a crash or kill never leaves a half-written
file under the final name.  Reads check that a file is a difftn result of a
known format version.
"""

import os
import tempfile
from pathlib import Path

import xarray as xr

__all__ = ["FORMAT_VERSION", "ENGINE", "write_dataset", "write_table", "read_dataset", "ResultFileError"]

#: Bumped when the layout of result files changes incompatibly.
FORMAT_VERSION = 1
#: netCDF4/HDF5 engine used for all files.
ENGINE = "h5netcdf"


class ResultFileError(RuntimeError):
    """A file is not a readable difftn result of a compatible format."""


def write_dataset(ds: xr.Dataset, path) -> Path:
    """Write ``ds`` to ``path`` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds = ds.copy()
    ds.attrs["difftn_format_version"] = FORMAT_VERSION
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp.nc", dir=path.parent)
    os.close(fd)
    try:
        ds.to_netcdf(tmp, engine=ENGINE)
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_table(ds: xr.Dataset, nc_path, csv_path=None) -> None:
    """Write an aggregated table as NetCDF (atomically) and, if asked, as CSV."""
    write_dataset(ds, nc_path)
    if csv_path is not None:
        ds.to_dataframe().to_csv(csv_path, float_format="%.12g")


def read_dataset(path) -> xr.Dataset:
    """Load a difftn result file fully into memory, checking its format version."""
    path = Path(path)
    try:
        with xr.open_dataset(path, engine=ENGINE) as ds:
            ds = ds.load()
    except Exception as err:  # corrupted, truncated or not NetCDF at all
        raise ResultFileError(f"{path}: not a readable NetCDF file ({err})") from err
    version = ds.attrs.get("difftn_format_version")
    if version != FORMAT_VERSION:
        raise ResultFileError(
            f"{path}: written with difftn format version {version}, "
            f"this difftn reads version {FORMAT_VERSION}; recompute it"
        )
    return ds
