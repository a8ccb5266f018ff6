-- The drop ledger of one run ($run_id): every generation it did not publish, and every row
-- it published with a flag, with the reason and what the row matched:
--   exact-duplicate: the sample of the same run it copies (matched_id, matched_run);
--   near-duplicate: the sample it near-duplicates (matched_id, matched_run, and
--     matched_version when that sample is already published), on which text (field), and
--     their estimated Jaccard similarity;
--   contaminated (or flag = contaminated): the evaluation item (detail: benchmark:item id),
--     the text that overlaps it (field: prompt | solution) and the n-grams they share
--     (overlap; NULL for a short prompt equal to the item's text).
-- Other reasons (prompt-excluded, generation-failed, not-accepted, ...) match no row.
SELECT
    c.sample_id,
    g.prompt_id,
    g.mode,
    c.reason,
    c.flag,
    c.field,
    coalesce(c.matched_id, c.twin_id) AS matched_id,
    c.matched_run,
    c.matched_version,
    c.similarity,
    c.overlap,
    c.detail
FROM curation AS c
JOIN generations AS g ON g.run_id = c.run_id AND g.sample_id = c.sample_id
WHERE c.run_id = $run_id AND (NOT c.kept OR c.flag IS NOT NULL)
ORDER BY c.reason, c.sample_id;
