"""The report pages' layout (PBIR positions): every visual on its page, none over another,
and a page taller than the 16:9 canvas scrolls instead of shrinking to fit."""

from __future__ import annotations

import pytest

from tests.powerbi.test_report import PAGE_NAMES, PAGES, page_visuals, read

# The 16:9 canvas the pages are drawn on (1280 x 720); a taller page scrolls.
ASPECT = 720 / 1280


def layout_problems(page: dict, visuals: dict[str, dict]) -> list[str]:
    """Visuals reaching beyond the page, pairs of visuals that overlap, and a page taller
    than 16:9 that Power BI would shrink to fit (FitToPage) rather than scroll."""
    width, height = page["width"], page["height"]
    boxes = {name: v["position"] for name, v in sorted(visuals.items())}
    problems = [f"{name} reaches beyond the {width} x {height} page"
                for name, p in boxes.items()
                if min(p["x"], p["y"]) < 0 or p["x"] + p["width"] > width
                or p["y"] + p["height"] > height]
    names = list(boxes)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            pa, pb = boxes[a], boxes[b]
            across = pa["x"] < pb["x"] + pb["width"] and pb["x"] < pa["x"] + pa["width"]
            down = pa["y"] < pb["y"] + pb["height"] and pb["y"] < pa["y"] + pa["height"]
            if across and down:
                problems.append(f"{a} overlaps {b}")
    if height > width * ASPECT and page["displayOption"] == "FitToPage":
        problems.append(f"a {width} x {height} page shrinks to fit: use FitToWidth")
    return problems


@pytest.mark.parametrize("page", PAGE_NAMES)
def test_every_visual_fits_its_page_and_none_overlaps_another(page):
    assert layout_problems(read(PAGES / page / "page.json"), page_visuals(page)) == []


def test_the_layout_check_finds_an_overlap_a_visual_off_the_page_and_a_shrunk_page():
    page = read(PAGES / "ml_model_performance" / "page.json")
    visuals = page_visuals("ml_model_performance")
    assert page["height"] > 720 and layout_problems(page, visuals) == []

    visuals["kpi_lost_sales_avoided"]["position"]["x"] = 400  # onto its left neighbour
    page["height"], page["displayOption"] = 1100, "FitToPage"
    assert layout_problems(page, visuals) == [
        "business_impact_by_arm reaches beyond the 1280 x 1100 page",
        "business_impact_rates reaches beyond the 1280 x 1100 page",
        "kpi_lost_sales_avoided overlaps kpi_overstock_reduction",
        "a 1280 x 1100 page shrinks to fit: use FitToWidth"]
