-- Where a prompt source's query looks for relative file names: the build config's directory.
SET file_search_path = ?;
