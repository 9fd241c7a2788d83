"""Warnings that say whose they are: a run of many cases names the case of each warning."""

from __future__ import annotations

import warnings

import pytest

from maskedit.errors import MaskeditWarning, named_warnings


def _shown() -> tuple[list[str], object]:
    seen: list[str] = []

    def show(message, category, filename, lineno, file=None, line=None):
        seen.append(f"{category.__name__}: {message}")

    return seen, show


def test_maskedit_warnings_carry_the_name_and_others_do_not(monkeypatch):
    seen, show = _shown()
    monkeypatch.setattr(warnings, "showwarning", show)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        with named_warnings("case 'cat'"):
            warnings.warn("the mask is empty", MaskeditWarning, stacklevel=1)
            warnings.warn("a library's remark", UserWarning, stacklevel=1)
        warnings.warn("after the block", MaskeditWarning, stacklevel=1)
    assert seen == [
        "MaskeditWarning: case 'cat': the mask is empty",
        "UserWarning: a library's remark",
        "MaskeditWarning: after the block",
    ]
    assert warnings.showwarning is show  # put back


def test_the_users_filters_stay_and_each_block_starts_afresh(monkeypatch):
    """Under the default filter the same line warns once; two cases' same warning both show.
    A warning the user ignores stays ignored; one they turned into an error still raises."""
    seen, show = _shown()
    monkeypatch.setattr(warnings, "showwarning", show)

    def empty() -> None:
        warnings.warn("the mask is empty", MaskeditWarning, stacklevel=1)

    with warnings.catch_warnings():
        warnings.simplefilter("default")
        for case in ("one", "two"):
            with named_warnings(f"case '{case}'"):
                empty()
                empty()  # the same line again in one case: once
    assert seen == ["MaskeditWarning: case 'one': the mask is empty",
                    "MaskeditWarning: case 'two': the mask is empty"]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MaskeditWarning)
        with named_warnings("case 'three'"):
            empty()
    assert len(seen) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", MaskeditWarning)
        with pytest.raises(MaskeditWarning, match="the mask is empty"), named_warnings("x"):
            empty()


def test_a_warning_turned_into_an_error_still_names_whose_it_is():
    """Under `-W error` (or `simplefilter("error")`) the warning is raised, not shown: the error
    says whose it is too, each enclosing name once, and other errors pass as they are."""

    def empty() -> None:
        warnings.warn("the mask is empty", MaskeditWarning, stacklevel=1)

    with warnings.catch_warnings():
        warnings.simplefilter("error", MaskeditWarning)
        with pytest.raises(MaskeditWarning) as caught, named_warnings("case 'r'"):
            with named_warnings("region 2"):
                empty()
        assert str(caught.value) == "case 'r': region 2: the mask is empty"
        with pytest.raises(ValueError, match="^boom$"), named_warnings("case 'r'"):
            raise ValueError("boom")
