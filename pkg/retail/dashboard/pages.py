"""The five pages (the Power BI report's): each a list of panels, a panel one query of
``retail.queries`` drawn one way, with what to say when it has no rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dash import html

from retail.dashboard import charts as c

NO_SALES = "no sales in the window: load some (retail simulate --sink warehouse)"
NO_FORECASTS = "no forecasts yet: run retail pipeline run predictions"
NO_TRAINING = "no trained model yet: run retail pipeline run weekly"


@dataclass(frozen=True)
class Panel:
    id: str
    title: str
    query: str
    draw: Callable[[list[dict]], object]
    empty: str = "nothing for these filters"
    wide: bool = False


@dataclass(frozen=True)
class Page:
    path: str
    name: str
    description: str
    panels: tuple[Panel, ...]
    # the store-manager page shows one store at a time (its queries need one)
    one_store: bool = False

    @property
    def key(self) -> str:
        return self.path.strip("/")


ORDERS = c.table([("sku", "SKU"), ("product_name", "product"), ("on_hand", "on hand"),
                  ("reorder_point", "reorder point"), ("order_qty", "order"),
                  ("order_by_date", "order by"), ("reasons", "why")])
RISK_DETAIL = c.table([("sku", "SKU"), ("product_name", "product"), ("on_hand", "on hand"),
                       ("stock_out_risk", "risk"), ("risk_light", "light")],
                      limit=8, highlight="risk_light")

PAGES = (
    Page("/executive", "Executive", "The chain at a glance: today's revenue, stock and "
         "trends across the stores you may see.", (
        Panel("kpis", "Key figures", "executive_kpis", c.kpi_cards([
            ("revenue", "Revenue today", "revenue_change_pct"),
            ("stock_value", "Stock value", ""), ("stock_outs", "Stock-outs", ""),
            ("inventory_turnover_30d", "Inventory turnover (30 d)", "")]), NO_SALES, True),
        Panel("trend", "Revenue, last 90 days", "sales_trend_90d",
              c.trend("date", [("revenue", "revenue")]), NO_SALES, True),
        Panel("regions", "Revenue by region (30 days)", "revenue_by_region",
              c.bars("region", "revenue", color="region"), NO_SALES),
        Panel("top", "Top 10 products (30 days)", "top_products",
              c.bars("product_name", "revenue", horizontal=True), NO_SALES),
        Panel("heatmap", "Store performance by category (30 days)", "store_category_heatmap",
              c.heatmap("category", "store_id", "revenue"), NO_SALES, True),
    )),
    Page("/store-manager", "Store Manager", "One store: stock, today against target, the "
         "week's forecast and what to order.", (
        Panel("target", "Today vs target", "store_today_vs_target",
              c.gauge("revenue", "target_revenue", "revenue vs same weekday, 4 weeks"),
              NO_SALES),
        Panel("stock", "Stock by category", "store_stock_by_category",
              c.bars("category", "stock_value", title="stock value")),
        Panel("forecast", "7-day forecast", "store_forecast_7d", c.trend(
            "date", [("predicted_units", "forecast")], band=("low_80", "high_80"),
            band95=("low_95", "high_95"), dots="actual_units"), NO_FORECASTS, True),
        Panel("risk", "Stock-out risk", "store_stockout_risk",
              c.traffic_light("risk_light", RISK_DETAIL)),
        Panel("low", "Low stock", "store_low_stock", c.table([
            ("sku", "SKU"), ("product_name", "product"), ("category", "category"),
            ("on_hand", "on hand"), ("reorder_point", "reorder point")]),
            "nothing at or below its reorder point"),
        Panel("orders", "Recommended orders", "store_recommended_orders", ORDERS,
              NO_FORECASTS, True),
    ), one_store=True),
    Page("/inventory-analyst", "Inventory Analyst", "Where the stock sits: its age, what "
         "does not sell, cover, suppliers and reorder points.", (
        Panel("aging", "Inventory aging (stock value)", "inventory_aging_buckets",
              c.bars("age_bucket", "stock_value", color="age_bucket")),
        Panel("cover", "Over- and understock", "stock_cover_scatter", c.scatter(
            "stock_value", "days_of_cover", color="stock_class", label="product_name",
            colors={"understock": "#d62728", "ok": "#2ca02c", "overstock": "#ff9f1c"})),
        Panel("abc", "ABC analysis (90 days)", "abc_analysis",
              c.pareto("sku", "revenue", "cumulative_share_pct", "abc_class"), NO_SALES),
        Panel("suppliers", "Supplier lead time (90 days)", "supplier_lead_time",
              c.grouped_bars("supplier_id", [("mean_lead_time_days", "actual (days)"),
                                             ("mean_promised_lead_time_days", "promised")]),
              "no deliveries in the last 90 days"),
        Panel("fva", "Forecast vs actual (28 days)", "forecast_vs_actual", c.trend(
            "date", [("forecast_units", "forecast"), ("actual_units", "actual")],
            band=("low_80", "high_80")), NO_FORECASTS, True),
        Panel("markdowns", "Slow movers and markdowns", "slow_mover_markdowns", c.table([
            ("store_id", "store"), ("sku", "SKU"), ("product_name", "product"),
            ("on_hand", "on hand"), ("days_of_cover", "days of cover"),
            ("markdown_depth_pct", "markdown %"), ("markdown_start", "from")]),
            "no slow movers scored yet: run retail pipeline run predictions", True),
        Panel("reorder", "Reorder points", "reorder_points", c.table([
            ("store_id", "store"), ("sku", "SKU"), ("on_hand", "on hand"),
            ("reorder_point", "reorder point"), ("safety_stock", "safety stock"),
            ("order_qty", "order")]), NO_FORECASTS, True),
    )),
    Page("/ml-model-performance", "ML Model Performance", "How well the forecasts did, "
         "whether the inputs drift, what the model leans on, and what it changed for the "
         "business.", (
        Panel("accuracy", "Accuracy over time", "model_accuracy_daily", c.trend(
            "date", [("wape", "WAPE"), ("coverage_80", "80 % coverage")], percent=True),
            "no evaluated forecasts yet: run retail pipeline run predictions", True),
        Panel("drift", "Feature drift (PSI)", "model_drift_latest",
              c.bars("feature", "psi", color="status", colors=c.STATUS),
              "no drift computed yet: run retail pipeline run predictions"),
        Panel("importance", "Feature importance", "feature_importance_latest",
              c.bars("feature", "importance", horizontal=True), NO_TRAINING),
        Panel("pva", "Predicted vs actual (28 days)", "predicted_vs_actual", c.scatter(
            "actual_units", "predicted_units", color="category", label="product_name",
            diagonal=True), NO_FORECASTS, True),
        Panel("impact", "Business impact (closed-loop experiment)", "business_impact_latest",
              c.kpi_cards([
                  ("stockouts_prevented_pct", "Stock-outs prevented (%)", ""),
                  ("overstock_reduction_pct", "Overstock value reduction (%)", ""),
                  ("lost_sales_avoided", "Lost sales avoided (value)", ""),
                  ("turnover_change_pct", "Inventory turnover change (%)", "")]),
              "no business-impact run yet: run retail evaluate business "
              "(docs/business-impact.md)", True),
    )),
    Page("/alerts", "Alerts", "What needs attention now: urgent items, overstocked stores "
         "and what is taking off.", (
        Panel("urgent", "Urgent items (7 days)", "urgent_alerts", c.table([
            ("event_time", "when"), ("severity", "severity"), ("alert_type", "alert"),
            ("store_id", "store"), ("product_name", "product"),
            ("metric_value", "value"), ("threshold", "threshold")], limit=15,
            highlight="severity"), "no open alerts in the last 7 days", True),
        Panel("overstocked", "Overstocked stores", "overstocked_stores",
              c.bars("store_id", "overstock_value", title="overstock value"),
              "no store holds more than 60 days of cover"),
        Panel("trending", "Trending products", "trending_products",
              c.bars("product_name", "growth_pct", horizontal=True, title="growth %"),
              NO_SALES),
    )),
)
BY_PATH = {p.path: p for p in PAGES}


def panel_box(page: Page, panel: Panel) -> html.Section:
    return html.Section([html.H3(panel.title),
                         html.Div(id=f"{page.key}-{panel.id}", className="body")],
                        className="panel wide" if panel.wide else "panel")
