"""The local web dashboards: the Power BI report's five pages as a Dash app reading
``retail.queries`` (docs/dashboards.md)."""
