-- The LSH band keys of a batch of indexed rows (`near_dup_band_keys`: row_key, band, key).
INSERT INTO near_dup_bands (row_key, band, key)
SELECT row_key, band, key FROM near_dup_band_keys;
