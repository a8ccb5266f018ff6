SELECT path FROM predictors WHERE name = ?;
