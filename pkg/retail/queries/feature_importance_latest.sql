-- title: Feature importance
-- description: Per model, the feature importance of its latest version trained on or before as_of, most important first.
--
-- Reads model_feature_importance FINAL: per model the version with the newest trained_at
-- before the end of as_of (UTC), and that version's rows. importance is the feature's share
-- of the version's total (sums to 1), rank 1 the most important; importance_type says how
-- it was measured (gain, permutation, ...). Model-wide: no store filter.
SELECT
    i.model AS model,
    i.model_version AS model_version,
    i.trained_at AS trained_at,
    i.feature AS feature,
    round(i.importance, 4) AS importance,
    i.importance_type AS importance_type,
    i.rank AS rank
FROM model_feature_importance AS i FINAL
WHERE (i.model, i.model_version) IN (
    SELECT model, argMax(model_version, trained_at)
    FROM model_feature_importance
    WHERE trained_at < toDateTime64({as_of:Date} + 1, 3, 'UTC')
    GROUP BY model)
ORDER BY model, rank, feature
