-- title: Feature drift
-- description: Per model and feature, the latest population stability index (PSI) on or before as_of and its status (stable < 0.1, moderate 0.1 to 0.25, significant > 0.25), most drifted first.
--
-- Reads model_drift FINAL (evaluate_forecasts): for each model x feature the row of the
-- newest evaluated day on or before as_of; of that day's model versions, the one computed
-- last (max computed_at). psi compares the recent week with the training window, binned by
-- the training window's deciles; NULL (status no_data) when a window has no values.
-- Model-wide: no store filter. Ordered by psi (highest first, NULL last), model, feature.
SELECT
    model,
    t.2 AS model_version,
    t.1 AS date,
    feature,
    round(t.3, 4) AS psi,
    t.4 AS status,
    t.5 AS reference_mean,
    t.6 AS recent_mean
FROM
(
    SELECT model, feature,
           argMax((date, model_version, psi, status, reference_mean, recent_mean),
                  (date, computed_at)) AS t
    FROM model_drift FINAL
    WHERE date <= {as_of:Date}
    GROUP BY model, feature
)
ORDER BY psi DESC NULLS LAST, model, feature
