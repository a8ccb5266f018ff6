-- The versions the factory recorded for a dataset repo on one target, each with its commit and
-- whether a later release made with --allow-rewrite reported it lost. The target is told by
-- the location: a URL for the Hugging Face Hub, a path for the local hub. A home moved to
-- another directory keeps its record this way; the same repo_id on the other target does
-- not count.
WITH mine AS (
    SELECT version, commit_sha, lost
    FROM releases
    WHERE repo_id = $repo_id
      AND (location LIKE 'http://%' OR location LIKE 'https://%') = $on_hub
)
SELECT
    version,
    commit_sha,
    version IN (SELECT unnest(lost) FROM mine) AS reported_lost
FROM mine
ORDER BY version;
