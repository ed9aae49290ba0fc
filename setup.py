"""The package layout, which pyproject.toml cannot say by itself (all other metadata is there).

The notebooks and the report templates live at the top of the checkout (``notebooks/`` and
``reports/templates/``), where people look for them. The wheel ships the same files inside the
package, as the data-only packages ``usermap._notebooks`` and ``usermap._templates`` mapped onto
those folders, so an installed usermap runs with no checkout (``usermap.resources`` finds them).
pyproject.toml can either list packages or find them, not both; the code packages are found here
(``usermap`` and every subpackage, e.g. ``usermap.report`` once it is one) and the two mapped data
packages are added to them.
"""

from setuptools import find_packages, setup

DATA_PACKAGES = {
    "usermap._notebooks": ("notebooks", ["*.ipynb"]),
    "usermap._templates": ("reports/templates", ["*"]),
}

setup(
    packages=find_packages(include=["usermap", "usermap.*"]) + list(DATA_PACKAGES),
    package_dir={name: folder for name, (folder, _) in DATA_PACKAGES.items()},
    # the tab's page (its ESM and CSS) ships inside the package: nothing from a CDN
    package_data={**{name: globs for name, (_, globs) in DATA_PACKAGES.items()},
                  "usermap.tab": ["*.js", "*.css"]},
)
