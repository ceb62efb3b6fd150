"""Published reference numbers, with their sources, for figures and tests.

Square-lattice spin-1/2 Heisenberg antiferromagnet (J = 1), energy per site
and staggered magnetization.  "digitized" values were read off Fig. 4 of
Liao et al. (about 3% on the relative energy error, 0.002 on m).
"""

from pathlib import Path

__all__ = ["SOURCES", "QMC_ENERGY", "QMC_ENERGY_ERROR", "QMC_MAGNETIZATION", "QMC_MAGNETIZATION_ERROR",
           "HEISENBERG_IPEPS", "heisenberg_table", "PUBLISHED_STATES", "PACKAGED_D", "published_state_path",
           "published_table", "J1J2_IPEPS", "j1j2_table", "j1j2_published"]  # fmt: skip

SOURCES = {
    "sandvik1997": "A. W. Sandvik, Phys. Rev. B 56, 11678 (1997)",
    "sandvik_evertz2010": "A. W. Sandvik and H. G. Evertz, Phys. Rev. B 82, 024407 (2010)",
    "liao2019": "H.-J. Liao, J.-G. Liu, L. Wang, T. Xiang, Phys. Rev. X 9, 031041 (2019), Fig. 4",
    "corboz2016": "P. Corboz, Phys. Rev. B 94, 035133 (2016) (read off Fig. 4 of liao2019)",
    "vanderstraeten2016": "L. Vanderstraeten, J. Haegeman, P. Corboz, F. Verstraete, "
    "Phys. Rev. B 94, 155123 (2016) (read off Fig. 4 of liao2019)",
    "hasik_c4v": "J. Hasik, D. Poilblanc, F. Becca, SciPost Phys. 10, 012 (2021), "
    "single-site C4v iPEPS data set (J2 = 0, largest chi)",
    "hasik_c4v_j1j2": "J. Hasik, D. Poilblanc, F. Becca, SciPost Phys. 10, 012 (2021), "
    "single-site C4v iPEPS data set j1j2_ipeps_states, single-site_pg-C4v-A1 (J. Hasik, CC BY 4.0): "
    "energy and m at the largest listed chi",
}

#: QMC energy per site, Sandvik 1997: -0.669437(5).
QMC_ENERGY, QMC_ENERGY_ERROR = -0.669437, 5e-6
#: QMC staggered magnetization, Sandvik & Evertz 2010: 0.30743(1).
QMC_MAGNETIZATION, QMC_MAGNETIZATION_ERROR = 0.30743, 1e-5

#: (source, D, chi or None, energy, magnetization or None, precision)
HEISENBERG_IPEPS = [
    ("hasik_c4v", 2, 192, -0.6602310935, 0.391124, "exact"),
    ("hasik_c4v", 3, 216, -0.6681273941, 0.347741, "exact"),
    ("hasik_c4v", 4, 800, -0.6689673179, 0.335929, "exact"),
    ("hasik_c4v", 5, 300, -0.6694037759, 0.318788, "exact"),
    ("hasik_c4v", 6, 433, -0.6694212479, 0.316441, "exact"),
    ("hasik_c4v", 7, 343, -0.6694309783, 0.315416, "exact"),
    ("liao2019", 2, 30, -0.66020, 0.391, "digitized"),
    ("liao2019", 3, 50, -0.66803, 0.3475, "digitized"),
    ("liao2019", 4, 80, -0.66919, 0.330, "digitized"),
    ("liao2019", 5, 100, -0.66937, 0.321, "digitized"),
    ("liao2019", 6, 144, -0.66941, 0.317, "digitized"),
    ("liao2019", 7, 160, -0.66942, 0.316, "digitized"),
    ("corboz2016", 2, None, -0.66274, 0.381, "digitized"),
    ("corboz2016", 3, None, -0.66837, 0.344, "digitized"),
    ("corboz2016", 4, None, -0.66911, 0.329, "digitized"),
    ("corboz2016", 5, None, -0.66936, 0.322, "digitized"),
    ("corboz2016", 6, None, -0.66940, 0.319, "digitized"),
    ("vanderstraeten2016", 2, None, -0.66006, 0.391, "digitized"),
    ("vanderstraeten2016", 3, None, -0.66810, 0.347, "digitized"),
    ("vanderstraeten2016", 4, None, -0.66896, 0.336, "digitized"),
    ("vanderstraeten2016", 5, None, -0.66935, 0.323, "digitized"),
]


def heisenberg_table():
    """The published iPEPS results as a pandas DataFrame (one row per source and D)."""
    import pandas as pd

    columns = ["source", "D", "chi", "energy", "magnetization", "precision"]
    return pd.DataFrame(HEISENBERG_IPEPS, columns=columns)


#: Folder of the published single-site C4v states shipped with the package (hasik_c4v; SOURCE.md there).
PUBLISHED_STATES = Path(__file__).resolve().parent / "ipeps_states"
#: Bond dimensions of the packaged J2 = 0 states (one JSON tensor each in PUBLISHED_STATES).
PACKAGED_D = (2, 3, 4, 5)


def published_state_path(D: int, J2: float = 0.0) -> Path:
    """The packaged JSON tensor of the published C4v iPEPS state at bond dimension D (source ``hasik_c4v``).

    Parameters
    ----------
    D : int
        Bond dimension; the package holds D = 2, 3, 4, 5.
    J2 : float
        J2/J1 of the J1-J2 model; the package holds J2 = 0 (the Heisenberg model) only.

    Raises ValueError naming the states that are packaged when there is none for (D, J2).
    Read the tensor with ``difftn.studies.heisenberg.read_json_tensor``, or pass the path
    to ``difftn heisenberg measure --state``.
    """
    found = sorted(PUBLISHED_STATES.glob(f"j2{float(J2)}_state_1s_A1_j2{float(J2)}_D{int(D)}_chi_opt*.json"))
    if len(found) != 1:
        have = sorted(p.name.split("_")[5] for p in PUBLISHED_STATES.glob("*.json"))
        raise ValueError(f"no packaged published state for D = {D}, J2 = {J2}; packaged (J2 = 0): {', '.join(have)}")
    return found[0]


def published_table(D: int, J2: float = 0.0):
    """The published observations of that state, one row per chi: a pandas DataFrame.

    Columns ``J2``, ``D``, ``chi``, ``energy``, ``magnetization`` and ``l0`` .. ``l5``
    (|lambda_i / lambda_0| of the column transfer matrix, as ``difftn heisenberg measure``
    records them in ``transfer_eigenvalues``); xi = -1/ln(l1).
    """
    import numpy as np
    import pandas as pd

    rows = np.loadtxt(published_state_path(D, J2).with_suffix(".dat"), comments="#", ndmin=2)
    columns = ["J2", "D", "chi", "energy", "magnetization", *(f"l{i}" for i in range(6))]
    table = pd.DataFrame(rows, columns=columns)
    table[["D", "chi"]] = table[["D", "chi"]].astype(int)
    return table


#: J1-J2 model (J1 = 1), published single-site C4v iPEPS at J2/J1 != 0, largest listed chi:
#: (J2, D, chi, energy per site, staggered magnetization), source "hasik_c4v_j1j2".  The J2 = 0
#: rows are the "hasik_c4v" rows of HEISENBERG_IPEPS (the same data set).
J1J2_IPEPS = [
    (0.5, 2, 192, -0.4703924326, 0.304272),
    (0.5, 3, 216, -0.4910577596, 0.168265),
]


def j1j2_table():
    """Published C4v iPEPS results of the J1-J2 model: one row per (J2, D), J2 = 0 included.

    Columns ``J2``, ``D``, ``chi``, ``energy``, ``magnetization``, ``source``.
    """
    import pandas as pd

    rows = [(0.0, D, chi, energy, m, source) for source, D, chi, energy, m, _ in HEISENBERG_IPEPS
            if source == "hasik_c4v"]  # fmt: skip
    rows += [(*row, "hasik_c4v_j1j2") for row in J1J2_IPEPS]
    return pd.DataFrame(rows, columns=["J2", "D", "chi", "energy", "magnetization", "source"])


def j1j2_published(J2: float, D: int):
    """The published (chi, energy, magnetization) at this J2/J1 and D, or None where none is listed.

    J2 values are matched to 1e-9 (config values are short decimals).
    """
    table = j1j2_table()
    rows = table[(abs(table.J2 - J2) < 1e-9) & (table.D == D)]
    if rows.empty:
        return None
    row = rows.iloc[0]
    return int(row.chi), float(row.energy), float(row.magnetization)
